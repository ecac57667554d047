"""What each bucket counts by (issue 14.5-14.7): caps on anonymous endpoints by client IP,
caps on what a person does by the person (in the org), whatever credential comes along."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from projekt import policy
from projekt.core.ratelimit import Key
from projekt.core.routes import route_table
from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, Factory, Person, unique
from tests.middleware.test_rate_limit import client, limited_app

pytestmark = pytest.mark.usefixtures("migrated")

INTEGRATIONS = "/app/organization/settings/general/integraciones"


def as_person(app: FastAPI, person: Person, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    """Another connection carrying the person's session cookie."""
    signed_in = client(app, peer=peer)
    signed_in.cookies = person.client.cookies
    return signed_in


async def new_session(app: FastAPI, person: Person, peer: str) -> tuple[httpx.AsyncClient, str]:
    """The same person signed in again: a new session cookie and CSRF token."""
    fresh = client(app, peer=peer)
    signed_in = await fresh.post(
        "/api/auth/login", json={"email": person.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    return fresh, signed_in.json()["csrf_token"]


def signup_body() -> dict[str, str]:
    name = unique("signup")
    return {"email": f"{name}@example.test", "password": PASSWORD, "name": name}


# -- by client IP --------------------------------------------------------------------------------


async def test_sign_in_cap_counts_by_ip_whatever_credential_comes_along() -> None:
    async with limited_app(rate_limit_login_ip="3/60s") as app:
        factory = Factory(app)
        org = await factory.org()
        token = await factory.key(org.id, org.owner)
        someone = await factory.person()
        target = await factory.person()
        guess = {"email": target.email, "password": "wrong password"}
        peer = "127.0.3.1"
        async with client(app, peer=peer) as anonymous:
            tries = [(await anonymous.post("/api/auth/login", json=guess)) for _ in range(4)]
        async with client(app, peer=peer, Authorization=f"Bearer {token}") as keyed:
            with_key = await keyed.post("/api/auth/login", json=guess)
        async with as_person(app, someone, peer) as session:
            with_session = await session.post("/api/auth/login", json=guess)
            web_form = await session.post("/app/login", data=guess)
        async with client(app, peer="127.0.3.2") as elsewhere:
            other_ip = await elsewhere.post("/api/auth/login", json=guess)
    assert [r.status_code for r in tries] == [401, 401, 401, 429]
    assert with_key.status_code == 429, with_key.text
    assert with_session.status_code == 429, with_session.text
    assert web_form.status_code == 429
    assert other_ip.status_code == 401


async def test_ipv6_clients_are_counted_by_their_64() -> None:
    """One subscriber holds a whole /64: each of its addresses is not a fresh bucket."""
    async with limited_app(rate_limit_login_ip="2/60s") as app:
        target = await Factory(app).person()
        guess = {"email": target.email, "password": "wrong password"}
        answers = []
        for host in ("1", "2", "ffff:ffff:ffff:ffff"):
            async with client(app, peer=f"2001:db8:1:2::{host}".replace("::ffff", ":ffff")) as c:
                answers.append((await c.post("/api/auth/login", json=guess)).status_code)
        async with client(app, peer="2001:db8:1:3::1") as next_door:
            other_subnet = await next_door.post("/api/auth/login", json=guess)
    assert answers == [401, 401, 429]
    assert other_subnet.status_code == 401


async def test_client_registration_cap_counts_by_ip() -> None:
    async with limited_app(rate_limit_oauth_register="2/1h") as app:
        factory = Factory(app)
        org = await factory.org()
        token = await factory.key(org.id, org.owner)
        body = {"client_name": "c", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}
        peer = "127.0.3.3"
        async with client(app, peer=peer) as anonymous:
            first = [(await anonymous.post("/oauth/register", json=body)) for _ in range(2)]
        async with client(app, peer=peer, Authorization=f"Bearer {token}") as keyed:
            with_key = await keyed.post("/oauth/register", json=body)
        async with as_person(app, org.owner, peer) as session:
            with_session = await session.post("/oauth/register", json=body)
    assert [r.status_code for r in first] == [201, 201]
    assert with_key.status_code == 429, with_key.text
    assert with_session.status_code == 429, with_session.text


async def test_sign_up_is_capped_per_ip_on_the_api_and_the_web_form() -> None:
    async with limited_app(rate_limit_signup_ip="2/1h") as app:
        factory = Factory(app)
        org = await factory.org()  # signs its owner up from 127.0.0.1, another IP
        token = await factory.key(org.id, org.owner)
        peer = "127.0.3.4"
        async with client(app, peer=peer) as anonymous:
            first = [
                (await anonymous.post("/api/auth/signup", json=signup_body())) for _ in range(2)
            ]
            third = await anonymous.post("/api/auth/signup", json=signup_body())
            web_form = await anonymous.post("/app/signup", data=signup_body())
        async with client(app, peer=peer, Authorization=f"Bearer {token}") as keyed:
            with_key = await keyed.post("/api/auth/signup", json=signup_body())
        async with client(app, peer="127.0.3.5") as elsewhere:
            web_elsewhere = await elsewhere.post("/app/signup", data=signup_body())
            other_ip = await elsewhere.post("/api/auth/signup", json=signup_body())
    assert [r.status_code for r in first] == [201, 201]
    assert third.status_code == 429
    assert web_form.status_code == 429
    assert with_key.status_code == 429
    assert web_elsewhere.status_code == 303  # the form spends the same bucket: 1 of 2
    assert other_ip.status_code == 201


# -- by person -----------------------------------------------------------------------------------


async def test_org_creation_is_capped_per_person_across_sessions_and_the_web_form() -> None:
    async with limited_app(rate_limit_org_create="2/1h") as app:
        factory = Factory(app)
        person = await factory.person()
        other = await factory.person()
        first = [
            await person.client.post(
                "/api/orgs", json={"name": unique("Org ")}, headers=person.headers()
            )
            for _ in range(2)
        ]
        fresh, csrf = await new_session(app, person, "127.0.3.6")
        new_sign_in = await fresh.post(
            "/api/orgs", json={"name": unique("Org ")}, headers={"X-CSRF-Token": csrf}
        )
        await fresh.aclose()
        web_form = await person.client.post(
            "/app/orgs", data={"name": unique("Org "), "csrf_token": person.csrf}
        )
        someone_else = await other.client.post(
            "/api/orgs", json={"name": unique("Org ")}, headers=other.headers()
        )
    assert [r.status_code for r in first] == [201, 201], first[-1].text
    assert new_sign_in.status_code == 429
    assert web_form.status_code == 429
    assert someone_else.status_code == 201


async def test_invitations_are_capped_per_person_whatever_the_credential() -> None:
    async with limited_app(rate_limit_invitation="2/1h") as app:
        factory = Factory(app)
        org = await factory.org()
        owner = org.owner
        one = await factory.key(org.id, owner, "one")
        two = await factory.key(org.id, owner, "two")
        body = {"role": "member"}
        async with client(app, Authorization=f"Bearer {one}") as keyed:
            first = [await keyed.post("/api/orgs/invitations", json=body) for _ in range(2)]
        async with client(app, Authorization=f"Bearer {two}") as other_key:
            with_other_key = await other_key.post("/api/orgs/invitations", json=body)
        with_session = await owner.client.post(
            "/api/orgs/invitations", json=body, headers=owner.headers(org.id)
        )
        admin_org = await factory.org()
        someone_else = await admin_org.owner.client.post(
            "/api/orgs/invitations", json=body, headers=admin_org.owner.headers(admin_org.id)
        )
    assert [r.status_code for r in first] == [201, 201], first[-1].text
    assert with_other_key.status_code == 429
    assert with_session.status_code == 429
    assert someone_else.status_code == 201


async def test_key_minting_is_capped_per_person_and_org_by_every_way_of_minting() -> None:
    async with limited_app(rate_limit_api_key_mint="2/1h") as app:
        factory = Factory(app)
        org = await factory.org()
        owner = org.owner
        second_org = await factory.org(owner)
        api = await owner.client.post(
            "/api/api-keys", json={"name": "api"}, headers=owner.headers(org.id)
        )
        owner.client.cookies.set("projekt_org", str(org.id))
        web = await owner.client.post(
            f"{INTEGRATIONS}/keys", data={"name": "web", "csrf_token": owner.csrf}
        )
        fresh, csrf = await new_session(app, owner, "127.0.3.7")
        new_sign_in = await fresh.post(
            "/api/api-keys",
            json={"name": "again"},
            headers={"X-CSRF-Token": csrf, "X-Org-Id": str(org.id)},
        )
        await fresh.aclose()
        web_again = await owner.client.post(
            f"{INTEGRATIONS}/keys", data={"name": "web", "csrf_token": owner.csrf}
        )
        other_org = await owner.client.post(
            "/api/api-keys", json={"name": "there"}, headers=owner.headers(second_org.id)
        )
    assert api.status_code == 201, api.text
    assert web.status_code == 201, web.text
    assert new_sign_in.status_code == 429
    assert web_again.status_code == 429
    assert other_org.status_code == 201


# -- the declarations ----------------------------------------------------------------------------


def test_every_declared_bucket_names_a_route_of_the_app(app: FastAPI) -> None:
    names = {route.name for route in route_table(app)}
    assert set(policy.LIMITS) <= names, set(policy.LIMITS) - names
    for name in ("signup", "web_signup", "login", "web_login", "register_client", "token"):
        assert policy.LIMITS[name].key is Key.IP, name


def test_a_bucket_for_a_route_that_does_not_exist_stops_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(policy.LIMITS, "no_such_route", policy.SEARCH)
    with pytest.raises(ValueError, match="no_such_route"):
        create_app(make_settings(redis_prefix=f"rl-{uuid.uuid4().hex[:10]}"))
