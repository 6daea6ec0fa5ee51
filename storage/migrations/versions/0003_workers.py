"""workers and in-progress owners

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:38:20.318386

Additive only (a new table, a nullable column), so workers still running the previous release
keep working while this is applied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workers_heartbeat_at", "workers", ["heartbeat_at"], unique=False)
    # Plain ADD COLUMN (not a batch table copy): instant, and old workers never notice it.
    op.add_column("messages", sa.Column("worker_id", sa.String(length=64), nullable=True))
    op.create_index("ix_messages_status", "messages", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_status", table_name="messages")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("worker_id")
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_table("workers")
