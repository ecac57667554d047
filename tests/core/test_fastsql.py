"""The fast path's turn-taking for pool connections: arrival order, and no lost turns."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeEngine

from projekt.core import fastsql
from projekt.core.db import UTCDateTime
from projekt.core.errors import as_app_error
from projekt.core.fastsql import Connections, FairTurns, _read_processor, _sa_fetch
from projekt.issues.models import Issue
from projekt.main import create_app
from tests.conftest import make_settings
from tests.factories import Factory


async def test_waiters_are_served_in_arrival_order_and_newcomers_queue_behind() -> None:
    turns = FairTurns(2)
    order: list[str] = []
    release = asyncio.Event()

    async def user(name: str) -> None:
        async with turns:
            order.append(name)
            await release.wait()

    holders = [asyncio.create_task(user(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(user(n)) for n in ("c", "d", "e")]
    await asyncio.sleep(0)
    assert order == ["a", "b"]
    release.set()
    # A newcomer arriving once turns start to free up still waits behind c, d and e.
    late = asyncio.create_task(user("late"))
    await asyncio.gather(*holders, *waiters, late)
    assert order == ["a", "b", "c", "d", "e", "late"]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    turns = FairTurns(1)
    served: list[str] = []
    gate = asyncio.Event()

    async def user(name: str) -> None:
        async with turns:
            served.append(name)
            await gate.wait()

    first = asyncio.create_task(user("first"))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(user("cancelled"))
    third = asyncio.create_task(user("third"))
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.set()
    async with asyncio.timeout(2):
        await asyncio.gather(first, third)
    assert served == ["first", "third"]
    # Every turn came back: the next one is immediate.
    async with asyncio.timeout(1), turns:
        pass


async def test_a_turn_granted_to_a_request_being_cancelled_is_passed_on() -> None:
    turns = FairTurns(1)
    served: list[str] = []

    async def user(name: str) -> None:
        async with turns:
            served.append(name)

    await turns.__aenter__()  # hold the only turn
    doomed = asyncio.create_task(user("doomed"))
    after = asyncio.create_task(user("after"))
    await asyncio.sleep(0)
    await turns.__aexit__(None, None, None)  # the turn goes to "doomed"...
    doomed.cancel()  # ...which is cancelled before it runs: "after" must get it
    async with asyncio.timeout(2):  # a lost turn would leave "after" waiting forever
        await asyncio.gather(doomed, after, return_exceptions=True)
    assert served == ["after"]
    async with asyncio.timeout(1), turns:
        pass


async def test_waiting_for_a_turn_is_bounded_and_loses_no_turn() -> None:
    turns = FairTurns(1)
    await turns.take(0.05)  # free: taken at once
    try:
        async with asyncio.timeout(5):
            await turns.take(0.05)
    except TimeoutError:
        pass
    else:
        raise AssertionError("a second turn was granted while the only one was held")
    await turns.__aexit__(None, None, None)
    async with asyncio.timeout(1):
        await turns.take(0.05)  # the timed-out waiter left no hole in the queue


async def test_each_waiter_keeps_its_own_bound_under_the_one_timer() -> None:
    """The timer is set for the earliest deadline: a short wait behind a long one still ends
    on time, and the long one is neither ended by it nor loses its place."""
    turns = FairTurns(1)
    await turns.take(5)  # held
    loop = asyncio.get_running_loop()
    patient = asyncio.create_task(turns.take(5))
    await asyncio.sleep(0)
    started = loop.time()
    with pytest.raises(TimeoutError):
        await turns.take(0.05)  # queued behind the patient one, with the earlier deadline
    assert 0.04 <= loop.time() - started < 1
    await asyncio.sleep(0.05)
    assert not patient.done()
    await turns.__aexit__(None, None, None)  # the turn goes to the patient waiter
    async with asyncio.timeout(1):
        await patient
    await turns.__aexit__(None, None, None)
    await turns.take(0.05)  # free again: nothing was lost


async def test_a_refused_argument_is_a_bug_not_a_stale_connection(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg refuses an out-of-range integer before sending it: that is not a dead
    connection, so it is neither run again nor answered as an outage."""
    fast = app.state.services.fast
    if not fast.postgres:
        pytest.skip("the asyncpg fast path runs on the PostgreSQL leg")
    borrowed = 0
    connection = fast._connection

    def counted(stmt: object) -> object:
        nonlocal borrowed
        borrowed += 1
        return connection(stmt)

    monkeypatch.setattr(fast, "_connection", counted)
    statement = select(Issue.id).where(Issue.number == bindparam("number"))
    with pytest.raises(asyncpg.DataError) as raised:
        await fast.fetch(statement, {"number": 2**40})
    assert borrowed == 1  # not run again on another connection
    assert as_app_error(raised.value).status == 500


async def test_a_connection_that_refused_an_argument_is_not_handed_out_again() -> None:
    """asyncpg refuses the argument after a new statement's Parse went out and before any
    Sync, so the server goes on counting that statement's timeout. The connection used to go
    back idle: the next read on it, once the timeout had passed, failed with "canceling
    statement due to statement timeout" (503) in another test's request."""
    settings = make_settings(db_statement_timeout_s=0.3)
    if settings.is_sqlite:
        pytest.skip("the asyncpg fast path runs on the PostgreSQL leg")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        fast = app.state.services.fast
        statement = select(Issue.id).where(Issue.number == bindparam("number"))
        with pytest.raises(asyncpg.DataError):
            await fast.fetch(statement, {"number": 2**40})
        await asyncio.sleep(0.6)  # past the statement timeout the server counted
        assert await fast.fetch(statement, {"number": 2**31 - 1}) == []  # in range, none such


async def test_sqlite_reads_answer_as_the_engine_does(app: FastAPI, factory: Factory) -> None:
    """The embedded default's reader (stdlib sqlite3 on its own thread) converts every value
    type the way the engine does: UUIDs, datetimes, JSON, booleans, enums, NULLs."""
    fast = app.state.services.fast
    if fast.postgres:
        pytest.skip("the SQLite reader runs on the SQLite leg")
    assert fast._sqlite is not None
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as c:
        body = {"project_id": str(project.id), "title": "t", "labels": ["a"], "due_date": None}
        assert (await c.post("/api/issues", json=body)).status_code == 201
    statement = select(Issue).where(Issue.project_id == bindparam("project_id"))
    params = {"project_id": project.id}
    fast_rows = await fast.fetch(statement, params)
    async with fast.engine.connect() as conn:
        engine_rows = await _sa_fetch(conn, statement, params)
    assert fast_rows and [dict(r) for r in fast_rows] == [dict(r) for r in engine_rows]
    for key, value in fast_rows[0].items():
        assert type(value) is type(engine_rows[0][key]), key


async def test_the_sqlite_reader_closes_twice_and_reads_again(
    app: FastAPI, factory: Factory
) -> None:
    """A lifespan that runs twice in one process (a live server started twice) closes the
    reader twice and then reads again: neither may fail."""
    fast = app.state.services.fast
    if fast.postgres:
        pytest.skip("the SQLite reader runs on the SQLite leg")
    reader = fast._sqlite
    assert reader is not None
    org = await factory.org()
    project = await factory.project(org)
    statement = select(Issue).where(Issue.project_id == bindparam("project_id"))
    reader.close()
    reader.close()
    assert await fast.fetch(statement, {"project_id": project.id}) == []


def test_the_sqlite_readers_own_conversions_equal_the_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Timestamps and ids, which the reader converts itself, come out as the engine's own
    processors make them, also once the ids' memo has been emptied at its bound."""
    dialect = sqlite.dialect()
    ids = [uuid.uuid4() for _ in range(5)]
    samples: dict[TypeEngine[Any], list[str | None]] = {
        UTCDateTime(): [
            None,
            "2026-05-28 09:14:02.123456",
            "2026-05-28 09:14:02.000000",
            "2026-05-28 09:14:02",
            "1999-12-31 23:59:59.999999",
        ],
        Uuid(): [None, *(i.hex for i in ids), str(ids[0]), ids[1].hex],
    }
    monkeypatch.setattr(fastsql, "_UUIDS_MAX", 3)
    for type_, values in samples.items():
        ours, engine = (
            _read_processor(type_, dialect),
            type_._cached_result_processor(dialect, None),
        )
        assert ours is not None and engine is not None
        for value in values:
            mine, theirs = ours(value), engine(value)
            assert (mine, type(mine), getattr(mine, "tzinfo", None)) == (
                theirs,
                type(theirs),
                getattr(theirs, "tzinfo", None),
            ), value
    assert len(fastsql._UUIDS) <= 3


async def test_connections_keep_those_in_step_and_close_those_cut_off(app: FastAPI) -> None:
    """A connection goes back idle after a request's own error, but is closed when it was cut
    off mid-statement (cancelled) or left inside a transaction; close() closes the idle."""
    fast = app.state.services.fast
    if not fast.postgres:
        pytest.skip("the asyncpg fast path runs on the PostgreSQL leg")
    connections = Connections(fast._open_connection)
    conn = await connections.take()
    assert await conn.fetchval("SELECT 1") == 1
    connections.give_back(conn, ValueError("the request's own error, after its statement"))
    assert await connections.take() is conn
    sleeping = asyncio.create_task(conn.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    connections.give_back(conn, asyncio.CancelledError())
    assert conn.is_closed()
    fresh = await connections.take()
    assert fresh is not conn and await fresh.fetchval("SELECT 2") == 2
    await fresh.transaction().start()
    connections.give_back(fresh, None)
    assert fresh.is_closed()
    last = await connections.take()
    connections.give_back(last, None)
    assert not last.is_closed()
    await connections.close()
    assert last.is_closed()


async def test_statements_built_per_request_shape_do_not_pile_up(
    app: FastAPI, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list builds a statement per shape of request, and a sort may name a field again and
    again, so shapes are not a closed set: the compiled statements kept stay bounded, and the
    statements built at import compile again after the cache starts over."""
    monkeypatch.setattr(fastsql, "COMPILED_MAX", 8)
    fast = app.state.services.fast
    fast._compiled.clear()  # the app may be shared: start as after a start-over
    org = await factory.org()
    project = await factory.project(org)
    token = await factory.key(org.id, org.owner)
    async with factory.client(Authorization=f"Bearer {token}") as c:
        body = {"project_id": str(project.id), "title": "kept"}
        assert (await c.post("/api/issues", json=body)).status_code == 201
        for n in range(1, 30):
            for path in ("/api/issues", "/api/time-entries"):
                sort = ",".join(["-created_at"] * n)
                listed = await c.get(path, params={"project_id": str(project.id), "sort": sort})
                assert listed.status_code == 200, listed.text
                assert len(fast._compiled) <= 8
        assert listed.json() == []  # the last: time entries, none logged
        issues = await c.get("/api/issues", params={"project_id": str(project.id)})
        assert [i["title"] for i in issues.json()] == ["kept"]
