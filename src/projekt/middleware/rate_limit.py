"""Rate limits on every response (API.md §6), keyed by credential or, anonymously, by client IP.

It runs after identification, so a valid credential's own budget is used; a request whose
credential failed is bucketed by IP (which also slows token spraying) and its 401 still carries
the headers. Failures further in are rendered here too, so 5xx answers carry them as well.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.core.errors import AppError, TooManyRequests, as_app_error, report, send_error
from projekt.core.metrics import Metrics
from projekt.core.ratelimit import Bucket, Decision, InProcessLimiter, Rate, RedisLimiter

Limiter = InProcessLimiter | RedisLimiter
# Probes are not API traffic: a load balancer must never be throttled out of its health checks.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
HEADER_NAMES = (b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset")


@dataclass(frozen=True, slots=True)
class RouteRule:
    methods: frozenset[str]
    path: re.Pattern[str]
    bucket: Bucket


class TrustedProxies:
    """``X-Forwarded-For`` counts only when the peer is one of our proxies (never by default)."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.networks or not self._trusted(peer):
            return peer
        forwarded = ",".join(
            v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"
        )
        # Walk back from our side: the first hop that is not one of our proxies is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if not self._trusted(hop):
                return hop
        return peer


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Limiter | None,
        global_rate: Rate,
        rules: Sequence[RouteRule],
        proxies: TrustedProxies,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.global_bucket = Bucket("global", global_rate)
        self.rules = list(rules)
        self.proxies = proxies
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        headers: list[tuple[bytes, bytes]] = []
        if self.limiter is not None:
            decision = await self.limiter.hit(self._identity(scope), self._buckets(scope))
            headers = _headers(decision)
            if not decision.allowed:
                self.metrics.inc("rate_limited_total")
                retry = decision.tightest.reset_s or 1
                refused = TooManyRequests(
                    f"Rate limit exceeded; retry in {retry} s.", headers={"Retry-After": str(retry)}
                )
                await send_error(send, refused, headers)
                return
        auth_error: AppError | None = state.pop("auth_error", None)
        if auth_error is not None:
            await send_error(send, auth_error, headers)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k for k, _ in message.get("headers", [])}
                if HEADER_NAMES[0] not in present:
                    message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            error = as_app_error(exc)
            report(error, state.get("request_id", "-"))
            await send_error(send, error, headers)

    def _identity(self, scope: Scope) -> str:
        principal = scope["state"].get("principal")
        if principal is not None:
            return f"cred:{principal.credential_hash}"
        return f"ip:{self.proxies.client_ip(scope)}"

    def _buckets(self, scope: Scope) -> list[Bucket]:
        buckets = [self.global_bucket]
        method, path = scope["method"], scope["path"]
        for rule in self.rules:
            if method in rule.methods and rule.path.match(path):
                buckets.append(rule.bucket)
        return buckets


def _headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    state = decision.tightest
    values = (state.bucket.rate.limit, state.remaining, state.reset_s)
    return [(name, str(v).encode()) for name, v in zip(HEADER_NAMES, values, strict=True)]
