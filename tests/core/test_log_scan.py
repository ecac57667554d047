"""After a run of hostile input, nothing secret is anywhere in the server's log (issue 14.2).

The run includes database errors forced with secret-bearing parameters (a unique violation on
a user's email with an argon2 hash beside it, on the ORM and on the fast path, and a cast that
quotes the value it refused), so the test holds whether or not the edge refuses NUL bytes.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, String, bindparam, cast, insert, select

from projekt.auth.models import User
from projekt.config import Settings
from projekt.core.deps import ServicesDep, SessionDep
from projekt.core.security import new_opaque_token, new_pat
from projekt.main import create_app
from projekt.oauth.server import ACCESS_PREFIX, REFRESH_PREFIX
from tests.conftest import make_settings
from tests.factories import PASSWORD, Factory

WRONG_PASSWORDS = ["Tr0ub4dor&3-wrong", "hunter2hunter2-wrong", "n0t-the-right-one"]
JSON_PASSWORD = "password-in-broken-json"
CAST_SECRET = "cast-secret-value-93"
# Loggers of the test's own HTTP client (they print the URLs it requests), not the server's.
CLIENT_LOGGERS = ("httpx", "httpcore", "asyncio")


@pytest.fixture
async def scan_app(migrated: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(access_log=True))
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        for name in [n for n in app.state.policy if n.startswith("test_leak_")]:
            del app.state.policy[name]  # the policy is the module's own dict, shared by apps


def add_leaky_routes(app: FastAPI, email: str, password_hash: str) -> None:
    """Routes that make the database fail on statements carrying secrets."""
    now = datetime.now(UTC)
    row = {"email": email, "password_hash": password_hash, "name": "dup"}

    async def leak_orm(session: SessionDep) -> None:
        session.add(User(**row, locale="en", is_active=True, created_at=now, updated_at=now))
        await session.flush()

    statement = insert(User).values(
        id=bindparam("id"),
        email=bindparam("email"),
        password_hash=bindparam("password_hash"),
        name=bindparam("name"),
        locale="en",
        is_active=True,
        created_at=bindparam("now", type_=User.created_at.type),
        updated_at=bindparam("now", type_=User.updated_at.type),
    )
    quoted = select(cast(bindparam("secret", type_=String), Integer).label("n"))

    async def leak_fast(services: ServicesDep) -> None:
        import uuid

        await services.fast.execute(statement, {**row, "id": uuid.uuid4(), "now": now})

    async def leak_cast(services: ServicesDep) -> None:
        await services.fast.fetch(quoted, {"secret": CAST_SECRET})

    for name, endpoint in (("orm", leak_orm), ("fast", leak_fast), ("cast", leak_cast)):
        app.state.policy[f"test_leak_{name}"] = app.state.policy["healthz"]
        app.add_api_route(f"/test-leak-{name}", endpoint, name=f"test_leak_{name}")


async def test_hostile_input_leaves_no_secret_in_the_log(
    scan_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="projekt")
    factory = Factory(scan_app)
    org = await factory.org()
    victim = org.owner
    key = await factory.key(org.id, victim)
    stored_hash = await scan_app.state.services.passwords.hash(PASSWORD)
    add_leaky_routes(scan_app, victim.email, stored_hash)
    session_cookie = victim.client.cookies.get("projekt_session") or ""
    strangers = [new_pat(), ACCESS_PREFIX + new_opaque_token(), REFRESH_PREFIX + "x" * 40]
    transport = httpx.ASGITransport(app=scan_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for wrong in WRONG_PASSWORDS:
            await c.post("/api/auth/login", json={"email": victim.email, "password": wrong})
        await c.post("/api/auth/login", json={"email": "nul\x00" + victim.email, "password": "x"})
        await c.post(
            "/api/auth/signup",
            json={"email": "new\x00@example.test", "password": PASSWORD, "name": "N\x00"},
        )
        await c.post("/api/auth/signup", json={"email": victim.email, "password": PASSWORD})
        await c.post(
            "/api/auth/login",
            content=f'{{"email": "{victim.email}", "password": "{JSON_PASSWORD}"',
            headers={"content-type": "application/json"},
        )
        await c.post(
            "/api/auth/login", json={"email": "a" * 300_000 + "@example.test", "password": "p"}
        )
        await c.post(
            "/api/issues",
            json={"project_id": str(org.id), "title": "t" * 100_000 + "\x00"},
            headers={"Authorization": f"Bearer {key}"},
        )
        # Tokens where they do not belong.
        for token in (key, *strangers):
            await c.get(f"/api/issues/{token}", headers={"Authorization": f"Bearer {token}"})
            await c.get("/api/me", params={"access_token": token})
            await c.get("/api/me", headers={"Cookie": f"projekt_session={token}"})
            basic = base64.b64encode(f"{token}:{token}".encode()).decode()
            await c.get("/api/me", headers={"Authorization": f"Basic {basic}"})
            await c.get("/api/me", headers={"Authorization": f"Token {token}"})
            await c.get("/api/me", headers={"X-Auth-Token": token, "Authorization": "Bearer x"})
            await c.get(f"/api/x%0A{token}")
        await c.get("/api/me", headers={"Authorization": f"Bearer {session_cookie}"})
        # Database failures on statements that carry an email, a hash and a password.
        forced = [await c.get(f"/test-leak-{name}") for name in ("orm", "fast", "cast")]
    assert forced[0].status_code == forced[1].status_code == 500

    server_log = "\n".join(
        logging.Formatter("%(levelname)s %(name)s %(message)s").format(r)
        for r in caplog.records
        if not r.name.startswith(CLIENT_LOGGERS)
    )
    assert "IntegrityError" in server_log  # the forced failures were logged...
    secrets = [
        victim.email,
        "@example.test",
        "$argon2",
        stored_hash,
        "pjk_",
        "pjo_at_",
        "pjo_rt_",
        key,
        *strangers,
        PASSWORD,
        *WRONG_PASSWORDS,
        JSON_PASSWORD,
        CAST_SECRET,
    ]
    if session_cookie:
        secrets.append(session_cookie)
    for secret in secrets:
        assert secret not in server_log, f"{secret!r} is in the log"  # ...without their values
