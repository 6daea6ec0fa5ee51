"""Per-deployment random values, created once and then shared by every worker."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import InstanceSecret, utcnow
from storage.write_gate import WriteGate


class SecretRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def get_or_create(self, name: str, make: Callable[[], str]) -> str:
        """The stored value of ``name``; the first caller's ``make()`` wins a race between workers."""
        insert = postgresql_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(InstanceSecret)
            .values(name=name, value=make(), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        async with self._writes.transaction() as connection:
            await connection.execute(statement)
            stored = await connection.scalar(
                select(InstanceSecret.value).where(InstanceSecret.name == name)
            )
        return str(stored)
