"""Engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event, make_url, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from projekt.config import Settings
from projekt.core.dry_run import dry_running
from projekt.core.errors import NotFound

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# JSON documents (lists and objects): JSONB on PostgreSQL, JSON text elsewhere.
JSONList = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def create_engine(settings: Settings, *, bounded: bool = False) -> AsyncEngine:
    """The SQLAlchemy engine. ``bounded``: the request-serving engine, whose statements are cut
    off after ``db_statement_timeout_s`` (migrations and admin jobs may legitimately run long).
    """
    kwargs: dict[str, Any] = {
        # Statement parameters carry emails, password hashes and token digests: never put them
        # in an exception's text, which reaches the log.
        "hide_parameters": True,
    }
    if settings.is_sqlite:
        kwargs["connect_args"] = {"timeout": 30}
    else:
        connect_args: dict[str, Any] = {
            # asyncpg's connect timeout defaults to 60 s: an outage must answer 503 quickly.
            "timeout": settings.db_connect_timeout_s,
        }
        if bounded:
            connect_args.update(statement_bounds(settings))
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout_s,
            # After a database restart the pooled connections are dead: test each one as it is
            # checked out (one round trip), so the first request after the restart succeeds.
            pool_pre_ping=True,
            connect_args=connect_args,
        )
    engine = create_async_engine(settings.database_url, **kwargs)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def statement_bounds(settings: Settings) -> dict[str, Any]:
    """asyncpg connection options that bound every statement: PostgreSQL cancels it after the
    timeout (a clean error, the connection stays usable); the client gives up a second later
    in case the server itself does not answer."""
    timeout_ms = max(1, round(settings.db_statement_timeout_s * 1000))
    return {
        "command_timeout": settings.db_statement_timeout_s + 1.0,
        "server_settings": {"statement_timeout": str(timeout_ms)},
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# The execution option that makes a connection's transactions start with BEGIN IMMEDIATE.
SQLITE_BEGIN = "projekt_sqlite_begin"


def sqlite_transactions(engine: AsyncEngine) -> None:
    """SQLAlchemy emits BEGIN on SQLite, not the driver, and a writing unit of work says IMMEDIATE.

    The sqlite3 driver begins a transaction only at the first INSERT/UPDATE/DELETE, so a unit of
    work that reads and then writes (is the invitation unused? which labels does the issue
    have? which version is it at?) decides on what it read without any lock, and two of them
    both win. ``BEGIN IMMEDIATE`` takes SQLite's single write lock at the start instead: writers
    queue (``busy_timeout``), each sees the last one's commit, and every check-then-write rule
    holds as it does under PostgreSQL's row locks. Read-only transactions stay ``DEFERRED`` and
    keep running beside the writer (WAL). This is SQLAlchemy's documented recipe for taking
    over transaction control from the driver, which also makes SAVEPOINT part of the
    transaction.
    """
    event.listen(engine.sync_engine, "connect", _driver_leaves_transactions_alone)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)


def _driver_leaves_transactions_alone(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(SQLITE_BEGIN) else "DEFERRED"
    # Through the driver's own cursor rather than exec_driver_sql: like the BEGIN the driver
    # used to send, it is not one of the app's statements (statement-counting listeners skip it).
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"BEGIN {mode}")
    finally:
        cursor.close()


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of an SQLite file (``./var/`` by default) before the first migration."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def vanished() -> NotFound:
    """What an UPDATE or DELETE of a row that another request deleted first answers.

    Update paths lock their row before they read it (``get_for_update``), so this is the net
    under one that does not: a 404 rather than the ORM's StaleDataError as a 500.
    """
    return NotFound("It was deleted while this request ran.")


class Database:
    """Owns the engine and hands out one session per unit of work."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings, bounded=True)
        if settings.is_sqlite:
            sqlite_transactions(self.engine)
        # Units of work that write take the database's write lock when they begin on SQLite
        # (see ``sqlite_transactions``); on PostgreSQL the option means nothing.
        writer = self.engine.execution_options(**{SQLITE_BEGIN: True})
        self.sessionmaker = async_sessionmaker(writer, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Run just before each unit of work commits, in its transaction (the record's writer,
        # ``core.record.Recorder``: its statements are the transaction's last); a dry run runs
        # them too and then rolls them back with everything else.
        self.before_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []
        # Run after each successful commit of a unit of work, before its response is sent.
        self.after_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []
        # The tables those hooks watch. A write outside a unit of work (a fast-path transaction)
        # runs no hook, so it may not touch them (``FastSQL`` refuses it) unless it is declared
        # bookkeeping that no hook needs to see (``FastSQL.bookkeeping``).
        self.watched_tables: set[str] = set()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self, *, write: bool = True) -> AsyncSession:
        return (self.sessionmaker if write else self.read_sessionmaker)()

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends cleanly, rolled back otherwise.

        ``write=False`` for one that only reads (a GET): on SQLite it then does not queue for
        the write lock.
        """
        async with self.new_session(write=write) as session:
            try:
                yield session
                await self.commit(session)
            except StaleDataError as exc:
                await session.rollback()
                raise vanished() from exc
            except BaseException:
                await session.rollback()
                raise

    async def commit(self, session: AsyncSession) -> None:
        """Commit a unit of work and run the ``after_commit`` hooks; in a dry run, flush (the
        constraints and stale rows a commit would meet still answer as they would) and roll
        back instead, with no ``after_commit`` hook: nothing changed that they could announce."""
        for before in self.before_commit:
            await before(session)
        if dry_running():
            await session.flush()
            await session.rollback()
            return
        await session.commit()
        for hook in self.after_commit:
            await hook(session)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
