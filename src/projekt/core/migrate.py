"""Alembic driven from code: the only way the schema is made, in `serve`, `migrate` and tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from projekt.config import Settings
from projekt.core.db import ensure_sqlite_dir

ROOT = Path(__file__).resolve().parents[3]


# Indexes made by hand in migrations because the models cannot express them portably (a
# PostgreSQL-only expression index); autogenerate and the drift test leave them alone.
MIGRATION_ONLY_INDEXES = frozenset({"ix_issues_fts", "ix_docs_fts"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, _other: object
) -> bool:
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def alembic_config(settings: Settings, *, configure_logging: bool = False) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise RuntimeError(
            f"alembic.ini not found at {ini}; install the project with `pip install -e .`"
        )
    config = Config(str(ini))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["settings"] = settings
    config.attributes["configure_logging"] = configure_logging
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite:
        ensure_sqlite_dir(settings.database_url)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
