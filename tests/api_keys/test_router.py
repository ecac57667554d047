"""Personal access tokens: mint once, store a digest, bind to one org, revoke instantly."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from projekt.api_keys.models import ApiKey
from projekt.auth.credentials import Stamps
from projekt.core.context import Role
from projekt.core.security import digest
from tests.factories import Factory, Org
from tests.support import MovableClock, count_statements

TOKEN = re.compile(r"^pjk_live_[0-9A-Za-z]{32}$")


async def _mint(org: Org, role: Role = Role.OWNER, **body: object) -> dict[str, object]:
    person = org.members[role]
    response = await person.client.post(
        "/api/api-keys", json={"name": "CI deploy", **body}, headers=person.headers(org.id)
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created: dict[str, object] = response.json()
    return created


async def test_mint_shape_and_storage(app: FastAPI, factory: Factory) -> None:
    org = await factory.org(roles=(Role.MANAGER,))
    created = await _mint(org, Role.MANAGER)
    token = str(created["token"])
    assert TOKEN.match(token)
    assert set(created) == {
        "id", "name", "token", "last_four", "org_id", "user_id",
        "created_at", "expires_at", "last_used_at",
    }  # fmt: skip
    assert created["last_four"] == token[-4:]
    assert created["org_id"] == str(org.id)
    async with app.state.services.db.read() as session:
        row = (
            await session.execute(select(ApiKey).where(ApiKey.id == uuid.UUID(str(created["id"]))))
        ).scalar_one()
        assert row.token_hash == digest(token)
        dump = str((await session.execute(text("SELECT * FROM api_keys"))).all())
    assert token not in dump
    listed = await org.members[Role.MANAGER].client.get(
        "/api/api-keys", headers=org.members[Role.MANAGER].headers(org.id)
    )
    assert token not in listed.text
    assert digest(token) not in listed.text
    assert [k["id"] for k in listed.json()] == [created["id"]]


async def test_who_may_mint(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER, Role.MEMBER, Role.VIEWER))
    for role, expected in (
        (Role.OWNER, 201),
        (Role.ADMIN, 201),
        (Role.MANAGER, 201),
        (Role.MEMBER, 403),
        (Role.VIEWER, 403),
    ):
        person = org.members[role]
        response = await person.client.post(
            "/api/api-keys", json={"name": "k"}, headers=person.headers(org.id)
        )
        assert response.status_code == expected, role
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        assert (await keyed.post("/api/api-keys", json={"name": "k"})).status_code == 403
        key_id = (await keyed.get("/api/api-keys")).json()[0]["id"]
        assert (await keyed.delete(f"/api/api-keys/{key_id}")).status_code == 403


async def test_expiry_validation_and_expiry(factory: Factory, time_travel: MovableClock) -> None:
    org = await factory.org()
    owner = org.owner
    past = await owner.client.post(
        "/api/api-keys",
        json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"},
        headers=owner.headers(org.id),
    )
    assert past.status_code == 422
    assert "expires_at" in past.json()["errors"]
    expires = datetime.now(UTC) + timedelta(days=2)
    created = await _mint(org, expires_at=expires.isoformat())
    async with factory.client(Authorization=f"Bearer {created['token']}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 200
        time_travel.advance(timedelta(days=2, seconds=1))
        expired = await keyed.get("/api/me")
    assert expired.status_code == 401


async def test_twenty_active_keys_at_most(factory: Factory, time_travel: MovableClock) -> None:
    org = await factory.org()
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await _mint(org, expires_at=soon)  # will expire and stop counting
    for _ in range(19):
        await _mint(org)
    owner = org.owner
    over = await owner.client.post(
        "/api/api-keys", json={"name": "21"}, headers=owner.headers(org.id)
    )
    assert over.status_code == 409
    assert over.json()["code"] == "key_limit_reached"
    time_travel.advance(timedelta(hours=2))
    await _mint(org)  # the expired one no longer counts


async def test_concurrent_mints_respect_the_cap(app: FastAPI, factory: Factory) -> None:
    org = await factory.org()
    owner = org.owner
    statuses = await asyncio.gather(
        *(
            owner.client.post(
                "/api/api-keys", json={"name": f"k{i}"}, headers=owner.headers(org.id)
            )
            for i in range(30)
        )
    )
    codes = sorted(r.status_code for r in statuses)
    async with app.state.services.db.read() as session:
        active = (
            await session.execute(
                select(func.count()).where(ApiKey.org_id == org.id, ApiKey.revoked_at.is_(None))
            )
        ).scalar_one()
    assert active == 20
    assert codes.count(201) == 20
    assert codes.count(409) == 10


async def test_revocation_is_instant(factory: Factory) -> None:
    org = await factory.org()
    created = await _mint(org)
    async with factory.client(Authorization=f"Bearer {created['token']}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 200
        revoked = await org.owner.client.delete(
            f"/api/api-keys/{created['id']}", headers=org.owner.headers(org.id)
        )
        assert revoked.status_code == 204
        after = await keyed.get("/api/me")
    assert after.status_code == 401
    assert (
        'resource_metadata="http://testserver/.well-known/oauth-protected-resource"'
        in (after.headers["www-authenticate"])
    )
    again = await org.owner.client.delete(
        f"/api/api-keys/{created['id']}", headers=org.owner.headers(org.id)
    )
    assert again.status_code == 404


async def test_listing_and_revoking_others_keys(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN, Role.MANAGER))
    mine = await _mint(org, Role.MANAGER)
    admin_key = await _mint(org, Role.ADMIN)
    manager = org.members[Role.MANAGER]
    listed = await manager.client.get("/api/api-keys", headers=manager.headers(org.id))
    assert [k["id"] for k in listed.json()] == [mine["id"]]
    everyone = await manager.client.get(
        "/api/api-keys", params={"all": "true"}, headers=manager.headers(org.id)
    )
    assert everyone.status_code == 403
    admin = org.members[Role.ADMIN]
    all_keys = await admin.client.get(
        "/api/api-keys", params={"all": "true"}, headers=admin.headers(org.id)
    )
    assert {k["id"] for k in all_keys.json()} == {mine["id"], admin_key["id"]}
    not_yours = await manager.client.delete(
        f"/api/api-keys/{admin_key['id']}", headers=manager.headers(org.id)
    )
    assert not_yours.status_code == 404
    by_admin = await admin.client.delete(
        f"/api/api-keys/{mine['id']}", headers=admin.headers(org.id)
    )
    assert by_admin.status_code == 204


async def test_key_acts_with_the_current_role(factory: Factory) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    admin = org.members[Role.ADMIN]
    token = await factory.key(org.id, admin)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        ok = await keyed.patch(f"/api/orgs/{org.id}", json={"name": "By key"})
        assert ok.status_code == 200
        demoted = await org.owner.client.patch(
            f"/api/team/{org.employee_ids[Role.ADMIN]}",
            json={"role": "viewer"},
            headers=org.owner.headers(org.id),
        )
        assert demoted.status_code == 200
        now_denied = await keyed.patch(f"/api/orgs/{org.id}", json={"name": "Again"})
        assert now_denied.status_code == 403
        assert (await keyed.get("/api/team")).status_code == 200


async def test_header_rules(factory: Factory) -> None:
    org = await factory.org()
    other = await factory.org()
    token = await factory.key(org.id, org.owner)
    other_token = await factory.key(other.id, other.owner)
    async with factory.client() as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/api/team", headers=auth)).status_code == 200
        assert (await c.get("/api/team", headers={"X-Auth-Token": token})).status_code == 200
        same = {**auth, "X-Auth-Token": token}
        assert (await c.get("/api/team", headers=same)).status_code == 200
        both = {**auth, "X-Auth-Token": other_token}
        assert (await c.get("/api/team", headers=both)).status_code == 400
        matching = {**auth, "X-Org-Id": str(org.id)}
        assert (await c.get("/api/team", headers=matching)).status_code == 200
        mismatch = await c.get("/api/team", headers={**auth, "X-Org-Id": str(other.id)})
        assert mismatch.status_code == 403
        assert mismatch.json()["code"] == "org_mismatch"
        fallback_mismatch = await c.get(
            "/api/team", headers={"X-Auth-Token": token, "X-Org-Id": str(other.id)}
        )
        assert fallback_mismatch.status_code == 403
        malformed = await c.get("/api/team", headers={**auth, "X-Org-Id": "not-a-uuid"})
        assert malformed.status_code == 400
        bad = await c.get("/api/me", headers={"Authorization": "Bearer pjk_live_" + "0" * 32})
        assert bad.status_code == 401
        assert bad.json()["code"] == "unauthorized"
        assert "resource_metadata=" in bad.headers["www-authenticate"]
        basic = await c.get("/api/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        assert basic.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/orgs", {"name": "x"}),
        ("POST", "/api/orgs/join", {"code": "x"}),
        ("GET", "/api/orgs/search?q=a", None),
        ("GET", "/api/crossorg/orgs/search?q=a", None),
    ],
)
async def test_cross_org_endpoints_refuse_keys(
    factory: Factory, method: str, path: str, body: object
) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        response = await keyed.request(method, path, json=body)
    assert response.status_code == 403
    assert response.json()["code"] == "token_forbidden"


async def test_key_sees_only_its_bound_org(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    other = await factory.org(owner=org.owner)  # same person owns a second org
    stranger = org.members[Role.MEMBER]
    await factory.add_member(other.id, stranger, Role.MEMBER)
    await factory.project(org, key="MINE")
    await factory.project(other, key="THEIRS")
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        orgs = (await keyed.get("/api/orgs")).json()
        me_orgs = (await keyed.get("/api/me/orgs")).json()
        people = (await keyed.get("/api/people/search", params={"q": stranger.name})).json()
        palette = (await keyed.get("/api/palette/search", params={"q": "THEIRS"})).json()
        other_org = await keyed.get(f"/api/orgs/{other.id}")
    assert [o["id"] for o in orgs] == [str(org.id)]
    assert me_orgs["count"] == 1
    assert me_orgs["orgs"][0]["org_id"] == str(org.id)
    assert [p["key"] for p in me_orgs["orgs"][0]["projects"]] == ["MINE"]
    assert [p["employee_id"] for p in people] == [str(org.employee_ids[Role.MEMBER])]
    assert palette == []
    assert other_org.status_code == 404
    session_orgs = (await org.owner.client.get("/api/orgs")).json()
    assert {o["id"] for o in session_orgs} == {str(org.id), str(other.id)}


async def test_last_used_at_is_not_written_on_every_request(app: FastAPI, factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        with count_statements(app) as statements:
            for _ in range(5):
                assert (await keyed.get("/api/me")).status_code == 200
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE API_KEYS")]
    assert len(updates) == 1
    listed = await org.owner.client.get("/api/api-keys", headers=org.owner.headers(org.id))
    assert listed.json()[0]["last_used_at"] is not None


async def test_concurrent_requests_of_a_key_due_a_stamp_write_it_once(
    app: FastAPI, factory: Factory
) -> None:
    """A burst after a quiet minute (every connection of a client at once) stamps the key
    once, not once per request waiting on the others' stamps."""
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        with count_statements(app) as statements:
            answers = await asyncio.gather(*(keyed.get("/api/me") for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE API_KEYS")]
    assert len(updates) == 1


def test_cli_mints_a_key(
    migrated: object, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`projekt keys mint` for CI bootstraps (runs its own event loop, so a sync test)."""
    import io
    from contextlib import redirect_stdout

    from projekt.cli import main
    from tests.conftest import make_settings

    settings = make_settings()
    monkeypatch.setenv("PROJEKT_DATABASE_URL", settings.database_url)
    email = f"cli{datetime.now(UTC).timestamp():.0f}@example.test"
    monkeypatch.setenv("PROJEKT_NEW_PASSWORD", "a long enough password")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["users", "create", "--email", email, "--name", "CLI"]) == 0
        slug = f"cli-{datetime.now(UTC).timestamp():.0f}"
        assert main(["orgs", "create", "--name", "CLI org", "--slug", slug, "--owner", email]) == 0
        assert main(["keys", "mint", "--org", slug, "--email", email, "--name", "ci"]) == 0
    token = out.getvalue().strip().splitlines()[-1]
    assert TOKEN.match(token)
    # Without --slug the name makes one (it had crashed on slug=None); a bad one is a message.
    named = f"CLI named {datetime.now(UTC).timestamp():.0f}"
    with redirect_stdout(io.StringIO()):
        assert main(["orgs", "create", "--name", named, "--owner", email]) == 0
        assert (
            main(["orgs", "create", "--name", "x", "--slug", "Not A Slug", "--owner", email]) == 2
        )


async def test_rejoining_does_not_revive_a_key(factory: Factory) -> None:
    """Removed and invited back: the key was minted under the old membership and stays dead."""
    org = await factory.org(roles=(Role.MANAGER,))
    manager = org.members[Role.MANAGER]
    token = await factory.key(org.id, manager)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 200
        removed = await org.owner.client.delete(
            f"/api/team/{org.employee_ids[Role.MANAGER]}", headers=org.owner.headers(org.id)
        )
        assert removed.status_code == 204
        assert (await keyed.get("/api/me")).status_code == 401
        invited = await org.owner.client.post(
            "/api/orgs/invitations", json={"role": "manager"}, headers=org.owner.headers(org.id)
        )
        joined = await manager.client.post(
            "/api/orgs/join", json={"code": invited.json()["code"]}, headers=manager.headers()
        )
        assert joined.status_code == 200, joined.text
        assert (await keyed.get("/api/me")).status_code == 401
    fresh = await factory.key(org.id, manager)
    async with factory.client(Authorization=f"Bearer {fresh}") as keyed:
        assert (await keyed.get("/api/me")).status_code == 200


def test_a_stamp_is_due_once_per_interval_and_again_after_the_clock_is_set_back() -> None:
    stamps = Stamps(timedelta(minutes=1))
    key, now = uuid.uuid4(), datetime(2026, 1, 1, tzinfo=UTC)
    assert stamps.take(key, None, now)
    assert not stamps.take(key, None, now + timedelta(seconds=59))  # the row's copy is stale
    assert stamps.take(key, None, now + timedelta(minutes=1))
    assert not stamps.take(key, now + timedelta(minutes=1), now + timedelta(minutes=1, seconds=30))
    assert stamps.take(key, None, now)  # the clock went back: this worker's stamp is no guide
    assert stamps.take(uuid.uuid4(), None, now)  # each credential apart
