"""time entries

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 22:00:00

Time tracking (API.md §10): entries and running timers, one running timer per person and org
(a partial unique index).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from projekt.core.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("auto_stopped", sa.Boolean(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_time_entries_issue_id_issues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_time_entries_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_time_entries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_time_entries_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
    )
    op.create_index(
        "ix_time_entries_org_id_user_id_entry_date",
        "time_entries",
        ["org_id", "user_id", "entry_date"],
    )
    op.create_index(
        "ix_time_entries_project_id_entry_date", "time_entries", ["project_id", "entry_date"]
    )
    op.create_index("ix_time_entries_issue_id", "time_entries", ["issue_id"])
    op.create_index(
        "uq_time_entries_running_timer",
        "time_entries",
        ["org_id", "user_id"],
        unique=True,
        sqlite_where=sa.text("running"),
        postgresql_where=sa.text("running"),
    )


def downgrade() -> None:
    op.drop_index("uq_time_entries_running_timer", table_name="time_entries")
    op.drop_index("ix_time_entries_issue_id", table_name="time_entries")
    op.drop_index("ix_time_entries_project_id_entry_date", table_name="time_entries")
    op.drop_index("ix_time_entries_org_id_user_id_entry_date", table_name="time_entries")
    op.drop_table("time_entries")
