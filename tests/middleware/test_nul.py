"""U+0000 is refused at the edge, anonymously or not, before it reaches a database.

PostgreSQL cannot store NUL in text: each of these used to be a 500 there (issue 14.1). They run
on both legs; on PostgreSQL they are the regression test, on SQLite they pin the same contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.factories import PASSWORD, Factory, unique
from tests.middleware.raw import raw_request

TABLES = ("users", "web_sessions", "orgs", "projects", "issues", "oauth_clients", "api_keys")

Probe = Callable[[httpx.AsyncClient, dict[str, str], str], Awaitable[httpx.Response]]


async def _rows(app: FastAPI) -> dict[str, int]:
    async with app.state.services.db.read() as session:
        return {
            t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in TABLES
        }


def _json(method: str, url: str, body: dict[str, Any], *, signed: bool = True) -> Probe:
    async def probe(c: httpx.AsyncClient, headers: dict[str, str], project: str) -> httpx.Response:
        payload = {k: (project if v == "{project}" else v) for k, v in body.items()}
        return await c.request(method, url, json=payload, headers=headers if signed else {})

    return probe


def _form(url: str, body: dict[str, str]) -> Probe:
    async def probe(
        c: httpx.AsyncClient, _headers: dict[str, str], _project: str
    ) -> httpx.Response:
        return await c.post(url, data=body)

    return probe


def _get(url: str, *, signed: bool = True) -> Probe:
    async def probe(c: httpx.AsyncClient, headers: dict[str, str], _project: str) -> httpx.Response:
        return await c.get(url, headers=headers if signed else {})

    return probe


NUL = "\x00"
# name → (probe, expected status, the field the 422 names)
CASES: dict[str, tuple[Probe, int, str | None]] = {
    "login email": (
        _json(
            "POST",
            "/api/auth/login",
            {"email": f"a{NUL}@example.test", "password": PASSWORD},
            signed=False,
        ),
        422,
        "email",
    ),
    "signup name": (
        _json(
            "POST",
            "/api/auth/signup",
            {"email": "nul-signup@example.test", "password": PASSWORD, "name": f"N{NUL}"},
            signed=False,
        ),
        422,
        "name",
    ),
    "web signup name": (
        _form(
            "/app/signup",
            {"email": "nul-web@example.test", "password": PASSWORD, "name": f"N{NUL}"},
        ),
        400,
        None,
    ),
    "web login email": (
        _form("/app/login", {"email": f"x{NUL}@example.test", "password": "p"}),
        400,
        None,
    ),
    "oauth token client_id": (
        _form(
            "/oauth/token",
            {"grant_type": "authorization_code", "client_id": f"c{NUL}", "code": "x"},
        ),
        400,
        None,
    ),
    "oauth register client_name": (
        _json(
            "POST",
            "/oauth/register",
            {"client_name": f"C{NUL}", "redirect_uris": ["https://claude.ai/cb"]},
            signed=False,
        ),
        400,
        "client_name",
    ),
    "oauth authorize client_id": (
        _get("/oauth/authorize?client_id=c%00&response_type=code", signed=False),
        400,
        None,
    ),
    "issue title": (
        _json("POST", "/api/issues", {"project_id": "{project}", "title": f"T{NUL}"}),
        422,
        "title",
    ),
    "issue labels": (
        _json(
            "POST",
            "/api/issues",
            {"project_id": "{project}", "title": "T", "labels": ["ok", f"b{NUL}"]},
        ),
        422,
        "labels.1",
    ),
    "a key with NUL": (
        _json("POST", "/api/issues", {"project_id": "{project}", "title": "T", f"x{NUL}": 1}),
        422,
        "x",
    ),
    "q": (_get("/api/issues?q=%00"), 400, None),
    "project name": (
        _json("POST", "/api/projects", {"key": "NUL", "name": f"P{NUL}"}),
        422,
        "name",
    ),
    "path": (_get("/api/issues/WEB-%00"), 400, None),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_nul_is_refused_and_nothing_is_created(
    app: FastAPI, factory: Factory, case: str
) -> None:
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    probe, status, field = CASES[case]
    before = await _rows(app)
    async with factory.client() as c:
        response = await probe(c, {"Authorization": f"Bearer {token}"}, str(project.id))
    assert response.status_code == status, response.text
    body = response.json()
    if case.startswith("oauth token") or case.startswith("oauth register"):
        # The authorization server's clients read RFC 6749 / RFC 7591 errors.
        assert body["error"] in ("invalid_request", "invalid_client_metadata")
        assert "NUL" in body["error_description"]
        assert field is None or field in body["error_description"]
    elif status == 422:
        assert body["code"] == "validation_failed"
        assert field in body["errors"], body
    else:
        assert body["code"] == "nul_character"
    assert await _rows(app) == before


async def test_nul_in_a_header_is_refused(app: FastAPI) -> None:
    headers = [(b"host", b"testserver"), (b"x-org-id", b"\x00")]
    status, body = await raw_request(app, "/api/me", headers)
    assert status == 400
    assert b"X-Org-Id header" in body


async def test_an_escaped_backslash_is_not_nul(factory: Factory) -> None:
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    title = "C:\\u0000 is just text"
    async with factory.client(Authorization=f"Bearer {token}") as c:
        created = await c.post("/api/issues", json={"project_id": str(project.id), "title": title})
    assert created.status_code == 201, created.text
    assert created.json()["title"] == title


async def test_a_form_without_nul_still_reaches_the_route(client: httpx.AsyncClient) -> None:
    name = unique("Form")
    response = await client.post(
        "/app/signup",
        data={
            "email": f"{name.lower()}@example.test",
            "password": PASSWORD,
            "name": f"{name} 100%00",
        },
    )
    # "%00" typed as text arrives percent-encoded as %2500: not a NUL.
    assert response.status_code == 303, response.text


async def test_multipart_fields_are_checked_too(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/app/login",
        files={"email": (None, f"m{NUL}@example.test"), "password": (None, "x")},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "nul_character"


async def test_a_second_content_type_cannot_hide_a_nul(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The app parses by the first Content-Type; a check reading the last one was skipped."""
    before = await _rows(app)
    name = unique("Two")
    email = f"{name.lower()}@example.test"
    body = orjson.dumps({"email": email, "password": PASSWORD, "name": "N\u0000x"})
    response = await client.post(
        "/api/auth/signup",
        content=body,
        headers=[("content-type", "application/json"), ("content-type", "text/plain")],
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_content_type"
    assert await _rows(app) == before
