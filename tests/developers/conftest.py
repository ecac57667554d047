"""A live server for the portal's tests, whose base URL is its own address.

The shared ``live_server`` keeps the suite's base URL (``http://testserver``), so OAuth metadata
would name endpoints a real client cannot reach. The docs' examples run as a reader runs them,
against a server that is what it says it is.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn

from projekt.config import Settings
from projekt.main import create_app
from tests.conftest import make_settings
from tests.e2e.conftest import browser
from tests.factories import PASSWORD, Factory, Person
from tests.support import MovableClock

__all__ = ["browser"]


@dataclass
class Reader:
    """Someone following the docs: a live server, their key, org and project."""

    url: str
    token: str
    org_id: uuid.UUID
    project_id: uuid.UUID
    person: Person
    factory: Factory

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PROJEKT_URL": self.url,
            "PROJEKT_API_KEY": self.token,
            "PROJEKT_ORG_ID": str(self.org_id),
            "PROJEKT_PROJECT_ID": str(self.project_id),
            "PROJEKT_EMAIL": self.person.email,
            "PROJEKT_PASSWORD": PASSWORD,
        }


@pytest.fixture(scope="session")
async def docs_server(migrated: Settings, clock: MovableClock) -> AsyncIterator[Reader]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(base_url=url, database_url=migrated.database_url)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        factory = Factory(app)
        org = await factory.org()
        project = await factory.project(org)
        token = await factory.key(org.id, org.owner, "docs examples")
        try:
            yield Reader(url, token, org.id, project.id, org.owner, factory)
        finally:
            server.should_exit = True
            await task
