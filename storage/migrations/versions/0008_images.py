"""images

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 10:00:00

Images users send: ``images`` holds each distinct image once (by sha256, our own copy of the
bytes), ``conversation_images`` links one to the user message that carried it.

Additive only (new tables): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    op.create_table(
        "conversation_images",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("conversation_id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("image_id", _ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=160), nullable=False),
        sa.Column("added_by_name", sa.String(length=256), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_images") as batch:
        batch.create_index(
            "ix_conversation_images_conversation", ["conversation_id", "message_id"], unique=False
        )
        batch.create_index("ix_conversation_images_image", ["image_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation_images") as batch:
        batch.drop_index("ix_conversation_images_image")
        batch.drop_index("ix_conversation_images_conversation")
    op.drop_table("conversation_images")
    op.drop_table("images")
