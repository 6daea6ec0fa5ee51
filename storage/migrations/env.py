"""Alembic environment: runs on the connection ``storage.migrate`` hands over (async engines)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from storage.models import Base

config = context.config
target_metadata = Base.metadata

# Any fixed number: all workers that migrate at once take the same PostgreSQL advisory lock.
_MIGRATION_LOCK_ID = 72_411_009


def _include_object(_obj, name, type_, _reflected, _compare_to):  # type: ignore[no-untyped-def]
    """Autogenerate must not touch the FTS5 shadow tables the documents migration created."""
    return not (type_ == "table" and name and name.startswith("document_sections_fts"))


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `kimi-bot migrate`")
run_migrations_online()
