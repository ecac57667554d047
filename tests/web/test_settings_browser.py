"""Organization → Settings in a real headless Chromium, role by role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import PASSWORD, unique

pytestmark = pytest.mark.browser

GENERAL = "/app/organization/settings/general"
PEOPLE = "/app/organization/settings/people"


async def _signup(page: Any, base: str, name: str) -> str:
    email = f"{unique('set')}@example.test"
    await page.goto(f"{base}/app/signup")
    await page.fill("#name", name)
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#signup")
    await page.wait_for_url(f"{base}/app")
    return email


async def _sign_in_again(page: Any, base: str, email: str) -> None:
    await page.click("#sign-out")
    await page.wait_for_url(f"{base}/app/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login")
    await page.wait_for_url(f"{base}/app")


async def test_owner_runs_the_org_and_a_member_sees_no_admin_page(
    live_server: str, browser: Any
) -> None:
    owner_ctx = await browser.new_context()
    owner = await owner_ctx.new_page()
    errors: list[str] = []
    # The page that shows the last-owner message answers 409, which Chromium logs; nothing else.
    owner.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "409" not in m.text else None,
    )
    email = await _signup(owner, live_server, "Olga Owner")
    await owner.fill("#org-name", "Settings Org")
    await owner.click("#create-org")
    await owner.wait_for_selector("#current-org")
    # A fresh sign-in with one org: it is current, and its settings are one click away.
    await owner_ctx.clear_cookies()
    await owner.goto(f"{live_server}/app/login")
    await owner.fill("#email", email)
    await owner.fill("#password", PASSWORD)
    await owner.click("#login")
    await owner.wait_for_url(f"{live_server}/app")
    assert "Settings Org" in await owner.inner_text("#current-org")
    await owner.click("#settings-link")
    await owner.wait_for_url(f"{live_server}{GENERAL}")
    assert await owner.input_value("#org-settings-name") == "Settings Org"
    assert "Olga Owner" in await owner.inner_text("#header-name")

    # Invite: pick the role, then Enter in a field submits the form (no mouse needed).
    await owner.click("#nav-people")
    await owner.wait_for_url(f"{live_server}{PEOPLE}")
    await owner.select_option("#invite-role", "member")
    await owner.focus("#invite-email")
    await owner.keyboard.press("Enter")
    await owner.wait_for_selector("#new-invitation")
    link = (await owner.inner_text("#join-link-value")).strip()
    assert "/app/join?code=" in link
    assert await owner.query_selector("#invitations") is not None

    member_ctx = await browser.new_context()
    member = await member_ctx.new_page()
    await _signup(member, live_server, "Max Member")
    await member.goto(link)
    await member.click("#join")
    await member.wait_for_url(f"{live_server}/app")
    assert "Settings Org" in await member.inner_text("#current-org")
    assert await member.query_selector("#settings-link") is None
    assert await member.query_selector("#nav-people") is None
    for path in (GENERAL, PEOPLE):
        response = await member.goto(f"{live_server}{path}")
        assert response.status == 403
        assert "only admins and owners" in await member.inner_text("#error")
        assert await member.query_selector("#sign-out") is not None
    await member.click("#nav-integrations")
    assert await member.query_selector("#all-keys-note") is None

    # The owner sees the newcomer, promotes them, and the last-owner rule is a message.
    await owner.goto(f"{live_server}{PEOPLE}")
    row = owner.locator("#roster tr", has_text="Max Member")
    await row.locator("select").select_option("admin")
    await row.locator("button.change-role").click()
    await owner.wait_for_url(f"{live_server}{PEOPLE}")
    assert await row.locator("select").input_value() == "admin"
    mine = owner.locator("#roster tr", has_text="Olga Owner")
    await mine.locator("select").select_option("viewer")
    await mine.locator("button.change-role").click()
    await owner.wait_for_selector("#error")
    assert "last owner" in await owner.inner_text("#error")
    assert await owner.query_selector("#roster") is not None

    # Now an admin, the member reaches People.
    response = await member.goto(f"{live_server}{PEOPLE}")
    assert response.status == 200
    assert "Olga Owner" in await member.inner_text("#roster")

    # Revoke the used invitation's sibling: a second, pending one.
    await owner.select_option("#invite-role", "viewer")
    await owner.click("#invite")
    await owner.wait_for_selector("#new-invitation")
    owner.once("dialog", lambda dialog: dialog.accept())
    await owner.click("#invitations button.revoke-invitation")
    await owner.wait_for_selector("#no-invitations")
    assert errors == []
    await owner_ctx.close()
    await member_ctx.close()


async def test_admin_sees_every_key_and_owner_deletes_with_typed_confirmation(
    live_server: str, browser: Any
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await _signup(page, live_server, "Dana Deleter")
    await page.fill("#org-name", "Doomed Org")
    await page.click("#create-org")
    await page.wait_for_selector("#current-org")
    await page.click("#integrations-link")
    assert await page.query_selector("#header-name") is not None  # the header stays
    await page.fill("#key-name", "deploy bot")
    await page.click("#create-key")
    await page.wait_for_selector("#new-token")
    assert await page.query_selector("#all-keys-note") is not None
    assert "Dana Deleter" in await page.inner_text("#key-table .key-owner")
    await page.click("#nav-general")
    slug = await page.input_value("#org-settings-slug")
    await page.fill("#delete-confirm", "not the slug")
    await page.click("#delete-org")
    await page.wait_for_selector("#error")
    assert slug in await page.inner_text("#error")
    await page.fill("#delete-confirm", slug)
    await page.click("#delete-org")
    await page.wait_for_url(f"{live_server}/app")
    assert "not in any organization" in await page.content()
    await context.close()
