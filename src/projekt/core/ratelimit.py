"""Sliding-window rate limiting: an exact moving-window log, in Redis or in process.

Each request checks every bucket that applies to it (the global one and, on some routes, a
tighter one) in one atomic step: either it fits in all of them and is recorded in all of them,
or it is refused and recorded in none. With Redis this is one Lua script, one round trip, and
Redis's own clock, so any number of workers and hosts share one exact budget.

Why not the ``limits`` library: its moving window needs a round trip to record a hit and another
to read the window's remaining count and reset time, per bucket, and it cannot check two buckets
atomically (a request refused by the route's bucket would still spend the global one). One
script does both buckets in one round trip.

Every bucket says what it is keyed by (``Key``): the presented credential for the global budget,
the client IP for caps on anonymous endpoints (a credential must not buy a fresh count), the
person, or the person in one org.

Redis trouble comes in two kinds. A single slow or failed call (a busy event loop, a full
connection pool) is answered for that request alone from local buckets seeded with the counts
Redis last reported. Redis being down is told by a circuit breaker: after
``failures_to_open`` consecutive failures every request is limited locally, without waiting
on Redis, until a probe after ``cooldown_s`` succeeds. Local budgets are a share of the real
one (``workers``), so the processes together stay within it (docs/decisions.md).
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from projekt.core.redis_script import close_script, script_for

logger = logging.getLogger("projekt.ratelimit")

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*([smh])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``600/60s``, ``10/1h``, ``5/m``."""
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"rate limits look like 600/60s or 10/1h, not {text!r}")
        limit, amount, unit = int(match[1]), int(match[2] or 1), match[3]
        if limit < 1 or amount < 1:
            raise ValueError("a rate needs a positive limit and window")
        return cls(limit, amount * _UNITS[unit])

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_s}s"


class Key(StrEnum):
    """What a bucket counts by. A caller without the person or org a key needs (anonymous, or
    a credential that failed) is counted by client IP."""

    CREDENTIAL = "credential"  # the presented token or session (API.md §6's global budget)
    IP = "ip"  # the client address, whatever credential the request carries
    PERSON = "person"  # the signed-in person, across credentials and orgs
    PERSON_ORG = "person_org"  # the signed-in person in the org the request acts in


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    rate: Rate
    key: Key = Key.CREDENTIAL


@dataclass(frozen=True, slots=True)
class Limit:
    """A route's bucket as the policy declares it: the rate comes from a setting."""

    bucket: str
    setting: str  # the Settings field holding the rate, e.g. "rate_limit_search"
    key: Key


# One charge: the subject (``ip:…``, ``person:…``) the bucket is counted for, and the bucket.
Charge = tuple[str, Bucket]


@dataclass(frozen=True, slots=True)
class BucketState:
    bucket: Bucket
    count: int  # requests in the window, this one included when allowed
    reset_s: int  # whole seconds until the oldest request leaves the window

    @property
    def remaining(self) -> int:
        return max(0, self.bucket.rate.limit - self.count)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    states: tuple[BucketState, ...]
    # The credential epoch read in the same round trip (Redis only; None when Redis did not
    # answer): cached credentials are valid while it stays the same (``auth.cache``).
    epoch: str | None = None

    @property
    def tightest(self) -> BucketState:
        """The bucket to report: a refusing one, else the one with the least room left."""
        refusing = [s for s in self.states if s.count >= s.bucket.rate.limit and not self.allowed]
        pool = refusing or list(self.states)
        return min(pool, key=lambda s: (s.remaining, s.bucket.rate.limit, -s.reset_s))


class InProcessLimiter:
    """The same algorithm for one process (the embedded default, and the Redis fallback)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._log: dict[str, collections.deque[float]] = {}
        self._calls = 0

    async def hit(self, identity: str, buckets: Sequence[Bucket]) -> Decision:
        return self.take([(identity, bucket) for bucket in buckets])

    async def charge(self, charges: Sequence[Charge]) -> Decision:
        return self.take(charges)

    def take(self, charges: Sequence[Charge]) -> Decision:
        now = self._clock()
        logs = []
        buckets = [bucket for _, bucket in charges]
        for subject, bucket in charges:
            log = self._log.setdefault(f"{subject}:{bucket.name}", collections.deque())
            horizon = now - bucket.rate.window_s
            while log and log[0] <= horizon:
                log.popleft()
            logs.append(log)
        allowed = all(len(log) < b.rate.limit for log, b in zip(logs, buckets, strict=True))
        states = []
        for log, bucket in zip(logs, buckets, strict=True):
            if allowed:
                log.append(now)
            reset = (log[0] + bucket.rate.window_s - now) if log else 0.0
            states.append(BucketState(bucket, len(log), math.ceil(max(reset, 0.0))))
        self._sweep()
        return Decision(allowed, tuple(states))

    def _sweep(self) -> None:
        self._calls += 1
        if self._calls % 10_000:
            return
        for key in [k for k, log in self._log.items() if not log]:
            del self._log[key]


# KEYS: one sorted set per bucket, then the credential epoch. ARGV[1]: a member unique to this
# request; then, per bucket, its limit and window in seconds. Scores are Redis's own clock in
# microseconds. A missing epoch (a new or restarted Redis) starts at the clock, so it never
# repeats a value some worker still holds.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local buckets = #KEYS - 1
local epoch = redis.call('GET', KEYS[#KEYS])
if not epoch then
  epoch = string.format('%.0f', now)
  redis.call('SET', KEYS[#KEYS], epoch)
end
local counts = {}
local allowed = 1
for i = 1, buckets do
  local limit = tonumber(ARGV[i * 2])
  local window = tonumber(ARGV[i * 2 + 1]) * 1000000
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  counts[i] = redis.call('ZCARD', KEYS[i])
  if counts[i] >= limit then allowed = 0 end
end
local result = {allowed, epoch}
for i = 1, buckets do
  local window = tonumber(ARGV[i * 2 + 1]) * 1000000
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000))
    counts[i] = counts[i] + 1
  end
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = 0
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  result[#result + 1] = counts[i]
  result[#result + 1] = reset
end
return result
"""


class CircuitBreaker:
    """Tells "Redis is down" from "this call was slow".

    Closed, every call goes to Redis. ``failures_to_open`` failures in a row open it: calls skip
    Redis (no waiting on a dead server) until ``cooldown_s`` has passed, then one call probes
    (half-open). A success closes it, a failure opens it again for another cool-down.

    "In a row" means each failed call was sent after the previous failure was seen: calls that
    were in flight together and failed together (a stalled event loop times them all out at
    once) count as one failure, not as many."""

    def __init__(
        self, failures_to_open: int, cooldown_s: float, clock: Callable[[], float]
    ) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.consecutive_failures = 0
        self.open_until: float | None = None  # None: closed
        self._last_failure = -math.inf
        self._probe_sent: float | None = None

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    def admit(self) -> float | None:
        """When this call may go to Redis, the time it is sent (to pass back); else None."""
        now = self.clock()
        if self.open_until is None:
            return now
        if self._probe_sent is not None or now < self.open_until:
            return None
        self._probe_sent = now  # half-open: this call is the probe, the others stay local
        return now

    def succeeded(self) -> bool:
        """Record a success; True when it closed the breaker."""
        was_open = self.open_until is not None
        self.consecutive_failures = 0
        self.open_until = None
        self._probe_sent = None
        return was_open

    def abandoned(self, sent: float) -> None:
        """A call that ended without an answer either way (cancelled): if it was the probe,
        the next call probes instead; otherwise the breaker would stay open for good."""
        if self._probe_sent is not None and sent >= self._probe_sent:
            self._probe_sent = None

    def failed(self, sent: float) -> bool:
        """Record a failure of a call sent at ``sent``; True when it opened the breaker."""
        now = self.clock()
        if self.open_until is not None:
            if self._probe_sent is not None and sent >= self._probe_sent:
                self.open_until = now + self.cooldown_s  # the probe failed: wait again
                self._probe_sent = None
            return False
        if sent < self._last_failure:
            return False  # in flight when a failure was already seen: the same stall
        self._last_failure = now
        self.consecutive_failures += 1
        if self.consecutive_failures < self.failures_to_open:
            return False
        self.open_until = now + self.cooldown_s
        return True


@functools.cache
def _rate_args(rate: Rate) -> tuple[bytes, bytes]:
    """A bucket's script arguments, encoded once."""
    return str(rate.limit).encode(), str(rate.window_s).encode()


class RedisLimiter:
    """Shared buckets in Redis; local buckets for a call that failed and while Redis is down.

    Local decisions are conservative: a bucket starts from the count Redis last reported for
    it (as if those requests had all just arrived) and each of ``workers`` processes may only
    take its share of what is left, so together they stay within the real budget."""

    MAX_SEEN = 100_000  # remembered counts, least recently seen dropped first

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        fallback: InProcessLimiter,
        epoch_key: str,
        *,
        breaker: CircuitBreaker | None = None,
        workers: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._epoch_key = epoch_key
        # The lean pipelined path (``core.redis_script``) where it can reach the server.
        self._script = script_for(redis, _SCRIPT)
        self._fallback = fallback
        self._workers = workers
        self.breaker = breaker or CircuitBreaker(5, 1.0, clock)
        self.failures = 0  # every failed call, for /metrics
        self.local_decisions = 0  # requests decided from local buckets
        # Called when the breaker opens: Redis is down, so what depends on it (the credential
        # epoch) cannot be trusted until it answers again.
        self.on_open: list[Callable[[], None]] = []
        self._seen: dict[str, tuple[int, float]] = {}  # key -> (count, when) as Redis said
        # Each request's member of the sorted sets: this limiter's random prefix and a count, as
        # unique as a fresh random value per request and without its system call.
        self._members = map(f"{secrets.token_hex(8)}.{{}}".format, itertools.count())

    async def hit(self, identity: str, buckets: Sequence[Bucket]) -> Decision:
        return await self.charge([(identity, bucket) for bucket in buckets])

    async def charge(self, charges: Sequence[Charge]) -> Decision:
        keys = [f"{self._prefix}:rl:{subject}:{bucket.name}" for subject, bucket in charges]
        sent = self.breaker.admit()
        if sent is None:
            return self._local(keys, charges)
        # The script also reads the one credential epoch, so this needs one Redis (replicas or
        # Sentinel are fine), not Cluster.
        args: list[Any] = [next(self._members)]
        for _, bucket in charges:
            args += _rate_args(bucket.rate)
        try:
            raw = await self._script(keys=[*keys, self._epoch_key], args=args)
        except Exception as exc:  # any Redis trouble: keep serving from local buckets
            self.failures += 1
            if self.breaker.failed(sent):
                logger.warning(
                    "rate limiter: Redis failed %d times in a row (%s); limiting in process, "
                    "next try in %.1f s",
                    self.breaker.consecutive_failures,
                    exc,
                    self.breaker.cooldown_s,
                )
                for callback in self.on_open:
                    callback()
            else:
                # One slow call (a busy event loop, a full pool) is not an outage.
                logger.debug("rate limiter: a Redis call failed (%s); decided locally", exc)
            return self._local(keys, charges)
        except BaseException:
            self.breaker.abandoned(sent)
            raise
        if self.breaker.succeeded():
            logger.warning("rate limiter: Redis answers again; shared limits resume")
        now = self.breaker.clock()
        states = []
        for i, (key, (_, bucket)) in enumerate(zip(keys, charges, strict=True)):
            count = int(raw[2 + i * 2])
            self._remember(key, count, now)
            reset = math.ceil(max(int(raw[3 + i * 2]), 0) / 1e6)
            states.append(BucketState(bucket, count, reset))
        return Decision(bool(raw[0]), tuple(states), raw[1].decode())

    async def close(self) -> None:
        await close_script(self._script)

    def _remember(self, key: str, count: int, now: float) -> None:
        seen = self._seen
        seen.pop(key, None)  # re-inserted last: the dict stays in order of recency
        seen[key] = (count, now)
        if len(seen) > self.MAX_SEEN:
            for stale in list(itertools.islice(seen, len(seen) // 2)):
                del seen[stale]

    def _local(self, keys: Sequence[str], charges: Sequence[Charge]) -> Decision:
        self.local_decisions += 1
        now = self.breaker.clock()
        local: list[Charge] = []
        seeds: list[tuple[int, int, int]] = []  # per bucket: used as last seen, share, reset
        for key, (_, bucket) in zip(keys, charges, strict=True):
            window = bucket.rate.window_s
            count, when = self._seen.get(key, (0, -math.inf))
            used = count if now - when < window else 0
            share = max(0, bucket.rate.limit - used) // self._workers
            reset = math.ceil(when + window - now) if used else 0
            seeds.append((used, share, reset))
            local.append((key, replace(bucket, rate=Rate(share, window))))
        decision = self._fallback.take(local)
        states = []
        for state, (_, bucket), (used, share, reset) in zip(
            decision.states, charges, seeds, strict=True
        ):
            # Report the real bucket: its limit, and no room left once this worker's share is.
            count = min(bucket.rate.limit, used + state.count * self._workers)
            if state.count >= share:
                count = bucket.rate.limit
            states.append(BucketState(bucket, count, max(state.reset_s, reset)))
        return Decision(decision.allowed, tuple(states))
