"""events: the record

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 21:30:00

The record of API.md §9 (``projekt.core.record``): ``events``, numbered per org by
``event_counters``. Issue activity becomes a reader of it: the rows of ``issue_activity`` move
into ``events`` (numbered per org in the order they happened) and the table goes. The downgrade
moves the issue events back (of issues that still exist) and drops the record.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from projekt.core.db import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BATCH = 1000

# What each activity action of the old table is as an event type.
ACTION_TYPES = {
    "created": "issue.created",
    "transitioned": "issue.transitioned",
    "archived": "issue.archived",
    "bulk_archive": "issue.archived",
    "commented": "comment.created",
}

events = sa.table(
    "events",
    sa.column("id", sa.Uuid()),
    sa.column("org_id", sa.Uuid()),
    sa.column("seq", sa.BigInteger()),
    sa.column("occurred_at", UTCDateTime(timezone=True)),
    sa.column("type", sa.String()),
    sa.column("resource_type", sa.String()),
    sa.column("resource_id", sa.Uuid()),
    sa.column("parent_id", sa.Uuid()),
    sa.column("project_id", sa.Uuid()),
    sa.column("actor_user_id", sa.Uuid()),
    sa.column("credential_kind", sa.String()),
    sa.column("credential_id", sa.Uuid()),
    sa.column("oauth_client_id", sa.String()),
    sa.column("request_id", sa.String()),
    sa.column("changes", JSON),
)
counters = sa.table(
    "event_counters", sa.column("org_id", sa.Uuid()), sa.column("seq", sa.BigInteger())
)
activity = sa.table(
    "issue_activity",
    sa.column("id", sa.Uuid()),
    sa.column("org_id", sa.Uuid()),
    sa.column("issue_id", sa.Uuid()),
    sa.column("actor_id", sa.Uuid()),
    sa.column("credential_kind", sa.String()),
    sa.column("credential_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("changes", JSON),
    sa.column("created_at", UTCDateTime(timezone=True)),
)
issues = sa.table("issues", sa.column("id", sa.Uuid()), sa.column("project_id", sa.Uuid()))


def _create_activity_table() -> None:
    op.create_table(
        "issue_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("credential_kind", sa.String(length=16), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_issue_activity_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_activity_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_issue_activity_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_activity")),
    )
    with op.batch_alter_table("issue_activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_issue_activity_issue_id_created_at", ["issue_id", "created_at"], unique=False
        )


def _event_of(row: Any, seq: int) -> dict[str, Any]:
    changes = dict(row.changes or {})
    kind = ACTION_TYPES.get(row.action, "issue.updated")
    resource_type, resource_id, parent_id = "issue", row.issue_id, None
    if kind == "comment.created":
        comment_id = (changes.get("comment_id") or [None, None])[1]
        resource_type, parent_id = "comment", row.issue_id
        resource_id = uuid.UUID(comment_id) if comment_id else row.issue_id
    return {
        "id": row.id,
        "org_id": row.org_id,
        "seq": seq,
        "occurred_at": row.created_at,
        "type": kind,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "parent_id": parent_id,
        "project_id": row.project_id,
        "actor_user_id": row.actor_id,
        "credential_kind": row.credential_kind,
        "credential_id": row.credential_id,
        "oauth_client_id": None,
        "request_id": None,
        "changes": changes,
    }


def upgrade() -> None:
    op.create_table(
        "event_counters",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_event_counters_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_event_counters")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("credential_kind", sa.String(length=16), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("oauth_client_id", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("changes", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_events_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("org_id", "seq", name=op.f("uq_events_org_id_seq")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_org_id_actor_user_id_seq", ["org_id", "actor_user_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_events_org_id_parent_id_seq", ["org_id", "parent_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_events_org_id_resource_id_seq", ["org_id", "resource_id", "seq"], unique=False
        )

    # The activity so far, numbered per org in the order it happened.
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(activity, issues.c.project_id)
        .join(issues, issues.c.id == activity.c.issue_id)
        .order_by(activity.c.org_id, activity.c.created_at, activity.c.id)
    )
    last: dict[uuid.UUID, int] = {}
    batch: list[dict[str, Any]] = []
    for row in rows:
        last[row.org_id] = last.get(row.org_id, 0) + 1
        batch.append(_event_of(row, last[row.org_id]))
        if len(batch) >= BATCH:
            bind.execute(events.insert(), batch)
            batch = []
    if batch:
        bind.execute(events.insert(), batch)
    if last:
        bind.execute(counters.insert(), [{"org_id": o, "seq": n} for o, n in last.items()])

    with op.batch_alter_table("issue_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_activity_issue_id_created_at")
    op.drop_table("issue_activity")


def downgrade() -> None:
    _create_activity_table()
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(events)
        .join(issues, issues.c.id == sa.func.coalesce(events.c.parent_id, events.c.resource_id))
        .where(sa.or_(events.c.resource_type == "issue", events.c.type == "comment.created"))
        .order_by(events.c.org_id, events.c.seq)
    )
    batch: list[dict[str, Any]] = []
    for row in rows:
        on_comment = row.resource_type == "comment"
        changes = dict(row.changes or {})
        if on_comment:
            action = "commented"
            changes = {"comment_id": [None, str(row.resource_id)]}
        else:
            action = row.type.split(".", 1)[1]
        batch.append(
            {
                "id": row.id,
                "org_id": row.org_id,
                "issue_id": row.parent_id if on_comment else row.resource_id,
                "actor_id": row.actor_user_id,
                "credential_kind": row.credential_kind,
                "credential_id": row.credential_id,
                "action": action[:32],
                "changes": changes,
                "created_at": row.occurred_at,
            }
        )
        if len(batch) >= BATCH:
            bind.execute(activity.insert(), batch)
            batch = []
    if batch:
        bind.execute(activity.insert(), batch)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_id_resource_id_seq")
        batch_op.drop_index("ix_events_org_id_parent_id_seq")
        batch_op.drop_index("ix_events_org_id_actor_user_id_seq")
    op.drop_table("events")
    op.drop_table("event_counters")
