"""The SDK's own client, talking to the app in-process (the live-server tests use real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

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
