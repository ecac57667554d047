"""Headers on every answer: nosniff, HSTS on https, and caching rules for signed-in callers."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, Factory, unique

BASE = "https://projekt.example.com"


async def test_nosniff_on_every_kind_of_answer(factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    async with factory.client() as c:
        answers = [
            await c.get("/healthz"),
            await c.get("/api/me"),  # 401
            await c.get("/api/nothing-here"),  # 404
            await c.delete("/healthz"),  # 405
            await c.get("/healthz", headers={"Host": "evil.example"}),  # 400
            await c.get("/healthz", headers={"X-Big": "a" * 65536}),  # 431
            await c.post("/api/auth/login", content=b"{"),  # 400 malformed
            await c.post("/api/auth/login", json={"email": 1}),  # 422
            await c.get("/app/login"),  # a page
            await c.get("/static/app.css"),
            await c.get("/api/me", headers={"Authorization": f"Bearer {token}"}),
        ]
    for response in answers:
        assert response.headers.get("x-content-type-options") == "nosniff", response.request.url
        assert "strict-transport-security" not in response.headers


async def test_signed_in_json_is_private_and_revalidated(factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    project = await factory.project(org)
    async with factory.client(Authorization=f"Bearer {token}") as c:
        read = await c.get(f"/api/projects/{project.id}")
        again = await c.get(
            f"/api/projects/{project.id}", headers={"If-None-Match": read.headers["etag"]}
        )
        write = await c.post("/api/issues", json={"project_id": str(project.id), "title": "t"})
        refused = await c.get("/api/issues/00000000-0000-4000-8000-000000000000")
    assert read.status_code == 200 and read.headers["cache-control"] == "private, no-cache"
    # Revalidation keeps working, and the 304 says the same about caching.
    assert again.status_code == 304 and again.headers["cache-control"] == "private, no-cache"
    assert write.status_code == 201
    expected = "private, no-cache" if "etag" in write.headers else "no-store"
    assert write.headers["cache-control"] == expected
    assert refused.status_code == 404 and refused.headers["cache-control"] == "no-store"


async def test_anonymous_public_answers_keep_their_own_caching(client: httpx.AsyncClient) -> None:
    assert "cache-control" not in (await client.get("/healthz")).headers
    assert (await client.get("/app/login")).headers["cache-control"] == "no-store"


@pytest.fixture
async def https_app(migrated: object) -> FastAPI:
    return create_app(make_settings(base_url=BASE))


async def test_hsts_on_https(https_app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=https_app), base_url=BASE) as c:
        for response in (await c.get("/healthz"), await c.get("/api/me")):
            assert response.headers["strict-transport-security"] == "max-age=31536000"
            assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_org_cookie_is_host_prefixed_and_secure_on_https(https_app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=https_app), base_url=BASE) as c:
        name = unique("hsts")
        signup = await c.post(
            "/api/auth/signup",
            json={"email": f"{name}@example.test", "password": PASSWORD, "name": name},
        )
        csrf = signup.json()["csrf_token"]
        created = await c.post("/app/orgs", data={"name": "Secure org", "csrf_token": csrf})
        assert created.status_code == 303, created.text
        cookie = next(
            v for v in created.headers.get_list("set-cookie") if v.startswith("__Host-projekt_org=")
        )
        assert "secure" in cookie.lower() and "path=/" in cookie.lower()
        assert "domain" not in cookie.lower()
        home = await c.get("/app")
        assert 'id="current-org"' in home.text  # the pages read the prefixed name back
