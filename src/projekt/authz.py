"""Default-deny authorization driven by one matrix kept as data (``projekt.policy``).

Middleware has already identified the caller; this dependency runs on every route and decides
whether the route's rule admits them, resolving the org the route acts in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope

from projekt.core import scope as asgi
from projekt.core.context import CredentialKind, OrgContext, Principal, Role
from projekt.core.deps import principal_of, services_of
from projekt.core.errors import (
    CsrfFailed,
    InsufficientRole,
    NoRule,
    NotAMember,
    OrgRequired,
    TokenForbidden,
)
from projekt.core.route_index import route_scope
from projekt.core.security import csrf_token_for, same
from projekt.orgs.errors import OrgNotFound
from projekt.orgs.service import find_membership

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Audience(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not
    USER = "user"  # any signed-in caller; no org involved
    ORG = "org"  # a member of the org named by the credential or X-Org-Id
    PATH_ORG = "path_org"  # a member of the org named in the path ({org_id})


@dataclass(frozen=True, slots=True)
class Rule:
    audience: Audience
    min_role: Role = Role.VIEWER
    tokens: bool = True  # False: PAT and OAuth tokens get 403 (cross-org or key-management routes)
    csrf: bool = True  # cookie-authenticated writes must carry the CSRF token


def public() -> Rule:
    return Rule(Audience.PUBLIC, csrf=False)


def web() -> Rule:
    """A server-rendered page: it checks the session itself (and redirects to sign-in), but a
    form post that arrives with a session cookie must still carry the CSRF token."""
    return Rule(Audience.PUBLIC)


def user(*, tokens: bool = True) -> Rule:
    return Rule(Audience.USER, tokens=tokens)


def org(min_role: Role = Role.VIEWER, *, tokens: bool = True) -> Rule:
    return Rule(Audience.ORG, min_role, tokens)


def path_org(min_role: Role = Role.VIEWER) -> Rule:
    return Rule(Audience.PATH_ORG, min_role)


async def authorize(request: Request) -> OrgContext | None:
    """Admit the caller to the route by its rule, or raise. Returns the ``OrgContext`` it
    checked (None for a route without an org), also left in the scope for ``OrgDep``."""
    route = request.scope.get("route")
    policy: dict[str, Rule] = request.app.state.policy
    rule = policy.get(getattr(route, "name", ""))
    if rule is None:
        raise NoRule()
    if rule.audience is Audience.PUBLIC:
        present = asgi.principal(request.scope)
        is_session = present is not None and present.kind is CredentialKind.SESSION
        if rule.csrf and is_session and request.method in UNSAFE_METHODS:
            await _check_csrf(request)
        return None
    principal = principal_of(request)
    if principal.is_token and not rule.tokens:
        raise TokenForbidden()
    if rule.csrf and principal.kind is CredentialKind.SESSION and request.method in UNSAFE_METHODS:
        await _check_csrf(request)
    if rule.audience is Audience.ORG:
        context = _header_org(principal, rule, _request_id(request))
    elif rule.audience is Audience.PATH_ORG:
        context = await _path_org(request, principal, rule)
    else:
        return None
    asgi.set_org_context(request.scope, context)
    return context


async def readmit(scope: Scope, receive: Receive) -> None:
    """Raise what ``authorize`` would raise for this request, run now: a stored answer to an
    ``Idempotency-Key`` is replayed only to a caller the route admits at the time of the
    replay (the middleware answers before routing). Without it a key kept by the user's session
    replayed a minted key's plaintext to that user's PAT, which may not mint keys, and a member
    removed from the org went on getting the org's answers."""
    child_scope = route_scope(scope["app"].router, scope)
    if child_scope is None:
        raise NoRule()
    route = child_scope["route"]
    if isinstance(route, APIRoute):
        await authorize(Request({**scope, **child_scope}, receive))
        return
    endpoint = getattr(route, "app", None)
    if isinstance(endpoint, Readmits):  # an endpoint outside the table that admits for itself
        await endpoint.readmit(scope)
        return
    raise NoRule()


@runtime_checkable
class Readmits(Protocol):
    """An ASGI endpoint outside FastAPI's routes (``/mcp``) that checks its callers itself."""

    async def readmit(self, scope: Scope) -> None:
        """Raise what the endpoint would answer this caller before running anything."""


def admit_in_org(principal: Principal, rule: Rule, request_id: str | None = None) -> OrgContext:
    """What ``authorize`` decides for an org route, for a caller outside routing: an MCP tool
    follows the rule of the REST route it names (``projekt.mcp``)."""
    if rule.audience is not Audience.ORG:
        raise NoRule()
    if principal.is_token and not rule.tokens:
        raise TokenForbidden()
    return _header_org(principal, rule, request_id)


def _header_org(principal: Principal, rule: Rule, request_id: str | None) -> OrgContext:
    if principal.org_id is None:
        raise OrgRequired()
    if principal.role is None or principal.membership_id is None:
        raise NotAMember()
    return _admit(
        principal, principal.org_id, principal.role, principal.membership_id, rule, request_id
    )


async def _path_org(request: Request, principal: Principal, rule: Rule) -> OrgContext:
    try:
        org_id = uuid.UUID(str(request.path_params.get("org_id")))
    except ValueError:
        raise OrgNotFound() from None
    if principal.org_id == org_id and principal.role and principal.membership_id:
        return _admit(
            principal, org_id, principal.role, principal.membership_id, rule, _request_id(request)
        )
    if principal.is_token:
        # A token only ever sees its bound org; anything else does not exist for it.
        raise OrgNotFound()
    # A session of its own, read-only and closed before the route runs (listed among the
    # transaction owners in docs/architecture.md): this app-level dependency runs before the
    # route's unit of work exists, and only cookie callers on another org's path get here.
    async with services_of(request).db.read() as session:
        found = await find_membership(session, org_id, principal.user_id)
    if found is None:
        raise OrgNotFound()
    membership_id, role = found
    return _admit(principal, org_id, role, membership_id, rule, _request_id(request))


def _request_id(request: Request) -> str | None:
    return asgi.request_id(request.scope)


def _admit(
    principal: Principal,
    org_id: uuid.UUID,
    role: Role,
    membership_id: uuid.UUID,
    rule: Rule,
    request_id: str | None,
) -> OrgContext:
    if not role.at_least(rule.min_role):
        raise InsufficientRole(
            f"This needs the {rule.min_role.value} role or higher; yours is {role.value}."
        )
    # The request id rides on the context: every event the route records carries it.
    return OrgContext(principal, org_id, role, membership_id, request_id)


async def _check_csrf(request: Request) -> None:
    """Cookie-authenticated writes must prove they come from our pages (double-submit token)."""
    raw = request.cookies.get(services_of(request).settings.session_cookie_name, "")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not raw or not sent or not same(sent, csrf_token_for(raw)):
        raise CsrfFailed()
