"""Pending invitations: the list an admin reads and the revocation that ends a code."""

from __future__ import annotations

from datetime import timedelta

from projekt.core.context import Role
from tests.factories import Factory
from tests.support import MovableClock


async def test_list_shows_each_invitation_without_its_code(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    first = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=headers
    )
    second = await owner.client.post(
        "/api/orgs/invitations",
        json={"role": "viewer", "email": "someone@example.test"},
        headers=headers,
    )
    listed = await owner.client.get("/api/orgs/invitations", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert [i["id"] for i in body] == [second.json()["id"], first.json()["id"]]  # newest first
    assert listed.headers["x-total-count"] == "2"
    assert body[0]["email"] == "someone@example.test"
    assert body[0]["role"] == "viewer"
    assert body[0]["status"] == "pending"
    for code in (first.json()["code"], second.json()["code"]):
        assert code not in listed.text
    one = await owner.client.get(f"/api/orgs/invitations/{body[0]['id']}", headers=headers)
    assert one.headers["etag"] == body[0]["etag"]
    assert one.json() == body[0]


async def test_status_follows_use_and_expiry_and_filters(
    factory: Factory, time_travel: MovableClock
) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    used = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=headers
    )
    joiner = await factory.person()
    joined = await joiner.client.post(
        "/api/orgs/join", json={"code": used.json()["code"]}, headers=joiner.headers()
    )
    assert joined.status_code == 200
    await owner.client.post("/api/orgs/invitations", json={"role": "member"}, headers=headers)
    states = {
        i["id"]: i["status"]
        for i in (await owner.client.get("/api/orgs/invitations", headers=headers)).json()
    }
    assert states[used.json()["id"]] == "used"
    assert sorted(states.values()) == ["pending", "used"]
    time_travel.advance(timedelta(days=8))  # past the 7 days an invitation lasts
    pending = await owner.client.get("/api/orgs/invitations?status=pending", headers=headers)
    assert pending.json() == []
    expired = await owner.client.get("/api/orgs/invitations?status=expired", headers=headers)
    assert len(expired.json()) == 1
    bad = await owner.client.get("/api/orgs/invitations?status=lost", headers=headers)
    assert bad.status_code == 422


async def test_a_revoked_code_no_longer_joins(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    created = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=headers
    )
    path = f"/api/orgs/invitations/{created.json()['id']}"
    revoked = await owner.client.delete(path, headers=headers)
    assert revoked.status_code == 204
    assert (await owner.client.get(path, headers=headers)).status_code == 404
    assert (await owner.client.delete(path, headers=headers)).status_code == 404
    late = await factory.person()
    refused = await late.client.post(
        "/api/orgs/join", json={"code": created.json()["code"]}, headers=late.headers()
    )
    assert refused.status_code == 404
    assert refused.json()["code"] == "invalid_invitation"


async def test_a_used_invitation_is_not_revoked(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    headers = owner.headers(org.id)
    created = await owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=headers
    )
    joiner = await factory.person()
    await joiner.client.post(
        "/api/orgs/join", json={"code": created.json()["code"]}, headers=joiner.headers()
    )
    refused = await owner.client.delete(
        f"/api/orgs/invitations/{created.json()['id']}", headers=headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "invitation_used"
    team = (await owner.client.get("/api/team", headers=headers)).json()
    assert joiner.email in {m["email"] for m in team}


async def test_managers_neither_list_nor_revoke(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    created = await org.owner.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=org.owner.headers(org.id)
    )
    manager = org.members[Role.MANAGER]
    headers = manager.headers(org.id)
    assert (await manager.client.get("/api/orgs/invitations", headers=headers)).status_code == 403
    path = f"/api/orgs/invitations/{created.json()['id']}"
    assert (await manager.client.delete(path, headers=headers)).status_code == 403
