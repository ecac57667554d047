"""The SDK's own client, talking to the app in-process (the live-server tests use real HTTP)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import browser  # the live tests' Chromium
from tests.factories import Org, Person

__all__ = ["browser"]

MCP_URL = "http://testserver/mcp"
Connect = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def mcp_client(app: FastAPI) -> Connect:
    """``async with mcp_client(token) as client``: an MCP session with that bearer token."""

    @asynccontextmanager
    async def connect(token: str, *, mode: str = "auto", **headers: str) -> AsyncIterator[Client]:
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app),
            headers={"Authorization": f"Bearer {token}", **headers},
        )
        async with (
            http,
            Client(
                streamable_http_client(MCP_URL, http_client=http),
                mode=mode,
            ) as client,
        ):
            yield client

    return connect


async def oauth_token(client: httpx.AsyncClient, person: Person, org: Org, resource: str) -> str:
    """An access token for ``resource`` through the real flow: registration, consent, PKCE."""
    redirect = "http://127.0.0.1/callback"
    registered = await client.post(
        "/oauth/register", json={"client_name": "Agent", "redirect_uris": [redirect]}
    )
    client_id = registered.json()["client_id"]
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
        "state": "s",
        "resource": resource,
    }
    page = await person.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {**params, "csrf_token": person.csrf, "org_id": str(org.id), "decision": "approve"}
    answer = await person.client.post("/oauth/authorize", data=form)
    assert answer.status_code == 303, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": resource,
        },
    )
    assert token.status_code == 200, token.text
    access: str = token.json()["access_token"]
    return access
