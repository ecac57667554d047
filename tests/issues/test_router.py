"""Issues and comments: the documented shapes, keys, filters, lists, ETags and If-Match."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

import projekt.issues.service as issue_service
from projekt.core.context import Role
from projekt.issues.schemas import IssueCreate
from tests.factories import Factory, Org, Person
from tests.support import count_statements


async def _setup(factory: Factory, *roles: Role) -> tuple[Org, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MEMBER, *roles))
    project = await factory.project(org, key="WEB")
    member = org.members[Role.MEMBER]
    return org, member, member.headers(org.id), str(project.id)


async def _issue(person: Person, headers: dict[str, str], project_id: str, **body: Any) -> Any:
    response = await person.client.post(
        "/api/issues", json={"project_id": project_id, "title": "An issue", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_as_in_the_quickstart(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    response = await member.client.post(
        "/api/issues",
        json={
            "project_id": project_id,
            "title": "Investigate flaky CI test",
            "status": "Backlog",
            "priority": "medium",
            "description": "The auth e2e test fails 1 in 5 runs.",
        },
        headers=headers,
    )
    assert response.status_code == 201
    issue = response.json()
    assert response.headers["location"] == f"/api/issues/{issue['id']}"
    assert issue["key"] == "WEB-1"
    assert issue["number"] == 1
    assert issue["status"] == "Backlog"
    assert issue["type"] == "task"
    assert issue["reporter_id"] == str(member.user_id)
    assert issue["created_at"].endswith("Z")
    assert len(issue["created_at"]) == len("2026-05-28T09:14:02Z")
    assert set(issue) == {
        "id", "key", "number", "project_id", "title", "description", "status", "priority",
        "type", "assignee_id", "reporter_id", "labels", "estimated_hours", "sprint_id",
        "milestone_id", "parent_id", "due_date", "external_ref", "archived", "created_at",
        "updated_at", "time_spent_minutes",
    }  # fmt: skip
    second = await _issue(member, headers, project_id)
    assert second["key"] == "WEB-2"
    assert second["status"] == "Backlog"  # the first column by default


async def test_documented_validation_messages(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    response = await member.client.post(
        "/api/issues", json={"project_id": project_id, "priority": "critical"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Validation failed",
        "code": "validation_failed",
        "errors": {
            "title": ["The title field is required"],
            "priority": ["The priority must be one of: low, medium, high, urgent"],
        },
    }
    bad_status = await member.client.post(
        "/api/issues",
        json={"project_id": project_id, "title": "t", "status": "Nope"},
        headers=headers,
    )
    assert bad_status.json()["errors"]["status"] == [
        "The status must be one of: Backlog, To Do, In Progress, In Review, Done"
    ]
    owned = await member.client.post(
        "/api/issues",
        json={"project_id": project_id, "title": "t", "id": str(uuid.uuid4()), "number": 7},
        headers=headers,
    )
    assert set(owned.json()["errors"]) == {"id", "number"}


async def test_get_by_id_or_key_with_comments(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    by_id = await member.client.get(f"/api/issues/{issue['id']}", headers=headers)
    by_key = await member.client.get("/api/issues/web-1", headers=headers)
    assert by_id.status_code == by_key.status_code == 200
    assert by_id.json() == by_key.json()
    assert by_id.json()["comments"] == []
    comments_url = f"/api/issues/{issue['key']}/comments"
    first = await member.client.post(comments_url, json={"text": "First"}, headers=headers)
    reply = {"text": "A reply", "parent_id": first.json()["id"]}
    await member.client.post(comments_url, json=reply, headers=headers)
    await member.client.post(comments_url, json={"text": "Third"}, headers=headers)
    detail = (await member.client.get("/api/issues/WEB-1", headers=headers)).json()
    assert [c["text"] for c in detail["comments"]] == ["First", "A reply", "Third"]
    # The detail's comments (one statement on PostgreSQL) are the comment list's, field by field;
    # only the list carries each comment's ETag (the hot detail computes no validators for them).
    listed = (await member.client.get(comments_url, headers=headers)).json()
    assert detail["comments"] == [{k: v for k, v in c.items() if k != "etag"} for c in listed]
    assert detail["comments"][1]["parent_id"] == first.json()["id"]
    for missing in ("WEB-99", "NOPE-1", str(uuid.uuid4()), "garbage"):
        assert (
            await member.client.get(f"/api/issues/{missing}", headers=headers)
        ).status_code == 404


async def test_put_and_patch_are_partial_and_null_clears(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(
        member, headers, project_id, description="keep", estimated_hours=3, labels=["a"]
    )
    url = f"/api/issues/{issue['id']}"
    put = await member.client.put(url, json={"title": "New title"}, headers=headers)
    assert put.status_code == 200
    assert put.json()["title"] == "New title"
    assert put.json()["description"] == "keep"
    patched = await member.client.patch(
        url,
        json={"estimated_hours": None, "assignee_id": str(member.user_id), "labels": ["b", "b"]},
        headers=headers,
    )
    body = patched.json()
    assert body["estimated_hours"] is None
    assert body["assignee_id"] == str(member.user_id)
    assert body["labels"] == ["b"]
    assert (
        await member.client.patch(url, json={"title": None}, headers=headers)
    ).status_code == 422
    moved = await member.client.patch(url, json={"project_id": project_id}, headers=headers)
    assert moved.status_code == 422


async def test_references_must_stay_in_the_org(app: FastAPI, factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    other = await factory.org()
    foreign_project = await factory.project(other, key="OUT")
    foreign_issue = await _issue(
        other.owner, other.owner.headers(other.id), str(foreign_project.id)
    )
    stranger = await factory.person()
    cases = [
        {"project_id": str(foreign_project.id)},
        {"project_id": project_id, "assignee_id": str(other.owner.user_id)},
        {"project_id": project_id, "assignee_id": str(stranger.user_id)},
        {"project_id": project_id, "parent_id": foreign_issue["id"]},
        {"project_id": project_id, "sprint_id": str(uuid.uuid4())},
    ]
    before = await member.client.get(f"/api/issues?project_id={project_id}", headers=headers)
    for body in cases:
        response = await member.client.post(
            "/api/issues", json={"title": "smuggled", **body}, headers=headers
        )
        assert response.status_code in (404, 422), body
    after = await member.client.get(f"/api/issues?project_id={project_id}", headers=headers)
    assert after.json() == before.json() == []
    foreign_list = await member.client.get(
        "/api/issues", params={"project_id": str(foreign_project.id)}, headers=headers
    )
    assert foreign_list.json() == []
    # Nothing was written for the refused creates: the next key has no gap.
    assert (await _issue(member, headers, project_id))["key"] == "WEB-1"


async def test_parent_cycles_are_refused(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    epic = await _issue(member, headers, project_id, type="epic")
    story = await _issue(member, headers, project_id, parent_id=epic["id"])
    cycle = await member.client.patch(
        f"/api/issues/{epic['id']}", json={"parent_id": story["id"]}, headers=headers
    )
    assert cycle.status_code == 422
    assert "cycle" in cycle.json()["errors"]["parent_id"][0]


async def test_deleting_a_parent_moves_its_childrens_validators(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    other_project = str((await factory.project(org, key="API")).id)
    epic = await _issue(member, headers, project_id, type="epic")
    here = await _issue(member, headers, project_id, parent_id=epic["id"])
    there = await _issue(member, headers, other_project, parent_id=epic["id"])
    tags = {}
    for issue in (here, there):
        fetched = await member.client.get(f"/api/issues/{issue['id']}", headers=headers)
        tags[issue["id"]] = fetched.headers["etag"]
    other_list = f"/api/issues?project_id={other_project}"
    list_tag = (await member.client.get(other_list, headers=headers)).headers["etag"]
    deleted = await member.client.delete(f"/api/issues/{epic['id']}", headers=headers)
    assert deleted.status_code == 204
    for issue in (here, there):
        again = await member.client.get(
            f"/api/issues/{issue['id']}", headers={**headers, "If-None-Match": tags[issue["id"]]}
        )
        assert again.status_code == 200 and again.json()["parent_id"] is None
    relisted = await member.client.get(other_list, headers={**headers, "If-None-Match": list_tag})
    assert relisted.status_code == 200
    assert relisted.json()[0]["parent_id"] is None


async def test_archive_duplicate_transition_delete(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id, labels=["x"])
    url = f"/api/issues/{issue['id']}"
    moved = await member.client.post(
        f"{url}/transition", json={"status": "in progress"}, headers=headers
    )
    assert moved.json()["status"] == "In Progress"
    bad = await member.client.post(f"{url}/transition", json={"status": "Limbo"}, headers=headers)
    assert bad.status_code == 422
    archived = await member.client.post(f"{url}/archive", headers=headers)
    assert archived.json()["archived"] is True
    listing = await member.client.get(f"/api/issues?project_id={project_id}", headers=headers)
    assert listing.json() == []
    shown = await member.client.get(
        f"/api/issues?project_id={project_id}&archived=true", headers=headers
    )
    assert [i["id"] for i in shown.json()] == [issue["id"]]
    assert (await member.client.post(f"{url}/unarchive", headers=headers)).json()[
        "archived"
    ] is False
    copy = await member.client.post(f"{url}/duplicate", headers=headers)
    assert copy.status_code == 201
    assert copy.json()["key"] == "WEB-2"
    assert copy.json()["labels"] == ["x"]
    assert copy.json()["title"] == issue["title"]
    assert (await member.client.delete(url, headers=headers)).status_code == 204
    assert (await member.client.get(url, headers=headers)).status_code == 404


async def test_activity_records_who_what_and_how(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    token = await factory.key(org.id, member)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        moved = await keyed.post(
            f"/api/issues/{issue['id']}/transition",
            json={"status": "In Progress"},
            headers={"X-Request-Id": "req-activity-1"},
        )
        await keyed.post(f"/api/issues/{issue['id']}/transition", json={"status": "Done"})
        key_id = (await keyed.get("/api/api-keys")).json()[0]["id"]
    assert moved.status_code == 200
    activity = (
        await member.client.get(f"/api/issues/{issue['id']}/activity", headers=headers)
    ).json()
    # A move into a done column closes the issue; any other transition is a transition.
    assert [a["type"] for a in activity] == ["issue.created", "issue.transitioned", "issue.closed"]
    assert [a["action"] for a in activity] == ["created", "transitioned", "closed"]
    assert [a["seq"] for a in activity] == sorted(a["seq"] for a in activity)
    assert activity[0]["credential_kind"] == "session"
    assert activity[1]["credential_kind"] == "pat"
    assert activity[1]["credential_id"] == key_id
    assert activity[1]["request_id"] == "req-activity-1"
    assert activity[1]["changes"] == {"status": ["Backlog", "In Progress"]}
    assert activity[2]["changes"] == {"status": ["In Progress", "Done"]}
    assert activity[1]["actor_id"] == str(member.user_id)


async def test_a_plain_create_answers_and_records_as_one_naming_its_status(
    app: FastAPI, factory: Factory
) -> None:
    """A create naming no status and no ids is one statement on PostgreSQL (the project's first
    column picked by the server); one naming its status takes the checked path. Both answer and
    record the same, and neither writes anything for a project the caller cannot see."""
    org, member, headers, project_id = await _setup(factory)
    body = {"description": "d", "priority": "high", "labels": ["x", "x"]}
    with count_statements(app) as plain_statements:
        plain = await _issue(member, headers, project_id, **body)
    with count_statements(app) as named_statements:
        named = await _issue(member, headers, project_id, status="Backlog", **body)
    if app.state.services.fast.postgres:
        # The number, the row and the event: one statement against three.
        marks = ("issue_seq=", "INTO issues", "INTO events")

        def writes(statements: list[str]) -> list[list[bool]]:
            return [[m in s for m in marks] for s in statements if any(m in s for m in marks)]

        yes, no = True, False
        assert writes(plain_statements) == [[yes, yes, yes]]
        assert writes(named_statements) == [[yes, no, no], [no, yes, no], [no, no, yes]]
    assert (plain["key"], plain["status"], named["key"]) == ("WEB-1", "Backlog", "WEB-2")
    shown = ("status", "priority", "labels", "description", "archived", "project_id")
    assert {k: plain[k] for k in shown} == {k: named[k] for k in shown}

    async def created(issue: dict[str, Any]) -> dict[str, Any]:
        url = f"/api/issues/{issue['id']}/activity"
        (entry,) = (await member.client.get(url, headers=headers)).json()
        assert (entry["type"], entry["actor_id"]) == ("issue.created", str(member.user_id))
        return dict(entry["changes"])

    assert await created(plain) == await created(named)
    assert (await created(plain))["status"] == [None, "Backlog"]
    hidden = await factory.project(org, key="HID", visibility="private")
    before = (await member.client.get("/api/audit", headers=org.owner.headers(org.id))).json()
    refused = await member.client.post(
        "/api/issues", json={"project_id": str(hidden.id), "title": "t"}, headers=headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"project_id": ["The project_id does not exist"]}
    after = (await member.client.get("/api/audit", headers=org.owner.headers(org.id))).json()
    assert after == before


def test_a_create_names_no_id_that_the_one_statement_create_would_not_check() -> None:
    """A create skips ``_check_references`` only when every id it names is absent: each id of
    the create's body but its project must be among them."""
    ids = {
        name
        for name, field in IssueCreate.model_fields.items()
        if "UUID" in str(field.annotation) and name != "project_id"
    }
    assert ids == set(issue_service._REFERENCES)


async def test_filters_search_and_sort(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    a = await _issue(
        member,
        headers,
        project_id,
        title="Login broken",
        priority="urgent",
        type="bug",
        labels=["auth"],
    )
    b = await _issue(
        member,
        headers,
        project_id,
        title="Polish footer",
        priority="low",
        description="css login tweaks",
    )
    c = await _issue(
        member, headers, project_id, title="Docs", assignee_id=str(member.user_id), status="Done"
    )

    async def ids(**params: Any) -> list[str]:
        response = await member.client.get(
            "/api/issues", params={"project_id": project_id, **params}, headers=headers
        )
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()]

    assert await ids() == [c["id"], b["id"], a["id"]]  # newest first
    assert await ids(priority="urgent") == [a["id"]]
    assert await ids(type="bug") == [a["id"]]
    assert await ids(label="auth") == [a["id"]]
    assert await ids(status="done") == [c["id"]]
    assert await ids(assignee_id=str(member.user_id)) == [c["id"]]
    assert sorted(await ids(q="login")) == sorted([a["id"], b["id"]])
    assert await ids(sort="priority") == [b["id"], c["id"], a["id"]]
    assert await ids(sort="-priority") == [a["id"], c["id"], b["id"]]
    assert await ids(sort="number") == [a["id"], b["id"], c["id"]]
    bad = await member.client.get("/api/issues", params={"sort": "nope"}, headers=headers)
    assert bad.status_code == 400
    bad_enum = await member.client.get("/api/issues", params={"priority": "x"}, headers=headers)
    assert bad_enum.status_code == 422


async def test_list_shapes_and_links(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    async with factory.services.db.session() as session:
        from projekt.core.context import OrgContext
        from projekt.issues.schemas import IssueCreate
        from projekt.issues.service import IssueService

        ctx = OrgContext(
            principal=_principal(member), org_id=org.id, role=Role.MEMBER,
            membership_id=org.employee_ids[Role.MEMBER],
        )  # fmt: skip
        service = IssueService(session, factory.services, ctx)
        for n in range(105):
            await service.create(IssueCreate(project_id=uuid.UUID(project_id), title=f"Bulk {n}"))
    plain = await member.client.get(f"/api/issues?project_id={project_id}", headers=headers)
    assert len(plain.json()) == 100
    assert plain.headers["x-total-count"] == "105"
    assert 'rel="next"' in plain.headers["link"]
    assert "offset=100" in plain.headers["link"]
    paged = await member.client.get(
        f"/api/issues?project_id={project_id}&page=3&per_page=50", headers=headers
    )
    body = paged.json()
    assert len(body["data"]) == 5
    assert body["meta"] == {
        "total": 105,
        "page": 3,
        "per_page": 50,
        "pages": 3,
        "limit": 50,
        "offset": 100,
    }
    by_offset = await member.client.get(
        f"/api/issues?project_id={project_id}&limit=10&offset=100", headers=headers
    )
    assert by_offset.json()["meta"]["page"] == 11
    past = await member.client.get(
        f"/api/issues?project_id={project_id}&limit=10&offset=500", headers=headers
    )
    assert past.json()["data"] == []
    assert past.json()["meta"]["total"] == 105
    for bad in ("limit=0", "limit=201", "offset=-1", "page=0", "limit=x", "page=2&offset=3"):
        response = await member.client.get(
            f"/api/issues?project_id={project_id}&{bad}", headers=headers
        )
        assert response.status_code == 400, bad


def _principal(person: Person) -> Any:
    from projekt.core.context import CredentialKind, Principal

    return Principal(
        user_id=person.user_id,
        kind=CredentialKind.SESSION,
        credential_id=uuid.uuid4(),
        credential_hash="",
        org_id=None,
        role=Role.MEMBER,
        membership_id=None,
    )


async def test_list_runs_a_constant_number_of_statements(app: FastAPI, factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    token = await factory.key(org.id, member)
    counts = []
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        await keyed.get("/api/me")  # last_used_at written now, not during the counts
        for n in (1, 20):
            while (
                len(
                    (await keyed.get(f"/api/issues?project_id={project_id}&limit=200")).json()[
                        "data"
                    ]
                )
                < n
            ):
                await _issue(member, headers, project_id)
            with count_statements(app) as statements:
                response = await keyed.get(f"/api/issues?project_id={project_id}&limit=200")
            assert len(response.json()["data"]) == n
            counts.append(len(statements))
        with count_statements(app) as detail:
            await keyed.get("/api/issues/WEB-1")
    assert counts[0] == counts[1] <= 3
    assert len(detail) <= 3


async def test_etag_304_and_if_match(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    url = f"/api/issues/{issue['id']}"
    first = await member.client.get(url, headers=headers)
    etag = first.headers["etag"]
    assert (
        await member.client.get(url, headers={**headers, "If-None-Match": etag})
    ).status_code == 304
    list_url = f"/api/issues?project_id={project_id}"
    listing = await member.client.get(list_url, headers=headers)
    list_tag = listing.headers["etag"]
    revalidated = await member.client.get(list_url, headers={**headers, "If-None-Match": list_tag})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    await member.client.post(
        f"{url}/comments", json={"text": "changes the detail"}, headers=headers
    )
    assert (
        await member.client.get(url, headers={**headers, "If-None-Match": etag})
    ).status_code == 200
    etag = (await member.client.get(url, headers=headers)).headers["etag"]
    for method, path, body in (
        ("PUT", url, {"title": "x"}),
        ("PATCH", url, {"title": "x"}),
        ("POST", f"{url}/transition", {"status": "Done"}),
        ("DELETE", url, None),
    ):
        stale = await member.client.request(
            method, path, json=body, headers={**headers, "If-Match": '"stale"'}
        )
        assert stale.status_code == 412, method
    assert (await member.client.get(url, headers=headers)).json()["title"] == issue["title"]
    ok = await member.client.patch(
        url, json={"title": "fresh"}, headers={**headers, "If-Match": etag}
    )
    assert ok.status_code == 200
    # A write answers with the new tag: the very one the next GET carries.
    assert ok.headers["etag"] == (await member.client.get(url, headers=headers)).headers["etag"]
    moved = await member.client.post(f"{url}/transition", json={"status": "Done"}, headers=headers)
    assert moved.headers["etag"] == (await member.client.get(url, headers=headers)).headers["etag"]
    changed = await member.client.get(list_url, headers={**headers, "If-None-Match": list_tag})
    assert changed.status_code == 200


async def test_other_orgs_issue_is_404_even_with_its_etag(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id)
    etag = (await member.client.get(f"/api/issues/{issue['id']}", headers=headers)).headers["etag"]
    other = await factory.org()
    spy = other.owner
    for ref in (issue["id"], issue["key"]):
        response = await spy.client.get(
            f"/api/issues/{ref}", headers={**spy.headers(other.id), "If-None-Match": etag}
        )
        assert response.status_code == 404


async def test_bulk_is_all_or_nothing(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issues = [await _issue(member, headers, project_id) for _ in range(3)]
    ids = [i["id"] for i in issues]
    missing = str(uuid.uuid4())
    ok = await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": [*ids, missing], "action": "set_priority", "value": "high"},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json() == {"updated": 3, "skipped": [missing], "errors": []}
    again = await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": ids, "action": "set_priority", "value": "high"},
        headers=headers,
    )
    assert again.json()["updated"] == 0
    assert len(again.json()["skipped"]) == 3
    other_project = await factory.project(org, key="OPS")
    only = await org.owner.client.put(
        f"/api/projects/{other_project.id}/columns",
        json=[{"name": "Only"}],
        headers=org.owner.headers(org.id),
    )
    assert only.status_code == 200
    odd = await _issue(member, headers, str(other_project.id))
    mixed = await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": [*ids, odd["id"]], "action": "set_status", "value": "Done"},
        headers=headers,
    )
    assert mixed.status_code == 422
    assert list(mixed.json()["errors"]) == [odd["id"]]
    statuses = {
        (await member.client.get(f"/api/issues/{i}", headers=headers)).json()["status"] for i in ids
    }
    assert statuses == {"Backlog"}  # nothing was written
    too_many = await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": [str(uuid.uuid4()) for _ in range(201)], "action": "archive"},
        headers=headers,
    )
    assert too_many.status_code == 422
    archived = await member.client.post(
        "/api/issues/bulk", json={"issue_ids": ids, "action": "archive"}, headers=headers
    )
    assert archived.json()["updated"] == 3


async def test_comments(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory, Role.ADMIN, Role.VIEWER)
    issue = await _issue(member, headers, project_id)
    url = f"/api/issues/{issue['id']}/comments"
    first = await member.client.post(url, json={"text": "Hello"}, headers=headers)
    assert first.status_code == 201
    comment = first.json()
    reply = await member.client.post(
        url, json={"text": "Reply", "parent_id": comment["id"]}, headers=headers
    )
    assert reply.json()["parent_id"] == comment["id"]
    viewer = org.members[Role.VIEWER]
    assert (
        await viewer.client.post(url, json={"text": "no"}, headers=viewer.headers(org.id))
    ).status_code == 403
    listed = await viewer.client.get(url, headers=viewer.headers(org.id))
    assert [c["text"] for c in listed.json()] == ["Hello", "Reply"]
    owner = org.owner
    not_author = await owner.client.patch(
        f"{url}/{comment['id']}", json={"text": "edited"}, headers=owner.headers(org.id)
    )
    assert not_author.status_code == 200  # owners are admins and above
    other_member = await factory.person()
    await factory.add_member(org.id, other_member, Role.MEMBER)
    denied = await other_member.client.delete(
        f"{url}/{comment['id']}", headers=other_member.headers(org.id)
    )
    assert denied.status_code == 403
    edited = await member.client.patch(
        f"{url}/{comment['id']}", json={"text": "mine"}, headers=headers
    )
    assert edited.json()["text"] == "mine"
    assert (
        await member.client.delete(f"{url}/{comment['id']}", headers=headers)
    ).status_code == 204
    assert [c["text"] for c in (await member.client.get(url, headers=headers)).json()] == []


async def test_palette_finds_issues_by_key_and_title(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    issue = await _issue(member, headers, project_id, title="Checkout crash")
    by_key = await member.client.get("/api/palette/search", params={"q": "web-1"}, headers=headers)
    by_title = await member.client.get(
        "/api/palette/search", params={"q": "checkout"}, headers=headers
    )
    for response in (by_key, by_title):
        hits = [(h["type"], h["key"]) for h in response.json() if h["type"] == "issue"]
        assert hits == [("issue", issue["key"])]


@pytest.mark.parametrize("q", ["AB-²", "WEB-99999999999999999999", "WEB-١٢", "WEB-2147483648"])
async def test_palette_takes_any_key_shaped_text(factory: Factory, q: str) -> None:
    """Key-shaped text that is no issue number finds nothing by key, and never fails."""
    org, member, headers, project_id = await _setup(factory)
    response = await member.client.get("/api/palette/search", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    assert [h for h in response.json() if h["type"] == "issue"] == []


async def test_issue_schema(factory: Factory) -> None:
    org, member, headers, project_id = await _setup(factory)
    schema = (
        await member.client.get(f"/api/issue_schema?project_id={project_id}", headers=headers)
    ).json()
    assert schema["priorities"] == ["low", "medium", "high", "urgent"]
    assert schema["issue_types"] == ["task", "bug", "story", "epic", "spike", "chore"]
    assert schema["statuses"][0] == {
        "key": "backlog",
        "name": "Backlog",
        "category": "todo",
        "position": 0,
    }
    assert schema["custom_fields"] == []
    other = await factory.org()
    foreign = await factory.project(other, key="FOR")
    assert (
        await member.client.get(f"/api/issue_schema?project_id={foreign.id}", headers=headers)
    ).status_code == 404


@pytest.mark.parametrize("creators", [20])
async def test_parallel_creates_get_distinct_gapless_keys(factory: Factory, creators: int) -> None:
    org, member, headers, project_id = await _setup(factory)
    token = await factory.key(org.id, member)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        responses = await asyncio.gather(
            *(
                keyed.post("/api/issues", json={"project_id": project_id, "title": f"p{i}"})
                for i in range(creators)
            )
        )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == list(range(1, creators + 1))


async def test_bulk_takes_the_plugins_action_names(factory: Factory) -> None:
    """API.md §10: ``status``, ``assignee`` (and the other ``set_*``) as the plugins name them."""
    org, member, headers, project_id = await _setup(factory)
    ids = [(await _issue(member, headers, project_id))["id"] for _ in range(2)]
    for action, value in (
        ("status", "In Progress"),
        ("assignee", str(member.user_id)),
        ("priority", "high"),
        ("add_label", "plugin"),
    ):
        answer = await member.client.post(
            "/api/issues/bulk",
            json={"issue_ids": ids, "action": action, "value": value},
            headers=headers,
        )
        assert answer.status_code == 200, (action, answer.text)
        assert answer.json()["updated"] == 2, (action, answer.json())
    read = (await member.client.get(f"/api/issues/{ids[0]}", headers=headers)).json()
    assert (read["status"], read["assignee_id"], read["priority"], read["labels"]) == (
        "In Progress", str(member.user_id), "high", ["plugin"]
    )  # fmt: skip
    unknown = await member.client.post(
        "/api/issues/bulk", json={"issue_ids": ids, "action": "set", "value": 1}, headers=headers
    )
    assert unknown.status_code == 422


async def test_counted_totals_follow_archive_delete_and_bulk(factory: Factory) -> None:
    """A project's whole list takes its total from counters; they must match a real count."""
    org, member, headers, project_id = await _setup(factory)
    made = [await _issue(member, headers, project_id) for _ in range(6)]

    async def totals(archived: bool) -> tuple[str, str]:
        base = f"/api/issues?project_id={project_id}&archived={str(archived).lower()}"
        counted = await member.client.get(base, headers=headers)
        counted_by_window = await member.client.get(f"{base}&type=task", headers=headers)
        return counted.headers["x-total-count"], counted_by_window.headers["x-total-count"]

    await member.client.post(f"/api/issues/{made[0]['id']}/archive", headers=headers)
    await member.client.delete(f"/api/issues/{made[1]['id']}", headers=headers)
    await member.client.delete(f"/api/issues/{made[0]['id']}", headers=headers)
    await member.client.post(
        "/api/issues/bulk",
        json={"issue_ids": [made[2]["id"], made[3]["id"]], "action": "archive"},
        headers=headers,
    )
    await member.client.post(
        "/api/issues/bulk", json={"issue_ids": [made[3]["id"]], "action": "delete"}, headers=headers
    )
    await member.client.post(f"/api/issues/{made[4]['id']}/duplicate", headers=headers)
    assert await totals(False) == ("3", "3")
    assert await totals(True) == ("1", "1")
