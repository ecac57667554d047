"""Sign-up, sign-in, sign-out and browser sessions (API.md §3–4)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from projekt.auth.models import User, WebSession
from projekt.core.security import Passwords, digest
from tests.conftest import client_for, make_settings
from tests.factories import PASSWORD, Factory, unique
from tests.support import MovableClock


async def test_signup_returns_session_and_me(client: httpx.AsyncClient) -> None:
    email = f"{unique('Ana')}@Example.TEST"
    response = await client.post(
        "/api/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Ana", "username": unique("ana")},
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/api/me"
    body = response.json()
    assert body["user"]["email"] == email.lower()
    assert body["csrf_token"]
    me = await client.get("/api/me")
    assert me.status_code == 200
    assert set(me.json()) == {"id", "email", "name", "username", "locale"}
    assert me.json()["locale"] == "en"


async def test_signup_validates(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup", json={"email": "nope", "password": "short", "name": ""}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"email", "password", "name"}
    assert errors["password"] == ["The password must be at least 10 characters"]


async def test_session_cookie_attributes(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/signup",
        json={"email": f"{unique('c')}@example.test", "password": PASSWORD, "name": "C"},
    )
    cookie = next(
        v for v in response.headers.get_list("set-cookie") if v.startswith("projekt_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert not any(a.startswith("domain") for a in attributes)


def test_https_cookie_is_host_prefixed_and_secure() -> None:
    settings = make_settings(base_url="https://projekt.example.com")
    assert settings.session_cookie_name == "__Host-projekt_session"
    assert settings.secure_cookies


async def test_secure_cookie_flags_over_https(migrated: object) -> None:
    from projekt.main import create_app

    app = create_app(make_settings(base_url="https://projekt.example.com"))
    async with client_for(app) as c:
        response = await c.post(
            "/api/auth/signup",
            json={"email": f"{unique('s')}@example.test", "password": PASSWORD, "name": "S"},
        )
    cookie = next(
        v for v in response.headers.get_list("set-cookie") if v.startswith("__Host-projekt_session")
    )
    lowered = cookie.lower()
    assert "secure" in lowered
    assert "httponly" in lowered
    assert "domain" not in lowered
    await app.state.services.db.dispose()


async def test_login_failures_look_alike(client: httpx.AsyncClient, factory: Factory) -> None:
    person = await factory.person()
    wrong = await client.post("/api/auth/login", json={"email": person.email, "password": "x" * 12})
    unknown = await client.post(
        "/api/auth/login", json={"email": "nobody@example.test", "password": "x" * 12}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_unknown_email_still_pays_for_a_verification() -> None:
    passwords = Passwords("cheap")
    calls: list[str] = []
    real = passwords.hasher

    class Spy:
        def verify(self, stored: str, password: str) -> bool:
            calls.append(stored)
            return real.verify(stored, password)

    passwords._hasher = Spy()  # type: ignore[assignment]
    assert await passwords.verify(None, "whatever password") is False
    assert len(calls) == 1


def test_production_profile_is_argon2id_default() -> None:
    hashed = Passwords("default").hasher.hash("some password")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_login_rotates_the_session_id(factory: Factory) -> None:
    person = await factory.person()
    before = person.client.cookies.get("projekt_session")
    response = await person.client.post(
        "/api/auth/login", json={"email": person.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    after = person.client.cookies.get("projekt_session")
    assert before and after and before != after


async def test_session_stored_only_as_digest(app: FastAPI, factory: Factory) -> None:
    person = await factory.person()
    raw = person.client.cookies.get("projekt_session")
    assert raw
    async with app.state.services.db.read() as session:
        hashes = (
            await session.execute(
                select(WebSession.token_hash).where(WebSession.user_id == person.user_id)
            )
        ).scalars()
        assert digest(raw) in list(hashes)
        stored = (
            await session.execute(select(User.password_hash).where(User.id == person.user_id))
        ).scalar_one()
    assert stored.startswith("$argon2id$")


async def test_logout_ends_the_session(app: FastAPI, factory: Factory) -> None:
    person = await factory.person()
    raw = person.client.cookies.get("projekt_session")
    no_csrf = await person.client.post("/api/auth/logout")
    assert no_csrf.status_code == 403
    assert no_csrf.json()["code"] == "csrf_failed"
    response = await person.client.post("/api/auth/logout", headers=person.headers())
    assert response.status_code == 204
    async with client_for(app) as replay:
        replay.cookies.set("projekt_session", raw or "")
        assert (await replay.get("/api/me")).status_code == 401


async def test_session_idle_expiry_and_sliding(factory: Factory, time_travel: MovableClock) -> None:
    person = await factory.person()
    for _ in range(3):  # used every 20 days: stays alive past 30 days in total
        time_travel.advance(timedelta(days=20))
        assert (await person.client.get("/api/me")).status_code == 200
    time_travel.advance(timedelta(days=31))  # idle beyond 30 days
    assert (await person.client.get("/api/me")).status_code == 401


async def test_session_absolute_cap(factory: Factory, time_travel: MovableClock) -> None:
    person = await factory.person()
    for _ in range(4):
        time_travel.advance(timedelta(days=22))
        assert (await person.client.get("/api/me")).status_code == 200
    time_travel.advance(timedelta(days=3))  # 91 days since sign-in, though used recently
    assert (await person.client.get("/api/me")).status_code == 401


async def test_csrf_required_for_cookie_writes_not_bearer(factory: Factory) -> None:
    owner = await factory.person()
    headers = {"X-CSRF-Token": "forged"}
    forged = await owner.client.post("/api/orgs", json={"name": "Forged"}, headers=headers)
    assert forged.status_code == 403
    good = await owner.client.post("/api/orgs", json={"name": "Real"}, headers=owner.headers())
    assert good.status_code == 201


async def test_hashing_runs_off_the_event_loop() -> None:
    passwords = Passwords("default")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await asyncio.gather(*(passwords.verify(None, "wrong password") for _ in range(4)))
    task.cancel()
    # Four argon2id verifications (64 MiB each) on the loop would leave the ticker no turn.
    assert ticks >= 2
