"""Database chores for the command line and health checks, so ``bots/`` never imports ``storage``:
check that it answers, apply the migrations, read where the schema stands."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from storage import Database


async def ping_database(url: str, timeout: float) -> None:  # noqa: ASYNC109
    """Open one connection, run ``SELECT 1``, close; raises the driver's error or TimeoutError."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        await asyncio.wait_for(db.ping(), timeout)
    finally:
        await db.close()


async def migrate_database(url: str) -> str:
    """Apply every pending migration; returns the backend name (``sqlite``, ``postgresql``)."""
    db = Database(url)
    try:
        await db.migrate()
        return db.backend
    finally:
        await db.close()


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: no tables yet
    head: str  # what this release migrates to
    known: bool  # False: a newer release migrated this database

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


async def schema_state(url: str) -> SchemaState:
    from storage.migrate import current_revision, head_revision, is_known_revision

    db = Database(url, pool_size=1, max_overflow=0)
    try:
        current = await current_revision(db.engine)
    finally:
        await db.close()
    return SchemaState(
        current=current,
        head=head_revision(),
        known=current is None or is_known_revision(current),
    )
