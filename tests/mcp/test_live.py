"""An agent host connecting by URL, as Claude or VS Code do: the SDK's own OAuth client and
Streamable HTTP client against a live server, the sign-in and consent pages in Chromium.

Discovery starts from the 401 of /mcp; the client registers itself (dynamic registration, then
on a second run a Client ID Metadata Document this test serves over https on loopback), runs
the authorization code flow with PKCE, lists the tools and creates an issue that REST then
shows."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import PASSWORD, Factory, Org
from tests.oauth.tls_server import Documents, tls_server

pytestmark = pytest.mark.browser
CALLBACK = "http://127.0.0.1:59998/callback"  # nothing listens: the page intercepts it


@dataclass
class Live:
    base: str
    app: FastAPI
    documents: Documents


@pytest.fixture
async def live(migrated: object, tmp_path: Path) -> AsyncIterator[Live]:
    """An app whose base URL is its real loopback address (the client follows the metadata),
    trusting the test's https server for metadata documents."""
    async with tls_server(tmp_path) as documents:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        settings = make_settings(
            base_url=base,
            allowed_hosts=["127.0.0.1", "testserver"],  # the factory speaks ASGI
            oauth_cimd_allow_private=True,
            oauth_cimd_ca_file=documents.ca_file,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.02)
            yield Live(base, app, documents)
            server.should_exit = True
            await task


class Memory:
    """The host's token storage."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def connect_as_a_host(
    live: Live, browser: Any, org: Org, client_metadata_url: str | None = None
) -> tuple[list[str], dict[str, Any], Memory, list[str]]:
    """Everything a host does: returns the tool names, a created issue, storage, and the
    pages the person saw."""
    person = org.owner
    landed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def sign_in_and_consent(url: str) -> None:
        context = await browser.new_context()
        page = await context.new_page()

        async def capture(route: Any) -> None:
            if not landed.done():
                landed.set_result(route.request.url)
            await route.fulfill(status=200, body="ok")

        await page.route("http://127.0.0.1:59998/**", capture)
        await page.goto(url)
        await page.fill("#email", person.email)
        await page.fill("#password", PASSWORD)
        await page.click("#login")
        await page.wait_for_selector("#consent")
        seen.append(await page.inner_text("body"))
        await page.select_option("#org-select", str(org.id))
        await page.click("#approve")
        await asyncio.wait_for(asyncio.shield(landed), 15)
        await context.close()

    async def callback() -> AuthorizationCodeResult:
        query = parse_qs(urlsplit(await landed).query)
        return AuthorizationCodeResult(
            code=query["code"][0], state=query["state"][0], iss=query["iss"][0]
        )

    storage = Memory()
    auth = OAuthClientProvider(
        server_url=f"{live.base}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Test host",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=sign_in_and_consent,
        callback_handler=callback,
        client_metadata_url=client_metadata_url,
    )
    project_id = await project_of(live, org)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        Client(streamable_http_client(f"{live.base}/mcp", http_client=http)) as mcp,
    ):
        names = [tool.name for tool in (await mcp.list_tools()).tools]
        created = await mcp.call_tool(
            "create_issue", {"project_id": project_id, "title": "Filed by an agent"}
        )
    assert not created.is_error, created.content
    return names, dict(created.structured_content or {}), storage, seen


async def project_of(live: Live, org: Org) -> str:
    project = await Factory(live.app).project(org)
    return str(project.id)


async def test_a_host_connects_by_url_with_dynamic_registration(live: Live, browser: Any) -> None:
    org = await Factory(live.app).org()
    async with httpx.AsyncClient(base_url=live.base) as http:
        challenge = await http.post("/mcp", json={})
    assert challenge.status_code == 401
    assert (
        f"{live.base}/.well-known/oauth-protected-resource/mcp"
        in (challenge.headers["www-authenticate"])
    )

    names, issue, storage, seen = await connect_as_a_host(live, browser, org)
    assert {"create_issue", "list_issues", "transition_issue", "search_people"} <= set(names)
    assert storage.client is not None and storage.client.client_id.startswith("pjc_")
    assert "Test host" in seen[0]
    assert storage.tokens is not None
    token = storage.tokens.access_token
    async with httpx.AsyncClient(
        base_url=live.base, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        # The /mcp token does not open the REST API ...
        assert (await http.get(f"/api/issues/{issue['key']}")).status_code == 401
    key = await Factory(live.app).key(org.id, org.owner)
    async with httpx.AsyncClient(
        base_url=live.base, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        # ... but the issue is there for REST, written as the person, by an OAuth credential.
        shown = (await http.get(f"/api/issues/{issue['key']}")).json()
        activity = (await http.get(f"/api/issues/{issue['key']}/activity")).json()
    assert shown["title"] == "Filed by an agent"
    assert shown["reporter_id"] == str(org.owner.user_id)
    assert activity[0]["credential_kind"] == "oauth"


async def test_a_host_connects_with_a_client_id_metadata_document(live: Live, browser: Any) -> None:
    org = await Factory(live.app).org()
    url = live.documents.base + "/host/client.json"
    live.documents.publish(
        "/host/client.json",
        {
            "client_id": url,
            "client_name": "Metadata host",
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    names, issue, storage, seen = await connect_as_a_host(live, browser, org, url)
    assert "create_issue" in names and issue["title"] == "Filed by an agent"
    assert storage.client is not None and storage.client.client_id == url  # no registration
    assert "Metadata host (127.0.0.1)" in seen[0]
    assert live.documents.fetches["/host/client.json"] >= 1
