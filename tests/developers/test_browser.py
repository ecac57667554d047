"""The portal in a real headless Chromium: no console errors, and the reference's "try it"."""

from __future__ import annotations

from typing import Any

import pytest

from tests.developers.conftest import Reader
from tests.developers.test_pages import page_paths

pytestmark = pytest.mark.browser


async def _open(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = await browser.new_context()
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    # A request the browser cancels itself because the next page is loading (the favicon,
    # fetched after "load") is not a failure of the server: net::ERR_ABORTED is left out.
    page.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"failed: {r.url} ({r.failure})")
        ),
    )
    # Nothing may be fetched from anywhere but this server.
    page.on(
        "request",
        lambda r: None if r.url.startswith((url, "data:")) else problems.append(f"left: {r.url}"),
    )
    return context, page, problems


async def test_every_page_renders_without_console_errors(docs_server: Reader, browser: Any) -> None:
    context, page, problems = await _open(browser, docs_server.url)
    for path in page_paths():
        if path.endswith("reference.html"):
            continue  # below, with its viewer
        response = await page.goto(f"{docs_server.url}{path}")
        assert response.status == 200, path
        await page.wait_for_load_state("load")
        assert await page.locator("#content h1").count() == 1, path
        assert await page.locator("#docs-nav a").count() >= 12, path
    await context.close()
    assert problems == []


async def test_the_reference_lists_the_api_and_tries_a_call(
    docs_server: Reader, browser: Any
) -> None:
    context, page, problems = await _open(browser, docs_server.url)
    await page.goto(f"{docs_server.url}/developers/reference.html")
    # The server builds its spec when first asked (a second or two on a busy machine), then
    # Swagger UI parses 2.8 MB of it: generous, as a slow CI box may need it.
    await page.wait_for_selector(".opblock", timeout=45_000)
    assert await page.locator(".opblock").count() > 50
    # "Try it out" on GET /healthz: a real request to this server, its answer shown.
    operation = page.locator("#operations-meta-healthz")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    await status.wait_for(timeout=15_000)
    assert (await status.inner_text()).strip() == "200"
    assert '"status": "ok"' in await operation.locator(".live-responses-table").inner_text()
    await context.close()
    assert problems == []
