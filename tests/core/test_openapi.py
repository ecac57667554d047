"""The committed openapi.yaml is what the app serves, byte for byte."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI

from projekt.core.routes import route_table

ROOT = Path(__file__).resolve().parents[2]


async def test_committed_spec_matches_the_app(client: httpx.AsyncClient) -> None:
    committed = (ROOT / "openapi.yaml").read_bytes()
    served = await client.get("/openapi.yaml")
    assert served.status_code == 200
    assert served.content == committed, "openapi.yaml is stale: run `make openapi`"
    as_json = (await client.get("/openapi.json")).json()
    assert as_json == yaml.safe_load(committed)


def test_every_route_declares_its_errors(app: FastAPI) -> None:
    spec = app.state.openapi_spec
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if path.startswith("/api/"):
                assert {"400", "429", "503"} <= statuses, (method, path)
            rule = app.state.policy[operation["operationId"]]
            if rule.audience != "public":
                assert "401" in statuses, (method, path)


def test_every_schema_route_is_documented(app: FastAPI) -> None:
    spec = app.state.openapi_spec
    for route in route_table(app):
        if route.in_schema:
            assert route.path in spec["paths"], route.path
