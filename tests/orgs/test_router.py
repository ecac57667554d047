"""Orgs, roster, roles, invitations and searches (API.md §3–4)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from projekt.core.context import Role
from projekt.orgs.models import Membership
from tests.factories import Factory, Person, unique


async def test_create_org_makes_creator_owner(factory: Factory) -> None:
    person = await factory.person()
    slug = unique("acme")
    response = await person.client.post(
        "/api/orgs", json={"name": "Acme Inc", "slug": slug}, headers=person.headers()
    )
    assert response.status_code == 201
    org = response.json()
    assert response.headers["location"] == f"/api/orgs/{org['id']}"
    assert org["role"] == "owner"
    assert org["slug"] == slug
    dup = await person.client.post(
        "/api/orgs", json={"name": "Other", "slug": slug}, headers=person.headers()
    )
    assert dup.status_code == 409
    assert dup.json()["code"] == "slug_taken"


async def test_slug_is_derived_and_deduplicated(factory: Factory) -> None:
    person = await factory.person()
    name = f"Zeta {unique('n')}"
    first = await person.client.post("/api/orgs", json={"name": name}, headers=person.headers())
    second = await person.client.post("/api/orgs", json={"name": name}, headers=person.headers())
    assert first.status_code == second.status_code == 201
    assert first.json()["slug"] != second.json()["slug"]
    assert first.json()["slug"].startswith("zeta-")


async def test_me_orgs_shape(factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org, key="WEB")
    private = await factory.project(org, key="SEC", visibility="private")
    owner = org.owner
    body = (await owner.client.get("/api/me/orgs")).json()
    assert body["count"] == len(body["orgs"]) == 1
    entry = body["orgs"][0]
    assert set(entry) == {"employee_id", "org_id", "org_name", "org_slug", "role", "projects"}
    assert entry["org_id"] == str(org.id)
    keys = {p["key"] for p in entry["projects"]}
    assert keys == {"WEB", "SEC"}  # owners see private projects
    assert set(entry["projects"][0]) == {"id", "name", "key"}
    member = await factory.person()
    await factory.add_member(org.id, member, Role.MEMBER)
    seen = (await member.client.get("/api/me/orgs")).json()["orgs"][0]["projects"]
    assert [p["id"] for p in seen] == [str(project.id)]
    assert str(private.id) not in str(seen)


async def test_get_update_delete_org(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MEMBER))
    admin = org.members[Role.ADMIN]
    member = org.members[Role.MEMBER]
    got = await member.client.get(f"/api/orgs/{org.id}")
    assert got.status_code == 200
    assert got.json()["role"] == "member"
    patched = await admin.client.patch(
        f"/api/orgs/{org.id}",
        json={"name": "Renamed", "discoverable": True},
        headers=admin.headers(),
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["discoverable"] is True
    assert (
        await member.client.patch(
            f"/api/orgs/{org.id}", json={"name": "x"}, headers=member.headers()
        )
    ).status_code == 403
    assert (
        await admin.client.delete(f"/api/orgs/{org.id}", headers=admin.headers())
    ).status_code == 403
    deleted = await org.owner.client.delete(f"/api/orgs/{org.id}", headers=org.owner.headers())
    assert deleted.status_code == 204
    assert (await org.owner.client.get(f"/api/orgs/{org.id}")).status_code == 404


async def test_org_of_others_is_404(factory: Factory) -> None:
    org = await factory.org()
    stranger = await factory.person()
    for method in ("GET", "PATCH", "DELETE"):
        response = await stranger.client.request(
            method, f"/api/orgs/{org.id}", json={"name": "x"}, headers=stranger.headers()
        )
        assert response.status_code == 404, method
    assert (await stranger.client.get(f"/api/orgs/{uuid.uuid4()}")).status_code == 404
    assert (await stranger.client.get("/api/orgs/not-a-uuid")).status_code == 404


async def test_team_roster_shape(factory: Factory) -> None:
    org = await factory.org(roles=(Role.VIEWER,))
    viewer = org.members[Role.VIEWER]
    response = await viewer.client.get("/api/team", headers=viewer.headers(org.id))
    assert response.status_code == 200
    roster = response.json()
    assert {m["role"] for m in roster} == {"owner", "viewer"}
    # API.md §4's fields, and the ETag a role change or removal sends as If-Match.
    fields = {"employee_id", "user_id", "name", "email", "role", "joined_at", "etag"}
    assert set(roster[0]) == fields
    assert roster[0]["joined_at"].endswith("Z")


async def _patch_role(actor: Person, org_id: uuid.UUID, employee: uuid.UUID, role: str) -> int:
    response = await actor.client.patch(
        f"/api/team/{employee}", json={"role": role}, headers=actor.headers(org_id)
    )
    return response.status_code


async def test_role_changes_follow_the_rules(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER, Role.MEMBER))
    admin, owner = org.members[Role.ADMIN], org.owner
    member_id = org.employee_ids[Role.MEMBER]
    assert await _patch_role(admin, org.id, member_id, "manager") == 200
    assert await _patch_role(admin, org.id, member_id, "admin") == 200
    assert await _patch_role(admin, org.id, member_id, "owner") == 403  # only owners grant it
    assert await _patch_role(admin, org.id, org.employee_ids[Role.OWNER], "member") == 403
    manager = org.members[Role.MANAGER]
    assert await _patch_role(manager, org.id, member_id, "viewer") == 403
    assert await _patch_role(owner, org.id, member_id, "owner") == 200
    assert await _patch_role(owner, org.id, member_id, "bogus") == 422
    assert await _patch_role(owner, org.id, uuid.uuid4(), "member") == 404


async def test_last_owner_cannot_leave_or_be_demoted(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    owner = org.owner
    owner_id = org.employee_ids[Role.OWNER]
    demote = await owner.client.patch(
        f"/api/team/{owner_id}", json={"role": "admin"}, headers=owner.headers(org.id)
    )
    assert demote.status_code == 409
    assert demote.json()["code"] == "last_owner"
    remove = await owner.client.delete(f"/api/team/{owner_id}", headers=owner.headers(org.id))
    assert remove.status_code == 409


async def test_two_owners_demoting_each_other_concurrently_leave_one(
    app: FastAPI, factory: Factory
) -> None:
    org = await factory.org()
    second = await factory.person()
    second_id = await factory.add_member(org.id, second, Role.OWNER)
    first_id = org.employee_ids[Role.OWNER]
    results = await asyncio.gather(
        _patch_role(org.owner, org.id, second_id, "admin"),
        _patch_role(second, org.id, first_id, "admin"),
        return_exceptions=True,
    )
    async with app.state.services.db.read() as session:
        owners = (
            await session.execute(
                select(func.count()).where(Membership.org_id == org.id, Membership.role == "owner")
            )
        ).scalar_one()
    assert owners == 1, results


async def test_remove_member_revokes_their_access(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MEMBER))
    member = org.members[Role.MEMBER]
    key = await factory.key(org.id, member)
    admin = org.members[Role.ADMIN]
    removed = await admin.client.delete(
        f"/api/team/{org.employee_ids[Role.MEMBER]}", headers=admin.headers(org.id)
    )
    assert removed.status_code == 204
    assert (await member.client.get("/api/team", headers=member.headers(org.id))).status_code == 403
    async with factory.client(Authorization=f"Bearer {key}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 401


async def test_invitation_and_join(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER))
    admin = org.members[Role.ADMIN]
    invite = await admin.client.post(
        "/api/orgs/invitations", json={"role": "manager"}, headers=admin.headers(org.id)
    )
    assert invite.status_code == 201
    body = invite.json()
    assert set(body) >= {"code", "expires_at"}
    joiner = await factory.person()
    joined = await joiner.client.post(
        "/api/orgs/join", json={"code": body["code"]}, headers=joiner.headers()
    )
    assert joined.status_code == 200
    assert joined.json()["role"] == "manager"
    assert joined.json()["org_id"] == str(org.id)
    again = await (await factory.person()).client.post(
        "/api/orgs/join", json={"code": body["code"]}, headers=joiner.headers()
    )
    assert again.status_code in (403, 404)  # someone else's CSRF, or a used code
    manager = org.members[Role.MANAGER]
    denied = await manager.client.post(
        "/api/orgs/invitations", json={"role": "member"}, headers=manager.headers(org.id)
    )
    assert denied.status_code == 403
    no_owner = await admin.client.post(
        "/api/orgs/invitations", json={"role": "owner"}, headers=admin.headers(org.id)
    )
    assert no_owner.status_code == 403


async def test_invitation_single_use_and_email_bound(factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    invited = await factory.person()
    code = (
        await owner.client.post(
            "/api/orgs/invitations",
            json={"email": invited.email, "role": "member"},
            headers=owner.headers(org.id),
        )
    ).json()["code"]
    other = await factory.person()
    wrong = await other.client.post("/api/orgs/join", json={"code": code}, headers=other.headers())
    assert wrong.status_code == 404
    ok = await invited.client.post("/api/orgs/join", json={"code": code}, headers=invited.headers())
    assert ok.status_code == 200
    replay = await invited.client.post(
        "/api/orgs/join", json={"code": code}, headers=invited.headers()
    )
    assert replay.status_code == 404
    bogus = await other.client.post(
        "/api/orgs/join", json={"code": "nope"}, headers=other.headers()
    )
    assert bogus.status_code == 404


async def test_searches(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    await factory.project(org, key="SRCH")
    owner = org.owner
    mine = await owner.client.get("/api/orgs/search", params={"q": org.slug[:6]})
    assert str(org.id) in [hit["id"] for hit in mine.json()]
    people = await owner.client.get(
        "/api/people/search",
        params={"q": org.members[Role.MEMBER].name},
        headers=owner.headers(org.id),
    )
    assert [p["user_id"] for p in people.json()] == [str(org.members[Role.MEMBER].user_id)]
    palette = await owner.client.get(
        "/api/palette/search", params={"q": "srch"}, headers=owner.headers(org.id)
    )
    assert [(h["type"], h["key"]) for h in palette.json()] == [("project", "SRCH")]
    empty = await owner.client.get("/api/orgs/search", params={"q": ""})
    assert empty.status_code == 422


async def test_crossorg_search_sees_only_discoverable_orgs(factory: Factory) -> None:
    hidden = await factory.org()
    shown = await factory.org()
    await shown.owner.client.patch(
        f"/api/orgs/{shown.id}", json={"discoverable": True}, headers=shown.owner.headers()
    )
    searcher = await factory.person()
    hits = await searcher.client.get("/api/crossorg/orgs/search", params={"q": "org"})
    ids = {hit["id"] for hit in hits.json()}
    assert str(shown.id) in ids
    assert str(hidden.id) not in ids
    assert set(hits.json()[0]) == {"id", "name", "slug"}


async def test_search_escapes_like_wildcards(client: httpx.AsyncClient, factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    response = await org.owner.client.get(
        "/api/people/search", params={"q": "%"}, headers=org.owner.headers(org.id)
    )
    assert response.json() == []
