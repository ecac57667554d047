"""The unit of work: SQLite writers serialize from BEGIN; a row deleted under a write is 404."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from projekt.core.db import Database
from projekt.core.errors import NotFound
from projekt.orgs.models import Org
from tests.factories import Factory


async def test_an_update_of_a_row_deleted_meanwhile_is_not_found(factory: Factory) -> None:
    db: Database = factory.services.db
    org = await factory.org()

    async def rename_after_a_concurrent_delete() -> None:
        async with db.session() as session:
            row = (await session.execute(select(Org).where(Org.id == org.id))).scalar_one()
            await session.commit()  # the row stays loaded (expire_on_commit=False)
            async with db.session() as other:
                await other.execute(delete(Org).where(Org.id == org.id))
            row.name = "Renamed"  # flushed at the end of the unit of work: matches no row

    with pytest.raises(NotFound):
        await rename_after_a_concurrent_delete()


async def test_sqlite_writers_wait_for_each_other_from_their_first_read(
    app: FastAPI, factory: Factory
) -> None:
    db: Database = factory.services.db
    if db.dialect != "sqlite":
        pytest.skip("SQLite's write lock; PostgreSQL locks rows")
    org = await factory.org()
    order: list[str] = []
    first_has_read = asyncio.Event()
    reader_done = asyncio.Event()

    async def first() -> None:
        async with db.session() as session:
            await session.execute(select(Org.name).where(Org.id == org.id))
            first_has_read.set()
            await asyncio.wait_for(reader_done.wait(), timeout=30)
            # A chance for the second writer to run if it were not queued (it must not).
            await asyncio.sleep(0.1)
            order.append("first commits")

    async def second() -> None:
        await first_has_read.wait()
        async with db.session() as session:
            await session.execute(select(Org.name).where(Org.id == org.id))
            order.append("second reads")

    async def reader() -> None:
        await first_has_read.wait()
        async with db.read() as session:  # reads never queue behind the writer
            await session.execute(select(Org.name).where(Org.id == uuid.uuid4()))
            order.append("reader reads")
        reader_done.set()

    await asyncio.gather(first(), second(), reader())
    assert order.index("second reads") > order.index("first commits")
    assert order.index("reader reads") < order.index("first commits")
