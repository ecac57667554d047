"""Token rows cached per worker: no lookup per request, yet every change is seen at once."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import delete, update

from projekt.auth.cache import CHANGED, CredentialCache, mark_credential_changes
from projekt.core.context import Role
from projekt.orgs.models import Membership
from projekt.projects.models import Project
from tests.factories import Factory, Org
from tests.oauth.test_flow import code_for, exchange, register
from tests.support import count_statements

REDIS_URL = os.environ.get("PROJEKT_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="runs on the PostgreSQL + Redis leg")


def _reads_credentials(statements: list[str]) -> bool:
    return any("FROM api_keys" in s or "FROM oauth_tokens" in s for s in statements)


async def _warm(app: FastAPI, caller: httpx.AsyncClient) -> None:
    """Until the caller's row is served from the cache (and prove that it is)."""
    for _ in range(3):
        assert (await caller.get("/api/me")).status_code == 200
    with count_statements(app) as statements:
        assert (await caller.get("/api/me")).status_code == 200
    assert not _reads_credentials(statements), statements


# -- the cache itself (both legs) ----------------------------------------------------------------


def test_rows_are_kept_only_under_the_epoch_they_were_read_in() -> None:
    cache = CredentialCache(Redis(), "k")
    cache.put("h", {"id": 1}, seen=None)  # no epoch known yet: nothing to vouch for the row
    assert cache.get("h") is None
    cache.observe("e1")
    cache.put("h", {"id": 1}, seen="e0")  # read before the epoch moved: not kept
    assert cache.get("h") is None
    cache.put("h", {"id": 1}, seen="e1")
    assert cache.get("h") == {"id": 1}
    cache.observe("e1")
    assert cache.current("e1") and cache.get("h") == {"id": 1}
    cache.observe("e2")  # someone changed a credential somewhere
    assert not cache.current("e1") and cache.get("h") is None
    cache.put("h", {"id": 1}, seen="e2")
    cache.observe(None)  # Redis did not answer: nothing can be vouched for
    assert cache.get("h") is None and not cache.current(None)


def test_rows_expire_on_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("projekt.auth.cache.time.monotonic", lambda: clock[0])
    cache = CredentialCache(Redis(), "k")
    cache.observe("e")
    cache.put("h", {"id": 1}, seen="e")
    clock[0] += CredentialCache.MAX_AGE_S + 1
    assert cache.get("h") is None


async def test_writes_to_credential_tables_flag_the_unit_of_work(app: FastAPI) -> None:
    mark_credential_changes()  # installed by apps with a cache; idempotent
    db = app.state.services.db
    org = await Factory(app).org()
    async with db.read() as session:
        await session.execute(update(Project).where(Project.org_id == org.id).values(name="n"))
        assert CHANGED not in session.info  # projects say nothing about credentials
        await session.execute(
            update(Membership).where(Membership.org_id == org.id).values(role="owner")
        )
        assert session.info.get(CHANGED) is True
        await session.rollback()
    async with db.read() as session:
        membership = await session.get(Membership, org.employee_ids[Role.OWNER])
        assert membership is not None
        membership.role = "admin"
        await session.flush()
        assert session.info.get(CHANGED) is True
        await session.rollback()
    async with db.read() as session:
        await session.execute(delete(Membership).where(Membership.org_id == org.id))
        assert session.info.get(CHANGED) is True
        await session.rollback()


# -- with Redis: what the server does ----------------------------------------------------------


@needs_redis
async def test_warm_reads_run_one_statement(app: FastAPI, factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        created = await keyed.post(
            "/api/issues", json={"project_id": str(project.id), "title": "t"}
        )
        assert created.status_code == 201
        await _warm(app, keyed)
        with count_statements(app) as listing:
            listed = await keyed.get(f"/api/issues?project_id={project.id}&limit=50")
        with count_statements(app) as detail:
            got = await keyed.get(f"/api/issues/{created.json()['key']}")
    assert listed.status_code == got.status_code == 200
    assert len(listed.json()["data"]) == 1
    # The page with its project head; the issue with its comments.
    assert len(listing) == 1, listing
    assert len(detail) == 1, detail


async def _revoke_key(org: Org, key_name: str) -> None:
    owner = org.owner
    keys = (await owner.client.get("/api/api-keys?all=true", headers=owner.headers(org.id))).json()
    key_id = next(k["id"] for k in keys if k["name"] == key_name)
    response = await owner.client.delete(f"/api/api-keys/{key_id}", headers=owner.headers(org.id))
    assert response.status_code == 204


async def _demote(org: Org, _key_name: str) -> None:
    response = await org.owner.client.patch(
        f"/api/team/{org.employee_ids[Role.ADMIN]}",
        json={"role": "viewer"},
        headers=org.owner.headers(org.id),
    )
    assert response.status_code == 200


async def _remove(org: Org, _key_name: str) -> None:
    response = await org.owner.client.delete(
        f"/api/team/{org.employee_ids[Role.ADMIN]}", headers=org.owner.headers(org.id)
    )
    assert response.status_code == 204


async def _delete_org(org: Org, _key_name: str) -> None:
    response = await org.owner.client.delete(
        f"/api/orgs/{org.id}", headers=org.owner.headers(org.id)
    )
    assert response.status_code == 204


Change = Callable[[Org, str], Awaitable[None]]


@needs_redis
@pytest.mark.parametrize(
    ("change", "then"),
    [(_revoke_key, 401), (_demote, 403), (_remove, 401), (_delete_org, 401)],
    ids=["key revoked", "role lowered", "member removed", "org deleted"],
)
async def test_a_cached_key_sees_every_change_at_once(
    app: FastAPI, factory: Factory, change: Change, then: int
) -> None:
    org = await factory.org(roles=(Role.ADMIN,))
    token = await factory.key(org.id, org.members[Role.ADMIN], "cached")
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        await _warm(app, keyed)
        await change(org, "cached")
        # An admin-only write: 403 once the role is lower, 401 once the key speaks for no one.
        response = await keyed.patch(f"/api/orgs/{org.id}", json={"name": "After"})
    assert response.status_code == then, response.text


@needs_redis
async def test_a_cached_oauth_token_sees_revocation_at_once(
    app: FastAPI, factory: Factory, client: httpx.AsyncClient
) -> None:
    org = await factory.org()
    registered = await register(client)
    code, verifier = await code_for(org.owner, org, registered["client_id"])
    tokens = (await exchange(client, registered["client_id"], code, verifier)).json()
    async with factory.client(Authorization=f"Bearer {tokens['access_token']}") as agent:
        await _warm(app, agent)
        revoked = await client.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"], "client_id": registered["client_id"]},
        )
        assert revoked.status_code == 200
        assert (await agent.get("/api/me")).status_code == 401


@needs_redis
async def test_an_epoch_moved_elsewhere_means_reading_again(app: FastAPI, factory: Factory) -> None:
    """Another host committed a change: this worker has not seen it, only the epoch moved."""
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    services: Any = app.state.services
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        await _warm(app, keyed)
        await services.redis.incr(services.credentials.epoch_key)
        with count_statements(app) as statements:
            assert (await keyed.get("/api/me")).status_code == 200
        assert _reads_credentials(statements)
        with count_statements(app) as statements:
            assert (await keyed.get("/api/me")).status_code == 200
        assert _reads_credentials(statements)  # read again; kept from the next request on
        await _warm(app, keyed)
