"""The platform's promises: envelope on every error status, request ids, limits, health."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from projekt.core.errors import AppError
from tests.conftest import make_settings
from tests.factories import Factory


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def _is_envelope(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["code"], str) and body["code"]
    if code:
        assert body["code"] == code
    assert response.headers["x-request-id"]


async def test_unknown_path_is_404_envelope(client: httpx.AsyncClient) -> None:
    _is_envelope(await client.get("/api/nothing-here"), 404, "not_found")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/me")
    _is_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    _is_envelope(response, 400, "malformed_json")


async def test_validation_is_422_with_field_map(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/signup", json={"email": "a@b.co", "extra": 1})
    _is_envelope(response, 422, "validation_failed")
    errors = response.json()["errors"]
    assert errors["password"] == ["The password field is required"]
    assert errors["name"] == ["The name field is required"]
    assert errors["extra"] == ["The extra field is not allowed"]


async def test_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    response = await client.post(
        "/api/auth/login", content=big, headers={"content-type": "application/json"}
    )
    _is_envelope(response, 413, "payload_too_large")


async def test_chunked_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    response = await client.post(
        "/api/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    _is_envelope(response, 413, "payload_too_large")


async def test_request_id_is_echoed_when_well_formed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "client-abc-12345"})
    assert response.headers["x-request-id"] == "client-abc-12345"
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert response.headers["x-request-id"] != "bad id\twith junk"


async def test_unexpected_error_is_generic_500(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "kaboom secret detail"

    async def boom() -> None:
        raise RuntimeError(secret_text)

    app.state.policy["test_boom"] = app.state.policy["healthz"]
    app.add_api_route("/test-boom", boom, name="test_boom")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as c:
            response = await c.get("/test-boom")
    finally:
        app.router.routes.pop()
        del app.state.policy["test_boom"]
    _is_envelope(response, 500, "internal_error")
    assert secret_text not in response.text
    rid = response.headers["x-request-id"]
    assert any(rid in r.getMessage() for r in caplog.records)


async def test_database_unreachable_is_503() -> None:
    from projekt.main import create_app

    if make_settings().is_sqlite:
        url = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}"  # a folder: SQLite cannot open it
        settings = make_settings(database_url=url)
    else:
        settings = make_settings(
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none", db_connect_timeout_s=1
        )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as c:
        login = await c.post("/api/auth/login", json={"email": "a@b.co", "password": "x" * 12})
        keyed = await c.get("/api/me", headers={"Authorization": "Bearer pjk_live_" + "A" * 32})
        ready = await c.get("/readyz")
    for response in (login, keyed, ready):
        _is_envelope(response, 503)
        assert response.headers["retry-after"]


def test_app_error_defaults() -> None:
    error = AppError()
    assert error.status == 500 and error.code == "internal_error"


async def test_every_error_status_uses_the_envelope(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """401, 403 and 409 on real routes; the others are covered above."""
    _is_envelope(await client.get("/api/me"), 401, "unauthorized")
    person = await factory.person()
    _is_envelope(await person.client.get("/api/team"), 400, "org_required")
    org = await factory.org()
    _is_envelope(await person.client.get("/api/team", headers=person.headers(org.id)), 403)
    again = await client.post(
        "/api/auth/signup", json={"email": person.email, "password": "x" * 12, "name": "n"}
    )
    _is_envelope(again, 409, "email_taken")
