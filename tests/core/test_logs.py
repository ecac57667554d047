"""Log lines cannot be forged or carry what a database error quotes (issue 14.3, 14.2)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from projekt.config import Settings
from projekt.core import logs
from projekt.main import create_app
from tests.conftest import make_settings

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FORMAT = logging.Formatter("%(levelname)s %(name)s %(message)s")


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("projekt.test", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_control_characters_are_escaped_and_the_message_is_one_line() -> None:
    forged = "/api/x\nINFO projekt.access POST /api/admin 200\r\x00\x1b[2J\x85\u2028end"
    rec = record("%s %s", "GET", forged)
    logs.sanitize(rec)
    message = rec.getMessage()
    assert not CONTROL.search(message)
    assert message == (
        "GET /api/x\\nINFO projekt.access POST /api/admin 200\\r\\x00\\x1b[2J\\x85\\u2028end"
    )


def test_token_shaped_strings_and_hashes_are_masked() -> None:
    rec = record(
        "path=/api/issues/pjk_live_%s seen %s and %s",
        "A" * 32,
        "pjo_at_abc-DEF_123",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    )
    logs.sanitize(rec)
    message = rec.getMessage()
    for secret in ("pjk_", "pjo_", "$argon2", "AAAA", "aGFzaA"):
        assert secret not in message


def test_database_errors_lose_their_values_in_the_traceback() -> None:
    email, digest = "victim@example.test", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
    driver = asyncpg.UniqueViolationError(
        'duplicate key value violates unique constraint "uq_users_email"'
    )
    driver.detail = f"Key (email)=({email}) already exists."  # what asyncpg's str() appends
    cast = asyncpg.InvalidTextRepresentationError(
        'invalid input syntax for type integer: "hunter2 password"'
    )
    for error in (driver, cast):
        try:
            try:
                raise error
            except asyncpg.PostgresError as exc:
                raise sa_exc.IntegrityError(
                    "INSERT INTO users (email, password_hash) VALUES ($1, $2)",
                    (email, digest),
                    exc,
                ) from exc
        except sa_exc.IntegrityError as wrapped:
            rec = record("unhandled error request_id=%s", "r1", exc=wrapped)
        logs.sanitize(rec)
        text = FORMAT.format(rec)
        assert "INSERT INTO users" in text  # the statement stays: it is ours, not the caller's
        assert type(error).__name__ in text
        for secret in (email, "$argon2", "hunter2"):
            assert secret not in text, text


def test_a_task_groups_members_are_in_its_traceback_and_cleaned() -> None:
    # A task group (the MCP transport's) says only "1 sub-exception": the member is the cause.
    def fail(token: str) -> None:
        raise LookupError(f"the stream closed\n{token}")

    try:
        try:
            fail("_".join(("pjk", "live", "A" * 32)))
        except LookupError as member:
            raise ExceptionGroup(
                "unhandled errors in a TaskGroup", [member, KeyError("x")]
            ) from None
    except ExceptionGroup as group:
        rec = record("unhandled error request_id=%s", "r1", exc=group)
    logs.sanitize(rec)
    text = FORMAT.format(rec)
    assert "+---- 1 of 2 ----" in text and "+---- 2 of 2 ----" in text
    assert "LookupError: the stream closed\\n[token redacted]" in text and "in fail" in text
    assert "KeyError: 'x'" in text
    assert "pjk_live_" not in text and "AAAA" not in text


@pytest.fixture
async def logging_app(migrated: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(access_log=True))
    async with app.router.lifespan_context(app):
        yield app


FORGED_PATHS = [
    "/api/x%0AINFO%20projekt.access%20POST%20/api/orgs%20201%200.1ms%20request_id=abc",
    "/api/x%0D%0AWARNING%20projekt.errors%20forged",
    "/api/x%00y",
    "/api/x%1B%5B2J%1B%5B31mred",
    "/api/x%E2%80%A8y%C2%85z",
]


async def test_forged_paths_leave_single_clean_lines(
    logging_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="projekt")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=logging_app), base_url="http://testserver"
    ) as c:
        for path in FORGED_PATHS:
            await c.get(path)
    # A server that hands the raw bytes on: the control characters in path and raw_path.
    raw = "/api/y\nINFO projekt.access GET / 200\r\x00"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw,
        "raw_path": raw.encode("latin-1"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await logging_app(scope, receive, send)  # type: ignore[arg-type]
    access = [r for r in caplog.records if r.name == "projekt.access"]
    assert len(access) == len(FORGED_PATHS) + 1
    for rec in caplog.records:
        line = FORMAT.format(rec) if rec.exc_info is None else rec.getMessage()
        assert "\n" not in line and not CONTROL.search(line), repr(line)
    assert any("\\nINFO projekt.access" in r.getMessage() for r in access)
