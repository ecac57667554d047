"""The portal's pages, their generated sections, /llms.txt, and a link checker over all of it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from projekt.config import Settings
from projekt.core.errors import all_error_classes
from projekt.developers.content import PAGES, load_pages


class Links(HTMLParser):
    """Every address a page points at (links, scripts, styles, images) and every id it has."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        for name in ("href", "src"):
            value = found.get(name)
            if value is not None and tag in ("a", "link", "script", "img"):
                self.targets.append(value)


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def page_paths() -> list[str]:
    return [
        "/developers/" if slug == "index" else f"/developers/{slug}.html" for slug, _ in PAGES
    ] + ["/developers/reference.html"]


@pytest.mark.parametrize("path", page_paths())
async def test_every_page_renders_with_the_navigation(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/developers/reference.html"' in response.text
    # Nothing from another site is loaded: every script and style is this server's.
    for target in parse(response.text).targets:
        if target.endswith((".js", ".css")):
            assert target.startswith("/"), target


async def test_unknown_pages_are_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    for path in (
        "/developers/nope.html",
        "/developers/index.html",
        "/developers/nope.md",
        "/developers/assets/../../config.py",
        "/developers/assets/redoc.standalone.js",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] in ("not_found", "http_error"), path


async def test_the_errors_page_lists_every_code(client: httpx.AsyncClient) -> None:
    text = (await client.get("/developers/errors.html")).text
    codes = {cls.code for cls in all_error_classes()}
    assert len(codes) > 40
    missing = [code for code in codes if f"<code>{code}</code>" not in text]
    assert missing == []
    assert "<code>invitation_used</code>" in text  # a domain's code, not only core's


async def test_the_settings_table_lists_every_setting(client: httpx.AsyncClient) -> None:
    text = (await client.get("/developers/self-hosting.html")).text
    for name in Settings.model_fields:
        assert f"<code>PROJEKT_{name.upper()}</code>" in text, name
    assert "<code>600/60s</code>" in text  # a default
    assert "≥ 1" in text  # a bound


async def test_llms_txt_has_one_line_per_page_and_the_full_file_has_them_all(
    client: httpx.AsyncClient,
) -> None:
    index = await client.get("/llms.txt")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/plain")
    pages = load_pages()
    lines = [line for line in index.text.splitlines() if line.startswith("- [")]
    page_lines = [line for line in lines if "/developers/" in line]
    assert len(page_lines) == len(pages)
    for page, line in zip(pages, page_lines, strict=True):
        assert line.startswith(f"- [{page.title}](http://testserver{page.markdown_path}): ")
        assert page.summary in line
    full = (await client.get("/llms-full.txt")).text
    for page in pages:
        markdown = await client.get(page.markdown_path)
        assert markdown.status_code == 200
        assert markdown.text in full
    assert "<!-- generated" not in full
    assert "`validation_failed`" in full and "`PROJEKT_DATABASE_URL`" in full


async def test_the_index_leads_to_every_feature_page(client: httpx.AsyncClient) -> None:
    text = (await client.get("/developers/")).text
    for page in ("changes-feed", "webhooks", "mcp"):
        assert f'href="{page}.html"' in text or f'href="/developers/{page}.html"' in text, page
    # Nothing is announced as coming once it has shipped.
    assert 'id="coming"' not in text


async def test_links_on_every_page_resolve(client: httpx.AsyncClient, app: FastAPI) -> None:
    """The link checker: every internal link answers 200, every #anchor exists on its page,
    and an external link is https (they are not fetched: the machines here are offline)."""
    pages = {path: (await client.get(path)).text for path in page_paths()}
    markdown = {(await client.get(p.markdown_path)).text for p in load_pages()}
    checked: dict[str, Links] = {path: parse(html) for path, html in pages.items()}
    failures = []
    for path, links in list(checked.items()):
        for target in links.targets:
            address, anchor = urldefrag(target)
            parts = urlsplit(address)
            if parts.scheme:
                if parts.scheme != "https" or parts.netloc in ("", "testserver"):
                    failures.append(f"{path}: external link {target}")
                continue
            resolved = _resolve(path, parts.path) if address else path
            if resolved not in checked:
                query = f"?{parts.query}" if parts.query else ""
                # /app sends a signed-out reader to sign in: followed, it must land on a page.
                answer = await client.get(resolved + query, follow_redirects=True)
                if answer.status_code != 200:
                    failures.append(f"{path}: {target} answered {answer.status_code}")
                    continue
                if anchor and "html" in answer.headers.get("content-type", ""):
                    checked[resolved] = parse(answer.text)
            if anchor and anchor not in checked[resolved].ids:
                failures.append(f"{path}: {target}: no id {anchor!r}")
    assert failures == []
    # The markdown sources link to each other as .md files (readable on a forge too).
    assert any(re.search(r"\]\(quickstart\.md\)", text) for text in markdown)


def _resolve(base: str, path: str) -> str:
    if path.startswith("/"):
        return path
    return base.rsplit("/", 1)[0] + "/" + path


async def test_the_reference_serves_its_viewer_from_this_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/developers/reference.html")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "reference.js", "reference.css"):
        asset = await client.get(f"/developers/assets/{name}")
        assert asset.status_code == 200, name
        assert len(asset.content) > 100
    script = (await client.get("/developers/assets/reference.js")).text
    assert 'url: "/openapi.json"' in script and "validatorUrl: null" in script
