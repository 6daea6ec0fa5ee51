"""Worker presence (heartbeats) and the closing of turns that a dead worker left in progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.messages import FAILED, IN_PROGRESS, INCOMPLETE
from storage.models import Conversation, Message, Worker, utcnow
from storage.records import ConversationKey
from storage.write_gate import WriteGate


@dataclass(frozen=True, slots=True)
class AbandonedTurn:
    message_id: int
    conversation_id: int
    key: ConversationKey


class WorkerRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def heartbeat(self, worker_id: str, hostname: str, pid: int) -> None:
        """Register or refresh this worker (one upsert)."""
        now = utcnow()
        insert = postgresql_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(Worker).values(
            id=worker_id, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=["id"], set_={"heartbeat_at": now}
        )
        async with self._writes.transaction() as connection:
            await connection.execute(statement)

    async def unregister(self, worker_id: str) -> None:
        async with self._writes.transaction() as connection:
            await connection.execute(delete(Worker).where(Worker.id == worker_id))

    async def prune(self, silent_since: datetime) -> int:
        """Forget workers whose last heartbeat is older than ``silent_since``: crashed ones (a
        worker that stops cleanly unregisters itself). Nothing refers to these rows: turns
        left in progress are found by comparing with the workers still alive."""
        async with self._writes.transaction() as connection:
            result = await connection.execute(
                delete(Worker).where(Worker.heartbeat_at < silent_since)
            )
            return int(result.rowcount or 0)

    async def close_abandoned(
        self, *, alive_since: datetime, started_before: datetime, reason: str
    ) -> list[AbandonedTurn]:
        """Mark answers left in progress by workers without a recent heartbeat; each row is
        closed by exactly one caller (the UPDATE decides), so the user is told once."""
        alive = select(Worker.id).where(Worker.heartbeat_at >= alive_since)
        statement = (
            update(Message)
            .where(
                Message.status == IN_PROGRESS,
                Message.created_at < started_before,
                (Message.worker_id.is_(None)) | (Message.worker_id.not_in(alive)),
            )
            .values(
                status=case((Message.content != "", INCOMPLETE), else_=FAILED),
                error=reason,
                updated_at=utcnow(),
            )
            .returning(Message.id, Message.conversation_id)
        )
        async with self._writes.transaction() as connection:
            closed = (await connection.execute(statement)).all()
            if not closed:
                return []
            ids = {row[1] for row in closed}
            keys = {
                row[0]: ConversationKey(
                    platform=row[1], workspace=row[2], chat=row[3], thread=row[4]
                )
                for row in await connection.execute(
                    select(
                        Conversation.id,
                        Conversation.platform,
                        Conversation.workspace,
                        Conversation.chat,
                        Conversation.thread,
                    ).where(Conversation.id.in_(ids))
                )
            }
        return [AbandonedTurn(row[0], row[1], keys[row[1]]) for row in closed]
