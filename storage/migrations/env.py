"""Alembic environment: runs on the connection ``storage.migrate`` hands over (async engines)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.models import Base

config = context.config
target_metadata = Base.metadata

# Any fixed number: all workers that migrate at once take the same PostgreSQL advisory lock.
_MIGRATION_LOCK_ID = 72_411_009


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `kimi-bot migrate`")
run_migrations_online()
