"""Shared fixtures: one migrated database and one app per test session, real middleware stack.

The backend comes from the environment, so the same suite runs on both legs of CI:
``PROJEKT_TEST_DATABASE_URL`` (default: a fresh SQLite file) and ``PROJEKT_TEST_REDIS_URL``.
Under pytest-xdist each worker has a database of its own (``<name>_gw0``, … on PostgreSQL, made
when missing; a SQLite file in its own folder) and its own Redis key prefix.
Tests do not roll back: the app commits at the edge like in production (and concurrency tests
need real commits), so every test builds its own orgs and people and never shares them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from projekt.config import Settings
from projekt.core import migrate
from projekt.core.clock import Clock
from projekt.main import create_app
from tests.error_sweep import ErrorSweep
from tests.factories import Factory
from tests.log_watch import LogWatch
from tests.response_sweep import ResponseSweep
from tests.support import (
    MovableClock,
    create_database,
    reset_database,
    worker_database_url,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
# Each test run keeps its rate-limit buckets apart from any other run on the same Redis.
RUN_PREFIX = f"projekt-test-{uuid.uuid4().hex[:12]}"
WEBHOOK_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()


def pytest_report_header() -> str:
    redis = os.environ.get("PROJEKT_TEST_REDIS_URL") or "none"
    return f"projekt database: {_database_url()} redis: {redis}"


_SQLITE_DIR = tempfile.mkdtemp(prefix="projekt-tests-")


# pytest-xdist names its workers gw0, gw1, …; a plain run has none.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _database_url() -> str:
    url = os.environ.get("PROJEKT_TEST_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{Path(_SQLITE_DIR) / 'test.db'}"
    return worker_database_url(url, WORKER)


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": _database_url(),
        "redis_url": os.environ.get("PROJEKT_TEST_REDIS_URL") or None,
        "base_url": "http://testserver",
        # httpx's test clients address every app as testserver, whatever its base URL.
        "allowed_hosts": ["testserver"],
        "environment": "test",
        "password_hash_profile": "cheap",
        "access_log": False,
        # Limits the rest of the suite never meets; tests/middleware shrinks them on purpose.
        "rate_limit_global": "1000000/60s",
        "rate_limit_api_key_mint": "1000000/60s",
        "rate_limit_search": "1000000/60s",
        "rate_limit_project_write": "1000000/60s",
        "rate_limit_oauth_register": "1000000/60s",
        "rate_limit_oauth_token": "1000000/60s",
        "rate_limit_login_ip": "1000000/60s",
        "rate_limit_login_account": "1000000/60s",
        "rate_limit_signup_ip": "1000000/60s",
        "rate_limit_org_create": "1000000/60s",
        "rate_limit_invitation": "1000000/60s",
        "redis_prefix": RUN_PREFIX,
        # The production budget (100 ms a command) is for a Redis that answers in a
        # millisecond; a CI machine running two test workers, PostgreSQL and Redis on two cores
        # can leave Redis unscheduled that long, and a keyed write then answers 503. Tests of
        # timeouts set their own budget (tests/middleware, tests/core/test_redis_script.py).
        "redis_timeout_s": 5.0,
        # Webhooks: receivers on loopback, a key for this run, and no deliverer inside the
        # suite's app (tests/webhooks drive one by hand, with the test clock).
        "webhook_allow_private_targets": True,
        "webhook_secret_key": WEBHOOK_KEY,
        "webhooks_in_process": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def log_watch() -> Iterator[LogWatch]:
    """The whole suite's server log, checked for secrets once every test has run."""
    watch = LogWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    yield watch
    root.removeHandler(watch)
    leaks = watch.leaks()
    assert not leaks, "secrets in the server's log:\n" + "\n".join(leaks[:20])


@pytest.fixture(scope="session", autouse=True)
def error_sweep() -> Iterator[ErrorSweep]:
    """Every error envelope any app of the suite sends, checked once every test has run: each
    code must be declared for its operation and status (``core.openapi.errors``)."""
    sweep = ErrorSweep()
    build = FastAPI.build_middleware_stack

    def recording(app: FastAPI) -> ASGIApp:
        return sweep.wrap(app, build(app))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastAPI, "build_middleware_stack", recording)
        yield sweep
    problems = sweep.undeclared()
    assert not problems, "codes answered but not declared:\n" + "\n".join(problems[:40])


@pytest.fixture(scope="session", autouse=True)
def response_sweep(error_sweep: ErrorSweep) -> Iterator[ResponseSweep]:
    """Every 2xx JSON answer any app of the suite sends, validated against the schema its
    operation declares for that status (handlers that render JSON themselves included)."""
    sweep = ResponseSweep()
    build = FastAPI.build_middleware_stack

    def checking(app: FastAPI) -> ASGIApp:
        return sweep.wrap(app, build(app))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastAPI, "build_middleware_stack", checking)
        yield sweep
    problems = sweep.report()
    assert not problems, "answers that break their declared schema:\n" + "\n".join(problems[:40])


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Settings:
    try:
        if WORKER and not settings.is_sqlite:
            asyncio.run(create_database(os.environ["PROJEKT_TEST_DATABASE_URL"], settings))
        asyncio.run(reset_database(settings))
    except OSError as exc:  # pragma: no cover - depends on the machine
        message = f"database unreachable at {settings.database_url}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    migrate.upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def time_travel(clock: MovableClock) -> Iterator[MovableClock]:
    """Move the app's clock inside one test; it is put back afterwards."""
    yield clock
    clock.reset()


@pytest.fixture(scope="session")
async def app(migrated: Settings, clock: Clock) -> AsyncIterator[FastAPI]:
    application = create_app(migrated, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


def client_for(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
def factory(app: FastAPI) -> Factory:
    return Factory(app)


@pytest.fixture(scope="session")
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The same app the other tests use, served over real HTTP on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
