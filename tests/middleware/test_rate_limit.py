"""Rate limits (API.md §6): exact sliding windows, headers on every answer, shared in Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from projekt.config import Settings
from projekt.core.ratelimit import Bucket, InProcessLimiter, Rate
from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import Factory

REDIS_URL = os.environ.get("PROJEKT_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="runs on the PostgreSQL + Redis leg")


@asynccontextmanager
async def limited_app(**limits: object) -> AsyncIterator[FastAPI]:
    """An app on the test database with its own small limits and its own Redis key space."""
    settings = make_settings(redis_prefix=f"rl-{uuid.uuid4().hex[:10]}", **limits)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, peer: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 40000)),
        base_url="http://testserver",
        headers=headers,
    )


async def _key(app: FastAPI) -> str:
    factory = Factory(app)
    org = await factory.org()
    return await factory.key(org.id, org.owner)


def test_documented_defaults() -> None:
    defaults = Settings()
    assert defaults.rate_limit_global == "600/60s"
    assert defaults.rate_limit_api_key_mint == "10/1h"
    assert defaults.rate_limit_search == "30/60s"
    assert defaults.rate_limit_project_write == "30/60s"
    assert defaults.rate_limit_oauth_register == "5/1h"
    assert defaults.rate_limit_oauth_token == "60/60s"
    assert Rate.parse("600/60s") == Rate(600, 60)
    assert Rate.parse("10/1h") == Rate(10, 3600)
    with pytest.raises(ValueError, match="rate limits look like"):
        Rate.parse("lots")


@pytest.mark.usefixtures("migrated")
async def test_exactly_n_then_429_with_headers() -> None:
    async with limited_app(rate_limit_global="5/60s") as app:
        token = await _key(app)
        async with client(app, Authorization=f"Bearer {token}") as c:
            answers = [await c.get("/api/me") for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["4", "3", "2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "5" for r in answers)
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-reset"] == refused.headers["retry-after"]


@pytest.mark.usefixtures("migrated")
async def test_window_slides() -> None:
    async with limited_app(rate_limit_global="3/1s") as app:
        token = await _key(app)
        async with client(app, Authorization=f"Bearer {token}") as c:
            first = [(await c.get("/api/me")).status_code for _ in range(4)]
            await asyncio.sleep(1.1)  # the whole window has passed: three slots free again
            second = [(await c.get("/api/me")).status_code for _ in range(4)]
    assert first == [200, 200, 200, 429]
    assert second == [200, 200, 200, 429]


async def test_window_edge_in_process() -> None:
    """At the edge: a slot frees exactly when its request leaves the window, not before."""
    now = [1000.0]
    limiter = InProcessLimiter(clock=lambda: now[0])
    bucket = [Bucket("global", Rate(2, 10))]
    assert (await limiter.hit("k", bucket)).allowed
    now[0] = 1005.0
    assert (await limiter.hit("k", bucket)).allowed
    now[0] = 1009.999
    refused = await limiter.hit("k", bucket)
    assert not refused.allowed
    assert refused.tightest.reset_s == 1
    now[0] = 1010.0  # the first request leaves the window
    assert (await limiter.hit("k", bucket)).allowed
    now[0] = 1014.9
    assert not (await limiter.hit("k", bucket)).allowed


@pytest.mark.usefixtures("migrated")
async def test_concurrent_requests_get_exactly_the_limit() -> None:
    async with limited_app(rate_limit_global="10/60s") as app:
        token = await _key(app)
        async with client(app, Authorization=f"Bearer {token}") as c:
            answers = await asyncio.gather(*(c.get("/api/me") for _ in range(100)))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 10
    assert codes.count(429) == 90


@pytest.mark.usefixtures("migrated")
async def test_route_caps_spend_only_the_global_budget_elsewhere() -> None:
    async with limited_app(rate_limit_global="10/60s", rate_limit_search="3/60s") as app:
        factory = Factory(app)
        org = await factory.org()
        token = await factory.key(org.id, org.owner)
        async with client(app, Authorization=f"Bearer {token}") as c:
            searches = [
                (await c.get("/api/people/search", params={"q": "x"})).status_code for _ in range(4)
            ]
            me = await c.get("/api/me")
            palette = await c.get("/api/palette/search", params={"q": "x"})
    assert searches == [200, 200, 200, 429]
    assert palette.status_code == 429  # the search family shares one bucket
    assert me.status_code == 200
    # 3 searches and /me spent the global budget; refused requests spent nothing.
    assert me.headers["x-ratelimit-limit"] == "10"
    assert me.headers["x-ratelimit-remaining"] == "6"


@pytest.mark.usefixtures("migrated")
async def test_headers_on_every_status() -> None:
    async with limited_app(rate_limit_global="1000/60s") as app:
        factory = Factory(app)
        org = await factory.org()
        project = await factory.project(org)
        token = await factory.key(org.id, org.owner)
        auth = {"Authorization": f"Bearer {token}"}
        async with client(app) as c:
            listed = await c.get(f"/api/issues?project_id={project.id}", headers=auth)
            answers = {
                200: listed,
                304: await c.get(
                    f"/api/issues?project_id={project.id}",
                    headers={**auth, "If-None-Match": listed.headers["etag"]},
                ),
                400: await c.get("/api/team", headers={**auth, "X-Org-Id": "nope"}),
                401: await c.get(
                    "/api/me", headers={"Authorization": "Bearer pjk_live_" + "x" * 32}
                ),
                403: await c.post("/api/api-keys", json={"name": "k"}, headers=auth),
                404: await c.get("/api/nowhere", headers=auth),
                405: await c.put("/api/me", headers=auth),
                413: await c.post("/api/issues", content=b"x" * (2 << 20), headers=auth),
                422: await c.post("/api/issues", json={}, headers=auth),
            }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert name in response.headers, (status, name)


@pytest.mark.usefixtures("migrated")
async def test_500_and_503_carry_headers() -> None:
    async with limited_app() as app:

        async def boom() -> None:
            raise RuntimeError("boom")

        app.state.policy = {**app.state.policy, "boom": app.state.policy["healthz"]}
        app.add_api_route("/api/boom", boom, name="boom")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as c:
            crashed = await c.get("/api/boom")
    assert crashed.status_code == 500
    assert crashed.headers["x-ratelimit-limit"]
    broken = make_settings(database_url=f"sqlite+aiosqlite:///{Path('/')}", db_connect_timeout_s=1)
    down = create_app(broken)
    async with client(down, Authorization="Bearer pjk_live_" + "A" * 32) as c:
        outage = await c.get("/api/me")
    assert outage.status_code == 503
    assert outage.headers["x-ratelimit-limit"]


@pytest.mark.usefixtures("migrated")
async def test_spoofed_forwarded_for_is_ignored() -> None:
    async with limited_app(rate_limit_global="3/60s") as app:
        codes = []
        for n in range(4):
            async with client(app, peer="127.0.0.2", **{"X-Forwarded-For": f"10.0.0.{n}"}) as c:
                codes.append((await c.get("/api/orgs")).status_code)
    assert codes == [401, 401, 401, 429]  # one bucket: the real peer's


@pytest.mark.usefixtures("migrated")
async def test_forwarded_for_from_a_trusted_proxy() -> None:
    async with limited_app(rate_limit_global="2/60s", trusted_proxies=["127.0.0.0/8"]) as app:
        codes = []
        for n in (1, 1, 1, 2):
            async with client(app, peer="127.0.0.9", **{"X-Forwarded-For": f"203.0.113.{n}"}) as c:
                codes.append((await c.get("/api/orgs")).status_code)
    assert codes == [401, 401, 429, 401]


@pytest.mark.usefixtures("migrated")
async def test_sign_in_is_limited_per_account() -> None:
    async with limited_app(rate_limit_login_account="3/60s") as app:
        person = await Factory(app).person()
        codes = []
        for n in range(4):
            async with client(app, peer=f"127.0.1.{n}") as c:  # a new IP each time
                response = await c.post(
                    "/api/auth/login", json={"email": person.email, "password": "wrong password"}
                )
                codes.append(response.status_code)
    assert codes == [401, 401, 401, 429]


@needs_redis
@pytest.mark.usefixtures("migrated")
async def test_limits_are_shared_in_redis_between_apps() -> None:
    prefix = f"rl-{uuid.uuid4().hex[:10]}"
    one = create_app(make_settings(redis_prefix=prefix, rate_limit_global="7/60s"))
    two = create_app(make_settings(redis_prefix=prefix, rate_limit_global="7/60s"))
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        token = await _key(one)
        auth = f"Bearer {token}"
        async with client(one, Authorization=auth) as a, client(two, Authorization=auth) as b:
            answers = await asyncio.gather(*((a if n % 2 else b).get("/api/me") for n in range(20)))
    assert [r.status_code for r in answers].count(200) == 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@needs_redis
@pytest.mark.usefixtures("migrated")
async def test_two_server_processes_share_one_budget(settings: Settings) -> None:
    prefix = f"rl-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "PROJEKT_DATABASE_URL": settings.database_url,
        "PROJEKT_REDIS_URL": REDIS_URL or "",
        "PROJEKT_REDIS_PREFIX": prefix,
        "PROJEKT_RATE_LIMIT_GLOBAL": "9/60s",
        "PROJEKT_PASSWORD_HASH_PROFILE": "cheap",
        "PROJEKT_ACCESS_LOG": "false",
    }
    ports = [_free_port(), _free_port()]
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "projekt.main:create_app",
                "--factory",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        for port in ports
    ]
    try:
        for port in ports:
            await _wait_for_port(port)
        # One deployment, one prefix: the in-test app shares the servers' Redis namespace.
        app = create_app(settings.model_copy(update={"redis_prefix": prefix}))
        factory = Factory(app)
        org = await factory.org()
        token = await factory.key(org.id, org.owner)
        other = await factory.key(org.id, org.owner, "revoked across workers")
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as c:
            answers = await asyncio.gather(
                *(c.get(f"http://127.0.0.1:{ports[n % 2]}/api/me") for n in range(30))
            )
        # Revocation through one process is seen by the others on their very next request,
        # though each has the key's row cached by then.
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {other}"}) as c:
            for port in (*ports, *ports, *ports):
                assert (await c.get(f"http://127.0.0.1:{port}/api/me")).status_code == 200
            key_id = (await c.get(f"http://127.0.0.1:{ports[1]}/api/api-keys")).json()
            owner = org.owner
            revoked_id = next(k["id"] for k in key_id if k["name"] == "revoked across workers")
            revoke = await owner.client.delete(
                f"/api/api-keys/{revoked_id}", headers=owner.headers(org.id)
            )
            assert revoke.status_code == 204
            after = [await c.get(f"http://127.0.0.1:{p}/api/me") for p in ports]
        await app.state.services.fast.close()
        await app.state.services.db.dispose()
        assert [r.status_code for r in after] == [401, 401]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 9, codes
    assert codes.count(429) == 21


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
@pytest.mark.usefixtures("migrated")
async def test_redis_outage_keeps_serving_and_limits_resume(tmp_path: Path) -> None:
    port = _free_port()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    redis = start()
    try:
        await _wait_for_port(port)
        async with limited_app(
            redis_url=f"redis://127.0.0.1:{port}/0",
            rate_limit_global="1000/60s",
            redis_breaker_failures=3,
            redis_breaker_cooldown_s=30,
        ) as app:
            breaker = app.state.services.limiter.breaker
            moved = MovedMonotonic()
            breaker.clock = moved
            token = await _key(app)
            async with client(app, Authorization=f"Bearer {token}") as c:
                before = await c.get("/api/me")
                assert before.headers["x-ratelimit-remaining"] == "999"
                redis.kill()
                redis.wait()
                during = [await c.get("/api/me") for _ in range(5)]
                metrics = (await c.get("/metrics")).text
                redis = start()
                await _wait_for_port(port)
                still_open = await c.get("/api/me")  # within the cool-down: Redis not asked
                moved.offset += 31  # past the cool-down: the next request probes Redis
                after = await c.get("/api/me")
    finally:
        redis.kill()
        redis.wait()
    assert before.status_code == 200
    assert [r.status_code for r in during] == [200] * 5
    assert all("x-ratelimit-limit" in r.headers for r in during)
    # Three failures in a row opened the breaker; the other requests did not try Redis.
    assert "projekt_ratelimit_redis_failures_total 3" in metrics
    assert "projekt_ratelimit_redis_breaker_open 1" in metrics
    # Decided locally from the count Redis last gave (1 of 1000), this worker's requests added.
    assert [r.headers["x-ratelimit-remaining"] for r in during] == [
        "998",
        "997",
        "996",
        "995",
        "994",
    ]
    assert still_open.headers["x-ratelimit-remaining"] == "993"  # /metrics is exempt
    assert after.status_code == 200
    # Back on the (fresh) Redis: its count starts again from this request.
    assert after.headers["x-ratelimit-remaining"] == "999"
    assert not breaker.is_open


class MovedMonotonic:
    """``time.monotonic`` plus an offset a test moves: cool-downs pass without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset
