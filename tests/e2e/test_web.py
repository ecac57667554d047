"""Real headless Chromium on the real pages: sign up, orgs, and the Integraciones page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, unique

pytestmark = pytest.mark.browser


async def _signup(page: Any, base: str) -> str:
    email = f"{unique('web')}@example.test"
    await page.goto(f"{base}/app/signup")
    await page.fill("#name", "Web Person")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#signup")
    await page.wait_for_url(f"{base}/app")
    return email


async def _create_org(page: Any, name: str) -> None:
    await page.fill("#org-name", name)
    await page.click("#create-org")
    await page.wait_for_selector("#current-org")


async def test_sign_up_create_switch_and_sign_out(live_server: str, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    email = await _signup(page, live_server)
    assert "not in any organization" in await page.content()
    await _create_org(page, "Browser Org One")
    assert "Browser Org One" in await page.inner_text("#current-org")
    await _create_org(page, "Browser Org Two")
    assert "Browser Org Two" in await page.inner_text("#current-org")
    await page.click("#org-list li:has-text('Browser Org One') button")
    await page.wait_for_selector("#current-org:has-text('Browser Org One')")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["projekt_session"]["httpOnly"] is True
    await page.click("#sign-out")
    await page.wait_for_url(f"{live_server}/app/login")
    await page.goto(f"{live_server}/app")
    assert page.url == f"{live_server}/app/login"
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_url(f"{live_server}/app")
    assert "Browser Org Two" in await page.inner_text("#org-list")
    await context.close()


async def test_integraciones_mint_use_revoke(live_server: str, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await _signup(page, live_server)
    await _create_org(page, "Keys Org")
    await page.click("#integrations-link")
    await page.fill("#key-name", "Claude desktop")
    await page.click("#create-key")
    await page.wait_for_selector("#new-token")
    assert "will not be shown again" in await page.inner_text("#new-token")
    token = (await page.inner_text("#token-value")).strip()
    assert token.startswith("pjk_live_")
    async with httpx.AsyncClient(base_url=live_server) as http:
        me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        await page.goto(f"{live_server}/app/organization/settings/general/integraciones")
        assert token not in await page.content()  # shown exactly once
        assert token[-4:] in await page.inner_text("#key-table")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("#key-table button.revoke")
        await page.wait_for_selector("#no-keys")
        after = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 401
    await context.close()


async def test_member_sees_why_they_cannot_mint(live_server: str, browser: Any) -> None:
    owner_ctx = await browser.new_context()
    owner = await owner_ctx.new_page()
    await _signup(owner, live_server)
    await _create_org(owner, "Invite Org")
    csrf = next(c["value"] for c in await owner_ctx.cookies() if c["name"] == "projekt_csrf")
    org_id = next(c["value"] for c in await owner_ctx.cookies() if c["name"] == "projekt_org")
    invite = await owner.request.post(
        f"{live_server}/api/orgs/invitations",
        data={"role": "member"},
        headers={"X-CSRF-Token": csrf, "X-Org-Id": org_id},
    )
    assert invite.status == 201
    code = (await invite.json())["code"]
    member_ctx = await browser.new_context()
    member = await member_ctx.new_page()
    await _signup(member, live_server)
    member_csrf = next(
        c["value"] for c in await member_ctx.cookies() if c["name"] == "projekt_csrf"
    )
    joined = await member.request.post(
        f"{live_server}/api/orgs/join", data={"code": code}, headers={"X-CSRF-Token": member_csrf}
    )
    assert joined.status == 200
    await member.goto(f"{live_server}/app")
    # Their only org is current at once (issue 20): no "Switch" first.
    assert "Invite Org" in await member.inner_text("#current-org")
    await member.click("#integrations-link")
    message = await member.inner_text("#cannot-mint")
    assert "member" in message
    assert await member.query_selector("#create-key") is None
    await owner_ctx.close()
    await member_ctx.close()
