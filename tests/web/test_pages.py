"""The server-rendered pages without a browser: redirects, CSRF, framing, no token leaks."""

from __future__ import annotations

import httpx
import pytest

from projekt.core.context import Role
from tests.factories import Factory

INTEGRATIONS = "/app/organization/settings/general/integraciones"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/app"),
        ("GET", INTEGRATIONS),
        ("POST", "/app/orgs"),
        ("POST", "/app/switch"),
        ("POST", "/app/logout"),
        ("POST", f"{INTEGRATIONS}/keys"),
        ("POST", f"{INTEGRATIONS}/keys/00000000-0000-4000-8000-000000000000/revoke"),
    ],
)
async def test_signed_out_visitors_go_to_sign_in(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, data={"name": "x", "org_id": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login"


async def test_a_key_is_not_a_web_session(factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as keyed:
        response = await keyed.get("/app")
    assert response.status_code == 303


async def test_forms_need_the_csrf_token(factory: Factory) -> None:
    person = await factory.person()
    forged = await person.client.post("/app/orgs", data={"name": "Forged"})
    assert forged.status_code == 403
    ok = await person.client.post("/app/orgs", data={"name": "Real", "csrf_token": person.csrf})
    assert ok.status_code == 303
    assert "projekt_org" in ok.headers["set-cookie"]


async def test_pages_cannot_be_framed_and_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/app/login")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


async def test_bad_sign_in_shows_an_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/app/login", data={"email": "nobody@example.test", "password": "wrong password"}
    )
    assert response.status_code == 401
    assert "incorrect" in response.text


async def test_viewer_cannot_mint_through_the_form(factory: Factory) -> None:
    org = await factory.org(roles=(Role.VIEWER,))
    viewer = org.members[Role.VIEWER]
    viewer.client.cookies.set("projekt_org", str(org.id))
    page = await viewer.client.get(INTEGRATIONS)
    assert "cannot-mint" in page.text
    response = await viewer.client.post(
        f"{INTEGRATIONS}/keys", data={"name": "sneaky", "csrf_token": viewer.csrf}
    )
    assert response.status_code == 403
    assert "pjk_live_" not in response.text


async def test_static_assets_are_local(client: httpx.AsyncClient) -> None:
    page = await client.get("/app/login")
    assert "http://" not in page.text.replace("http://testserver", "")
    assert "https://" not in page.text
    assert (await client.get("/static/app.js")).status_code == 200
