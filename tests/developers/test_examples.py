"""Every curl and Python example of the developer pages, run against a live server.

The examples read ``PROJEKT_URL``, ``PROJEKT_API_KEY``, ``PROJEKT_ORG_ID``, ``PROJEKT_PROJECT_ID``
(and the session example ``PROJEKT_EMAIL``/``PROJEKT_PASSWORD``) from the environment, as the
pages tell readers to set them; here they name a real server, key, org and project.

- A ``bash`` block runs in bash with ``set -eo pipefail``; its curl calls fail on an HTTP error.
  A block marked ``bash status=NNN`` shows a refusal: its last call must answer NNN.
- A ``python`` block runs in this interpreter (``requests`` installed) and must exit 0. The
  block marked ``python consent`` is the OAuth walk-through: where it waits for the person to
  approve, this test signs in, approves on the consent page, and pastes the address back.
- Any other block (``sh`` commands for operators, ``json`` answers) is shown, not run, and may
  not contain a curl call: every curl example runs.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from markdown_it import MarkdownIt

from projekt.developers.content import PAGES, load_pages
from tests.developers.conftest import Reader
from tests.factories import PASSWORD

TIMEOUT_S = 60


@dataclass(frozen=True)
class Example:
    page: str
    number: int
    language: str
    flags: tuple[str, ...]
    code: str

    def __str__(self) -> str:
        return f"{self.page}-{self.number}-{self.language}"


def examples() -> list[Example]:
    found = []
    parser = MarkdownIt("commonmark")
    for page in load_pages():
        fences = [t for t in parser.parse(page.markdown) if t.type == "fence"]
        for number, fence in enumerate(fences, 1):
            language, *flags = fence.info.split() or ["text"]
            found.append(Example(page.slug, number, language, tuple(flags), fence.content))
    return found


# ``python receiver`` blocks are a webhook receiver's code: tests/webhooks runs them against a
# real delivery (they need its secret and message), not this test.
RUNNABLE = [e for e in examples() if e.language in ("bash", "python") and "receiver" not in e.flags]


def test_the_pages_have_examples_in_both_languages_and_every_curl_runs() -> None:
    assert len(RUNNABLE) >= 20
    assert {e.language for e in RUNNABLE} == {"bash", "python"}
    assert {e.page for e in RUNNABLE} >= {slug for slug, _ in PAGES} - {"index", "changelog",
                                                                       "self-hosting"}  # fmt: skip
    shown_only = [str(e) for e in examples() if e not in RUNNABLE and "curl " in e.code]
    assert shown_only == [], "a curl example that no test runs"


async def _run(
    args: list[str], reader: Reader, cwd: str, stdin: bytes | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=reader.env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _shell(example: Example) -> str:
    expected = next((f[7:] for f in example.flags if f.startswith("status=")), None)
    if expected is None:
        wrapper = 'curl() { command curl --fail-with-body "$@"; }'
    else:
        wrapper = "curl() { command curl -w '\\n%{http_code}\\n' \"$@\"; }"
    return f"set -eo pipefail\n{wrapper}\n{example.code}"


@pytest.mark.parametrize("example", RUNNABLE, ids=str)
async def test_example_runs(docs_server: Reader, example: Example) -> None:
    with tempfile.TemporaryDirectory(prefix="projekt-docs-") as cwd:
        if example.language == "bash":
            code, out, err = await _run(["bash", "-c", _shell(example)], docs_server, cwd)
            assert code == 0, f"{example}\n{out}\n{err}"
            expected = next((f[7:] for f in example.flags if f.startswith("status=")), None)
            if expected is not None:
                last = [line for line in out.splitlines() if line.strip()][-1]
                assert last == expected, f"{example}: answered {last}\n{out}"
            else:
                assert '"code":' not in out, f"{example} answered an error:\n{out}"
        elif "consent" in example.flags:
            await _walk_through_oauth(docs_server, example, cwd)
        else:
            code, out, err = await _run([sys.executable, "-c", example.code], docs_server, cwd)
            assert code == 0, f"{example}\n{out}\n{err}"


async def _walk_through_oauth(reader: Reader, example: Example, cwd: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        example.code,
        cwd=cwd,
        env=reader.env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT_S)).decode()
        found = re.search(r"(https?://\S+)", line)
        assert found is not None, f"the walk-through printed no address: {line!r}"
        returned_to = await _approve(reader, found.group(1))
        out, err = await asyncio.wait_for(
            process.communicate((returned_to + "\n").encode()), TIMEOUT_S
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"{example}\n{out.decode()}\n{err.decode()}"
    assert "signed in as" in out.decode() and "refreshed" in out.decode()


async def _approve(reader: Reader, address: str) -> str:
    """What the person does in the browser: sign in, pick the org, approve."""
    parts = urlsplit(address)
    assert f"{parts.scheme}://{parts.netloc}" == reader.url
    params = dict(parse_qsl(parts.query))
    async with httpx.AsyncClient(base_url=reader.url) as browser:
        signed_in = await browser.post(
            "/api/auth/login", json={"email": reader.person.email, "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        consent = await browser.get(parts.path, params=params)
        assert consent.status_code == 200, consent.text
        form = {
            **params,
            "csrf_token": signed_in.json()["csrf_token"],
            "org_id": str(reader.org_id),
            "decision": "approve",
        }
        answer = await browser.post(parts.path, data=form)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]
