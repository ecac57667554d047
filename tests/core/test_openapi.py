"""The committed openapi.yaml is what the app serves, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

import projekt.main
from projekt.config import Settings
from projekt.core.routes import route_table
from projekt.spec import build_openapi
from tests.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]


async def test_committed_spec_matches_the_app(client: httpx.AsyncClient) -> None:
    committed = (ROOT / "openapi.yaml").read_bytes()
    served = await client.get("/openapi.yaml")
    assert served.status_code == 200
    assert served.content == committed, "openapi.yaml is stale: run `make openapi`"
    as_json = (await client.get("/openapi.json")).json()
    assert as_json == yaml.safe_load(committed)


def test_every_route_declares_its_errors(app: FastAPI) -> None:
    spec = app.state.openapi.document()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if path.startswith("/api/"):
                assert {"400", "429", "503"} <= statuses, (method, path)
            rule = app.state.policy[operation["operationId"]]
            if rule.audience != "public":
                assert "401" in statuses, (method, path)


def test_every_schema_route_is_documented(app: FastAPI) -> None:
    spec = app.state.openapi.document()
    for route in route_table(app):
        if route.in_schema:
            assert route.path in spec["paths"], route.path


async def test_the_spec_is_built_when_first_asked_for_and_once(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that only serves the API never pays the spec's CPU and memory."""
    built: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        built.append(1)
        return build_openapi(*args, **kwargs)

    monkeypatch.setattr(projekt.main, "build_openapi", counting)
    app = projekt.main.create_app(migrated)
    async with app.router.lifespan_context(app), client_for(app) as client:
        # Started and serving, not built (no request here: the suite's response sweep reads
        # the spec to check any JSON answer).
        assert built == []
        first = await client.get("/openapi.json")
        again = await client.get("/openapi.json")
        as_yaml = await client.get("/openapi.yaml")
    assert first.status_code == again.status_code == as_yaml.status_code == 200
    assert first.content == again.content
    assert yaml.safe_load(as_yaml.content) == first.json()
    assert built == [1]
