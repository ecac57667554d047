"""The whole OAuth dance as a real client does it: authlib's OAuth client, headless Chromium on
the real sign-in and consent pages, PKCE, then the API, a refresh and a revocation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser
CALLBACK = "http://127.0.0.1:59999/callback"  # nothing listens there; the page intercepts it
# The app under test is configured with this base URL: the issuer and the API resource.
RESOURCE = "http://testserver/api"


async def test_agent_connects_over_oauth(live_server: str, browser: Any, factory: Factory) -> None:
    org = await factory.org()
    await factory.org(owner=org.owner)  # a second org, which the agent must not see
    person = org.owner
    async with httpx.AsyncClient(base_url=live_server) as http:
        registered = (
            await http.post(
                "/oauth/register",
                json={"client_name": "Claude", "redirect_uris": ["http://127.0.0.1/callback"]},
            )
        ).json()
    client = AsyncOAuth2Client(
        client_id=registered["client_id"],
        token_endpoint_auth_method="none",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=verifier, resource=RESOURCE
    )

    context = await browser.new_context()
    page = await context.new_page()
    landed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def capture(route: Any) -> None:
        if not landed.done():
            landed.set_result(route.request.url)
        await route.fulfill(status=200, body="ok")

    await page.route("http://127.0.0.1:59999/**", capture)
    await page.goto(url)
    await page.fill("#email", person.email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_selector("#consent")
    assert "127.0.0.1:59999" in await page.inner_text("#redirect-host")
    await page.select_option("#org-select", str(org.id))
    await page.click("#approve")
    callback = await asyncio.wait_for(landed, 15)
    await context.close()

    token = await client.fetch_token(
        f"{live_server}/oauth/token",
        authorization_response=callback,
        code_verifier=verifier,
        resource=RESOURCE,
    )
    assert token["access_token"].startswith("pjo_at_")
    assert f"state={state}" in callback
    me_orgs = (await client.get(f"{live_server}/api/me/orgs")).json()
    assert [o["org_id"] for o in me_orgs["orgs"]] == [str(org.id)]

    refreshed = await client.refresh_token(f"{live_server}/oauth/token")
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert (await client.get(f"{live_server}/api/me")).status_code == 200

    revoked = await client.revoke_token(
        f"{live_server}/oauth/revoke", token=refreshed["refresh_token"]
    )
    assert revoked.status_code == 200
    assert (await client.get(f"{live_server}/api/me")).status_code == 401
    await client.aclose()
