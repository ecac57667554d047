"""The record's readers (API.md §10): the audit log and the changes feed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from projekt.core.context import Role
from tests.factories import Factory, Org
from tests.oauth.test_flow import code_for, exchange, register
from tests.support import MovableClock


async def _world(factory: Factory) -> tuple[Org, dict[str, str], str]:
    org = await factory.org(roles=(Role.MEMBER,))
    project = await factory.project(org)
    return org, org.owner.headers(org.id), str(project.id)


async def _issue(org: Org, headers: dict[str, str], project_id: str, title: str = "t") -> Any:
    answer = await org.owner.client.post(
        "/api/issues", json={"project_id": project_id, "title": title}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _audit(org: Org, headers: dict[str, str], query: str = "") -> httpx.Response:
    return await org.owner.client.get(f"/api/audit{query}", headers=headers)


async def _feed(client: httpx.AsyncClient, headers: dict[str, str], since: str = "") -> Any:
    answer = await client.get(f"/api/changes{'?since=' + since if since else ''}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- the audit log ------------------------------------------------------------------------------


async def test_the_audit_log_names_the_key_that_deleted_an_issue(factory: Factory) -> None:
    org, headers, project_id = await _world(factory)
    issue = await _issue(org, headers, project_id)
    token = await factory.key(org.id, org.owner, "deploy bot")
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        deleted = await keyed.delete(
            f"/api/issues/{issue['id']}", headers={"X-Request-Id": "deploy-7781-abc"}
        )
        key_id = (await keyed.get("/api/api-keys")).json()[0]["id"]
    assert deleted.status_code == 204
    answer = await _audit(org, headers, "?type=issue.deleted")
    assert answer.status_code == 200, answer.text
    [entry] = answer.json()["data"]
    assert entry["resource_id"] == issue["id"]
    assert entry["project_id"] == project_id
    assert entry["request_id"] == "deploy-7781-abc"
    assert entry["changes"]["title"] == ["t", None]
    actor = entry["actor"]
    assert actor["user_id"] == str(org.owner.user_id)
    assert actor["user_name"] == org.owner.name
    assert actor["credential_kind"] == "pat"
    assert actor["credential"] == {
        "id": key_id,
        "kind": "pat",
        "name": "deploy bot",
        "last_four": token[-4:],
    }
    assert token not in answer.text


async def test_the_audit_log_names_an_oauth_client(factory: Factory) -> None:
    org, headers, project_id = await _world(factory)
    async with factory.client() as anonymous:
        client_id = (await register(anonymous, client_name="Agent Smith"))["client_id"]
        code, verifier = await code_for(org.owner, org, client_id)
        tokens = (await exchange(anonymous, client_id, code, verifier)).json()
    async with factory.client(Authorization=f"Bearer {tokens['access_token']}") as agent:
        created = await agent.post("/api/issues", json={"project_id": project_id, "title": "A"})
        assert created.status_code == 201
    [entry] = (await _audit(org, headers, "?credential_kind=oauth")).json()["data"]
    assert entry["actor"]["oauth_client_id"] == client_id
    assert entry["actor"]["credential"]["name"] == "Agent Smith"
    assert entry["actor"]["credential"]["last_four"] is None


async def test_newest_first_with_cursor_pages(factory: Factory) -> None:
    org, headers, project_id = await _world(factory)
    for n in range(5):
        await _issue(org, headers, project_id, f"n{n}")
    seen: list[int] = []
    query = "?type=issue.created&limit=2"
    while True:
        page = (await _audit(org, headers, query)).json()
        seen += [entry["seq"] for entry in page["data"]]
        assert page["meta"]["limit"] == 2
        if page["meta"]["next_cursor"] is None:
            break
        query = f"?type=issue.created&limit=2&cursor={page['meta']['next_cursor']}"
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)


async def test_filters(factory: Factory, time_travel: MovableClock) -> None:
    org, headers, project_id = await _world(factory)
    member = org.members[Role.MEMBER]
    time_travel.advance(timedelta(days=-3))
    old = await _issue(org, headers, project_id, "old")
    time_travel.reset()
    mine = await member.client.post(
        "/api/issues", json={"project_id": project_id, "title": "m"}, headers=member.headers(org.id)
    )
    assert mine.status_code == 201

    async def ids(query: str) -> list[str]:
        answer = await _audit(org, headers, query)
        assert answer.status_code == 200, answer.text
        return [entry["resource_id"] for entry in answer.json()["data"]]

    assert await ids(f"?actor_id={member.user_id}") == [mine.json()["id"]]
    assert await ids(f"?resource_id={old['id']}") == [old["id"]]
    assert old["id"] not in await ids(
        f"?since={(datetime.now(UTC) - timedelta(days=1)).isoformat()}".replace("+", "%2B")
    )
    until = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+", "%2B")
    assert old["id"] in await ids(f"?until={until}")
    assert set(await ids(f"?project_id={project_id}&resource_type=issue")) == {
        old["id"],
        mine.json()["id"],
    }
    assert await ids("?credential_kind=pat") == []
    naive = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert old["id"] not in await ids(f"?since={naive}")
    assert (await _audit(org, headers, "?credential_kind=password")).status_code == 422


async def test_retention_hides_older_events(
    factory: Factory, time_travel: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, headers, project_id = await _world(factory)
    time_travel.advance(timedelta(days=-40))
    old = await _issue(org, headers, project_id, "old")
    time_travel.reset()
    new = await _issue(org, headers, project_id, "new")
    kept_30_days = factory.services.settings.model_copy(update={"audit_retention_days": 30})
    monkeypatch.setattr(factory.services, "settings", kept_30_days)
    shown = [e["resource_id"] for e in (await _audit(org, headers)).json()["data"]]
    assert new["id"] in shown and old["id"] not in shown


async def test_bad_cursors_are_400(factory: Factory) -> None:
    org, headers, project_id = await _world(factory)
    other, other_headers, other_project = await _world(factory)
    await _issue(org, headers, project_id)
    await _issue(other, other_headers, other_project)
    foreign = (await _feed(other.owner.client, other_headers))["next_cursor"]
    for path in ("/api/audit?cursor=", "/api/changes?since="):
        for cursor in ("not-a-cursor", "@@@", foreign):
            answer = await org.owner.client.get(path + cursor, headers=headers)
            assert answer.status_code == 400, (path, cursor, answer.text)
            assert answer.json()["code"] == "bad_cursor"
    # A cursor past the end of the record was never handed out.
    import base64

    def at(seq: str) -> str:
        return base64.urlsafe_b64encode(f"{org.id.hex}.{seq}".encode()).decode().rstrip("=")

    answer = await org.owner.client.get(f"/api/changes?since={at('999999')}", headers=headers)
    assert answer.status_code == 400
    # Past a BIGINT (it failed in the driver: 500), and numbers int() takes but no cursor
    # holds: malformed, on both lists.
    for seq in (str(10**20), str(2**63), "1_0", " 1", "\u0663", "-1", "+1"):
        for path in ("/api/audit?cursor=", "/api/changes?since="):
            answer = await org.owner.client.get(path + at(seq), headers=headers)
            assert answer.status_code == 400, (path, seq, answer.text)
            assert answer.json()["code"] == "bad_cursor"
    # A bad limit is 400, as on every list (API.md §9).
    for limit in ("0", "201", "abc", "-1", "1.5"):
        for path in ("/api/audit", "/api/changes"):
            answer = await org.owner.client.get(f"{path}?limit={limit}", headers=headers)
            assert answer.status_code == 400, (path, limit, answer.text)
            assert answer.json()["code"] == "bad_paging"
    assert (await _audit(org, headers, "?limit=200")).status_code == 200


async def test_times_past_the_utc_range_are_refused_not_failed_on(factory: Factory) -> None:
    """Year 1 at +14:00 is before year 1 in UTC: it parses, and failed in the driver (500)."""
    org, headers, _ = await _world(factory)
    for query in (
        "since=0001-01-01T00:00:00%2B14:00",
        "until=0001-01-01T00:00:00%2B14:00",
        "since=9999-12-31T23:59:59-14:00",
    ):
        answer = await _audit(org, headers, f"?{query}")
        assert 400 <= answer.status_code < 500, (query, answer.text)
    assert (await _audit(org, headers, "?since=0001-01-02T00:00:00%2B14:00")).status_code == 200


async def test_the_audit_log_is_for_admins(factory: Factory) -> None:
    org, _, _ = await _world(factory)
    member = org.members[Role.MEMBER]
    answer = await member.client.get("/api/audit", headers=member.headers(org.id))
    assert answer.status_code == 403


# -- the changes feed ---------------------------------------------------------------------------


async def test_changes_oldest_first_resumable_with_current_state_and_tombstones(
    factory: Factory,
) -> None:
    org, headers, project_id = await _world(factory)
    client = org.owner.client
    start = (await _feed(client, headers))["next_cursor"]
    first = await _issue(org, headers, project_id, "first")
    second = await _issue(org, headers, project_id, "second")
    await client.patch(f"/api/issues/{first['id']}", json={"title": "renamed"}, headers=headers)
    await client.delete(f"/api/issues/{second['id']}", headers=headers)
    page = await _feed(client, headers, start)
    rows = [(c["type"], c["resource_id"], c["action"]) for c in page["data"]]
    assert rows == [
        ("issue.created", first["id"], "upsert"),
        ("issue.created", second["id"], "delete"),
        ("issue.updated", first["id"], "upsert"),
        ("issue.deleted", second["id"], "delete"),
    ]
    # Each resource as it is now: the first issue's creation already shows its new title.
    assert page["data"][0]["resource"]["title"] == "renamed"
    assert page["data"][1]["resource"] is None
    # Resuming from any cursor returned gives what followed it, and nothing at the end.
    later = await _feed(client, headers, page["data"][1]["cursor"])
    assert [c["type"] for c in later["data"]] == ["issue.updated", "issue.deleted"]
    done = await _feed(client, headers, page["next_cursor"])
    assert done["data"] == []
    assert done["next_cursor"] == page["next_cursor"]
    # Paging: limit
    paged = await client.get(f"/api/changes?since={start}&limit=1", headers=headers)
    assert [c["resource_id"] for c in paged.json()["data"]] == [first["id"]]


async def test_changes_are_filtered_to_what_the_caller_may_read(factory: Factory) -> None:
    org, headers, _ = await _world(factory)
    member = org.members[Role.MEMBER]
    member_headers = member.headers(org.id)
    start = (await _feed(member.client, member_headers))["next_cursor"]
    secret = await factory.project(org, visibility="private")
    await _issue(org, headers, str(secret.id), "hidden")
    await org.owner.client.post("/api/orgs/invitations", json={"role": "member"}, headers=headers)
    theirs = await org.owner.client.post("/api/api-keys", json={"name": "owner's"}, headers=headers)
    hook = {"url": "http://127.0.0.1:9/feed", "events": ["*"], "active": False}
    assert (await org.owner.client.post("/api/webhooks", json=hook, headers=headers)).is_success
    await factory.key(org.id, member, "mine")
    seen = await _feed(member.client, member_headers, start)
    assert all(c["resource_type"] not in ("invitation", "webhook") for c in seen["data"])
    owners = await _feed(org.owner.client, headers, start)
    assert "webhook" in {c["resource_type"] for c in owners["data"]}
    assert str(secret.id) not in {c["resource_id"] for c in seen["data"]}
    assert "hidden" not in str(seen)
    keys = [c for c in seen["data"] if c["resource_type"] == "api_key"]
    assert [c["resource"]["name"] for c in keys] == ["mine"]
    assert theirs.json()["id"] not in str(seen)
    # The owner reads all of it.
    everything = await _feed(org.owner.client, headers, start)
    kinds = {c["type"] for c in everything["data"]}
    assert {"project.created", "issue.created", "member.invited", "api_key.created"} <= kinds


async def test_changes_answer_304_for_a_matching_etag(factory: Factory) -> None:
    org, headers, project_id = await _world(factory)
    await _issue(org, headers, project_id)
    first = await org.owner.client.get("/api/changes", headers=headers)
    tag = first.headers["etag"]
    again = await org.owner.client.get("/api/changes", headers={**headers, "If-None-Match": tag})
    assert again.status_code == 304
    await _issue(org, headers, project_id)
    moved = await org.owner.client.get("/api/changes", headers={**headers, "If-None-Match": tag})
    assert moved.status_code == 200


def test_cursors_are_opaque_but_name_their_org() -> None:
    from projekt.audit.service import decode_cursor, encode_cursor

    org = uuid.uuid4()
    assert decode_cursor(encode_cursor(org, 42), org) == 42
    assert str(org) not in encode_cursor(org, 42)
