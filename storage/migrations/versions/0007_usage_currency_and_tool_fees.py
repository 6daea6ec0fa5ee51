"""usage currency and tool fees

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00

The ledger's cost is in the account's currency (api.moonshot.ai bills in USD): a ``currency``
column says which. The amount stays in the column ``cost_cny`` (the ORM calls it ``cost``): a
rename would make workers of the previous release fail to store answers during a rolling deploy.
Rows written before are CNY, the only currency earlier releases priced in (an operator whose
KIMI_MODELS_FILE held USD prices can correct them with
``UPDATE usage_records SET currency = 'USD'``). ``tool_fees`` and ``web_searches`` record the
per-call ``$web_search`` fees included in the cost.

Additive only (columns with defaults): safe to apply while workers of the previous release serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("currency", sa.String(length=3), nullable=False, server_default="CNY")
        )
        batch.add_column(sa.Column("tool_fees", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("web_searches", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Back to CNY-only columns (amounts of USD rows keep their numbers, now labelled CNY)."""
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("web_searches")
        batch.drop_column("tool_fees")
        batch.drop_column("currency")
