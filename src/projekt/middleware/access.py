"""Who is calling, and may they call now: identity and rate limits in one layer.

Identification reads the bearer token (or ``X-Auth-Token``) or the session cookie; whether the
caller may use a route is decided later, by the ``authorize`` dependency. Each bucket of the rate
limit (API.md §6) counts by what it declares (``Key``): the global one by the credential, caps
on sign-in, sign-up and client registration by client IP, others by the person (in the org).
Anonymous callers and failed credentials count by client IP (which also slows token spraying).
Identity errors are answered after the limit is counted, so a 401 carries the rate-limit
headers; so does every failure further in, which is rendered here too.

The two steps share the limiter's round trip: it also reads the credential epoch, which says
whether a token row this worker had cached still holds (``projekt.auth.cache``).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projekt.auth.credentials import CredentialResolver, TokenLookup
from projekt.core import scope as asgi
from projekt.core.context import Principal
from projekt.core.errors import (
    AmbiguousCredentials,
    AmbiguousSessionCookie,
    AppError,
    BadAuthorization,
    BadOrgHeader,
    TooManyRequests,
    as_app_error,
    report,
    send_error,
)
from projekt.core.metrics import Metrics
from projekt.core.ratelimit import (
    Bucket,
    Charge,
    Decision,
    InProcessLimiter,
    Key,
    Rate,
    RedisLimiter,
)
from projekt.web.pages import org_cookie_name

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


class AccessMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        resolver: CredentialResolver,
        cookie_name: str,
        limiter: Limiter | None,
        global_rate: Rate,
        rules: Sequence[RouteRule],
        proxies: TrustedProxies,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.resolver = resolver
        self.cookie_name = cookie_name
        self.limiter = limiter
        self.global_bucket = Bucket("global", global_rate)
        self.rules = list(rules)
        self.proxies = proxies
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        caller = _Caller(self.resolver)
        await caller.identify(scope, self.cookie_name)
        headers: list[tuple[bytes, bytes]] = []
        if self.limiter is not None:
            decision = await self.limiter.charge(self._charges(scope, caller))
            headers = _headers(decision)
            if not decision.allowed:
                self.metrics.inc("rate_limited_total")
                retry = decision.tightest.reset_s or 1
                refused = TooManyRequests(
                    f"Rate limit exceeded; retry in {retry} s.", headers={"Retry-After": str(retry)}
                )
                await send_error(send, refused, headers)
                return
            await caller.confirm(decision.epoch)
        else:
            await caller.confirm(None)
        asgi.set_principal(scope, caller.principal)
        if caller.error is not None:
            report(caller.error, asgi.request_id(scope) or "-")  # a 5xx must reach the log
            await send_error(send, caller.error, headers)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k for k, _ in message.get("headers", [])}
                if headers and HEADER_NAMES[0] not in present:
                    message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            error = as_app_error(exc)
            report(error, asgi.request_id(scope) or "-")
            await send_error(send, error, headers)

    def _charges(self, scope: Scope, caller: _Caller) -> list[Charge]:
        """The buckets this request spends, each with the subject it is counted for."""
        subjects = _Subjects(scope, caller.principal, self.proxies)
        charges = [(subjects.of(self.global_bucket.key), self.global_bucket)]
        method, path = scope["method"], scope["path"]
        for rule in self.rules:
            if method in rule.methods and rule.path.match(path):
                charges.append((subjects.of(rule.bucket.key), rule.bucket))
        return charges


class _Subjects:
    """Who a bucket counts, by its ``Key``; the client IP when the key's subject is unknown."""

    __slots__ = ("principal", "proxies", "scope")

    def __init__(self, scope: Scope, principal: Principal | None, proxies: TrustedProxies):
        self.scope = scope
        self.principal = principal
        self.proxies = proxies

    def of(self, key: Key) -> str:
        principal = self.principal
        if principal is None or key is Key.IP:
            return f"ip:{client_subnet(self.proxies.client_ip(self.scope))}"
        if key is Key.CREDENTIAL:
            return f"cred:{principal.credential_hash}"
        if key is Key.PERSON:
            return f"person:{principal.user_id}"
        # A token is bound to its org; a session names it in X-Org-Id or, on the web pages,
        # in the org cookie the page itself acts on (read the way the page reads it).
        org = principal.org_id or _web_org(self.scope)
        return f"person:{principal.user_id}:org:{org}"


def client_subnet(address: str) -> str:
    """What an IP bucket counts: the address, or for IPv6 its /64, which one subscriber holds
    whole (2^64 addresses would otherwise be 2^64 fresh buckets)."""
    if ":" not in address:
        return address
    try:
        network = ipaddress.IPv6Network(f"{address}/64", strict=False)
    except ValueError:
        return address
    return str(network)


def _web_org(scope: Scope) -> uuid.UUID | None:
    header = Headers(scope=scope).get("cookie")
    if not header:
        return None
    try:
        name = org_cookie_name(scope["app"].state.services.settings)  # the page's own name
        return uuid.UUID(cookie_parser(header).get(name, ""))
    except ValueError:
        return None


class _Caller:
    """One request's identification: the principal, or the error to answer with."""

    __slots__ = ("error", "lookup", "org_id", "principal", "resolver", "resource")

    def __init__(self, resolver: CredentialResolver) -> None:
        self.resolver = resolver
        self.principal: Principal | None = None
        self.error: AppError | None = None
        self.lookup: TokenLookup | None = None  # an admitted token's row, to be confirmed
        self.org_id: uuid.UUID | None = None
        self.resource: str | None = None  # the audience a token must have on this path

    async def identify(self, scope: Scope, cookie_name: str) -> None:
        try:
            self.principal = await self._identify(scope, cookie_name)
        except Exception as exc:
            self.principal, self.lookup, self.error = None, None, as_app_error(exc)

    async def confirm(self, epoch: str | None) -> None:
        """Check an admitted token against the epoch the limiter read (a cached row may have
        gone stale since; it is then read and admitted again)."""
        if self.lookup is None:
            return
        try:
            fresh = await self.resolver.confirm(self.lookup, epoch, self.org_id, self.resource)
        except Exception as exc:
            self.principal, self.error = None, as_app_error(exc)
            return
        if fresh is not None:
            self.principal = fresh

    async def _identify(self, scope: Scope, cookie_name: str) -> Principal | None:
        authorization: list[str] = []
        auth_token: list[str] = []
        org_ids: list[str] = []
        cookie_headers: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization.append(value.decode("latin-1"))
            elif name == b"x-auth-token":
                auth_token.append(value.decode("latin-1").strip())
            elif name == b"x-org-id":
                org_ids.append(value.decode("latin-1").strip())
            elif name == b"cookie":
                cookie_headers.append(value.decode("latin-1"))
        self.org_id = _org_header(org_ids)
        if len(cookie_headers) > 1:
            # Browsers send one (RFC 6265 §5.4); everything else that reads cookies (the CSRF
            # check, the web pages' org) reads the first, so only one can mean one thing.
            raise AmbiguousSessionCookie("Send one Cookie header.")
        cookie_header = cookie_headers[0] if cookie_headers else ""
        if scope["path"].startswith("/oauth/"):
            # The authorization server's own endpoints read client credentials (HTTP Basic)
            # themselves; only the consent page needs to know the signed-in person.
            authorization = [a for a in authorization if not a.lower().startswith("basic ")]
        token = _presented_token(authorization, auth_token)
        if token is not None:
            self.resource = self.resolver.settings.resource_for(scope["path"])
            lookup = await self.resolver.lookup(token, self.resource)
            principal = await self.resolver.admit(lookup, self.org_id, self.resource)
            self.lookup = lookup
            return principal
        raw = _cookie(cookie_header, cookie_name) if cookie_header else None
        if raw:
            return await self.resolver.from_session(raw, self.org_id)
        return None


def _org_header(values: list[str]) -> uuid.UUID | None:
    if not values:
        return None
    if len(set(values)) > 1:
        raise BadOrgHeader("X-Org-Id was sent more than once with different values.")
    try:
        return uuid.UUID(values[0])
    except ValueError:
        raise BadOrgHeader("X-Org-Id must be an organization's UUID.") from None


def _presented_token(authorization: list[str], auth_token: list[str]) -> str | None:
    if len(authorization) > 1 or len(set(auth_token)) > 1:
        raise AmbiguousCredentials("Send one credential per request.")
    bearer = None
    if authorization:
        scheme, _, value = authorization[0].strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BadAuthorization("Authorization must be 'Bearer <token>'.")
        bearer = value.strip()
    fallback = auth_token[0] if auth_token else None
    if bearer and fallback and bearer != fallback:
        raise AmbiguousCredentials("Authorization and X-Auth-Token carry different tokens.")
    return bearer or fallback or None


def _cookie(header: str, name: str) -> str | None:
    """The named cookie, read by Starlette's parser (the one ``Request.cookies`` uses), so
    identity and the CSRF check see the same value; a name sent twice is refused."""
    values = [
        v for piece in header.split(";") for k, v in cookie_parser(piece).items() if k == name
    ]
    if len(values) > 1:
        raise AmbiguousSessionCookie("The session cookie was sent more than once.")
    return values[0] if values else None


def _headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    state = decision.tightest
    values = (state.bucket.rate.limit, state.remaining, state.reset_s)
    return [(name, str(v).encode()) for name, v in zip(HEADER_NAMES, values, strict=True)]
