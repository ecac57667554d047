"""Route matching by a table: a request tries only the routes its first path segments allow.

FastAPI (like Starlette) matches a request by trying every route's regex in declaration order,
and an included router's routes twice (once to pick the router, once inside it): about 160
routes here, so a request for a route near the end paid ~100 regex matches. The index is built
from the app's own routes (FastAPI's declarations stay the only source: the spec and the policy
table read them) and keeps Starlette's rule exactly: among the routes that can match, the first
full match in declaration order wins, else the first partial one (the method differs: 405 with
``Allow``). Anything the table does not answer — no match (404, ``redirect_slashes``), websocket
and lifespan — goes to FastAPI's router as before.

What FastAPI does once a route is picked is repeated here (the scope keys its handlers read);
those are private names of ``fastapi.routing``, so ``RouteIndex.build`` refuses a router shape
it does not know (nested inclusions, frontend or low-priority routes) and the app then keeps
FastAPI's matching. ``tests/core/test_route_index.py`` checks that the table is in use and
picks what FastAPI's linear matching picks, route by route.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    APIRoute,
    APIRouter,
    _apply_router_form_limits,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _update_scope,
)
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

# How many leading path segments key the table: /api/<domain> separates the domains; deeper
# keys would only split lists that are already short.
DEPTH = 2
_PARAM = re.compile(r"{[^}]*}")

Key = tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One route as the app's router would try it, in declaration order."""

    order: int
    top: BaseRoute  # the app router's own route: an inclusion, a mount, a route
    context: _EffectiveRouteContext | None  # the route inside an inclusion

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.context is None:
            return self.top.matches(scope)
        match, child_scope = self.context.matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self.context.original_route  # as APIRoute.matches adds
        return match, child_scope


def head(path_format: str | None) -> Key:
    """The literal segments every path this route matches starts with (at most ``DEPTH``)."""
    if path_format is None:
        return ()
    literal, param, _ = path_format.partition("{")
    pieces = literal.split("/")[1:]
    if param:
        pieces = pieces[:-1]  # the piece a parameter continues is not a whole segment
    return tuple(pieces[:DEPTH])


def request_key(path: str) -> Key:
    return tuple(path.split("/", DEPTH + 1)[1 : DEPTH + 1])


class RouteIndex:
    """The app router's routes by their leading segments; see the module's docstring."""

    def __init__(self, router: APIRouter, entries: Sequence[tuple[Key, Entry]]) -> None:
        self.router = router
        self.fallback: ASGIApp = router.app
        self.routes_seen = (len(router.routes), router._routes_version)
        by_key: dict[Key, list[Entry]] = {}
        for key, entry in entries:
            by_key.setdefault(key, []).append(entry)
        root = by_key.get((), [])
        self.root: tuple[Entry, ...] = tuple(root)
        self.table: dict[Key, tuple[Entry, ...]] = {}
        for key in by_key:
            # Everything a path under `key` could match: its own routes and every shorter head.
            wanted = [by_key.get(key[:n], []) for n in range(len(key) + 1)]
            merged = sorted({id(e): e for group in wanted for e in group}.values(),
                            key=lambda e: e.order)  # fmt: skip
            self.table[key] = tuple(merged)

    @classmethod
    def build(cls, router: APIRouter) -> RouteIndex | None:
        """The index of ``router``'s routes, or None for a shape it does not reproduce."""
        if router._low_priority_routes or router._frontend_routes is not None:
            return None
        entries: list[tuple[Key, Entry]] = []
        for top in router.routes:
            if isinstance(top, _IncludedRouter):
                inner = top.original_router
                if inner._low_priority_routes or inner._frontend_routes is not None:
                    return None
                for candidate in top.effective_candidates():
                    if isinstance(candidate, _IncludedRouter) or not isinstance(
                        candidate.original_route, APIRoute
                    ):
                        return None
                    entry = Entry(len(entries), top, candidate)
                    entries.append((head(candidate.path_format), entry))
            else:
                # A route whose matching is its path regex is keyed by its path; any other
                # kind (a host, a custom matcher) is tried for every request, in its place.
                plain = type(top).matches in (APIRoute.matches, Route.matches, Mount.matches)
                key = head(getattr(top, "path_format", None)) if plain else ()
                entries.append((key, Entry(len(entries), top, None)))
        return cls(router, entries)

    def candidates(self, path: str) -> tuple[Entry, ...]:
        key = request_key(path)
        while key not in self.table:
            if not key:
                return self.root
            key = key[:-1]
        return self.table[key]

    def select(self, scope: Scope) -> tuple[Match, Scope, Entry | None]:
        """What the router's linear loop would pick: the first full match, else the first
        partial one."""
        partial: tuple[Scope, Entry] | None = None
        for entry in self.candidates(get_route_path(scope)):
            match, child_scope = entry.matches(scope)
            if match is Match.FULL:
                return match, child_scope, entry
            if match is Match.PARTIAL and partial is None:
                partial = (child_scope, entry)
        if partial is not None:
            return Match.PARTIAL, partial[0], partial[1]
        return Match.NONE, {}, None

    def stale(self) -> bool:
        """Routes added or removed on the app since the index was built (tests do)."""
        return (len(self.router.routes), self.router._routes_version) != self.routes_seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.stale():
            await self.fallback(scope, receive, send)
            return
        _, child_scope, entry = self.select(scope)
        if entry is None:  # 404, redirect_slashes: FastAPI's own path
            await self.fallback(scope, receive, send)
            return
        router = self.router
        # What APIRouter.app, _IncludedRouter.handle and _handle_selected do once they have
        # picked this route (fastapi/routing.py), without matching it again.
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        top, context = entry.top, entry.context
        fastapi_scope = _get_fastapi_scope(scope)  # FastAPI's matching leaves it, even empty
        if context is None:
            _update_scope(scope, child_scope)
            path = getattr(top, "path_format", None)
            _route_selected(scope=scope, path=path, mount=isinstance(top, Mount))
            await top.handle(scope, receive, send)
            return
        assert isinstance(top, _IncludedRouter)
        _apply_router_form_limits(scope, top.include_context.form_limits)
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = top
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=context.path_format)
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        original = context.original_route
        scope["route"] = original
        await original.handle(scope, receive, send)


def route_scope(router: APIRouter, scope: Scope) -> Scope | None:
    """The keys routing adds to ``scope`` for the route that fully matches it (``route``,
    ``path_params``, ``endpoint``), or None: for a caller that must know the route before
    routing runs (the idempotency middleware, before it replays a stored answer)."""
    stack = router.middleware_stack
    index = stack if isinstance(stack, RouteIndex) and not stack.stale() else None
    index = index or RouteIndex.build(router)
    if index is None:
        return None
    match, child_scope, entry = index.select(scope)
    if match is not Match.FULL or entry is None:
        return None
    return {"route": entry.top, **child_scope}  # Starlette's own routes leave ``route`` out


def install(router: APIRouter) -> RouteIndex | None:
    """Route the app's requests through the index; None (FastAPI's matching stays) when the
    router's shape is one the index does not reproduce."""
    index = RouteIndex.build(router)
    if index is not None:
        router.middleware_stack = index
    return index
