"""The limiter under load and Redis faults (issue 13.4, 13.5): a bounded pool, a circuit breaker
that tells a slow call from an outage, and local decisions that stay within the budget."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from projekt.auth.cache import CredentialCache
from projekt.core.ratelimit import (
    Bucket,
    CircuitBreaker,
    InProcessLimiter,
    Rate,
    RedisLimiter,
)
from tests.middleware.test_rate_limit import (
    MovedMonotonic,
    _free_port,
    _key,
    _wait_for_port,
    client,
    limited_app,
)


class FlakyRedis:
    """Runs the limiter's script the way Redis does (an exact log per key), or fails on demand."""

    def __init__(self, clock: MovedMonotonic) -> None:
        self.model = InProcessLimiter(clock=clock)
        self.failing = False
        self.calls = 0
        self.gate: asyncio.Event | None = None  # when set: calls wait for it, like a stall

    def register_script(self, _source: str) -> Any:
        return self.run

    async def run(self, keys: list[str], args: list[Any]) -> list[Any]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise TimeoutError("Timeout reading from 127.0.0.1:6379")
        charges = [
            (key, Bucket("b", Rate(int(args[1 + 2 * i]), int(args[2 + 2 * i]))))
            for i, key in enumerate(keys[:-1])
        ]
        decision = self.model.take(charges)
        raw: list[Any] = [int(decision.allowed), b"epoch-1"]
        for state in decision.states:
            raw += [state.count, state.reset_s * 1_000_000]
        return raw


@pytest.fixture
def moved() -> MovedMonotonic:
    return MovedMonotonic()


def limiter_on(
    redis: FlakyRedis, moved: MovedMonotonic, *, failures: int = 3, workers: int = 1
) -> RedisLimiter:
    return RedisLimiter(
        cast(Redis, redis),
        "t",
        InProcessLimiter(clock=moved),
        "t:epoch",
        breaker=CircuitBreaker(failures, 5.0, moved),
        workers=workers,
    )


FIVE = [Bucket("global", Rate(5, 60))]


async def test_a_failed_call_is_decided_from_the_last_counts_seen(moved: MovedMonotonic) -> None:
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=10)
    assert [(await limiter.hit("k", FIVE)).allowed for _ in range(3)] == [True] * 3
    redis.failing = True
    local = [await limiter.hit("k", FIVE) for _ in range(3)]
    # Redis had counted 3 of 5: two more fit, locally, and the third is refused.
    assert [d.allowed for d in local] == [True, True, False]
    assert [d.tightest.remaining for d in local] == [1, 0, 0]
    assert all(d.epoch is None for d in local)
    assert local[-1].tightest.reset_s >= 1
    assert not limiter.breaker.is_open


async def test_local_decisions_take_this_workers_share(moved: MovedMonotonic) -> None:
    redis = FlakyRedis(moved)
    redis.failing = True
    limiter = limiter_on(redis, moved, failures=1, workers=4)
    bucket = [Bucket("global", Rate(10, 60))]
    allowed = [(await limiter.hit("k", bucket)).allowed for _ in range(4)]
    assert allowed == [True, True, False, False]  # 10 // 4 workers
    assert limiter.breaker.is_open


async def test_the_last_counts_seen_expire_with_their_window(moved: MovedMonotonic) -> None:
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=10)
    for _ in range(5):
        await limiter.hit("k", FIVE)
    redis.failing = True
    assert not (await limiter.hit("k", FIVE)).allowed
    moved.offset += 61  # Redis's count is a window old: it no longer weighs
    assert (await limiter.hit("k", FIVE)).allowed


async def test_one_timeout_does_not_open_the_breaker(moved: MovedMonotonic) -> None:
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=3)
    opened: list[bool] = []
    limiter.on_open.append(lambda: opened.append(True))
    for _ in range(4):  # two failures, a success, two failures: never three in a row
        redis.failing = True
        await limiter.hit("k", FIVE)
        await limiter.hit("k", FIVE)
        redis.failing = False
        await limiter.hit("k", FIVE)
        moved.offset += 61
    assert not limiter.breaker.is_open and not opened
    calls = redis.calls
    assert (await limiter.hit("k", FIVE)).epoch == "epoch-1"  # the very next call asks Redis
    assert redis.calls == calls + 1


async def test_calls_that_fail_together_count_as_one_failure(moved: MovedMonotonic) -> None:
    """A stalled event loop times out every call in flight at once: that is one failure."""
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=3)
    redis.failing = True
    redis.gate = asyncio.Event()
    stalled = asyncio.gather(*(limiter.hit(f"k{n}", FIVE) for n in range(16)))
    for _ in range(100):  # bounded: until all 16 are in flight
        if redis.calls == 16:
            break
        await asyncio.sleep(0)
    redis.gate.set()
    assert all(d.allowed for d in await stalled)
    assert limiter.failures == 16
    assert limiter.breaker.consecutive_failures == 1 and not limiter.breaker.is_open
    redis.gate = None
    await limiter.hit("k", FIVE)
    assert not limiter.breaker.is_open
    await limiter.hit("k", FIVE)  # the third failure in a row, each sent after the last
    assert limiter.breaker.is_open


async def test_consecutive_failures_open_it_and_a_probe_closes_it(moved: MovedMonotonic) -> None:
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=3)
    opened: list[bool] = []
    limiter.on_open.append(lambda: opened.append(True))
    redis.failing = True
    for _ in range(3):
        assert (await limiter.hit("k", FIVE)).allowed
    assert limiter.breaker.is_open and opened == [True]
    assert redis.calls == 3
    await limiter.hit("k", FIVE)
    assert redis.calls == 3  # open: Redis is not asked, nobody waits on it
    moved.offset += 5.0  # the cool-down has passed: one probe, which fails: open again
    await limiter.hit("k", FIVE)
    await limiter.hit("k", FIVE)
    assert redis.calls == 4 and limiter.breaker.is_open and opened == [True]
    redis.failing = False
    moved.offset += 5.0
    recovered = await limiter.hit("k", FIVE)
    assert recovered.epoch == "epoch-1" and not limiter.breaker.is_open
    await limiter.hit("k", FIVE)
    assert redis.calls == 6


async def test_a_cancelled_probe_lets_the_next_call_probe(moved: MovedMonotonic) -> None:
    """A probe cancelled mid-call (a client gone, a shutdown) must not keep the breaker open."""
    redis = FlakyRedis(moved)
    limiter = limiter_on(redis, moved, failures=1)
    redis.failing = True
    await limiter.hit("k", FIVE)
    assert limiter.breaker.is_open
    redis.failing, redis.gate = False, asyncio.Event()
    moved.offset += 5.0
    probe = asyncio.create_task(limiter.hit("k", FIVE))
    while redis.calls < 2:
        await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    redis.gate = None
    recovered = await limiter.hit("k", FIVE)  # this one probes, and Redis answers
    assert redis.calls == 3
    assert recovered.epoch == "epoch-1" and not limiter.breaker.is_open


def test_an_unconfirmed_epoch_keeps_the_cache_for_the_next_request() -> None:
    cache = CredentialCache(Redis(), "k")
    cache.observe("e1")
    cache.put("h", {"id": 1}, seen="e1")
    cache.observe(None)  # one request's limiter call failed: it vouches for nothing...
    assert cache.get("h") is None and not cache.current("e1")
    assert cache.size == 1  # ...but the rows stay
    cache.observe("e1")  # the next request sees the same epoch: the row is good again
    assert cache.get("h") == {"id": 1}
    cache.forget()  # Redis is down: changes cannot reach the epoch, so every row goes
    assert cache.size == 0
    cache.observe("e1")
    assert cache.get("h") is None


# -- a real Redis ------------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary")
    port = _free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield port, server
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()


@pytest.mark.usefixtures("migrated")
async def test_a_burst_beyond_the_pool_gets_exactly_the_limit(
    private_redis: tuple[int, subprocess.Popen[bytes]],
) -> None:
    """300 requests of one key in flight at once, 10 connections: they wait for one. (redis-py's
    default pool failed every call beyond 100 with "Too many connections", and the limiter let
    those requests through on empty local buckets.)"""
    port, server = private_redis
    await _wait_for_port(port)
    async with limited_app(
        redis_url=f"redis://127.0.0.1:{port}/0",
        rate_limit_global="50/60s",
        redis_pool_size=10,
        redis_pool_timeout_s=30,
        redis_timeout_s=5,
        redis_connect_timeout_s=10,
    ) as app:
        limiter = app.state.services.limiter
        in_flight = [0]
        charge = limiter.charge

        async def counted(charges: Any) -> Any:
            in_flight[0] += 1
            return await charge(charges)

        limiter.charge = counted
        token = await _key(app)
        async with client(app, Authorization=f"Bearer {token}") as c:
            assert (await c.get("/api/me")).status_code == 200  # the key's row is now cached
            in_flight[0] = 0
            server.send_signal(signal.SIGSTOP)  # Redis holds every call: the burst piles up
            burst = asyncio.gather(*(c.get("/api/me") for _ in range(300)))
            for _ in range(1000):  # bounded: until all 300 wait on the limiter
                if in_flight[0] == 300:
                    break
                await asyncio.sleep(0.01)
            server.send_signal(signal.SIGCONT)
            answers = await burst
        assert in_flight[0] == 300
        assert limiter.failures == 0
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 49, codes
    assert codes.count(429) == 251


@pytest.mark.usefixtures("migrated")
async def test_a_paused_redis_opens_the_breaker_and_recovery_closes_it(
    private_redis: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, server = private_redis
    await _wait_for_port(port)
    async with limited_app(
        redis_url=f"redis://127.0.0.1:{port}/0",
        rate_limit_global="100/60s",
        # Long enough that a healthy call never times out on a busy two-core machine (which
        # would add a local decision the assertions below do not expect); each paused call
        # waits this long.
        redis_timeout_s=1.0,
        redis_breaker_failures=3,
        redis_breaker_cooldown_s=10,
    ) as app:
        services = app.state.services
        moved = MovedMonotonic()
        services.limiter.breaker.clock = moved
        token = await _key(app)
        async with client(app, Authorization=f"Bearer {token}") as c:
            for _ in range(2):
                assert (await c.get("/api/me")).status_code == 200
            assert services.credentials.size == 1  # the key's row is cached

            server.send_signal(signal.SIGSTOP)  # Redis hangs: its calls time out
            slow = await c.get("/api/me")
            server.send_signal(signal.SIGCONT)
            # One slow call: that request was decided locally, nothing else changed.
            assert slow.status_code == 200
            assert slow.headers["x-ratelimit-remaining"] == "97"
            assert not services.limiter.breaker.is_open
            assert services.credentials.size == 1
            next_one = await c.get("/api/me")  # straight back to Redis
            assert services.limiter.local_decisions == 1
            # Redis ran the script that timed out once it was resumed, or never saw it.
            assert next_one.headers["x-ratelimit-remaining"] in ("96", "97")

            server.send_signal(signal.SIGSTOP)
            during = [await c.get("/api/me") for _ in range(5)]
            assert [r.status_code for r in during] == [200] * 5
            assert services.limiter.breaker.is_open  # three timeouts in a row
            assert services.limiter.failures == 4  # then Redis was not asked
            assert services.credentials.size == 0  # down: cached rows cannot be vouched for
            server.send_signal(signal.SIGCONT)

            moved.offset += 10  # the cool-down is over: the next request probes Redis
            after = await c.get("/api/me")
            assert after.status_code == 200
            assert not services.limiter.breaker.is_open
            # Redis counted 3 + the two requests that timed out on it after running the script.
            assert int(after.headers["x-ratelimit-remaining"]) <= 96
