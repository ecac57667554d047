"""Fault tests: each runs the app against a PostgreSQL of its own, which it stops, locks or
restarts (never the machine's shared one). They belong to the PostgreSQL leg."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import Factory, Org
from tests.private_services import PrivatePostgres, migrated_private_postgres

PG_LEG = (os.environ.get("PROJEKT_TEST_DATABASE_URL") or "").startswith("postgres")


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    if not PG_LEG:
        pytest.skip("fault tests run on the PostgreSQL leg")
    yield from migrated_private_postgres()


@asynccontextmanager
async def app_on(pg: PrivatePostgres, **overrides: object) -> AsyncIterator[FastAPI]:
    """The app on ``pg`` (no Redis: every bearer token is looked up), lifespan included."""
    pg.ensure_running()
    values: dict[str, object] = {
        "database_url": pg.url(),
        "redis_url": None,
        "db_connect_timeout_s": 1.0,
        "db_pool_timeout_s": 1.0,
        "db_statement_timeout_s": 2.0,
        "max_active_keys_per_user_org": 1000,
    }
    values.update(overrides)
    app = create_app(make_settings(**values))
    async with app.router.lifespan_context(app):
        yield app


@dataclass
class World:
    """An org with a project, one issue and the owner's keys (each unused: a cold lookup)."""

    factory: Factory
    org: Org
    project_id: uuid.UUID
    issue_id: str
    keys: list[str]

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        return self.factory.client(Authorization=f"Bearer {key or self.keys[0]}")


async def world(app: FastAPI, keys: int = 2) -> World:
    factory = Factory(app)
    org = await factory.org()
    project = await factory.project(org)
    minted = [await factory.key(org.id, org.owner) for _ in range(keys)]
    async with factory.client(Authorization=f"Bearer {minted[0]}") as c:
        created = await c.post("/api/issues", json={"project_id": str(project.id), "title": "t"})
    assert created.status_code == 201, created.text
    return World(factory, org, project.id, created.json()["id"], minted)
