"""Organization → Settings → Audit in a real headless Chromium: filters and paging."""

from __future__ import annotations

from typing import Any

import pytest

from projekt.web.router import AUDIT_PAGE_SIZE
from tests.factories import PASSWORD, unique

pytestmark = pytest.mark.browser

AUDIT = "/app/organization/settings/audit"
PEOPLE = "/app/organization/settings/people"


async def _signup(page: Any, base: str, name: str) -> None:
    await page.goto(f"{base}/app/signup")
    await page.fill("#name", name)
    await page.fill("#email", f"{unique('aud')}@example.test")
    await page.fill("#password", PASSWORD)
    await page.click("#signup")
    await page.wait_for_url(f"{base}/app")


async def _rows(page: Any) -> list[tuple[int, str]]:
    """(seq, type) of the rows on the page, top to bottom."""
    rows = page.locator("#audit-table tr.audit-row")
    found = []
    for n in range(await rows.count()):
        row = rows.nth(n)
        found.append(
            (int(await row.get_attribute("data-seq")), await row.get_attribute("data-type"))
        )
    return found


async def test_admin_filters_the_record_by_person_key_and_type_and_pages(
    live_server: str, browser: Any
) -> None:
    owner_ctx = await browser.new_context()
    owner = await owner_ctx.new_page()
    errors: list[str] = []
    owner.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await _signup(owner, live_server, "Ada Auditor")
    await owner.fill("#org-name", "Audit Org")
    await owner.click("#create-org")
    await owner.wait_for_selector("#current-org")

    # A key for a bot, shown once; its writes are the bulk of the record.
    await owner.click("#integrations-link")
    await owner.fill("#key-name", "audit bot")
    await owner.click("#create-key")
    await owner.wait_for_selector("#new-token")
    token = (await owner.inner_text("#token-value")).strip()
    bot = {"Authorization": f"Bearer {token}"}
    project = await owner_ctx.request.post(
        f"{live_server}/api/projects", headers=bot, data={"key": "AUD", "name": "Audited"}
    )
    assert project.status == 201, await project.text()
    project_id = (await project.json())["id"]
    for n in range(AUDIT_PAGE_SIZE + 2):
        made = await owner_ctx.request.post(
            f"{live_server}/api/issues",
            headers=bot,
            data={"project_id": project_id, "title": f"Bot issue {n}"},
        )
        assert made.status == 201, await made.text()

    # A second person joins: their events are theirs.
    await owner.goto(f"{live_server}{PEOPLE}")
    await owner.select_option("#invite-role", "member")
    await owner.click("#invite")
    await owner.wait_for_selector("#new-invitation")
    link = (await owner.inner_text("#join-link-value")).strip()
    member_ctx = await browser.new_context()
    member = await member_ctx.new_page()
    await _signup(member, live_server, "Max Member")
    await member.goto(link)
    await member.click("#join")
    await member.wait_for_url(f"{live_server}/app")

    # Newest first, keys by name and last four, never the token.
    await owner.click("#nav-audit")
    await owner.wait_for_url(f"{live_server}{AUDIT}")
    first = await _rows(owner)
    assert len(first) == AUDIT_PAGE_SIZE
    assert [seq for seq, _ in first] == sorted((seq for seq, _ in first), reverse=True)
    assert first[0][1] == "member.joined"
    assert token not in await owner.content()
    credentials = await owner.locator("#audit-table .audit-credential").all_inner_texts()
    assert f"pat: audit bot ···{token[-4:]}" in credentials

    # By type, then the next page through "Older": every issue once, none twice.
    await owner.fill("#audit-type", "issue.created")
    await owner.click("#audit-filter")
    await owner.wait_for_url(f"{live_server}{AUDIT}?*type=issue.created*")
    page_one = await _rows(owner)
    assert len(page_one) == AUDIT_PAGE_SIZE and {t for _, t in page_one} == {"issue.created"}
    await owner.click("#audit-older")
    await owner.wait_for_selector("#audit-newest")
    page_two = await _rows(owner)
    assert {t for _, t in page_two} == {"issue.created"}
    seqs = [seq for seq, _ in page_one + page_two]
    assert len(seqs) == AUDIT_PAGE_SIZE + 2 and seqs == sorted(set(seqs), reverse=True)
    assert await owner.query_selector("#audit-older") is None
    assert await owner.input_value("#audit-type") == "issue.created"

    # By person: the member's own events only; the filter stays chosen.
    await owner.fill("#audit-type", "")
    await owner.select_option("#audit-person", label="Max Member")
    await owner.click("#audit-filter")
    await owner.wait_for_url(f"{live_server}{AUDIT}?person=*")
    mine = await _rows(owner)
    assert [t for _, t in mine] == ["member.joined"]
    people = await owner.locator("#audit-table .audit-person").all_inner_texts()
    assert people == ["Max Member"]

    # By key: a click on the bot's name filters by it.
    await owner.click("#audit-clear")
    await owner.locator("#audit-table .audit-credential a", has_text="audit bot").first.click()
    await owner.wait_for_url(f"{live_server}{AUDIT}?key=*")
    assert "audit bot" in await owner.locator("#audit-key option:checked").inner_text()
    by_key = await _rows(owner)
    await owner.click("#audit-older")
    await owner.wait_for_selector("#audit-newest")
    by_key += await _rows(owner)
    # Everything the bot did, and nothing else: the project first, then its issues.
    assert [t for _, t in by_key] == ["issue.created"] * (AUDIT_PAGE_SIZE + 2) + ["project.created"]

    # A member is shown why not, and no event.
    response = await member.goto(f"{live_server}{AUDIT}")
    assert response.status == 403
    assert "only admins and owners" in await member.inner_text("#error")
    assert await member.query_selector("#audit-table") is None
    assert errors == []
    await owner_ctx.close()
    await member_ctx.close()
