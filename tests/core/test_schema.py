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


def test_sqlite_upgrade_keeps_child_rows(tmp_path: object) -> None:
    """Batch migrations rebuild tables on SQLite; children of a rebuilt table must survive."""
    import sqlite3
    import uuid as _uuid
    from datetime import UTC, datetime
    from pathlib import Path

    from projekt.core import migrate
    from tests.conftest import make_settings

    path = Path(str(tmp_path)) / "upgrade.db"
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{path}")
    migrate.upgrade(settings, "0003")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    org, user, project, issue = (_uuid.uuid4().hex for _ in range(4))
    db = sqlite3.connect(path)
    db.execute("INSERT INTO orgs VALUES (?, 'o', 's', 0, ?, ?)", (org, now, now))
    db.execute(
        "INSERT INTO users VALUES (?, 'e@x.t', 'n', NULL, 'en', 'h', 1, ?, ?)", (user, now, now)
    )
    db.execute(
        "INSERT INTO projects (id, org_id, key, name, visibility, status, columns, issue_seq,"
        " created_at, updated_at) VALUES (?, ?, 'K', 'n', 'org', 'active', '[]', 1, ?, ?)",
        (project, org, now, now),
    )
    db.execute(
        "INSERT INTO issues (id, org_id, project_id, number, title, status, priority, type,"
        " labels, archived, version, created_at, updated_at)"
        " VALUES (?, ?, ?, 1, 't', 'Backlog', 'medium', 'task', '[]', 0, 1, ?, ?)",
        (issue, org, project, now, now),
    )
    db.execute(
        "INSERT INTO comments VALUES (?, ?, ?, ?, NULL, 'kept', ?, ?)",
        (_uuid.uuid4().hex, org, issue, user, now, now),
    )
    db.commit()
    db.close()
    migrate.upgrade(settings)  # 0004 and 0005 rebuild the issues table
    db = sqlite3.connect(path)
    assert db.execute("SELECT text FROM comments").fetchall() == [("kept",)]
    db.close()


def test_issue_activity_moves_into_the_record_and_back(tmp_path: object) -> None:
    """Migration 0010: the activity rows become events, numbered per org in the order they
    happened, and the counter continues after them; the downgrade brings them back."""
    import json
    import sqlite3
    import uuid as _uuid
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from projekt.core import migrate
    from tests.conftest import make_settings

    path = Path(str(tmp_path)) / "record.db"
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{path}")
    migrate.upgrade(settings, "0009")
    start = datetime.now(UTC).replace(tzinfo=None)
    org, user, project, issue, comment = (_uuid.uuid4().hex for _ in range(5))
    db = sqlite3.connect(path)
    now = start.isoformat(sep=" ")
    db.execute("INSERT INTO orgs VALUES (?, 'o', 's', 0, ?, ?)", (org, now, now))
    db.execute(
        "INSERT INTO users VALUES (?, 'e@x.t', 'n', NULL, 'en', 'h', 1, ?, ?)", (user, now, now)
    )
    db.execute(
        "INSERT INTO projects (id, org_id, key, name, visibility, status, columns, issue_seq,"
        " version, issues_version, open_issues, archived_issues, created_at, updated_at)"
        " VALUES (?, ?, 'K', 'n', 'org', 'active', '[]', 1, 1, 1, 1, 0, ?, ?)",
        (project, org, now, now),
    )
    db.execute(
        "INSERT INTO issues (id, org_id, project_id, number, title, status, priority, type,"
        " labels, archived, version, created_at, updated_at)"
        " VALUES (?, ?, ?, 1, 't', 'Backlog', 'medium', 'task', '[]', 0, 1, ?, ?)",
        (issue, org, project, now, now),
    )
    rows = [  # stored out of order: the migration numbers them by time
        ("transitioned", {"status": ["Backlog", "Done"]}, 2),
        ("created", {"title": [None, "t"]}, 0),
        ("commented", {"comment_id": [None, str(_uuid.UUID(comment))]}, 1),
    ]
    for action, changes, minutes in rows:
        at = (start + timedelta(minutes=minutes)).isoformat(sep=" ")
        db.execute(
            "INSERT INTO issue_activity VALUES (?, ?, ?, ?, 'pat', NULL, ?, ?, ?)",
            (_uuid.uuid4().hex, org, issue, user, action, json.dumps(changes), at),
        )
    db.commit()
    db.close()

    migrate.upgrade(settings)
    db = sqlite3.connect(path)
    events = db.execute(
        "SELECT seq, type, resource_type, resource_id, parent_id, project_id, credential_kind"
        " FROM events ORDER BY seq"
    ).fetchall()
    assert events == [
        (1, "issue.created", "issue", issue, None, project, "pat"),
        (2, "comment.created", "comment", comment, issue, project, "pat"),
        (3, "issue.transitioned", "issue", issue, None, project, "pat"),
    ]
    assert db.execute("SELECT org_id, seq FROM event_counters").fetchall() == [(org, 3)]
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "issue_activity" not in tables
    db.close()

    migrate.downgrade(settings, "0009")
    db = sqlite3.connect(path)
    back = db.execute("SELECT action, changes FROM issue_activity ORDER BY created_at").fetchall()
    assert [action for action, _ in back] == ["created", "commented", "transitioned"]
    assert json.loads(back[2][1]) == {"status": ["Backlog", "Done"]}
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert not {"events", "event_counters"} & tables
    db.close()
