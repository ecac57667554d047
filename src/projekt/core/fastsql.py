"""The hot path's SQL: Core statements compiled once, run on the raw driver on PostgreSQL.

Through SQLAlchemy every statement costs about 400 µs of client CPU more than the same statement
on asyncpg (building the statement, the compiled-cache lookup, pool checkout, result wrapping,
the implicit BEGIN/ROLLBACK). On the few statements every request runs (the credential lookup,
issue list/get/create) that is most of the request, so those are written once as Core
statements with bind parameters, compiled once per dialect, and executed:

- on PostgreSQL, on asyncpg connections of our own (``Connections``: prepared statements
  cached by asyncpg, no reset query on release, JSON decoded by orjson);
- on SQLite (the embedded default), reads outside a transaction run on the standard library's
  ``sqlite3`` in one thread of their own (``SqliteReader``: one connection, its statement cache
  keeps them prepared, WAL lets it read beside the writer), with the values converted by the
  same SQLAlchemy type processors the engine would apply; writes and transactions go through
  the SQLAlchemy engine as before. Through SQLAlchemy and aiosqlite's thread a list cost about
  2.8 ms of CPU.

Rows come back as mappings (``row["column"]``) on both.

The pool's connections use generic plans (``plan_cache_mode = force_generic_plan``): asyncpg
prepares each statement once per connection, but PostgreSQL kept re-planning the issue list on
every execution because a custom plan looked cheaper, and planning that join cost more CPU than
running it (about 220 µs against 100 µs per list). Every statement here is a key lookup, a
single-row write, or a list whose filters are equalities on indexed columns, so one plan fits
all values; the statements are written so that it is the good one (see ``issues.repository``).

Faults are bounded. Waiting for a connection (the turn and the pool) takes at most
``db_pool_timeout_s`` and a statement at most ``db_statement_timeout_s``; both end in an error
that answers 503. Credential lookups take their turns on connections of their own (``reserve``),
so a table locked for minutes holds up the requests that read it, not every caller's identity.
After a database restart the pool's idle connections are dead: a read that meets one is run
again once on a fresh connection, and a transaction checks its connection with its ``BEGIN``.
"""

from __future__ import annotations

import asyncio
import collections
import math
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import URL, Uuid
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projekt.config import Settings
from projekt.core.db import UTCDateTime, statement_bounds
from projekt.core.dry_run import dry_running
from projekt.core.metrics import Metrics

Row = Mapping[str, Any]
# A Core SELECT/INSERT/UPDATE built once at import time (its identity keys the compile cache).
Executable = Any
COMPILED_MAX = 4096  # compiled statements kept per app


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
        )


def _suspect(exc: BaseException) -> bool:
    """Whether a connection that raised ``exc`` may be out of step with its server.

    Connections go back idle without a reset query (``Connections``), so one whose
    operation was cut off by a dying server (seen under ``pg_ctl stop``: the next user got
    "another operation is in progress") must not be handed out again. An error the server
    reported in the ordinary way (a constraint, a statement timeout) leaves it in step.

    asyncpg raises some of its errors itself, without a ``severity`` (the server's errors carry
    one): an argument it cannot encode (an integer past int4) fails after a new statement's
    Parse and Describe went out with a Flush and before any Sync, so the server still counts
    its statement timeout; the next statement on that connection, once the timeout has passed,
    got "canceling statement due to statement timeout" (seen in the suite).
    """
    if isinstance(exc, asyncpg.PostgresError):
        state = str(exc.sqlstate or "")
        return state.startswith(("08", "57P")) or getattr(exc, "severity", None) is None
    return isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError))


def prefixed(values: Mapping[str, Any], prefix: str = "v_") -> dict[str, Any]:
    """``values`` by column as the binds ``{prefix}{column}`` of a statement built with them
    (the binds of an INSERT or UPDATE may not share its columns' names)."""
    return {f"{prefix}{name}": value for name, value in values.items()}


def _ended_by_server(exc: BaseException) -> bool:
    """The server said it ended the session (SQLSTATE class 57P: a shutdown or restart, a
    terminated backend, an idle session timed out): it does so while the session is idle or
    by aborting the statement it runs, never after that statement's commit."""
    for said in (exc, exc.__cause__):
        if isinstance(said, asyncpg.PostgresError) and str(said.sqlstate or "").startswith("57P"):
            return True
    return False


# What a connection that died under us raises (the server restarted, or dropped it): nothing ran,
# so a read, or a BEGIN, may be tried again once on another connection.
_STALE_CONNECTION = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.ConnectionFailureError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection left mid-operation (see ``_suspect``)
    ConnectionResetError,
)


class FairTurns:
    """First come, first served access to the fast path's connections.

    A pool hands a released connection to whoever asks next (asyncpg's did, before
    ``Connections``), so a request that has just arrived can overtake one that has been
    waiting, again and again: under 64 connections the issue list answered in 14 ms at the
    median and 2.1 s at p99. Taking turns here in arrival order (never more turns than
    connections, so a connection is always there) brought p99 near the median's order of
    magnitude at the same throughput.

    A wait is bounded (``take``) by one timer for all waiters, set for the earliest deadline:
    under load nearly every request waits, and an ``asyncio.timeout`` each (its object, its
    timer, rescheduling it on exit) cost about 5 % of a worker's CPU on a get.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        # Each waiter's turn and the loop time at which it stops waiting (inf: never).
        self._waiting: collections.deque[tuple[asyncio.Future[None], float]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> None:
        await self.take(math.inf)

    async def __aexit__(self, *_exc: object) -> None:
        self._pass_on()

    async def take(self, wait_s: float) -> None:
        """Take a turn, waiting at most ``wait_s`` seconds (TimeoutError)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1  # the common case pays for no timer
            return
        loop = asyncio.get_running_loop()
        turn = loop.create_future()
        deadline = loop.time() + wait_s
        self._waiting.append((turn, deadline))
        if deadline != math.inf and (self._timer is None or deadline < self._timer.when()):
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(deadline, self._expire)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_on()  # the turn came just as this request was cancelled
            raise

    def _pass_on(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()[0]
            if not turn.done():  # a cancelled or timed-out waiter's turn is skipped
                turn.set_result(None)
                return
        self._free += 1

    def _expire(self) -> None:
        """Fail the waiters whose time is up; set the timer for the next deadline."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        kept: collections.deque[tuple[asyncio.Future[None], float]] = collections.deque()
        for turn, deadline in self._waiting:
            if turn.done():
                continue
            if deadline <= now:
                turn.set_exception(TimeoutError())
            else:
                kept.append((turn, deadline))
        self._waiting = kept
        upcoming = min((deadline for _, deadline in kept), default=math.inf)
        if upcoming != math.inf:
            self._timer = loop.call_at(upcoming, self._expire)


class _Compiled:
    __slots__ = ("binds", "defaults", "keys", "names", "processed", "sql")

    def __init__(self, sql: str, names: Sequence[str], defaults: Mapping[str, Any]) -> None:
        self.sql = sql
        self.names = tuple(names)
        self.defaults = {name: defaults[name] for name in names if defaults.get(name) is not None}
        # SQLite reader only: per parameter its bind processor; the columns' keys, and
        # (position, key, processor) for each column whose values are converted.
        self.binds: tuple[Callable[[Any], Any] | None, ...] = ()
        self.keys: tuple[str, ...] = ()
        self.processed: tuple[tuple[int, str, Callable[[Any], Any]], ...] = ()

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.defaults.get(n) for n in self.names]


class Connections:
    """The fast path's PostgreSQL connections, opened on demand and kept between requests.

    ``FairTurns`` already hands out no more turns than there are connections, so nothing waits
    here: a turn's holder takes an idle connection or opens one (bounded by
    ``db_connect_timeout_s``). asyncpg's ``Pool`` did this before, but returned every
    connection through ``asyncio.shield`` (a task and another turn of the loop per request;
    without it a get took 322–361 µs of a worker's CPU instead of about 430, in nested runs
    against the bench's baseline). A connection goes back idle only in step with its
    server: not closed, not inside a transaction, and not cut off mid-statement (a cancelled
    or timed-out operation, or a suspect error, ``_suspect``), which are closed instead.
    """

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connect = connect
        self._idle: list[asyncpg.Connection] = []
        self._open: set[asyncpg.Connection] = set()

    async def take(self) -> asyncpg.Connection:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.is_closed():
                return conn
            self._open.discard(conn)
        conn = await self._connect()
        self._open.add(conn)
        return conn

    def give_back(self, conn: asyncpg.Connection, failed: BaseException | None) -> None:
        if conn.is_closed():
            self._open.discard(conn)
        elif (failed is not None and _cut_off(failed)) or conn.is_in_transaction():
            self._open.discard(conn)
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Close the idle connections; any still in use (none once requests have ended) are
        cut."""
        idle, self._idle = self._idle, []
        for conn in self._open.difference(idle):
            conn.terminate()
        self._open.clear()
        await asyncio.gather(*(conn.close(timeout=5) for conn in idle), return_exceptions=True)


def _cut_off(exc: BaseException) -> bool:
    """Whether the connection may be out of step with its server after ``exc``: cancelled or
    timed out mid-operation, or a suspect error."""
    return isinstance(exc, (asyncio.CancelledError, TimeoutError)) or _suspect(exc)


class FastSQL:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        metrics: Metrics,
        *,
        watched: Collection[str] = (),
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.postgres = not settings.is_sqlite
        self._settings = settings
        self._dsn = "postgresql://" + settings.database_url.split("://", 1)[1]
        self._size = settings.db_pool_size
        self._reserved = settings.db_credential_connections
        self._timeout = settings.db_connect_timeout_s
        self._wait = settings.db_pool_timeout_s
        self._connections = Connections(self._open_connection)
        self._turns = FairTurns(self._size)
        # Turns on the connections kept for the statements named by ``reserve``.
        self._reserved_turns = FairTurns(self._reserved) if self._reserved else self._turns
        self._reserved_for: set[Executable] = set()
        # Tables the unit of work's after_commit hooks watch (``Database.watched_tables``):
        # a write here runs no hook, so it must not touch them, except declared bookkeeping.
        self._watched = watched
        self._bookkeeping: set[Executable] = set()
        self._compiled: dict[Executable, _Compiled] = {}
        # Called with each statement's SQL run here (the engine fires its own events for the
        # rest); tests count statements with it.
        self.listeners: list[Callable[[str], None]] = []
        self._sqlite = SqliteReader.for_url(engine.url) if settings.is_sqlite else None

    def reserve(self, *statements: Executable) -> None:
        """Run these statements on the connections kept apart (``db_credential_connections``)."""
        self._reserved_for.update(statements)

    def bookkeeping(self, *statements: Executable) -> None:
        """Writes to a watched table that no ``after_commit`` hook needs to see (a credential's
        last-used time changes nothing it may do)."""
        self._bookkeeping.update(statements)

    def check_write(self, stmt: Executable) -> None:
        """Refuse a write the ``after_commit`` hooks would have to see: the fast path's
        transactions run none (they have no session)."""
        table = getattr(getattr(stmt, "table", None), "name", None)
        if table in self._watched and stmt not in self._bookkeeping:
            raise RuntimeError(f"a fast-path write to {table}, watched by an after_commit hook")

    def _ran(self, sql: str) -> None:
        self.metrics.inc("sql_statements_total")
        for listener in self.listeners:
            listener(sql)

    def compiled(self, stmt: Executable) -> _Compiled:
        found = self._compiled.get(stmt)
        if found is None:
            dialect = self.engine.dialect
            sql = stmt.compile(dialect=dialect)
            found = _Compiled(sql.string, sql.positiontup or (), sql.params)
            if self._sqlite is not None:
                processors = sql._bind_processors
                found.binds = tuple(processors.get(name) for name in found.names)
                found.keys = tuple(entry.keyname for entry in sql._result_columns)
                found.processed = tuple(
                    (n, entry.keyname, process)
                    for n, entry in enumerate(sql._result_columns)
                    if (process := _read_processor(entry.type, dialect)) is not None
                )
            if len(self._compiled) >= COMPILED_MAX:
                # Lists build a statement per shape of request (filters, sorts: a sort may
                # name a field again and again), so shapes are not a closed set: never let
                # them pile up. Those built at import compile again on their next use.
                self._compiled.clear()
            self._compiled[stmt] = found
        return found

    async def _open_connection(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self._timeout,
            **_merged_server_settings(
                statement_bounds(self._settings),
                # Plan once per connection, not per execution (see above).
                {"plan_cache_mode": "force_generic_plan"},
            ),
        )
        try:
            await _init_connection(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    @asynccontextmanager
    async def _connection(self, stmt: Executable | None) -> AsyncIterator[asyncpg.Connection]:
        """A connection, its turn waited for at most ``db_pool_timeout_s`` (TimeoutError)."""
        turns = self._reserved_turns if stmt in self._reserved_for else self._turns
        await turns.take(self._wait)
        try:
            # Never waits for another request: there are no more turns than connections. A new
            # connection's connect is bounded by db_connect_timeout_s.
            conn = await self._connections.take()
            failed: BaseException | None = None
            try:
                yield conn
            except BaseException as exc:
                failed = exc
                raise
            finally:
                self._connections.give_back(conn, failed)
        finally:
            await turns.__aexit__(None, None, None)

    async def fetch(self, stmt: Executable, params: Mapping[str, Any]) -> list[Row]:
        if not self.postgres:
            if self._sqlite is not None and getattr(stmt, "is_select", False):
                compiled = self.compiled(stmt)
                if "POSTCOMPILE" not in compiled.sql:  # expanding IN lists: the engine's job
                    self._ran(compiled.sql)
                    return await self._sqlite.fetch(compiled, params)
            async with self.engine.connect() as conn:
                return await _sa_fetch(conn, stmt, params)
        # A read changes nothing: on a connection that died under it, it runs again.
        read = bool(getattr(stmt, "is_select", False))
        return await self._run_pg(stmt, params, lambda _exc: read)

    async def _run_pg(
        self,
        stmt: Executable,
        params: Mapping[str, Any],
        again: Callable[[BaseException], bool],
    ) -> list[Row]:
        """``stmt`` on a connection of its own turn, run once more when its connection died
        under it (``_STALE_CONNECTION``) and ``again`` says that is safe."""
        compiled = self.compiled(stmt)
        args = compiled.args(params)
        self._ran(compiled.sql)
        retry = True
        while True:
            try:
                async with self._connection(stmt) as conn:
                    rows: list[Row] = await conn.fetch(compiled.sql, *args)
                return rows
            except _STALE_CONNECTION as exc:
                if not (retry and again(exc)):
                    raise
                retry = False

    async def fetchrow(self, stmt: Executable, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(stmt, params)
        return rows[0] if rows else None

    async def execute(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        async with self.transaction(stmt) as tx:
            await tx.fetch(stmt, params)

    async def write(self, stmt: Executable, params: Mapping[str, Any]) -> list[Row]:
        """One statement that is a transaction of its own, its rows returned.

        On PostgreSQL it runs in the server's implicit transaction: one round trip where
        ``BEGIN``, the statement and ``COMMIT`` take three. A dry run (and SQLite) runs it in
        ``transaction``, which rolls it back. It is run again once only when the server
        answered that it had ended the session (``_ended_by_server``); a connection lost
        otherwise mid-statement is not (the write may have committed), and the caller gets the
        503 that an ``Idempotency-Key`` makes safe to retry."""
        if not self.postgres or dry_running():
            async with self.transaction(stmt) as tx:
                return await tx.fetch(stmt, params)
        self.check_write(stmt)
        return await self._run_pg(stmt, params, _ended_by_server)

    @asynccontextmanager
    async def transaction(self, first: Executable | None = None) -> AsyncIterator[FastTransaction]:
        """One transaction; ``first`` (the statement it starts with) picks its connections.
        Rolled back instead of committed in a dry run (``core.dry_run``)."""
        if not self.postgres:
            async with self.engine.connect() as conn, conn.begin() as sa_tx:
                yield FastTransaction(self, sa_conn=conn)
                if dry_running():
                    await sa_tx.rollback()
            return
        for attempt in (1, 2):
            async with self._connection(first) as conn:
                tx = conn.transaction()
                try:
                    await tx.start()
                except _STALE_CONNECTION:
                    if attempt == 2:
                        raise
                    conn.terminate()  # leaving the block cleanly would hand it out again
                    continue
                try:
                    yield FastTransaction(self, pg_conn=conn)
                except BaseException:
                    if not conn.is_closed():  # a dead connection has nothing to roll back
                        await tx.rollback()
                    raise
                if dry_running():
                    await tx.rollback()
                else:
                    await tx.commit()
                return

    async def close(self) -> None:
        await self._connections.close()
        if self._sqlite is not None:
            self._sqlite.close()


# Ids read back on SQLite (32 hex digits) as ``uuid.UUID``: a page repeats few of them (its
# project, its people), so each is made once; the bound keeps the memo small.
_UUIDS: dict[str, uuid.UUID] = {}
_UUIDS_MAX = 65_536


def _uuid_from_hex(value: str | None) -> uuid.UUID | None:
    if value is None:
        return None
    found = _UUIDS.get(value)
    if found is None:
        if len(_UUIDS) >= _UUIDS_MAX:
            _UUIDS.clear()
        found = _UUIDS[value] = uuid.UUID(value)
    return found


def _utc_from_text(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _read_processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """What the engine would turn a SQLite column's value into, made the same way but faster
    for the two types every row carries: timestamps (``UTCDateTime``, stored as naive ISO
    text) and ids (``Uuid``, stored as 32 hex digits). ``tests/core/test_fastsql.py`` checks
    both against the engine's own processors."""
    if isinstance(type_, UTCDateTime):
        return _utc_from_text
    if isinstance(type_, Uuid) and type_.as_uuid:
        return _uuid_from_hex
    process: Callable[[Any], Any] | None = type_._cached_result_processor(dialect, None)
    return process


class SqliteReader:
    """Reads of the embedded default on one connection, in one thread of their own.

    Autocommit: each statement is its own read transaction and so sees every commit made
    before it (WAL lets it read while the engine's connection writes). ``query_only`` makes
    sure nothing here ever writes.
    """

    @classmethod
    def for_url(cls, url: URL) -> SqliteReader | None:
        """None for an in-memory database (a second connection would see another one)."""
        path = url.database or ""
        if path in ("", ":memory:") or url.query:
            return None
        return cls(path)

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def fetch(self, compiled: _Compiled, params: Mapping[str, Any]) -> list[Row]:
        args = compiled.args(params)
        for i, process in enumerate(compiled.binds):
            if process is not None:  # as the engine does, None included (JSON's null)
                args[i] = process(args[i])
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(self._executor(), self._run, compiled.sql, args)
        except sqlite3.Error as exc:
            # As the engine raises it (``OperationalError`` etc.), so errors map alike (503).
            raise sa_exc.DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc
        keys, processed = compiled.keys, compiled.processed
        rows: list[Row] = []
        for values in raw:
            row = dict(zip(keys, values, strict=True))
            for n, key, process in processed:
                row[key] = process(values[n])
            rows.append(row)
        return rows

    def _run(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = self._conn
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA query_only=ON")
            self._conn = conn
        return conn.execute(sql, args).fetchall()

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, and again after a close: an app whose lifespan runs more than once
        # (a server started twice in one process) reads again rather than failing.
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projekt-sqlite")
        return self._thread

    def close(self) -> None:
        """Close the connection in its own thread and end the thread; closing twice is a no-op."""
        thread, self._thread = self._thread, None
        if thread is None:
            return

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        thread.submit(shut).result()
        thread.shutdown(wait=True)


def _merged_server_settings(
    bounds: Mapping[str, Any], server_settings: Mapping[str, str]
) -> dict[str, Any]:
    return {**bounds, "server_settings": {**bounds["server_settings"], **server_settings}}


class FastTransaction:
    """Statements on one connection inside one transaction (committed when the block ends)."""

    def __init__(
        self,
        fast: FastSQL,
        *,
        pg_conn: asyncpg.Connection | None = None,
        sa_conn: AsyncConnection | None = None,
    ) -> None:
        self.fast = fast
        self.pg_conn = pg_conn
        self.sa_conn = sa_conn

    async def fetch(self, stmt: Executable, params: Mapping[str, Any]) -> list[Row]:
        if getattr(stmt, "is_dml", False):
            self.fast.check_write(stmt)
        if self.sa_conn is not None:
            return await _sa_fetch(self.sa_conn, stmt, params)
        assert self.pg_conn is not None
        compiled = self.fast.compiled(stmt)
        self.fast._ran(compiled.sql)
        rows: list[Row] = await self.pg_conn.fetch(compiled.sql, *compiled.args(params))
        return rows

    async def fetchrow(self, stmt: Executable, params: Mapping[str, Any]) -> Row | None:
        rows = await self.fetch(stmt, params)
        return rows[0] if rows else None


async def _sa_fetch(
    conn: AsyncConnection, stmt: Executable, params: Mapping[str, Any]
) -> list[Row]:
    result = await conn.execute(stmt, dict(params))
    rows = [cast(Row, row._mapping) for row in result] if result.returns_rows else []
    return rows
