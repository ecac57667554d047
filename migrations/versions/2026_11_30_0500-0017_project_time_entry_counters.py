"""projects.time_entries: each project's count of time entries

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 05:00:00

The total of the org-wide entry list (``GET /api/time-entries``) without filters is the sum of
this counter over the projects the caller sees, and a project's list takes its project's (the
rule of the issue lists, ``projects.open_issues``): a ``count(*) OVER ()`` read every entry of
the org on every page, about 1.5 s at a million entries. Kept by time tracking's writes in
their own transactions; filled here from the entries already logged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("time_entries", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE projects SET time_entries = (SELECT count(*) FROM time_entries t "
        "WHERE t.project_id = projects.id) "
        "WHERE id IN (SELECT project_id FROM time_entries)"
    )


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("time_entries")
