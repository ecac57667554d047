"""The edge: host names we answer for, no redirects built from Host, a bounded request head."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import Factory
from tests.middleware.raw import raw_request


async def test_a_trailing_slash_is_not_redirected_to_the_callers_host(factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    url = "/api/issues/00000000-0000-4000-8000-000000000000/"
    async with factory.client() as anonymous, factory.client(Authorization=f"Bearer {token}") as c:
        answers = [
            await anonymous.get(url, headers={"Host": "localhost"}),
            await c.get(url),
            await c.get("/api/me/"),
        ]
    for response in answers:
        assert response.status_code == 404, response.text
        assert "location" not in response.headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "testserver.evil.example"])
async def test_foreign_hosts_are_refused_before_anything_else(
    client: httpx.AsyncClient, host: str
) -> None:
    response = await client.get(
        "/api/issues/00000000-0000-4000-8000-000000000000/", headers={"Host": host}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_host"
    assert "location" not in response.headers
    assert "evil" not in response.text


@pytest.mark.parametrize(
    "host", ["testserver", "TestServer:80", "localhost:8000", "127.0.0.1", "[::1]:8000"]
)
async def test_our_names_and_loopback_are_answered(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/healthz", headers={"Host": host})
    assert response.status_code == 200


async def test_the_base_urls_host_is_answered_and_others_are_not(migrated: object) -> None:
    app = create_app(make_settings(base_url="https://projekt.example.com", allowed_hosts=[]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://projekt.example.com") as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/healthz", headers={"Host": "testserver"})).status_code == 400


async def test_any_host_when_configured(migrated: object) -> None:
    app = create_app(make_settings(allowed_hosts=["*"]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a.example"
    ) as c:
        assert (await c.get("/healthz")).status_code == 200


async def test_two_host_headers_are_refused(app: FastAPI) -> None:
    status, _ = await raw_request(
        app, "/healthz", [(b"host", b"testserver"), (b"host", b"evil.example")]
    )
    assert status == 400


async def test_a_request_head_over_the_limit_is_431(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Big": "a" * 65536})
    assert response.status_code == 431
    assert response.json()["code"] == "headers_too_large"
    assert (await client.get("/healthz", headers={"X-Fine": "a" * 8000})).status_code == 200
    # The OAuth machine endpoints answer in RFC 6749's format, with the same status.
    token = await client.post("/oauth/token", data={"x": "y"}, headers={"X-Big": "a" * 65536})
    assert token.status_code == 431
    assert token.json()["error"] == "invalid_request"
