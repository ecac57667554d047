"""One unit of work per request (SessionDep is its session), and fast-path writes that cannot
need its after_commit hooks."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, update

from projekt.auth.models import User
from projekt.core.deps import UnitOfWork, get_session
from projekt.core.fastsql import FastSQL
from projekt.issues.repository import INSERT_ISSUE


async def test_the_session_is_the_unit_of_works_own(app: FastAPI) -> None:
    uow = UnitOfWork(app.state.services.db, write=False)
    try:
        assert await get_session(uow) is uow.session
        assert await get_session(uow) is await get_session(uow)
    finally:
        await uow.finish(failed=True)


async def test_a_fast_path_write_to_a_watched_table_is_refused(app: FastAPI) -> None:
    services = app.state.services
    fast = FastSQL(services.settings, services.db.engine, services.metrics, watched={"users"})
    rename = update(User).where(User.id == bindparam("uid")).values(name=bindparam("name"))
    try:
        with pytest.raises(RuntimeError, match="users"):
            async with fast.transaction() as tx:
                await tx.fetch(rename, {"uid": uuid.uuid4(), "name": "x"})
        fast.bookkeeping(rename)  # declared: runs (and changes no row here)
        async with fast.transaction() as tx:
            await tx.fetch(rename, {"uid": uuid.uuid4(), "name": "x"})
    finally:
        await fast.close()


def test_the_issue_create_writes_no_watched_table(app: FastAPI) -> None:
    """The create's fast transaction runs no after_commit hook: it cannot need one."""
    services = app.state.services
    services.fast.check_write(INSERT_ISSUE)  # raises for a watched table
    assert "issues" not in services.db.watched_tables
