"""Time tracking: logging, timers, the 24-hour day, who may change what, and the sums."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import update

from projekt.core.context import Role
from projekt.time_tracking.models import TimeEntry
from projekt.time_tracking.schemas import TimeEntryRead
from tests.factories import Factory, Org, Person
from tests.races import together
from tests.support import MovableClock, count_statements

TODAY = datetime.now(UTC).date()


class Desk:
    """An org with a manager, two members and a viewer, a project and two issues."""

    def __init__(self, factory: Factory, org: Org, project_id: str, issues: list[Any]) -> None:
        self.factory = factory
        self.org = org
        self.project_id = project_id
        self.issues = issues

    def who(self, role: Role) -> Person:
        return self.org.members[role]

    async def call(
        self, role: Role, method: str, path: str, body: Any = None, **headers: str
    ) -> Any:
        person = self.who(role)
        return await person.client.request(
            method, path, json=body, headers={**person.headers(self.org.id), **headers}
        )

    def issue_path(self, n: int = 0) -> str:
        return f"/api/projects/{self.project_id}/issues/{self.issues[n]['key']}"

    async def log(
        self, role: Role, minutes: int, day: date = TODAY, n: int = 0, **body: Any
    ) -> Any:
        return await self.call(
            role,
            "POST",
            self.issue_path(n) + "/time-entries",
            {"duration_minutes": minutes, "date": day.isoformat(), **body},
        )


async def _desk(factory: Factory) -> Desk:
    org = await factory.org(roles=(Role.MANAGER, Role.MEMBER, Role.VIEWER))
    extra = await factory.person()
    org.employee_ids[Role.ADMIN] = await factory.add_member(org.id, extra, Role.MEMBER)
    org.members[Role.ADMIN] = extra  # a second member, filed under a spare key
    project = await factory.project(org, key="TT" + uuid.uuid4().hex[:4].upper())
    owner = org.owner
    issues = []
    for title in ("First", "Second"):
        response = await owner.client.post(
            "/api/issues",
            json={"project_id": str(project.id), "title": title},
            headers=owner.headers(org.id),
        )
        issues.append(response.json())
    return Desk(factory, org, str(project.id), issues)


async def test_logging_on_an_issue(factory: Factory) -> None:
    desk = await _desk(factory)
    response = await desk.log(Role.MEMBER, 45, description="Review", billable=False)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert response.headers["location"] == f"/api/time-entries/{entry['id']}"
    assert response.headers["etag"]
    assert entry["minutes"] == 45 and entry["billable"] is False
    assert entry["issue_id"] == desk.issues[0]["id"]
    assert entry["user_id"] == str(desk.who(Role.MEMBER).user_id)
    assert entry["running"] is False and entry["invoiced"] is False
    followed = await desk.call(Role.VIEWER, "GET", response.headers["location"])
    assert followed.status_code == 200 and followed.json() == entry

    for bad in (0, -5, 1441, "30", 1.5, True):
        refused = await desk.log(Role.MEMBER, bad)  # type: ignore[arg-type]
        assert refused.status_code == 422, (bad, refused.text)
        assert "duration_minutes" in refused.json()["errors"]
    wrong_project = await desk.call(
        Role.MEMBER,
        "POST",
        f"/api/projects/{uuid.uuid4()}/issues/{desk.issues[0]['key']}/time-entries",
        {"duration_minutes": 5, "date": TODAY.isoformat()},
    )
    assert wrong_project.status_code == 404
    viewer = await desk.log(Role.VIEWER, 5)
    assert viewer.status_code == 403 and viewer.json()["code"] == "insufficient_role"


async def test_no_future_dates_and_24_hours_a_day(factory: Factory) -> None:
    desk = await _desk(factory)
    future = await desk.log(Role.MEMBER, 10, TODAY + timedelta(days=2))
    assert future.status_code == 422 and future.json()["code"] == "future_date"
    assert "date" in future.json()["errors"]
    day = TODAY - timedelta(days=1)
    assert (await desk.log(Role.MEMBER, 1000, day)).status_code == 201
    assert (await desk.log(Role.MEMBER, 400, day, n=1)).status_code == 201
    over = await desk.log(Role.MEMBER, 41, day)
    assert over.status_code == 422 and over.json()["code"] == "day_over_limit"
    assert "40 minutes left" in over.json()["errors"]["duration_minutes"][0]
    assert (await desk.log(Role.MEMBER, 40, day)).status_code == 201
    # Another person's day is their own.
    assert (await desk.log(Role.MANAGER, 600, day)).status_code == 201
    listed = await desk.call(Role.MEMBER, "GET", f"/api/time-entries?from={day}&to={day}")
    assert sum(e["minutes"] for e in listed.json()) == 1440 + 600
    # Moving an entry onto a full day is refused the same way.
    other = (await desk.log(Role.MEMBER, 30)).json()
    url = f"/api/time-entries/{other['id']}"
    moved = await desk.call(Role.MEMBER, "PATCH", url, {"entry_date": day.isoformat()})
    assert moved.status_code == 422 and moved.json()["code"] == "day_over_limit"


async def test_the_issue_timer(factory: Factory, time_travel: MovableClock) -> None:
    desk = await _desk(factory)
    base = desk.issue_path() + "/time-entries"
    started = await desk.call(Role.MEMBER, "POST", base + "/timer-start")
    assert started.status_code == 201, started.text
    timer = started.json()
    assert set(timer) == {"timer_id", "started_at", "entry"}
    again = await desk.call(Role.MEMBER, "POST", base + "/timer-start")
    assert again.status_code == 200 and again.json()["timer_id"] == timer["timer_id"]
    elsewhere = await desk.call(
        Role.MEMBER, "POST", desk.issue_path(1) + "/time-entries/timer-start"
    )
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "timer_already_running"
    # Another member's timer is their own.
    mine = await desk.call(Role.ADMIN, "POST", desk.issue_path(1) + "/time-entries/timer-start")
    assert mine.status_code == 201

    active = await desk.call(Role.MEMBER, "GET", "/api/time-entries/active")
    assert active.json()["id"] == timer["timer_id"] and active.json()["running"] is True
    time_travel.advance(timedelta(seconds=61))
    stale = await desk.call(Role.MEMBER, "POST", base + "/timer-stop", **{"If-Match": '"x"'})
    assert stale.status_code == 412
    stopped = await desk.call(
        Role.MEMBER, "POST", base + "/timer-stop", {"description": "Pairing"},
        **{"If-Match": active.headers["etag"]},
    )  # fmt: skip
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["duration_minutes"] == 2  # 61 s, rounded up
    entry = stopped.json()["entry"]
    assert entry["running"] is False and entry["minutes"] == 2
    assert entry["description"] == "Pairing"
    none = await desk.call(Role.MEMBER, "POST", base + "/timer-stop")
    assert none.status_code == 404 and none.json()["code"] == "no_running_timer"
    assert (await desk.call(Role.MEMBER, "GET", "/api/time-entries/active")).json() is None

    # A timer stopped at once still counts one minute.
    await desk.call(Role.MEMBER, "POST", base + "/timer-start")
    quick = await desk.call(Role.MEMBER, "POST", base + "/timer-stop")
    assert quick.json()["duration_minutes"] == 1

    summary = await desk.call(Role.VIEWER, "GET", desk.issue_path() + "/time-summary")
    assert summary.json() == {
        "total_minutes": 3,
        "entry_count": 2,
        "by_user": [
            {
                "user_id": str(desk.who(Role.MEMBER).user_id),
                "user_name": desk.who(Role.MEMBER).name,
                "total_minutes": 3,
                "entry_count": 2,
            }
        ],
    }


async def test_org_timer_start_stop_and_the_limit(
    factory: Factory, time_travel: MovableClock
) -> None:
    desk = await _desk(factory)
    body = {"project_id": desk.project_id, "issue_id": desk.issues[0]["id"]}
    started = await desk.call(Role.MEMBER, "POST", "/api/time-entries/start", body)
    assert started.status_code == 201, started.text
    assert started.headers["location"].endswith(started.json()["id"])
    second = await desk.call(Role.MEMBER, "POST", "/api/time-entries/start", body)
    assert second.status_code == 409 and second.json()["code"] == "timer_already_running"

    # Past the limit (12 h by default) it has stopped there, before any write says so.
    time_travel.advance(timedelta(hours=13))
    assert (await desk.call(Role.MEMBER, "GET", "/api/time-entries/active")).json() is None
    shown = (await desk.call(Role.MEMBER, "GET", started.headers["location"])).json()
    assert (shown["running"], shown["minutes"], shown["auto_stopped"]) == (False, 720, True)
    summary = await desk.call(Role.MEMBER, "GET", "/api/time-entries/summary?group_by=user")
    assert summary.json()["total_minutes"] == 720
    # The next start records that stop and starts anew.
    again = await desk.call(Role.MEMBER, "POST", "/api/time-entries/start", body)
    assert again.status_code == 201, again.text
    kept = (await desk.call(Role.MEMBER, "GET", started.headers["location"])).json()
    assert kept == {**shown, "updated_at": kept["updated_at"]}
    async with factory.services.db.read() as session:
        row = await session.get(TimeEntry, uuid.UUID(shown["id"]))
        assert row is not None and (row.running, row.minutes, row.auto_stopped) == (
            False,
            720,
            True,
        )

    time_travel.advance(timedelta(minutes=30))
    url = f"/api/time-entries/{again.json()['id']}/stop"
    stopped = await desk.call(Role.MEMBER, "POST", url)
    assert stopped.status_code == 200 and stopped.json()["minutes"] == 30
    twice = await desk.call(Role.MEMBER, "POST", url)
    assert twice.status_code == 404 and twice.json()["code"] == "no_running_timer"


async def test_two_concurrent_starts_one_wins(factory: Factory) -> None:
    desk = await _desk(factory)
    body = {"project_id": desk.project_id}
    answers = await together(
        *(desk.call(Role.MEMBER, "POST", "/api/time-entries/start", body) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]


async def test_own_entries_for_members_everyones_for_managers(factory: Factory) -> None:
    desk = await _desk(factory)
    theirs = (await desk.log(Role.ADMIN, 20)).json()
    url = f"/api/time-entries/{theirs['id']}"
    for method, body in (("PATCH", {"minutes": 25}), ("PUT", {"minutes": 25}), ("DELETE", None)):
        refused = await desk.call(Role.MEMBER, method, url, body)
        assert refused.status_code == 403 and refused.json()["code"] == "not_your_entry"
    changed = await desk.call(Role.MANAGER, "PATCH", url, {"minutes": 25, "description": "Fix"})
    assert changed.status_code == 200 and changed.json()["minutes"] == 25
    own = await desk.call(Role.ADMIN, "PATCH", url, {"billable": False})
    assert own.status_code == 200 and own.json()["billable"] is False
    stale = await desk.call(Role.ADMIN, "PATCH", url, {"minutes": 1}, **{"If-Match": '"old"'})
    assert stale.status_code == 412

    on_behalf = {"minutes": 15, "entry_date": TODAY.isoformat(), "project_id": desk.project_id}
    member_for_other = await desk.call(
        Role.MEMBER,
        "POST",
        "/api/time-entries",
        {**on_behalf, "user_id": str(desk.who(Role.ADMIN).user_id)},
    )
    assert member_for_other.status_code == 403
    manager_for_other = await desk.call(
        Role.MANAGER,
        "POST",
        "/api/time-entries",
        {**on_behalf, "user_id": str(desk.who(Role.ADMIN).user_id)},
    )
    assert manager_for_other.status_code == 201, manager_for_other.text
    assert manager_for_other.json()["user_id"] == str(desk.who(Role.ADMIN).user_id)
    stranger = await factory.person()
    outsider = await desk.call(
        Role.MANAGER, "POST", "/api/time-entries", {**on_behalf, "user_id": str(stranger.user_id)}
    )
    assert outsider.status_code == 403
    deleted = await desk.call(Role.MANAGER, "DELETE", url)
    assert deleted.status_code == 204
    assert (await desk.call(Role.MANAGER, "GET", url)).status_code == 404


async def test_an_invoiced_entry_is_locked(factory: Factory) -> None:
    desk = await _desk(factory)
    entry = (await desk.log(Role.MEMBER, 60)).json()
    async with factory.services.db.session() as session:
        await session.execute(
            update(TimeEntry)
            .where(TimeEntry.id == uuid.UUID(entry["id"]))
            .values(invoice_id=uuid.uuid4())
        )
    url = f"/api/time-entries/{entry['id']}"
    for role in (Role.MEMBER, Role.OWNER):
        for method, body in (("PATCH", {"minutes": 5}), ("DELETE", None)):
            locked = await desk.call(role, method, url, body)
            assert locked.status_code == 409 and locked.json()["code"] == "entry_invoiced"
    shown = await desk.call(Role.MEMBER, "GET", url)
    assert shown.json()["invoiced"] is True and shown.json()["minutes"] == 60
    invoiced = await desk.call(Role.MEMBER, "GET", "/api/time-entries?invoiced=true")
    assert [e["id"] for e in invoiced.json()] == [entry["id"]]
    assert (await desk.call(Role.MEMBER, "GET", "/api/time-entries?invoiced=false")).json() == []


async def test_lists_filter_page_and_hide_private_projects(factory: Factory) -> None:
    desk = await _desk(factory)
    days = [TODAY - timedelta(days=n) for n in range(4)]
    for n, day in enumerate(days):
        assert (await desk.log(Role.MEMBER, 10 + n, day, billable=n % 2 == 0)).status_code == 201
    private = await factory.project(
        desk.org, key="PV" + uuid.uuid4().hex[:4].upper(), visibility="private"
    )
    hidden = await desk.call(
        Role.OWNER,
        "POST",
        "/api/time-entries",
        {"minutes": 5, "entry_date": TODAY.isoformat(), "project_id": str(private.id)},
    )
    assert hidden.status_code == 201, hidden.text

    listed = await desk.call(Role.VIEWER, "GET", "/api/time-entries")
    assert [e["entry_date"] for e in listed.json()] == [d.isoformat() for d in days]
    assert listed.headers["x-total-count"] == "4"
    paged = await desk.call(Role.VIEWER, "GET", "/api/time-entries?limit=3&sort=minutes")
    assert [e["minutes"] for e in paged.json()["data"]] == [10, 11, 12]
    assert paged.json()["meta"]["total"] == 4 and 'rel="next"' in paged.headers["link"]
    window = f"/api/time-entries?from={days[2]}&to={days[1]}&billable=false"
    assert [e["minutes"] for e in (await desk.call(Role.VIEWER, "GET", window)).json()] == [11]
    assert (await desk.call(Role.VIEWER, "GET", "/api/time-entries?limit=abc")).status_code == 400
    assert (await desk.call(Role.VIEWER, "GET", "/api/time-entries?sort=bogus")).status_code == 400
    assert (await desk.call(Role.VIEWER, "GET", "/api/time-entries?from=soon")).status_code == 422
    assert (await desk.call(Role.VIEWER, "GET", hidden.headers["location"])).status_code == 404
    seen = await desk.call(Role.OWNER, "GET", "/api/time-entries")
    assert len(seen.json()) == 5


async def test_plain_list_totals_come_from_counters_that_follow_every_write(
    factory: Factory,
) -> None:
    """The org's and a project's plain lists take their totals from the projects' counters
    (``projects.time_entries``): logged, started, on another project, deleted, and past the
    last page, each total is the count of what the caller sees."""
    desk = await _desk(factory)
    other = await factory.project(desk.org, key="TO" + uuid.uuid4().hex[:4].upper())
    private = await factory.project(
        desk.org, key="TP" + uuid.uuid4().hex[:4].upper(), visibility="private"
    )

    def org_entry(project_id: Any, minutes: int) -> dict[str, Any]:
        return {"minutes": minutes, "entry_date": TODAY.isoformat(), "project_id": str(project_id)}

    async def totals(role: Role) -> tuple[int, int, int]:
        found = []
        for query in ("", f"?project_id={desk.project_id}", f"?project_id={other.id}"):
            listed = await desk.call(role, "GET", "/api/time-entries" + query)
            assert listed.status_code == 200, listed.text
            assert int(listed.headers["x-total-count"]) >= len(listed.json())
            found.append(int(listed.headers["x-total-count"]))
        return found[0], found[1], found[2]

    assert await totals(Role.VIEWER) == (0, 0, 0)
    assert (await desk.log(Role.MEMBER, 30)).status_code == 201
    assert (await desk.log(Role.MANAGER, 20, n=1)).status_code == 201
    made = await desk.call(Role.MEMBER, "POST", "/api/time-entries", org_entry(other.id, 15))
    assert made.status_code == 201, made.text
    hidden = await desk.call(Role.OWNER, "POST", "/api/time-entries", org_entry(private.id, 5))
    assert hidden.status_code == 201, hidden.text
    timer = {"project_id": str(other.id)}
    started = await desk.call(Role.MANAGER, "POST", "/api/time-entries/start", timer)
    assert started.status_code == 201, started.text  # a running timer is listed too
    assert await totals(Role.VIEWER) == (4, 2, 2)
    assert (await totals(Role.OWNER))[0] == 5  # the private project's entry too

    deleted = await desk.call(Role.MEMBER, "DELETE", made.headers["location"])
    assert deleted.status_code == 204, deleted.text
    assert await totals(Role.VIEWER) == (3, 2, 1)
    past = await desk.call(Role.VIEWER, "GET", "/api/time-entries?offset=50&limit=10")
    assert past.json()["data"] == [] and past.json()["meta"]["total"] == 3
    # A filtered list still counts its rows (a window), and agrees with the counters.
    billable = await desk.call(Role.VIEWER, "GET", "/api/time-entries?billable=true")
    assert billable.headers["x-total-count"] == "3"
    paged = await desk.call(Role.VIEWER, "GET", "/api/time-entries?limit=2")
    assert len(paged.json()["data"]) == 2 and paged.json()["meta"]["total"] == 3


async def test_summaries_group_in_sql(factory: Factory, app: FastAPI) -> None:
    desk = await _desk(factory)
    monday = TODAY - timedelta(days=TODAY.weekday() + 7)  # last week's Monday
    plan = [
        (Role.MEMBER, 30, monday, 0, True),
        (Role.MEMBER, 45, monday + timedelta(days=1), 1, False),
        (Role.ADMIN, 60, monday, 0, True),
        (Role.ADMIN, 15, monday + timedelta(days=7), 1, True),
    ]
    for role, minutes, day, n, billable in plan:
        response = await desk.log(role, minutes, day, n=n, billable=billable)
        assert response.status_code == 201, response.text
    base = "/api/time-entries/summary"

    with count_statements(app) as seen:
        by_user = (await desk.call(Role.VIEWER, "GET", base + "?group_by=user")).json()
    # Identification may read the credential; the summary itself is one grouped statement.
    assert len([s for s in seen if "time_entries" in s]) == 1
    assert (by_user["total_minutes"], by_user["billable_minutes"]) == (150, 105)
    assert by_user["entries_count"] == 4
    names = {g["label"]: g["total_minutes"] for g in by_user["groups"]}
    assert names == {desk.who(Role.MEMBER).name: 75, desk.who(Role.ADMIN).name: 75}

    by_issue = (await desk.call(Role.VIEWER, "GET", base + "?group_by=issue")).json()
    assert {g["label"]: g["total_minutes"] for g in by_issue["groups"]} == {
        desk.issues[0]["key"]: 90,
        desk.issues[1]["key"]: 60,
    }
    by_day = (await desk.call(Role.VIEWER, "GET", base + "?group_by=day")).json()
    assert [(g["key"], g["total_minutes"]) for g in by_day["groups"]] == [
        (monday.isoformat(), 90),
        ((monday + timedelta(days=1)).isoformat(), 45),
        ((monday + timedelta(days=7)).isoformat(), 15),
    ]
    by_week = (await desk.call(Role.VIEWER, "GET", base + "?group_by=week")).json()
    year, week, _ = monday.isocalendar()
    assert by_week["groups"][0]["key"] == f"{year}-W{week:02d}"
    assert [g["total_minutes"] for g in by_week["groups"]] == [135, 15]
    by_project = (await desk.call(Role.VIEWER, "GET", base + "?group_by=project")).json()
    assert [g["key"] for g in by_project["groups"]] == [desk.project_id]
    ranged = await desk.call(
        Role.VIEWER, "GET", f"{base}?group_by=user&from={monday}&to={monday}&billable=true"
    )
    assert ranged.json()["total_minutes"] == 90
    assert ranged.json()["from_date"] == monday.isoformat()
    bad = await desk.call(Role.VIEWER, "GET", base + "?group_by=month")
    assert bad.status_code == 422


async def test_timesheet_as_json_and_csv(factory: Factory) -> None:
    desk = await _desk(factory)
    monday = TODAY - timedelta(days=TODAY.weekday() + 7)
    await desk.log(Role.MEMBER, 30, monday)
    await desk.log(Role.MEMBER, 20, monday + timedelta(days=2))
    await desk.log(Role.MEMBER, 40, monday + timedelta(days=2), n=1)
    await desk.log(Role.MEMBER, 99, monday + timedelta(days=7))  # the next week
    year, number, _ = monday.isocalendar()
    week = f"{year}-W{number:02d}"
    sheet = (await desk.call(Role.MEMBER, "GET", f"/api/timesheets?week={week}")).json()
    assert sheet["week"] == week and sheet["days"][0] == monday.isoformat()
    assert sheet["total_by_day"] == [30, 0, 60, 0, 0, 0, 0] and sheet["total_minutes"] == 90
    rows = {r["issue_key"]: r["minutes_by_day"] for r in sheet["rows"]}
    assert rows[desk.issues[0]["key"]] == [30, 0, 20, 0, 0, 0, 0]

    as_csv = await desk.call(Role.MEMBER, "GET", f"/api/timesheets?week={week}", Accept="text/csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(as_csv.text)))
    assert table[0] == ["project", "issue", *sheet["days"], "total"]
    assert table[-1] == ["total", "", "30", "0", "60", "0", "0", "0", "0", "90"]
    assert {row[1] for row in table[1:-1]} == {desk.issues[0]["key"], desk.issues[1]["key"]}

    # Anyone reads the time on the projects they see (as the entry list shows it); a person
    # outside the org has no timesheet here.
    member_id = desk.who(Role.MEMBER).user_id
    others = f"/api/timesheets?week={week}&user_id={member_id}"
    for role in (Role.ADMIN, Role.MANAGER, Role.VIEWER):  # ADMIN: another member here
        assert (await desk.call(role, "GET", others)).json()["total_minutes"] == 90, role
    listed = await desk.call(Role.VIEWER, "GET", f"/api/time-entries?user_id={member_id}")
    sunday = (monday + timedelta(days=6)).isoformat()
    assert sum(e["minutes"] for e in listed.json() if e["entry_date"] <= sunday) == 90
    stranger = (await desk.factory.person()).user_id
    for who in (stranger, uuid.uuid4()):
        missing_person = await desk.call(
            Role.MEMBER, "GET", f"/api/timesheets?week={week}&user_id={who}"
        )
        assert missing_person.status_code == 404, missing_person.text
        assert missing_person.json()["code"] == "member_not_found"
    for bad in ("2026-48", "2026-W60", "20x6-W01"):
        refused = await desk.call(Role.MEMBER, "GET", f"/api/timesheets?week={bad}")
        assert refused.status_code == 422 and "week" in refused.json()["errors"], bad
    # Week 53 exists in 2026 (it starts on a Thursday), not in 2027.
    assert (await desk.call(Role.MEMBER, "GET", "/api/timesheets?week=2026-W53")).status_code == 200
    missing = await desk.call(Role.MEMBER, "GET", "/api/timesheets?week=2027-W53")
    assert missing.status_code == 422 and missing.json()["code"] == "bad_week"


async def test_summaries_filter_and_hide_private_projects_and_other_orgs(factory: Factory) -> None:
    desk = await _desk(factory)
    yesterday = TODAY - timedelta(days=1)
    assert (await desk.log(Role.MEMBER, 30, yesterday)).status_code == 201
    assert (await desk.log(Role.ADMIN, 20, TODAY, n=1, billable=False)).status_code == 201
    private = await factory.project(
        desk.org, key="PS" + uuid.uuid4().hex[:4].upper(), visibility="private"
    )
    hidden = await desk.call(
        Role.OWNER,
        "POST",
        "/api/time-entries",
        {"minutes": 7, "entry_date": TODAY.isoformat(), "project_id": str(private.id)},
    )
    assert hidden.status_code == 201, hidden.text
    other = await _desk(factory)  # another org's time never shows
    assert (await other.log(Role.MEMBER, 500, yesterday)).status_code == 201
    base = "/api/time-entries/summary?group_by=project"

    async def total(role: Role, query: str = "") -> Any:
        response = await desk.call(role, "GET", base + query)
        assert response.status_code == 200, response.text
        return response.json()["total_minutes"]

    assert await total(Role.MEMBER) == 50
    assert await total(Role.OWNER) == 57  # owners see private projects
    member_id = desk.who(Role.MEMBER).user_id
    assert await total(Role.MEMBER, f"&user_id={member_id}") == 30
    assert await total(Role.OWNER, f"&project_id={private.id}") == 7
    assert await total(Role.MEMBER, f"&project_id={private.id}") == 0
    assert await total(Role.MEMBER, f"&from={TODAY}") == 20
    assert await total(Role.MEMBER, f"&to={yesterday}") == 30
    assert await total(Role.MEMBER, "&billable=false") == 20
    assert await total(Role.MEMBER, f"&from={TODAY}&to={yesterday}") == 0
    labels = (await desk.call(Role.OWNER, "GET", base)).json()["groups"]
    assert {g["key"]: g["label"] for g in labels} == {
        desk.project_id: desk.issues[0]["key"].split("-")[0],
        str(private.id): private.key,
    }


async def test_a_page_of_entries_is_one_statement_whatever_its_size(
    app: FastAPI, factory: Factory
) -> None:
    """The list reads its page and total in one statement on the fast path (issue 21), with
    or without filters, for 3 entries as for 12; a timer past the limit shows as stopped."""
    desk = await _desk(factory)
    for n in range(12):
        day = TODAY - timedelta(days=n % 5)
        assert (await desk.log(Role.MEMBER, 5 + n, day, billable=n % 2 == 0)).status_code == 201
    counted = set()
    for query in ("limit=3", "limit=12", "limit=12&billable=true", f"project_id={desk.project_id}"):
        with count_statements(app) as seen:
            listed = await desk.call(Role.VIEWER, "GET", f"/api/time-entries?{query}")
        assert listed.status_code == 200, listed.text
        counted.add(len([s for s in seen if "token_hash" not in s]))
    assert counted == {1}, counted
    assert len(listed.json()) == 12
    assert list(listed.json()[0]) == list(TimeEntryRead.model_fields)
