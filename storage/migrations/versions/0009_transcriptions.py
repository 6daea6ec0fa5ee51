"""transcriptions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00

Voice messages turned into text (core.speech): one row per transcribed audio attachment with
the seconds of audio, for ``/usage``. A table of its own, not the token ledger: the STT
provider bills by time, not tokens, and its calls are not Moonshot calls.

Additive only (a new table): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "transcriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=True),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("user_id", sa.String(length=160), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("chat_key", sa.String(length=400), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_transcriptions_user_created", "transcriptions", ["user_id", "created_at"])
    op.create_index("ix_transcriptions_chat_created", "transcriptions", ["chat_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_transcriptions_chat_created", table_name="transcriptions")
    op.drop_index("ix_transcriptions_user_created", table_name="transcriptions")
    op.drop_table("transcriptions")
