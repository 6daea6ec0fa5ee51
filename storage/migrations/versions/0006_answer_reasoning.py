"""answer reasoning

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 15:00:00

A thinking model's reasoning, stored beside its answer (never part of the answer text).
Additive only (a nullable column): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reasoning", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reasoning")
