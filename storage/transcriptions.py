"""Voice messages transcribed: one row each, and totals over time ranges for ``/usage``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Transcription, utcnow
from storage.write_gate import WriteGate


@dataclass(frozen=True, slots=True)
class VoiceTotals:
    messages: int
    seconds: float  # of the messages whose duration is known


class TranscriptionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = WriteGate.of(engine)  # every write takes its turn in the one line

    async def record(
        self,
        *,
        conversation_id: int | None,
        message_id: int | None,
        user_id: str,
        platform: str,
        chat_key: str,
        model: str,
        seconds: float | None,
        elapsed_ms: int,
    ) -> None:
        async with self._writes.transaction() as connection:
            await connection.execute(
                insert(Transcription).values(
                    conversation_id=conversation_id,
                    message_id=message_id,
                    user_id=user_id,
                    platform=platform,
                    chat_key=chat_key,
                    model=model,
                    seconds=seconds,
                    elapsed_ms=elapsed_ms,
                    created_at=utcnow(),
                )
            )

    async def totals(
        self,
        *,
        user_id: str | None = None,
        chat_key: str | None = None,
        since: datetime | None = None,
    ) -> VoiceTotals:
        query = select(
            func.count(Transcription.id), func.coalesce(func.sum(Transcription.seconds), 0.0)
        )
        if user_id is not None:
            query = query.where(Transcription.user_id == user_id)
        if chat_key is not None:
            query = query.where(Transcription.chat_key == chat_key)
        if since is not None:
            query = query.where(Transcription.created_at >= since.astimezone(UTC))
        async with self._engine.connect() as connection:
            count, seconds = (await connection.execute(query)).one()
        return VoiceTotals(messages=int(count), seconds=float(seconds or 0.0))
