"""Time entries racing the issue they are logged on: every answer is one a client can act on,
never a 500 (a deadlock between the two transactions' locks, or a foreign-key error for an
issue deleted meanwhile, would surface as one)."""

from __future__ import annotations

from typing import Any

import httpx

from projekt.core.context import Role
from tests.factories import Factory
from tests.races import ROUNDS, together
from tests.time_tracking.test_router import TODAY, Desk, _desk

LOGGED = {"duration_minutes": 5, "date": TODAY.isoformat()}


async def _doomed(desk: Desk, n: int) -> tuple[str, str]:
    """A fresh issue of the desk's project: its entries' path, and its id."""
    owner = desk.org.owner
    issue = (
        await owner.client.post(
            "/api/issues",
            json={"project_id": desk.project_id, "title": f"Doomed {n}"},
            headers=owner.headers(desk.org.id),
        )
    ).json()
    return f"/api/projects/{desk.project_id}/issues/{issue['key']}/time-entries", issue["id"]


async def _delete(desk: Desk, issue_id: str) -> httpx.Response:
    owner = desk.org.owner
    return await owner.client.delete(f"/api/issues/{issue_id}", headers=owner.headers(desk.org.id))


async def test_logging_time_while_the_issue_is_deleted(factory: Factory) -> None:
    desk = await _desk(factory)
    for n in range(ROUNDS):
        path, issue_id = await _doomed(desk, n)
        logged, deleted = await together(
            desk.call(Role.MEMBER, "POST", path, LOGGED), _delete(desk, issue_id)
        )
        assert logged.status_code in (201, 404), logged.text
        assert deleted.status_code == 204, deleted.text


async def test_moving_time_while_the_issue_is_deleted(factory: Factory) -> None:
    desk = await _desk(factory)
    for n in range(ROUNDS):
        path, issue_id = await _doomed(desk, n)
        entry: Any = (await desk.call(Role.MEMBER, "POST", path, LOGGED)).json()
        changed, deleted = await together(
            desk.call(Role.MEMBER, "PATCH", f"/api/time-entries/{entry['id']}", {"minutes": 9}),
            _delete(desk, issue_id),
        )
        assert changed.status_code in (200, 404), changed.text
        assert deleted.status_code == 204, deleted.text


async def test_timers_while_the_issue_is_deleted(factory: Factory) -> None:
    """Starting a timer on the issue, and stopping one that runs on it."""
    desk = await _desk(factory)
    for n in range(ROUNDS):
        path, issue_id = await _doomed(desk, n)
        who = Role.MEMBER if n % 2 else Role.MANAGER
        if n % 4 >= 2:  # a running timer to stop
            started = await desk.call(who, "POST", path + "/timer-start")
            assert started.status_code == 201, started.text
            timer, expected = desk.call(who, "POST", path + "/timer-stop"), (200, 404)
        else:
            timer, expected = desk.call(who, "POST", path + "/timer-start"), (201, 404)
        answered, deleted = await together(timer, _delete(desk, issue_id))
        assert answered.status_code in expected, answered.text
        assert deleted.status_code == 204, deleted.text
        running = await desk.call(who, "GET", "/api/time-entries/active")
        if running.status_code == 200 and running.json():
            entry = running.json()
            stopped = await desk.call(who, "POST", f"/api/time-entries/{entry['id']}/stop")
            assert stopped.status_code == 200, stopped.text
