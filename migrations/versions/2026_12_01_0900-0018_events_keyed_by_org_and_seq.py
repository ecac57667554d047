"""events: keyed by (org_id, seq); the parent index only where there is a parent

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 09:00:00

Every event paid for two index entries no read used: the primary key on its random ``id``
(nothing looks an event up by id; the id travels in webhooks and the audit log) next to the
unique ``(org_id, seq)`` every reader pages by, and an entry for ``parent_id`` in events that
have none (every issue create's). ``(org_id, seq)`` becomes the primary key; the parent index
holds only the events that have a parent (a comment's, under its issue), which is all that the
issue activity asks of it. A create's statement costs PostgreSQL 0.96 and 0.92 of its CPU
before (a session script, docs/decisions.md, "Speed, round eight").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS_PARENT = sa.text("parent_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_id_parent_id_seq")
        batch_op.drop_constraint("uq_events_org_id_seq", type_="unique")
        batch_op.drop_constraint("pk_events", type_="primary")
        batch_op.create_primary_key("pk_events", ["org_id", "seq"])
    op.create_index(
        "ix_events_org_id_parent_id_seq",
        "events",
        ["org_id", "parent_id", "seq"],
        postgresql_where=HAS_PARENT,
        sqlite_where=HAS_PARENT,
    )


def downgrade() -> None:
    op.drop_index("ix_events_org_id_parent_id_seq", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint("pk_events", type_="primary")
        batch_op.create_primary_key("pk_events", ["id"])
        batch_op.create_unique_constraint("uq_events_org_id_seq", ["org_id", "seq"])
        batch_op.create_index("ix_events_org_id_parent_id_seq", ["org_id", "parent_id", "seq"])
