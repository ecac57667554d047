"""Which failures answer 503 (the database cannot serve now) and which the generic 500, and
that every 5xx reaches the log with its request id (issue 13.2)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from projekt.core.errors import ServiceUnavailable, as_app_error

OUTAGES = [
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("crash"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.ConnectionFailureError("failure"),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.TooManyConnectionsError("too many clients"),
    asyncpg.LockNotAvailableError("could not obtain lock"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    ConnectionRefusedError(111, "refused"),
    TimeoutError(),
]


def wrapped(driver_error: BaseException) -> sa_exc.DBAPIError:
    """How SQLAlchemy's asyncpg dialect hands a driver error to us: a generic DBAPIError whose
    ``orig`` is the dialect's adapted error, caused by the asyncpg one."""

    class Adapted(Exception):
        sqlstate = getattr(driver_error, "sqlstate", None)

    adapted = Adapted(str(driver_error))
    adapted.__cause__ = driver_error
    return sa_exc.DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
def test_connection_class_errors_answer_503(error: BaseException) -> None:
    for exc in (error, wrapped(error)):
        answer = as_app_error(exc)
        assert isinstance(answer, ServiceUnavailable), repr(exc)
        assert answer.code == "db_unavailable"
        assert answer.headers["Retry-After"]
        assert answer.__cause__ is exc  # the log names what happened


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.UndefinedColumnError("no such column"),
        # A bound value the driver refuses before sending (an integer out of range): our bug.
        asyncpg.DataError("invalid input for query argument $1"),
        RuntimeError("bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_stay_a_generic_500(error: BaseException) -> None:
    for exc in (error, wrapped(error)):
        answer = as_app_error(exc)
        assert answer.status == 500 and answer.code == "internal_error"


async def _raise_in_route(app: FastAPI, exc: BaseException) -> httpx.Response:
    async def boom() -> None:
        raise exc

    app.state.policy["test_driver_error"] = app.state.policy["healthz"]
    app.add_api_route("/test-driver-error", boom, name="test_driver_error")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as c:
            return await c.get("/test-driver-error")
    finally:
        app.router.routes.pop()
        del app.state.policy["test_driver_error"]


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda: asyncpg.AdminShutdownError("terminating connection"), 503),
        (lambda: wrapped(asyncpg.QueryCanceledError("statement timeout")), 503),
        (lambda: ServiceUnavailable("Redis is unreachable.", code="redis_unavailable"), 503),
        (lambda: wrapped(asyncpg.UniqueViolationError("duplicate key")), 500),
        (lambda: RuntimeError("bug"), 500),
    ],
)
async def test_every_5xx_from_a_route_is_logged_with_its_request_id(
    app: FastAPI,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[], BaseException],
    status: int,
) -> None:
    caplog.set_level(logging.INFO, logger="projekt")
    response = await _raise_in_route(app, make())
    assert response.status_code == status, response.text
    if status == 503:
        assert response.headers["retry-after"]
    rid = response.headers["x-request-id"]
    lines = [r for r in caplog.records if rid in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert lines[0].levelno >= logging.ERROR


async def test_a_5xx_rendered_by_a_route_itself_is_logged(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Routes that answer in their own format (OAuth's ``temporarily_unavailable``) still leave
    a line with the request id."""
    from starlette.responses import JSONResponse

    async def own_503() -> JSONResponse:
        return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)

    caplog.set_level(logging.INFO, logger="projekt")
    app.state.policy["test_own_503"] = app.state.policy["healthz"]
    app.add_api_route("/test-own-503", own_503, name="test_own_503")
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            response = await c.get("/test-own-503")
    finally:
        app.router.routes.pop()
        del app.state.policy["test_own_503"]
    rid = response.headers["x-request-id"]
    assert any(rid in r.getMessage() for r in caplog.records)
