"""Time entries below HTTP: the org-wide summary's statement on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from projekt.time_tracking.repository import summary_statement


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
