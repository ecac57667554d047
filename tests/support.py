"""Test helpers that are not factories: clocks, database reset, statement counting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from projekt.config import Settings
from projekt.core.clock import Clock
from projekt.core.db import create_engine


class MovableClock(Clock):
    """Real time plus an offset the test moves (never sleeps)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def reset(self) -> None:
        self.offset = timedelta()


def worker_database_url(url: str, worker: str) -> str:
    """The database of one pytest-xdist worker next to the one ``url`` names."""
    if not worker:
        return url
    parsed = make_url(url)
    named = parsed.set(database=f"{parsed.database}_{worker}")
    return named.render_as_string(hide_password=False)


async def create_database(base_url: str, settings: Settings) -> None:
    """Create the settings' PostgreSQL database if missing, from a connection to ``base_url``'s."""
    name = make_url(settings.database_url).database
    engine = create_engine(settings.model_copy(update={"database_url": base_url}))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def reset_database(settings: Settings) -> None:
    """An empty database, so that the migrations alone build the schema."""
    if settings.is_sqlite:
        database = make_url(settings.database_url).database
        if database:
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@contextmanager
def count_statements(app: FastAPI) -> Iterator[list[str]]:
    """Every SQL statement the app runs inside the block, through SQLAlchemy or the fast path."""
    seen: list[str] = []
    services = app.state.services
    engine = services.db.engine

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    services.fast.listeners.append(seen.append)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        services.fast.listeners.remove(seen.append)
