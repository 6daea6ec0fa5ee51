"""conversation turn fence

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00

Additive only (one nullable column, no default to backfill): instant on PostgreSQL, and workers
still running the previous release neither read nor write it, so it is safe to apply while they
serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("turn_fence", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("turn_fence")
