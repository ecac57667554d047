"""The changes feed reads a page in a constant number of statements (issue 16, issue 21), and
the audit log a page in one.

A page costs the page of events, which on PostgreSQL brings along the rows of the types joined
to it (SQLite reads each of those types after it), then one batched read per other resource type
on it (each domain's ``feed.py``); never a read per resource. So a page of 10 and a page of 60
that hold the same types run the same number of statements.
"""

from __future__ import annotations

from fastapi import FastAPI

from projekt.core.context import Role
from tests.factories import Factory
from tests.support import count_statements

ROUNDS = 12  # each round records five types: issue, comment, sprint, milestone, project


async def test_a_page_of_the_feed_costs_the_same_statements_whatever_its_size(
    app: FastAPI, factory: Factory
) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    owner, headers = org.owner, org.owner.headers(org.id)
    start = (await owner.client.get("/api/changes", headers=headers)).json()["next_cursor"]
    for n in range(ROUNDS):
        issue = await owner.client.post(
            "/api/issues", json={"project_id": str(project.id), "title": f"i{n}"}, headers=headers
        )
        assert issue.status_code == 201, issue.text
        comment = await owner.client.post(
            f"/api/issues/{issue.json()['id']}/comments", json={"text": "c"}, headers=headers
        )
        assert comment.status_code == 201, comment.text
        sprint = await owner.client.post(
            "/api/sprints",
            json={
                "project_id": str(project.id),
                "name": f"s{n}",
                "start_date": "2026-12-01",
                "end_date": "2026-12-14",
            },
            headers=headers,
        )
        assert sprint.status_code == 201, sprint.text
        milestone = await owner.client.post(
            f"/api/projects/{project.id}/milestones", json={"name": f"m{n}"}, headers=headers
        )
        assert milestone.status_code == 201, milestone.text
        edited = await owner.client.patch(
            f"/api/projects/{project.id}", json={"description": f"d{n}"}, headers=headers
        )
        assert edited.status_code == 200, edited.text

    member = org.members[Role.MEMBER]
    reader_headers = {"Authorization": f"Bearer {await factory.key(org.id, member)}",
                      "X-Org-Id": str(org.id)}  # fmt: skip
    async with factory.client(**reader_headers) as client:
        warm = await client.get(f"/api/changes?since={start}&limit=1")  # identity cached
        assert warm.status_code == 200, warm.text
        counted: dict[int, int] = {}
        for limit in (10, 5 * ROUNDS):
            with count_statements(app) as seen:
                page = await client.get(f"/api/changes?since={start}&limit={limit}")
            assert page.status_code == 200, page.text
            data = page.json()["data"]
            assert len(data) == limit
            kinds = {change["resource_type"] for change in data}
            assert kinds == {"issue", "comment", "sprint", "milestone", "project"}
            assert all(change["action"] == "upsert" for change in data)
            # The caller's identity aside (its key is looked up by digest when not cached).
            counted[limit] = len([sql for sql in seen if "token_hash" not in sql])
    assert counted[10] == counted[5 * ROUNDS], counted
    # On PostgreSQL the events come with the joined types' rows (issues, comments, sprints,
    # projects); SQLite reads those four after the page. Then the milestones and their counts.
    joined = 0 if app.state.services.fast.postgres else 4
    assert counted[10] == 1 + joined + 2, counted


async def test_a_page_of_the_audit_log_is_one_statement_names_included(
    app: FastAPI, factory: Factory
) -> None:
    """The audit log reads a page of events with their people's, keys' and OAuth clients'
    names in one statement on the fast path (issue 21), for 5 entries as for 30, filtered or
    not; the key that made a change is named with its last four."""
    org = await factory.org()
    key = await factory.key(org.id, org.owner, name="deploy bot")
    headers = {"Authorization": f"Bearer {key}", "X-Org-Id": str(org.id)}
    async with factory.client(**headers) as client:
        project = await client.post("/api/projects", json={"name": "Audit", "key": "AUD"})
        assert project.status_code == 201, project.text
        for n in range(30):
            made = await client.post(
                "/api/issues", json={"project_id": project.json()["id"], "title": f"i{n}"}
            )
            assert made.status_code == 201, made.text
        counted, pages = set(), {}
        for query in ("limit=5", "limit=30", "limit=30&type=issue.created"):
            with count_statements(app) as seen:
                page = await client.get(f"/api/audit?{query}")
            assert page.status_code == 200, page.text
            counted.add(len([sql for sql in seen if "token_hash" not in sql]))
            pages[query] = page.json()
        assert counted == {1}, counted
        cursor = pages["limit=5"]["meta"]["next_cursor"]
        entry = pages["limit=30"]["data"][0]
        assert entry["actor"]["user_name"] == org.owner.name
        assert entry["actor"]["credential"]["name"] == "deploy bot"
        assert entry["actor"]["credential"]["last_four"] == key[-4:]
        with count_statements(app) as seen:
            older = await client.get(f"/api/audit?cursor={cursor}&limit=30")
        assert older.status_code == 200, older.text
        assert len([sql for sql in seen if "token_hash" not in sql]) == 1
