"""Identify the caller before routing: bearer token, X-Auth-Token fallback, or session cookie.

Only identification happens here (the rate limiter keys on it); whether the caller may use a
route is decided by the ``authorize`` dependency.
"""

from __future__ import annotations

import uuid
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from projekt.auth.credentials import CredentialResolver
from projekt.core.context import Principal
from projekt.core.errors import BadRequest, as_app_error


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, *, resolver: CredentialResolver, cookie_name: str) -> None:
        self.app = app
        self.resolver = resolver
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            state["principal"] = await self._identify(scope)
        except Exception as exc:
            # Answered by the rate limiter, so that this 401/400/403/503 carries its headers
            # and a failed credential is bucketed by IP.
            state["principal"] = None
            state["auth_error"] = as_app_error(exc)
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope) -> Principal | None:
        authorization: list[str] = []
        auth_token: list[str] = []
        org_ids: list[str] = []
        cookie_header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization.append(value.decode("latin-1"))
            elif name == b"x-auth-token":
                auth_token.append(value.decode("latin-1").strip())
            elif name == b"x-org-id":
                org_ids.append(value.decode("latin-1").strip())
            elif name == b"cookie":
                cookie_header += value.decode("latin-1") + ";"
        org_id = _org_header(org_ids)
        if scope["path"].startswith("/oauth/"):
            # The authorization server's own endpoints read client credentials (HTTP Basic)
            # themselves; only the consent page needs to know the signed-in person.
            authorization = [a for a in authorization if not a.lower().startswith("basic ")]
        token = _presented_token(authorization, auth_token)
        if token is not None:
            return await self.resolver.from_token(token, org_id)
        raw = _cookie(cookie_header, self.cookie_name) if cookie_header else None
        if raw:
            return await self.resolver.from_session(raw, org_id)
        return None


def _org_header(values: list[str]) -> uuid.UUID | None:
    if not values:
        return None
    if len(set(values)) > 1:
        raise BadRequest(
            "X-Org-Id was sent more than once with different values.", code="bad_org_header"
        )
    try:
        return uuid.UUID(values[0])
    except ValueError:
        raise BadRequest(
            "X-Org-Id must be an organization's UUID.", code="bad_org_header"
        ) from None


def _presented_token(authorization: list[str], auth_token: list[str]) -> str | None:
    if len(authorization) > 1 or len(set(auth_token)) > 1:
        raise BadRequest("Send one credential per request.", code="ambiguous_credentials")
    bearer = None
    if authorization:
        scheme, _, value = authorization[0].strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BadRequest("Authorization must be 'Bearer <token>'.", code="bad_authorization")
        bearer = value.strip()
    fallback = auth_token[0] if auth_token else None
    if bearer and fallback and bearer != fallback:
        raise BadRequest(
            "Authorization and X-Auth-Token carry different tokens.", code="ambiguous_credentials"
        )
    return bearer or fallback or None


def _cookie(header: str, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None
