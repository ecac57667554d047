"""The route table picks what FastAPI's linear matching picks: for every declared route (each
of its methods, a method it lacks, a trailing slash) and for paths no route declares."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import _IncludedRouter
from starlette.routing import BaseRoute, Match

from projekt.config import Settings
from projekt.core.route_index import RouteIndex, head, request_key
from projekt.main import create_app

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLE_ID = uuid.UUID("0193a3c0-0000-7000-8000-000000000001")

# Paths no route declares as such, each near some that do.
TRICKY = [
    "/",
    "",
    "/api",
    "/api/",
    "/api/nothing-here",
    "/api/issues",
    "/api/projects",
    "/api/projects/",
    "/api/projects/not-a-uuid",
    f"/api/projects/{SAMPLE_ID}/issues/",
    f"/api/projects/{SAMPLE_ID}/issues/12/",
    f"/api/projects/{SAMPLE_ID}//issues",
    "/api//projects",
    "//api/projects",
    "/static",
    "/static/",
    "/static/app.css",
    "/static/a/b/../c.js",
    "/mcp",
    "/mcp/",
    "/healthz",
    "/health/",
    "/login/",
    "/settings/tokens/x/y/z",
    "/%20",
    "/api/projects/%7Bproject_id%7D/issues",
]


def scope_for(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }


def linear(app: FastAPI, scope: dict[str, Any]) -> tuple[Match, Any, Any, Any]:
    """FastAPI's own choice: APIRouter.app's loop over the app's routes, and each inclusion's
    ``_match`` (which its ``matches`` and ``_handle_selected`` call)."""
    partial = None
    for top in app.router.routes:
        context = None
        if isinstance(top, _IncludedRouter):
            match, child_scope, _, context = top._match(scope)
        else:
            match, child_scope = top.matches(scope)
        if match is Match.FULL:
            return match, top, context, child_scope
        if match is Match.PARTIAL and partial is None:
            partial = (top, context, child_scope)
    if partial is not None:
        return Match.PARTIAL, *partial
    return Match.NONE, None, None, {}


def by_table(index: RouteIndex, scope: dict[str, Any]) -> tuple[Match, Any, Any, Any]:
    match, child_scope, entry = index.select(scope)
    if entry is None:
        return match, None, None, child_scope
    return match, entry.top, entry.context, child_scope


def sample_path(path_format: str, convertors: dict[str, Any]) -> str:
    path = path_format
    for name, convertor in convertors.items():
        kind = type(convertor).__name__
        value = {"UUIDConvertor": str(SAMPLE_ID), "IntegerConvertor": "12",
                 "PathConvertor": "css/app.css"}.get(kind, "x-1")  # fmt: skip
        path = path.replace("{" + name + "}", value)
    return path


def declared(app: FastAPI) -> Iterator[tuple[str, set[str]]]:
    """Every route's path with sample parameters, and its methods."""
    routes: list[Any] = []
    for top in app.router.routes:
        if isinstance(top, _IncludedRouter):
            routes.extend(top.effective_route_contexts())
        else:
            routes.append(top)
    for route in routes:
        path_format = route.path_format
        methods = getattr(route, "methods", None) or METHODS  # a mount takes every method
        yield sample_path(path_format, route.param_convertors), set(methods)


@pytest.fixture(scope="module")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="module")
def index(app: FastAPI) -> RouteIndex:
    stack = app.router.middleware_stack
    assert isinstance(stack, RouteIndex), "the app must route through the table"
    return stack


def test_the_table_picks_what_linear_matching_picks(app: FastAPI, index: RouteIndex) -> None:
    paths = set(TRICKY)
    count = 0
    for path, methods in declared(app):
        count += 1
        paths.update({path, path + "/", path.rstrip("/") or "/", path + "/extra"})
        assert methods, path
    assert count > 150  # the app's routes, not an empty sweep
    checked = 0
    for path in sorted(paths):
        for method in METHODS:
            expected = linear(app, scope_for(method, path))
            got = by_table(index, scope_for(method, path))
            assert got[0] == expected[0], (method, path)
            assert got[1] is expected[1], (method, path)
            assert got[2] is expected[2], (method, path)
            assert got[3] == expected[3], (method, path)
            checked += 1
    assert checked > 1000


def test_every_declared_route_is_found_by_itself(app: FastAPI, index: RouteIndex) -> None:
    """A route's own sample path and method give that route (or an earlier one that also
    matches, exactly as linear matching would): never a 404 or 405."""
    for path, methods in declared(app):
        for method in methods:
            match, _, entry = index.select(scope_for(method, path))
            assert match is Match.FULL and entry is not None, (method, path)


def test_heads() -> None:
    assert head("/api/projects/{project_id}/issues") == ("api", "projects")
    assert head("/api/issues") == ("api", "issues")
    assert head("/api/proj{x}") == ("api",)
    assert head("/{anything}") == ()
    assert head("/") == ("",)
    assert head("/static/{path}") == ("static",)
    assert head(None) == ()
    assert request_key("/api/projects/1/issues") == ("api", "projects")
    assert request_key("/mcp") == ("mcp",)
    assert request_key("/") == ("",)


async def test_a_route_added_later_is_served(settings: Settings) -> None:
    """Tests add routes to a built app: the table stands aside for FastAPI's own matching."""
    app = create_app(settings)

    async def added() -> dict[str, str]:
        return {"added": "yes"}

    app.add_api_route("/api/added-later", added, name="added_later")
    stack = app.router.middleware_stack
    assert isinstance(stack, RouteIndex) and stack.stale()
    match, _, _, _ = linear(app, scope_for("GET", "/api/added-later"))
    assert match is Match.FULL


async def test_answers_through_the_app(settings: Settings) -> None:
    """Unknown paths answer 404, a declared path with a method it lacks answers 405 with Allow,
    a static file is served by the mount: through the whole stack."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        missing = await client.get("/api/nothing-here")
        assert missing.status_code == 404
        wrong = await client.put("/healthz")
        assert wrong.status_code == 405
        assert "GET" in wrong.headers["allow"]
        static = await client.get("/static/does-not-exist.css")
        assert static.status_code == 404
    mounts: list[BaseRoute] = [r for r in app.router.routes if type(r).__name__ == "Mount"]
    assert mounts
