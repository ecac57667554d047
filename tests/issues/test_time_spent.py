"""``time_spent_minutes`` on issues (issue 19): the sum of the issue's time entries, on the
detail and on every list row, in the same one statement per warm read; its ETags move with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from projekt.core.context import Role
from tests.factories import Factory, Org, Person
from tests.support import count_statements

TODAY = datetime.now(UTC).date().isoformat()


class Board:
    def __init__(self, org: Org, person: Person, headers: dict[str, str], project_id: str) -> None:
        self.org = org
        self.person = person
        self.headers = headers
        self.project_id = project_id

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return await self.person.client.request(
            method, path, json=body, headers={**self.headers, **headers}
        )

    async def issue(self) -> Any:
        created = await self.call("POST", "/api/issues", {"project_id": self.project_id,
                                                          "title": "Timed"})  # fmt: skip
        assert created.status_code == 201, created.text
        return created.json()

    async def log(self, issue: Any, minutes: int) -> Any:
        path = f"/api/projects/{self.project_id}/issues/{issue['key']}/time-entries"
        logged = await self.call("POST", path, {"duration_minutes": minutes, "date": TODAY})
        assert logged.status_code == 201, logged.text
        return logged

    async def spent(self, issue: Any) -> tuple[int, int]:
        """The issue's minutes as its detail and as its row of the project's list show them."""
        detail = await self.call("GET", f"/api/issues/{issue['id']}")
        listing = await self.call("GET", f"/api/issues?project_id={self.project_id}")
        rows = {row["id"]: row for row in listing.json()}
        return detail.json()["time_spent_minutes"], rows[issue["id"]]["time_spent_minutes"]


async def _board(factory: Factory) -> Board:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org, key="WEB")
    member = org.members[Role.MEMBER]
    return Board(org, member, member.headers(org.id), str(project.id))


async def test_the_sum_follows_logging_edits_moves_and_deletes(factory: Factory) -> None:
    board = await _board(factory)
    first, second = await board.issue(), await board.issue()
    assert first["time_spent_minutes"] == 0
    assert await board.spent(first) == (0, 0)

    await board.log(first, 30)
    entry = (await board.log(first, 45)).json()
    assert await board.spent(first) == (75, 75)
    assert await board.spent(second) == (0, 0)

    etag = (await board.call("GET", f"/api/time-entries/{entry['id']}")).headers["etag"]
    edited = await board.call(
        "PATCH", f"/api/time-entries/{entry['id']}", {"minutes": 15}, **{"If-Match": etag}
    )
    assert edited.status_code == 200, edited.text
    assert await board.spent(first) == (45, 45)

    moved = await board.call(
        "PATCH",
        f"/api/time-entries/{entry['id']}",
        {"issue_id": second["id"]},
        **{"If-Match": edited.headers["etag"]},
    )
    assert moved.status_code == 200, moved.text
    assert await board.spent(first) == (30, 30)
    assert await board.spent(second) == (15, 15)

    deleted = await board.call(
        "DELETE", f"/api/time-entries/{entry['id']}", **{"If-Match": moved.headers["etag"]}
    )
    assert deleted.status_code == 204, deleted.text
    assert await board.spent(second) == (0, 0)
    assert await board.spent(first) == (30, 30)

    # A write's answer carries it too.
    patched = await board.call(
        "PATCH", f"/api/issues/{first['id']}", {"title": "Renamed"},
        **{"If-Match": (await board.call("GET", f"/api/issues/{first['id']}")).headers["etag"]},
    )  # fmt: skip
    assert patched.json()["time_spent_minutes"] == 30


async def test_logged_time_moves_the_issue_and_list_etags(factory: Factory) -> None:
    board = await _board(factory)
    issue = await board.issue()
    detail_url = f"/api/issues/{issue['id']}"
    list_url = f"/api/issues?project_id={board.project_id}"
    detail_tag = (await board.call("GET", detail_url)).headers["etag"]
    list_tag = (await board.call("GET", list_url)).headers["etag"]

    await board.log(issue, 20)

    again = await board.call("GET", detail_url, **{"If-None-Match": detail_tag})
    assert again.status_code == 200
    assert again.json()["time_spent_minutes"] == 20
    listed = await board.call("GET", list_url, **{"If-None-Match": list_tag})
    assert listed.status_code == 200
    assert listed.json()[0]["time_spent_minutes"] == 20
    # An If-Match taken before the time was logged is stale now.
    stale = await board.call("PATCH", detail_url, {"title": "x"}, **{"If-Match": detail_tag})
    assert stale.status_code == 412


async def test_reads_stay_one_statement_with_time_logged(app: FastAPI, factory: Factory) -> None:
    board = await _board(factory)
    token = await factory.key(board.org.id, board.person)
    issues = [await board.issue() for _ in range(5)]
    for n, issue in enumerate(issues):
        for _ in range(n):
            await board.log(issue, 10)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        await keyed.get("/api/me")  # last_used_at written now, not during the counts
        with count_statements(app) as listed:
            response = await keyed.get(f"/api/issues?project_id={board.project_id}")
        assert sorted(row["time_spent_minutes"] for row in response.json()) == [0, 10, 20, 30, 40]
        with count_statements(app) as detail:
            response = await keyed.get(f"/api/issues/{issues[4]['key']}")
        assert response.json()["time_spent_minutes"] == 40
    # Besides the credential's lookup (cached per worker when Redis confirms it):
    assert len([sql for sql in listed if "api_keys" not in sql]) == 1
    # PostgreSQL: one (the comments ride along); SQLite: the comments apart.
    assert len([sql for sql in detail if "api_keys" not in sql]) <= 2
