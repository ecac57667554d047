"""Alembic is the only way the schema is made: one head, and no drift from the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import FastAPI

from projekt.config import Settings
from projekt.core.migrate import alembic_config, include_object
from projekt.db_registry import metadata


def test_one_head(settings: Settings) -> None:
    script = ScriptDirectory.from_config(alembic_config(settings))
    assert len(script.get_heads()) == 1


async def test_models_match_migrations(app: FastAPI) -> None:
    def diff(connection: Any) -> list[Any]:
        opts = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))

    async with app.state.services.db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


def test_naming_convention_applies() -> None:
    names = {c.name for table in metadata.tables.values() for c in table.constraints}
    assert "pk_users" in names and "uq_users_email" in names
