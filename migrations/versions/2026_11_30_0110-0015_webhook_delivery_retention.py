"""webhook deliveries: an index on completed_at, for pruning the finished ones

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 01:00:00

The deliverers delete finished deliveries older than ``PROJEKT_WEBHOOK_DELIVERY_RETENTION_DAYS``
in bounded batches; without this index each batch would scan the whole table.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_completed_at", "webhook_deliveries", ["completed_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_completed_at", table_name="webhook_deliveries")
