"""feedback on answers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00

👍/👎 on the bot's answers from every platform: ``feedback`` holds one rating per answer and
user (a second rating replaces the first); ``answer_posts`` maps the platform messages an answer
was delivered as (Telegram message ids) to the answer, so a reaction on any of them finds it.

Additive only (two new tables): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("user_id", sa.String(length=160), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "user_id", name="uq_feedback_answer_user"),
    )
    op.create_index("ix_feedback_updated", "feedback", ["updated_at"])
    op.create_table(
        "answer_posts",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("post_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("platform", "chat", "post_id"),
    )


def downgrade() -> None:
    op.drop_table("answer_posts")
    op.drop_index("ix_feedback_updated", table_name="feedback")
    op.drop_table("feedback")
