"""Time entries racing the issue they are logged on: every answer is one a client can act on,
never a 500 (a deadlock between the two transactions' locks would surface as one)."""

from __future__ import annotations

from typing import Any

from projekt.core.context import Role
from tests.factories import Factory
from tests.races import ROUNDS, together
from tests.time_tracking.test_router import TODAY, _desk


async def test_logging_time_while_the_issue_is_deleted(factory: Factory) -> None:
    desk = await _desk(factory)
    owner = desk.org.owner
    for n in range(ROUNDS):
        issue = (
            await owner.client.post(
                "/api/issues",
                json={"project_id": desk.project_id, "title": f"Doomed {n}"},
                headers=owner.headers(desk.org.id),
            )
        ).json()
        path = f"/api/projects/{desk.project_id}/issues/{issue['key']}"
        body = {"duration_minutes": 5, "date": TODAY.isoformat()}
        logged, deleted = await together(
            desk.call(Role.MEMBER, "POST", path + "/time-entries", body),
            owner.client.delete(f"/api/issues/{issue['id']}", headers=owner.headers(desk.org.id)),
        )
        assert logged.status_code in (201, 404), logged.text
        assert deleted.status_code == 204, deleted.text


async def test_moving_time_while_the_issue_is_deleted(factory: Factory) -> None:
    desk = await _desk(factory)
    owner = desk.org.owner
    for n in range(ROUNDS):
        issue = (
            await owner.client.post(
                "/api/issues",
                json={"project_id": desk.project_id, "title": f"Doomed {n}"},
                headers=owner.headers(desk.org.id),
            )
        ).json()
        path = f"/api/projects/{desk.project_id}/issues/{issue['key']}"
        entry: Any = (
            await desk.call(
                Role.MEMBER,
                "POST",
                path + "/time-entries",
                {"duration_minutes": 5, "date": TODAY.isoformat()},
            )
        ).json()
        changed, deleted = await together(
            desk.call(Role.MEMBER, "PATCH", f"/api/time-entries/{entry['id']}", {"minutes": 9}),
            owner.client.delete(f"/api/issues/{issue['id']}", headers=owner.headers(desk.org.id)),
        )
        assert changed.status_code in (200, 404), changed.text
        assert deleted.status_code == 204, deleted.text


async def test_timers_while_the_issue_is_deleted(factory: Factory) -> None:
    """Starting a timer on the issue, and stopping one that runs on it."""
    desk = await _desk(factory)
    owner = desk.org.owner
    for n in range(ROUNDS):
        issue = (
            await owner.client.post(
                "/api/issues",
                json={"project_id": desk.project_id, "title": f"Doomed {n}"},
                headers=owner.headers(desk.org.id),
            )
        ).json()
        path = f"/api/projects/{desk.project_id}/issues/{issue['key']}/time-entries"
        who = Role.MEMBER if n % 2 else Role.MANAGER
        if n % 4 >= 2:  # a running timer to stop
            started = await desk.call(who, "POST", path + "/timer-start")
            assert started.status_code == 201, started.text
            timer, expected = desk.call(who, "POST", path + "/timer-stop"), (200, 404)
        else:
            timer, expected = desk.call(who, "POST", path + "/timer-start"), (201, 404)
        answered, deleted = await together(
            timer,
            owner.client.delete(f"/api/issues/{issue['id']}", headers=owner.headers(desk.org.id)),
        )
        assert answered.status_code in expected, answered.text
        assert deleted.status_code == 204, deleted.text
        running = await desk.call(who, "GET", "/api/time-entries/active")
        if running.status_code == 200 and running.json():
            entry = running.json()
            stopped = await desk.call(who, "POST", f"/api/time-entries/{entry['id']}/stop")
            assert stopped.status_code == 200, stopped.text
