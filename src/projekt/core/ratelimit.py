"""Sliding-window rate limiting: an exact moving-window log, in Redis or in process.

Each request checks every bucket that applies to it (the global one and, on some routes, a
tighter one) in one atomic step: either it fits in all of them and is recorded in all of them,
or it is refused and recorded in none. With Redis this is one Lua script, one round trip, and
Redis's own clock, so any number of workers and hosts share one exact budget.

Why not the ``limits`` library: its moving window needs a round trip to record a hit and another
to read the window's remaining count and reset time, per bucket, and it cannot check two buckets
atomically (a request refused by the route's bucket would still spend the global one). One
script does both buckets in one round trip.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

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


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    rate: Rate


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
        now = self._clock()
        logs = []
        for bucket in buckets:
            log = self._log.setdefault(f"{identity}:{bucket.name}", collections.deque())
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


class RedisLimiter:
    """Shared buckets in Redis; falls back to the process's own buckets while Redis fails."""

    RETRY_AFTER_FAILURE_S = 1.0

    def __init__(
        self, redis: Redis, prefix: str, fallback: InProcessLimiter, epoch_key: str
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._epoch_key = epoch_key
        self._script = redis.register_script(_SCRIPT)
        self._fallback = fallback
        self._down_until = 0.0
        self.failures = 0

    async def hit(self, identity: str, buckets: Sequence[Bucket]) -> Decision:
        if time.monotonic() < self._down_until:
            return await self._fallback.hit(identity, buckets)
        # One caller's buckets share the {identity} hash tag; the script also reads the one
        # credential epoch, so this needs one Redis (replicas or Sentinel are fine), not Cluster.
        keys = [f"{self._prefix}:rl:{{{identity}}}:{b.name}" for b in buckets]
        keys.append(self._epoch_key)
        args: list[Any] = [secrets.token_hex(8)]
        for bucket in buckets:
            args += [bucket.rate.limit, bucket.rate.window_s]
        try:
            raw = await self._script(keys=keys, args=args)
        except Exception as exc:  # any Redis trouble: keep serving from local buckets
            self.failures += 1
            self._down_until = time.monotonic() + self.RETRY_AFTER_FAILURE_S
            logger.warning("rate limiter: Redis unavailable (%s); using in-process buckets", exc)
            return await self._fallback.hit(identity, buckets)
        states = tuple(
            BucketState(b, int(raw[2 + i * 2]), math.ceil(max(int(raw[3 + i * 2]), 0) / 1e6))
            for i, b in enumerate(buckets)
        )
        return Decision(bool(raw[0]), states, raw[1].decode())
