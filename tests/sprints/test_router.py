"""Sprints: states, one active per project, issue references, stats, burndown, capacity."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from projekt.core.context import Role
from tests.factories import Factory, Org, Person
from tests.support import MovableClock


async def _world(factory: Factory) -> tuple[Org, Person, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MANAGER, Role.MEMBER))
    project = await factory.project(org, key="PLAN")
    manager = org.members[Role.MANAGER]
    member = org.members[Role.MEMBER]
    return org, manager, member, manager.headers(org.id), str(project.id)


async def _sprint(
    person: Person, headers: dict[str, str], project_id: str, start: date, days: int = 13
) -> dict[str, Any]:
    response = await person.client.post(
        "/api/sprints",
        json={
            "project_id": project_id,
            "name": f"Sprint {start}",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=days)).isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _issue(person: Person, headers: dict[str, str], project_id: str, **body: Any) -> Any:
    response = await person.client.post(
        "/api/issues", json={"project_id": project_id, "title": "t", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_validation_and_states(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    sprint = await _sprint(manager, headers, project_id, date(2026, 12, 1))
    assert sprint["state"] == "planned"
    url = f"/api/sprints/{sprint['id']}"
    bad = await manager.client.post(
        "/api/sprints",
        json={
            "project_id": project_id,
            "name": "x",
            "start_date": "2026-12-05",
            "end_date": "2026-12-05",
        },
        headers=headers,
    )
    assert bad.status_code == 422
    member_try = await member.client.post(
        "/api/sprints",
        json={
            "project_id": project_id,
            "name": "x",
            "start_date": "2026-12-05",
            "end_date": "2026-12-09",
        },
        headers=member.headers(org.id),
    )
    assert member_try.status_code == 403
    etag = (await member.client.get(url, headers=member.headers(org.id))).headers["etag"]
    patched = await manager.client.patch(
        url, json={"goal": "Ship it"}, headers={**headers, "If-Match": etag}
    )
    assert patched.json()["goal"] == "Ship it"
    stale = await manager.client.patch(
        url, json={"goal": "x"}, headers={**headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    backwards = await manager.client.patch(url, json={"end_date": "2026-11-01"}, headers=headers)
    assert backwards.status_code == 422
    assert (
        await manager.client.post(f"{url}/complete", json={}, headers=headers)
    ).status_code == 409
    started = await manager.client.post(f"{url}/start", headers=headers)
    assert started.json()["state"] == "active"
    assert started.json()["started_at"]
    assert (await manager.client.post(f"{url}/start", headers=headers)).status_code == 409
    listed = await member.client.get(
        "/api/sprints",
        params={"project_id": project_id, "state": "active"},
        headers=member.headers(org.id),
    )
    assert [s["id"] for s in listed.json()] == [sprint["id"]]
    done = await manager.client.post(
        f"{url}/complete", json={"move_open_to": "backlog"}, headers=headers
    )
    assert done.json()["state"] == "completed"


async def test_one_active_sprint_even_under_concurrent_starts(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    sprints = [
        await _sprint(manager, headers, project_id, date(2027, 1, 4) + timedelta(days=14 * n))
        for n in range(4)
    ]
    answers = await asyncio.gather(
        *(manager.client.post(f"/api/sprints/{s['id']}/start", headers=headers) for s in sprints)
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409], [a.text for a in answers]
    active = await manager.client.get(
        "/api/sprints", params={"project_id": project_id, "state": "active"}, headers=headers
    )
    assert len(active.json()) == 1


async def test_issue_sprint_references(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    sprint = await _sprint(manager, headers, project_id, date(2027, 3, 1))
    other_project = await factory.project(org, key="OTHER")
    other_sprint = await _sprint(manager, headers, str(other_project.id), date(2027, 3, 1))
    foreign_org = await factory.org()
    foreign_project = await factory.project(foreign_org, key="FOR")
    foreign_sprint = await _sprint(
        foreign_org.owner,
        foreign_org.owner.headers(foreign_org.id),
        str(foreign_project.id),
        date(2027, 3, 1),
    )
    mh = member.headers(org.id)
    ok = await _issue(member, mh, project_id, sprint_id=sprint["id"])
    assert ok["sprint_id"] == sprint["id"]
    for wrong in (other_sprint["id"], foreign_sprint["id"]):
        response = await member.client.post(
            "/api/issues",
            json={"project_id": project_id, "title": "x", "sprint_id": wrong},
            headers=mh,
        )
        assert response.status_code == 422
        assert "sprint_id" in response.json()["errors"]
    plain = await _issue(member, mh, project_id)
    bulk = await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": [plain["id"]], "action": "set_sprint", "value": sprint["id"]},
        headers=mh,
    )
    assert bulk.json()["updated"] == 1
    in_sprint = await member.client.get(
        "/api/issues", params={"sprint_id": sprint["id"]}, headers=mh
    )
    assert {i["id"] for i in in_sprint.json()} == {ok["id"], plain["id"]}
    await manager.client.post(f"/api/sprints/{sprint['id']}/start", headers=headers)
    await manager.client.post(f"/api/sprints/{sprint['id']}/complete", json={}, headers=headers)
    late = await member.client.patch(
        f"/api/issues/{plain['id']}", json={"sprint_id": sprint["id"]}, headers=mh
    )
    assert late.status_code == 422  # completed sprints take no issues


async def test_delete_unassigns_and_complete_moves_open_issues(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    doomed = await _sprint(manager, headers, project_id, date(2027, 5, 3))
    issue = await _issue(manager, headers, project_id, sprint_id=doomed["id"])
    assert (
        await manager.client.delete(f"/api/sprints/{doomed['id']}", headers=headers)
    ).status_code == 204
    assert (await manager.client.get(f"/api/issues/{issue['id']}", headers=headers)).json()[
        "sprint_id"
    ] is None
    current = await _sprint(manager, headers, project_id, date(2027, 6, 1))
    following = await _sprint(manager, headers, project_id, date(2027, 6, 15))
    open_issue = await _issue(manager, headers, project_id, sprint_id=current["id"])
    done_issue = await _issue(manager, headers, project_id, sprint_id=current["id"], status="Done")
    await manager.client.post(f"/api/sprints/{current['id']}/start", headers=headers)
    bad = await manager.client.post(
        f"/api/sprints/{current['id']}/complete",
        json={"move_open_to": current["id"]},
        headers=headers,
    )
    assert bad.status_code == 422
    completed = await manager.client.post(
        f"/api/sprints/{current['id']}/complete",
        json={"move_open_to": following["id"]},
        headers=headers,
    )
    assert completed.status_code == 200
    moved = await manager.client.get(f"/api/issues/{open_issue['id']}", headers=headers)
    stayed = await manager.client.get(f"/api/issues/{done_issue['id']}", headers=headers)
    assert moved.json()["sprint_id"] == following["id"]
    assert stayed.json()["sprint_id"] == current["id"]


async def test_stats_committed_versus_now(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    sprint = await _sprint(manager, headers, project_id, date(2027, 8, 2))
    a = await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=5)
    b = await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=3)
    await manager.client.post(f"/api/sprints/{sprint['id']}/start", headers=headers)
    await manager.client.post(
        f"/api/issues/{a['id']}/transition", json={"status": "Done"}, headers=headers
    )
    await manager.client.patch(f"/api/issues/{b['id']}", json={"sprint_id": None}, headers=headers)
    await _issue(
        manager,
        headers,
        project_id,
        sprint_id=sprint["id"],
        estimated_hours=2,
        status="In Progress",
    )
    stats = (await manager.client.get(f"/api/sprints/{sprint['id']}/stats", headers=headers)).json()
    assert stats["committed_issues"] == 2
    assert stats["committed_hours"] == 8
    assert stats["added_issues"] == 1
    assert stats["removed_issues"] == 1
    assert stats["total_issues"] == 2
    assert stats["by_category"]["done"] == {"issues": 1, "hours": 5.0}
    assert stats["by_category"]["in_progress"] == {"issues": 1, "hours": 2.0}
    assert stats["completion_percent"] == 50.0
    assert stats["completion_percent_hours"] == round(100 * 5 / 7, 1)


async def test_burndown_is_replayed_from_history(
    factory: Factory, time_travel: MovableClock
) -> None:
    """Changes on chosen days; each point is the state at the end of its day."""
    org, manager, member, headers, project_id = await _world(factory)
    today = datetime.now(UTC).date()
    start = today - timedelta(days=4)
    sprint = await _sprint(manager, headers, project_id, start, days=7)
    url = f"/api/sprints/{sprint['id']}"

    time_travel.advance(timedelta(days=-4))  # day 0
    a = await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=5)
    b = await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=3)
    c = await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=2)
    await manager.client.post(f"{url}/start", headers=headers)
    time_travel.advance(timedelta(days=1))  # day 1: A is done
    await manager.client.post(
        f"/api/issues/{a['id']}/transition", json={"status": "Done"}, headers=headers
    )
    time_travel.advance(timedelta(days=1))  # day 2: D joins
    await _issue(manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=4)
    time_travel.advance(timedelta(days=1))  # day 3: B leaves
    await manager.client.patch(f"/api/issues/{b['id']}", json={"sprint_id": None}, headers=headers)
    time_travel.reset()  # day 4, today: C is re-estimated
    await manager.client.patch(
        f"/api/issues/{c['id']}", json={"estimated_hours": 1}, headers=headers
    )

    burndown = (await manager.client.get(f"{url}/burndown", headers=headers)).json()
    points = burndown["points"]
    assert [p["date"] for p in points] == [
        (start + timedelta(days=n)).isoformat() for n in range(8)
    ]
    actual = [(p["remaining_hours"], p["remaining_issues"]) for p in points]
    assert actual == [
        (10, 3),
        (5, 2),
        (9, 3),
        (6, 2),
        (5, 2),
        (None, None),
        (None, None),
        (None, None),
    ]
    assert [p["ideal_hours"] for p in points] == [round(10 * (1 - n / 7), 2) for n in range(8)]


async def test_capacity_flags_who_is_over(factory: Factory) -> None:
    org, manager, member, headers, project_id = await _world(factory)
    start = date(2027, 9, 6)  # a Monday: two working weeks
    sprint = await _sprint(manager, headers, project_id, start, days=11)
    set_capacity = await manager.client.post(
        f"/api/projects/{project_id}/members",
        json={"user_id": str(member.user_id), "capacity_hours_per_day": 1},
        headers=headers,
    )
    assert set_capacity.json()["capacity_hours_per_day"] == 1
    await _issue(
        manager,
        headers,
        project_id,
        sprint_id=sprint["id"],
        estimated_hours=12,
        assignee_id=str(member.user_id),
    )
    await _issue(
        manager,
        headers,
        project_id,
        sprint_id=sprint["id"],
        estimated_hours=8,
        assignee_id=str(manager.user_id),
    )
    capacity = (
        await manager.client.get(f"/api/sprints/{sprint['id']}/capacity", headers=headers)
    ).json()
    assert capacity["working_days"] == 10
    rows = {r["user_id"]: r for r in capacity["members"]}
    assert rows[str(member.user_id)]["capacity_hours"] == 10
    assert rows[str(member.user_id)]["over"] is True
    assert rows[str(manager.user_id)]["capacity_hours"] == 60
    assert rows[str(manager.user_id)]["over"] is False


async def test_logged_time_shows_beside_the_estimates(factory: Factory) -> None:
    """Time logged on the sprint's issues on the sprint's days: per person in the capacity,
    in all in the stats, summed up day by day in the burndown (whose remaining line stays the
    open estimates)."""
    org, manager, member, headers, project_id = await _world(factory)
    owner = org.owner
    today = datetime.now(UTC).date()
    start = today - timedelta(days=4)
    sprint = await _sprint(manager, headers, project_id, start, days=7)
    url = f"/api/sprints/{sprint['id']}"
    a = await _issue(
        manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=5,
        assignee_id=str(member.user_id),
    )  # fmt: skip
    b = await _issue(
        manager, headers, project_id, sprint_id=sprint["id"], estimated_hours=3,
        assignee_id=str(manager.user_id),
    )  # fmt: skip
    elsewhere = await _issue(manager, headers, project_id)  # not in the sprint

    async def log(person: Person, issue: Any, minutes: int, day: date) -> None:
        response = await person.client.post(
            f"/api/projects/{project_id}/issues/{issue['key']}/time-entries",
            json={"duration_minutes": minutes, "date": day.isoformat()},
            headers=person.headers(org.id),
        )
        assert response.status_code == 201, response.text

    await log(member, a, 60, start)
    await log(manager, b, 90, start + timedelta(days=1))
    await log(member, a, 30, start + timedelta(days=2))
    await log(owner, a, 30, start + timedelta(days=3))  # neither assignee nor rated: shown too
    await log(member, elsewhere, 45, start + timedelta(days=1))  # another issue: not counted
    await log(member, a, 120, start - timedelta(days=1))  # before the sprint: not counted

    stats = (await manager.client.get(f"{url}/stats", headers=headers)).json()
    assert (stats["total_hours"], stats["logged_hours"]) == (8, 3.5)
    capacity = (await manager.client.get(f"{url}/capacity", headers=headers)).json()
    logged = {r["user_id"]: r["logged_hours"] for r in capacity["members"]}
    assert logged == {str(member.user_id): 1.5, str(manager.user_id): 1.5, str(owner.user_id): 0.5}
    rows = {r["user_id"]: r for r in capacity["members"]}
    assert rows[str(member.user_id)]["committed_hours"] == 5  # estimates, as before
    burndown = (await manager.client.get(f"{url}/burndown", headers=headers)).json()
    points = burndown["points"]
    assert [p["logged_hours"] for p in points] == [1.0, 2.5, 3.0, 3.5, 3.5, None, None, None]
    assert [p["remaining_hours"] for p in points][4] == 8  # logging time finishes no work
    viewer_sees = await member.client.get(f"{url}/stats", headers=member.headers(org.id))
    assert viewer_sees.json()["logged_hours"] == 3.5
