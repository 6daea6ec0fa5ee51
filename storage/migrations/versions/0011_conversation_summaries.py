"""conversation summaries (compacting memory)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:00:00

``conversation_summaries`` holds what Kimi wrote of a conversation's older part: each row covers
every exchange up to ``through_id`` (a user message id; its answers go with it), and the newest
row is the one a turn uses. Rows are kept (each replaces the previous in use), so an operator can
see how a conversation was compacted. A summary belongs to one conversation generation: /reset
starts a new one with none.

Additive only (one new table): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_summaries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("through_id", _ID, nullable=False),
        sa.Column("covered_messages", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("token_estimate", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "conversation_id", "through_id", name="uq_summary_conversation_through"
        ),
    )


def downgrade() -> None:
    op.drop_table("conversation_summaries")
