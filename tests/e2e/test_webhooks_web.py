"""The Webhooks section of Integraciones in headless Chromium: add an endpoint (the secret
shown once), ping it, see the delivery log, redeliver, pause, delete."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.e2e.test_web import _create_org, _signup
from tests.webhooks.support import Inbox, deliverer_for, drain

pytestmark = pytest.mark.browser


async def test_webhooks_section(live_server: str, browser: Any, app: FastAPI) -> None:
    inbox = Inbox()
    deliverer = deliverer_for(app, inbox)
    await drain(deliverer)
    inbox.received.clear()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await _signup(page, live_server)
        await _create_org(page, "Hooks Org")
        await page.click("#integrations-link")
        await page.click("#webhooks-link")
        url, port = inbox.url()
        await page.fill("#webhook-url", url)
        await page.fill("#webhook-events", "issue.*")
        await page.click("#create-webhook")
        await page.wait_for_selector("#new-webhook")
        secret = (await page.inner_text("#webhook-secret")).strip()
        assert secret.startswith("whsec_")
        await page.goto(f"{live_server}/app/organization/settings/general/integraciones/webhooks")
        assert secret not in await page.content()  # shown exactly once
        assert url in await page.inner_text("#webhook-list")
        await page.click("button.ping-webhook")
        await page.wait_for_selector(".delivery-log .delivery-status:has-text('pending')")
        await drain(deliverer)
        assert [r.json["type"] for r in inbox.at(port)] == ["webhook.ping"]
        await page.reload()
        assert "succeeded" in await page.inner_text(".delivery-log")
        assert "200 in" in await page.inner_text(".delivery-log")
        await page.click("button.redeliver")
        await page.wait_for_selector(".delivery-log tbody tr:nth-child(2)")
        await drain(deliverer)
        first, again = inbox.at(port)
        assert first.webhook_id == again.webhook_id and first.body == again.body
        await page.click("button.toggle-webhook")
        await page.wait_for_selector(".webhook-state:has-text('paused')")
        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("button.delete-webhook")
        await page.wait_for_selector("#no-webhooks")
    finally:
        await context.close()
        await deliverer.close()
