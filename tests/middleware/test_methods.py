"""HEAD answers as GET without a body; a 405's Allow lists every method of the path. Swept over
every route of the app, so routes added later are covered too."""

from __future__ import annotations

import re
from collections import defaultdict

import httpx
from fastapi import FastAPI

from projekt.core.routes import route_table
from tests.factories import Factory

ANY_UUID = "00000000-0000-4000-8000-000000000000"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def concrete(path: str) -> str:
    """A request path for a route template: ids become a UUID, anything else a plain word."""
    return re.sub(
        r"\{([^}:]+)(:[^}]+)?\}",
        lambda m: ANY_UUID if m.group(1).endswith("id") else "WEB-1",
        path,
    )


def declared(app: FastAPI) -> dict[str, set[str]]:
    paths: dict[str, set[str]] = defaultdict(set)
    for route in route_table(app):
        paths[route.path] |= route.methods
    return paths


async def test_head_is_get_without_a_body_on_every_get_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    swept = 0
    for path, methods in declared(app).items():
        if "GET" not in methods:
            continue
        response = await client.head(concrete(path))
        assert response.status_code != 405, path
        assert response.content == b"", path
        swept += 1
    assert swept > 20


async def test_head_carries_the_get_headers(factory: Factory) -> None:
    org = await factory.org()
    token = await factory.key(org.id, org.owner)
    project = await factory.project(org)
    async with factory.client(Authorization=f"Bearer {token}") as c:
        got = await c.get(f"/api/projects/{project.id}")
        head = await c.head(f"/api/projects/{project.id}")
        anonymous = await c.head(
            f"/api/projects/{project.id}", headers={"Authorization": "Bearer nope"}
        )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["content-length"] == str(len(got.content))
    assert anonymous.status_code == 401  # the same authorization as GET


async def test_every_405_lists_every_method_of_its_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    checked = 0
    for path, methods in declared(app).items():
        expected = methods | ({"HEAD"} if "GET" in methods else set())
        for method in METHODS:
            if method in methods:
                continue
            response = await client.request(method, concrete(path))
            if response.status_code != 405:
                continue  # another route's template matched this concrete path
            allow = {m.strip() for m in response.headers["allow"].split(",")}
            assert expected <= allow, (method, path, allow)
            assert response.json()["code"] == "method_not_allowed"
            checked += 1
    assert checked > 50
