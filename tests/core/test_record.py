"""The record (API.md §9): who wrote it, how it is numbered, and what never reaches it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from projekt.core.context import CredentialKind, OrgContext, Principal, Role
from projekt.core.record import Actor, Event, changes, record
from tests.factories import Factory
from tests.oauth.test_flow import code_for, exchange, register
from tests.support import MovableClock


async def events_of(factory: Factory, org_id: uuid.UUID) -> list[Event]:
    async with factory.services.db.read() as session:
        stmt = select(Event).where(Event.org_id == org_id).order_by(Event.seq)
        return list((await session.execute(stmt)).scalars())


async def _project(factory: Factory) -> tuple[Any, dict[str, str], str]:
    org = await factory.org()
    project = await factory.project(org)
    return org, org.owner.headers(org.id), str(project.id)


# -- the changes helper -------------------------------------------------------------------------


def test_changes_lists_what_differs_as_json_values() -> None:
    who = uuid.uuid4()
    before = {"title": "a", "assignee_id": None, "due_date": date(2026, 1, 2), "labels": ["x"]}
    after = {"title": "b", "assignee_id": who, "due_date": date(2026, 1, 2), "labels": ["x", "y"]}
    assert changes(before, after) == {
        "title": ["a", "b"],
        "assignee_id": [None, str(who)],
        "labels": [["x"], ["x", "y"]],
    }
    # A creation leaves out what has no value; a deletion keeps the last values.
    assert changes(None, {"title": "t", "description": None, "labels": []}) == {
        "title": [None, "t"]
    }
    assert changes({"title": "t", "due_date": None}, None) == {"title": ["t", None]}
    assert changes(before, after, ["title"]) == {"title": ["a", "b"]}


# -- every write carries its actor --------------------------------------------------------------


async def test_an_event_names_the_key_and_the_request(factory: Factory) -> None:
    org, headers, project_id = await _project(factory)
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        created = await keyed.post(
            "/api/issues",
            json={"project_id": project_id, "title": "From CI"},
            headers={"X-Request-Id": "ci-run-000042"},
        )
        key_id = (await keyed.get("/api/api-keys")).json()[0]["id"]
    assert created.status_code == 201
    event = [e for e in await events_of(factory, org.id) if e.type == "issue.created"][-1]
    assert event.resource_id == uuid.UUID(created.json()["id"])
    assert event.resource_type == "issue"
    assert event.project_id == uuid.UUID(project_id)
    assert event.actor_user_id == org.owner.user_id
    assert (event.credential_kind, str(event.credential_id)) == ("pat", key_id)
    assert event.oauth_client_id is None
    assert event.request_id == "ci-run-000042"
    assert event.changes["title"] == [None, "From CI"]


async def test_an_oauth_write_names_its_client(factory: Factory) -> None:
    org, _, project_id = await _project(factory)
    async with factory.client() as anonymous:
        client_id = (await register(anonymous))["client_id"]
        code, verifier = await code_for(org.owner, org, client_id)
        tokens = (await exchange(anonymous, client_id, code, verifier)).json()
    async with factory.client(Authorization=f"Bearer {tokens['access_token']}") as agent:
        created = await agent.post("/api/issues", json={"project_id": project_id, "title": "A"})
        assert created.status_code == 201
        issue_id = created.json()["id"]
        patched = await agent.patch(f"/api/issues/{issue_id}", json={"priority": "high"})
        assert patched.status_code == 200
    found = [e for e in await events_of(factory, org.id) if e.resource_id == uuid.UUID(issue_id)]
    assert [e.type for e in found] == ["issue.created", "issue.updated"]
    assert {(e.credential_kind, e.oauth_client_id) for e in found} == {("oauth", client_id)}


# -- numbering ----------------------------------------------------------------------------------


async def test_seq_counts_up_per_org_without_gaps_under_concurrent_writes(
    factory: Factory,
) -> None:
    org, headers, project_id = await _project(factory)
    other, other_headers, other_project = await _project(factory)
    client = org.owner.client

    async def create(n: int) -> str:
        answer = await client.post(
            "/api/issues", json={"project_id": project_id, "title": f"c{n}"}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    ids = await asyncio.gather(*(create(n) for n in range(8)))
    # Units of work (PATCH) and the fast path (create) draw from the same counter.
    patches = [
        client.patch(f"/api/issues/{i}", json={"priority": "urgent"}, headers=headers) for i in ids
    ]
    answers = await asyncio.gather(
        *patches,
        other.owner.client.post(
            "/api/issues", json={"project_id": other_project, "title": "x"}, headers=other_headers
        ),
    )
    assert all(a.status_code in (200, 201) for a in answers)
    seqs = [e.seq for e in await events_of(factory, org.id)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 16
    theirs = await events_of(factory, other.id)
    assert [e.seq for e in theirs] == list(range(1, len(theirs) + 1))
    assert theirs[-1].type == "issue.created"


async def test_a_later_number_never_commits_before_an_earlier_one(factory: Factory) -> None:
    """The writer that took number N holds the org's counter until it commits: a second
    writer of the org waits for it, so a reader past N never meets a smaller number later."""
    if factory.services.db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time anyway (BEGIN IMMEDIATE)")
    org, headers, project_id = await _project(factory)
    db = factory.services.db
    ctx = OrgContext(
        Principal(org.owner.user_id, CredentialKind.SESSION, uuid.uuid4(), "h", org.id,
                  Role.OWNER, None),
        org.id, Role.OWNER, uuid.uuid4(),
    )  # fmt: skip
    first = db.new_session()
    try:
        record(
            first, ctx, "project.updated", uuid.UUID(project_id), project_id=uuid.UUID(project_id)
        )
        for before in db.before_commit:
            await before(first)  # numbered and written, not committed: the counter is held
        taken = (await first.execute(select(Event.seq).where(Event.org_id == org.id))).scalars()
        held = max(taken)
        second = asyncio.create_task(
            org.owner.client.post(
                "/api/issues", json={"project_id": project_id, "title": "later"}, headers=headers
            )
        )
        async with db.read() as probe, asyncio.timeout(60):
            while True:  # until the second writer queues behind the first one's lock
                waiting = await probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                if waiting.scalar_one() > 0:
                    break
                await probe.rollback()
                await asyncio.sleep(0.01)
        assert not second.done()
        await first.commit()
    finally:
        await first.close()
    assert (await second).status_code == 201
    later = [e for e in await events_of(factory, org.id) if e.type == "issue.created"]
    assert later[-1].seq == held + 1


# -- what leaves no event -----------------------------------------------------------------------


async def test_a_rolled_back_write_leaves_no_event(factory: Factory) -> None:
    org, headers, project_id = await _project(factory)
    client = org.owner.client
    issue = (
        await client.post(
            "/api/issues", json={"project_id": project_id, "title": "t"}, headers=headers
        )
    ).json()
    before = await events_of(factory, org.id)
    # One bad issue in a bulk rolls back the whole transaction: the good one's event too.
    bulk = await client.post(
        "/api/issues/bulk",
        json={"issue_ids": [issue["id"]], "action": "set_status", "value": "Nowhere"},
        headers=headers,
    )
    assert bulk.status_code == 422
    # A dry run runs the write, events included, and rolls all of it back.
    dry = await client.patch(
        f"/api/issues/{issue['id']}?dry_run=true", json={"title": "no"}, headers=headers
    )
    assert dry.status_code == 200
    dry_create = await client.post(
        "/api/issues?dry_run=true", json={"project_id": project_id, "title": "no"}, headers=headers
    )
    assert dry_create.status_code == 201
    assert [e.id for e in await events_of(factory, org.id)] == [e.id for e in before]
    # The counter gave nothing away either: the next write takes the next number.
    await client.patch(f"/api/issues/{issue['id']}", json={"title": "yes"}, headers=headers)
    after = await events_of(factory, org.id)
    assert after[-1].seq == before[-1].seq + 1


async def test_an_event_is_stamped_by_the_app_clock(
    factory: Factory, time_travel: MovableClock
) -> None:
    org, headers, project_id = await _project(factory)
    time_travel.advance(timedelta(days=-30))
    start = datetime.now(UTC)
    created = await org.owner.client.post(
        "/api/issues", json={"project_id": project_id, "title": "t"}, headers=headers
    )
    issue_id = created.json()["id"]
    await org.owner.client.patch(f"/api/issues/{issue_id}", json={"title": "u"}, headers=headers)
    stamps = [e.occurred_at for e in (await events_of(factory, org.id))[-2:]]
    # A month back, on the fast path and in a unit of work alike.
    assert all(start - timedelta(days=31) < at < start - timedelta(days=29) for at in stamps)


def test_actor_of_a_context_carries_the_request_id() -> None:
    principal = Principal(
        uuid.uuid4(), CredentialKind.OAUTH, uuid.uuid4(), "h", uuid.uuid4(), Role.MEMBER, None,
        oauth_client_id="client-1",
    )  # fmt: skip
    ctx = OrgContext(principal, uuid.uuid4(), Role.MEMBER, uuid.uuid4(), "rid-1")
    actor = Actor.of_context(ctx)
    assert (actor.credential_kind, actor.oauth_client_id, actor.request_id) == (
        CredentialKind.OAUTH,
        "client-1",
        "rid-1",
    )


# -- one event per changed resource -------------------------------------------------------------


async def _issues(client: Any, headers: dict[str, str], project_id: str, n: int) -> list[str]:
    ids = []
    for k in range(n):
        answer = await client.post(
            "/api/issues", json={"project_id": project_id, "title": f"i{k}"}, headers=headers
        )
        ids.append(answer.json()["id"])
    return ids


async def _appended(factory: Factory, org_id: uuid.UUID, after: int) -> list[Event]:
    return [e for e in await events_of(factory, org_id) if e.seq > after]


async def _last_seq(factory: Factory, org_id: uuid.UUID) -> int:
    return max((e.seq for e in await events_of(factory, org_id)), default=0)


async def test_a_bulk_write_records_one_event_per_issue(factory: Factory) -> None:
    org, headers, project_id = await _project(factory)
    client = org.owner.client
    ids = await _issues(client, headers, project_id, 3)
    mark = await _last_seq(factory, org.id)
    bulk = await client.post(
        "/api/issues/bulk",
        json={"issue_ids": ids, "action": "set_status", "value": "In Progress"},
        headers=headers,
    )
    assert bulk.status_code == 200, bulk.text
    found = await _appended(factory, org.id, mark)
    assert [e.type for e in found] == ["issue.status_changed"] * 3
    assert sorted(str(e.resource_id) for e in found) == sorted(ids)
    assert {str(e.project_id) for e in found} == {project_id}
    mark = await _last_seq(factory, org.id)
    deleted = await client.post(
        "/api/issues/bulk", json={"issue_ids": ids[:2], "action": "delete"}, headers=headers
    )
    assert deleted.status_code == 200
    assert [e.type for e in await _appended(factory, org.id, mark)] == ["issue.deleted"] * 2


async def test_deleting_a_milestone_records_it_and_each_issue_it_let_go(
    factory: Factory,
) -> None:
    org, headers, project_id = await _project(factory)
    client = org.owner.client
    milestone = (
        await client.post(
            f"/api/projects/{project_id}/milestones", json={"name": "v1"}, headers=headers
        )
    ).json()
    ids = await _issues(client, headers, project_id, 3)
    for issue_id in ids:
        await client.patch(
            f"/api/issues/{issue_id}", json={"milestone_id": milestone["id"]}, headers=headers
        )
    mark = await _last_seq(factory, org.id)
    url = f"/api/projects/{project_id}/milestones/{milestone['id']}"
    assert (await client.delete(url, headers=headers)).status_code == 204
    found = await _appended(factory, org.id, mark)
    assert sorted(e.type for e in found) == ["issue.updated"] * 3 + ["milestone.deleted"]
    moved = [e for e in found if e.type == "issue.updated"]
    assert {e.changes["milestone_id"][0] for e in moved} == {milestone["id"]}
    assert sorted(str(e.resource_id) for e in moved) == sorted(ids)


async def test_renaming_a_column_records_each_issue_it_moves(factory: Factory) -> None:
    org, headers, project_id = await _project(factory)
    client = org.owner.client
    ids = await _issues(client, headers, project_id, 2)
    columns = (await client.get(f"/api/projects/{project_id}/columns", headers=headers)).json()
    columns[0]["name"] = "Icebox"
    mark = await _last_seq(factory, org.id)
    answer = await client.put(
        f"/api/projects/{project_id}/columns",
        json=[{k: c[k] for k in ("key", "name", "category")} for c in columns],
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    found = await _appended(factory, org.id, mark)
    assert sorted(e.type for e in found) == ["issue.status_changed"] * 2 + ["project.updated"]
    moved = [e for e in found if e.resource_type == "issue"]
    assert sorted(str(e.resource_id) for e in moved) == sorted(ids)
    assert {tuple(e.changes["status"]) for e in moved} == {("Backlog", "Icebox")}


async def test_deleting_a_parent_records_its_orphans(factory: Factory) -> None:
    org, headers, project_id = await _project(factory)
    client = org.owner.client
    parent, child = await _issues(client, headers, project_id, 2)
    await client.patch(f"/api/issues/{child}", json={"parent_id": parent}, headers=headers)
    mark = await _last_seq(factory, org.id)
    assert (await client.delete(f"/api/issues/{parent}", headers=headers)).status_code == 204
    found = await _appended(factory, org.id, mark)
    assert [(e.type, str(e.resource_id)) for e in found] == [
        ("issue.deleted", parent),
        ("issue.updated", child),
    ]
    assert found[0].changes["title"] == ["i0", None]
    assert found[1].changes == {"parent_id": [parent, None]}


async def test_secrets_never_reach_the_record(factory: Factory) -> None:
    org, headers, _ = await _project(factory)
    client = org.owner.client
    minted = await client.post("/api/api-keys", json={"name": "ci"}, headers=headers)
    assert minted.status_code == 201
    invited = await client.post("/api/orgs/invitations", json={"role": "member"}, headers=headers)
    assert invited.status_code == 201
    found = await events_of(factory, org.id)
    text_of_record = repr([(e.type, e.changes) for e in found])
    assert minted.json()["token"] not in text_of_record
    assert minted.json()["token"][-4:] in text_of_record  # the last four name it
    assert invited.json()["code"] not in text_of_record
    assert [e.type for e in found][-2:] == ["api_key.created", "member.invited"]
