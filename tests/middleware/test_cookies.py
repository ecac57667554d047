"""One cookie parser: identity and the CSRF check read the same session, and a second is refused."""

from __future__ import annotations

from fastapi import FastAPI

from projekt.main import create_app
from tests.conftest import client_for, make_settings
from tests.factories import Factory


async def test_two_session_cookies_are_refused(factory: Factory) -> None:
    victim = await factory.person()
    planted = await factory.person()
    victim_session = victim.client.cookies.get("projekt_session")
    planted_session = planted.client.cookies.get("projekt_session")
    # A planted cookie first, the victim's own last: one parser took the first, the other the
    # last, so this ran as the planted person with the victim's CSRF token.
    cookie = f"projekt_session={planted_session}; projekt_session={victim_session}"
    async with factory.client(Cookie=cookie) as c:
        write = await c.post(
            "/api/orgs", json={"name": "Planted"}, headers={"X-CSRF-Token": victim.csrf}
        )
        read = await c.get("/api/me")
    for response in (write, read):
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "ambiguous_session_cookie"


async def test_one_session_cookie_among_others_is_read(factory: Factory) -> None:
    person = await factory.person()
    session = person.client.cookies.get("projekt_session")
    cookie = f"theme=dark; projekt_session={session}; projekt_sessionx=1; lang=es"
    async with factory.client(Cookie=cookie) as c:
        me = await c.get("/api/me")
    assert me.status_code == 200
    assert me.json()["id"] == str(person.user_id)


async def test_the_host_prefixed_session_cookie_twice_is_refused(migrated: object) -> None:
    app: FastAPI = create_app(make_settings(base_url="https://projekt.example.com"))
    async with client_for(app, Cookie="__Host-projekt_session=a; __Host-projekt_session=b") as c:
        response = await c.get("/api/me")
    assert response.status_code == 400
    assert response.json()["code"] == "ambiguous_session_cookie"


async def test_two_cookie_headers_are_refused_whatever_they_carry(factory: Factory) -> None:
    """The CSRF check and the pages read the first Cookie header: a session in the second
    one, beside a planted first, would be read by identity only."""
    person = await factory.person()
    headers = [
        ("Cookie", "projekt_org=00000000-0000-4000-8000-000000000000"),
        ("Cookie", f"projekt_session={person.client.cookies.get('projekt_session')}"),
    ]
    async with factory.client() as c:
        response = await c.get("/api/me", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "ambiguous_session_cookie"


async def test_a_session_cookie_in_each_of_two_cookie_headers_is_refused(factory: Factory) -> None:
    first = await factory.person()
    second = await factory.person()
    headers = [
        ("Cookie", f"projekt_session={first.client.cookies.get('projekt_session')}"),
        ("Cookie", f"projekt_session={second.client.cookies.get('projekt_session')}"),
    ]
    async with factory.client() as c:
        response = await c.get("/api/me", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "ambiguous_session_cookie"
