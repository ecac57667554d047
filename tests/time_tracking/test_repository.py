"""Time entries below HTTP: the org-wide summary's and list's statements on PostgreSQL, and
the summary's plain data beside the models that document it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import get_type_hints

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from projekt.time_tracking.repository import EntryRow, listing_statement, summary_statement
from projekt.time_tracking.schemas import (
    SummaryGroup,
    SummaryGroupData,
    TimeEntryRead,
    TimeSummary,
    TimeSummaryData,
)
from projekt.time_tracking.service import EntryFilters


async def test_postgresql_reads_a_period_of_the_org_off_one_index(app: FastAPI) -> None:
    """A month's summary reads that month's entries (``ix_time_entries_org_id_entry_date``),
    not every entry of the org: with a million entries it answers as fast as with 10,000."""
    db = app.state.services.db
    if db.dialect != "postgresql":
        pytest.skip("the plan is PostgreSQL's (the embedded default serves small teams)")
    stmt = summary_statement("day", ("from_date", "to_date")).params(
        org_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        cutoff=datetime.now(UTC),
        limit_minutes=720,
        f_from_date=date(2026, 10, 1),
        f_to_date=date(2026, 10, 31),
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    async with db.read() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))
    assert "ix_time_entries_org_id_entry_date" in plan, plan


async def test_postgresql_lists_the_org_off_one_index_without_counting_every_entry(
    app: FastAPI,
) -> None:
    """The org's plain list (newest day first) reads its page backwards off
    ``ix_time_entries_org_id_entry_date`` and stops there: its total is the sum of the
    projects' counters, not a window over every entry of the org (about 1.5 s a page at a
    million entries). A filtered list keeps its window."""
    db = app.state.services.db
    if db.dialect != "postgresql":
        pytest.skip("the plan is PostgreSQL's (the embedded default serves small teams)")
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

    async def plan(filters: EntryFilters) -> str:
        sent = filters.sent()
        stmt = listing_statement(tuple(sent), (("entry_date", True),))
        page = stmt.params(
            org_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            limit=50,
            offset=0,
            **{f"f_{name}": value for name, value in sent.items()},
        )
        async with db.read() as session:
            sql = page.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            # An empty table is cheaper to sort than to walk in order: ask for the plan a big
            # one gets (a full sort is out, an incremental one for the ties by id is not).
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                await session.execute(text(f"SET LOCAL {setting} = off"))
            rows = await session.execute(text(f"EXPLAIN {sql}"))
            return "\n".join(row[0] for row in rows)

    plain = await plan(EntryFilters())
    assert "WindowAgg" not in plain and "time_entries" in plain, plain
    assert "Index Scan Backward using ix_time_entries_org_id_entry_date" in plain, plain
    assert "WindowAgg" in await plan(EntryFilters(billable=True))


def test_the_summarys_plain_data_names_the_models_fields_in_order() -> None:
    """The summary is written by orjson from ``TimeSummaryData``; ``TimeSummary`` documents
    it (the spec, the response sweep): the same fields, in the same order."""
    assert list(get_type_hints(TimeSummaryData)) == list(TimeSummary.model_fields)
    assert list(get_type_hints(SummaryGroupData)) == list(SummaryGroup.model_fields)


def test_the_lists_plain_data_names_the_models_fields_in_order() -> None:
    """The entry list is written by orjson from ``EntryRow``s; ``TimeEntryRead`` documents it
    and builds single entries from the same fields."""
    assert tuple(TimeEntryRead.model_fields) == EntryRow._fields
