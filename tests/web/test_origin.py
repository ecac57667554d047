"""Login CSRF and its kin: every web form refuses a post from another site (issue 14.12)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from projekt.core.routes import route_table
from tests.factories import PASSWORD, Factory
from tests.middleware.test_methods import concrete

CROSS_SITE = [
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.testserver"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "https://testserver"},  # another scheme is another origin
]


def form_routes(app: FastAPI) -> list[str]:
    """Every unsafe web form: the pages under /app and the OAuth consent decision."""
    paths = [
        concrete(r.path)
        for r in route_table(app)
        if r.methods & {"POST", "PUT", "PATCH", "DELETE"}
        and (r.path.startswith("/app") or r.path == "/oauth/authorize")
    ]
    assert len(paths) >= 7
    return paths


@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_every_web_form_refuses_cross_site_posts(
    app: FastAPI, factory: Factory, headers: dict[str, str]
) -> None:
    person = await factory.person()
    for path in form_routes(app):
        for c in (person.client, factory.client()):  # signed in, and before signing in
            response = await c.post(
                path, data={"csrf_token": person.csrf, "name": "x"}, headers=headers
            )
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "cross_site"


async def test_a_cross_site_login_signs_nobody_in(factory: Factory) -> None:
    person = await factory.person()
    async with factory.client() as victim:
        response = await victim.post(
            "/app/login",
            data={"email": person.email, "password": PASSWORD},
            headers=CROSS_SITE[0],
        )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin"},  # same-origin without Origin
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the person
        {"Origin": "http://testserver"},  # an older browser: Origin only
        {},  # not a browser's form post at all
    ],
)
async def test_our_own_pages_sign_in(factory: Factory, headers: dict[str, str]) -> None:
    person = await factory.person()
    async with factory.client() as c:
        response = await c.post(
            "/app/login", data={"email": person.email, "password": PASSWORD}, headers=headers
        )
    assert response.status_code == 303, response.text
    assert "projekt_session=" in response.headers["set-cookie"]


async def test_the_machine_endpoints_take_cross_origin_calls(client: httpx.AsyncClient) -> None:
    # Browser-based OAuth clients register and redeem codes from their own origin.
    response = await client.post(
        "/oauth/register",
        json={"client_name": "SPA", "redirect_uris": ["https://spa.example/cb"]},
        headers=CROSS_SITE[0],
    )
    assert response.status_code == 201, response.text
