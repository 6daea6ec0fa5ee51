"""operator console: one-time links, per-user budgets, allow-list entries, audit log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 19:00:00

``admin_links`` holds the hashes of one-time sign-in links (``/admin`` in a private chat), spent
once on whichever worker serves them; ``user_budgets`` and ``access_entries`` are the settings an
operator edits in the console (on top of ``BUDGET_USER_*`` and ``ALLOWED_*``); ``admin_audit``
records every console action.

Additive only (four new tables): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admin_links",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("admin_id", sa.String(length=160), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_admin_links_expires_at", "admin_links", ["expires_at"])
    op.create_table(
        "user_budgets",
        sa.Column("user_id", sa.String(length=160), primary_key=True),
        sa.Column("daily", sa.Float(), nullable=True),
        sa.Column("monthly", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.String(length=160), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "access_entries",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("added_by", sa.String(length=160), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("kind", "value"),
    )
    op.create_table(
        "admin_audit",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("admin_id", sa.String(length=160), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_admin_audit_at", "admin_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_admin_audit_at", table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_table("access_entries")
    op.drop_table("user_budgets")
    op.drop_index("ix_admin_links_expires_at", table_name="admin_links")
    op.drop_table("admin_links")
