"""The usage ledger: one row per Moonshot call, and totals over time ranges."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.models import UsageRecord
from storage.records import UsageEntry, UsageTotals


class UsageRepository:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def record(self, entry: UsageEntry) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                UsageRecord(
                    conversation_id=entry.conversation_id,
                    message_id=entry.message_id,
                    user_id=entry.user_id,
                    platform=entry.platform,
                    chat_key=entry.chat_key,
                    model=entry.model,
                    prompt_tokens=entry.prompt_tokens,
                    completion_tokens=entry.completion_tokens,
                    cached_tokens=entry.cached_tokens,
                    cost_cny=entry.cost_cny,
                    latency_ms=entry.latency_ms,
                    first_token_ms=entry.first_token_ms,
                )
            )

    async def totals(
        self,
        *,
        user_id: str | None = None,
        chat_key: str | None = None,
        since: datetime | None = None,
    ) -> UsageTotals:
        query = select(
            func.count(UsageRecord.id),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cached_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cost_cny), 0.0),
        )
        if user_id is not None:
            query = query.where(UsageRecord.user_id == user_id)
        if chat_key is not None:
            query = query.where(UsageRecord.chat_key == chat_key)
        if since is not None:
            query = query.where(UsageRecord.created_at >= since.astimezone(UTC))
        async with self._sessions() as session:
            row = (await session.execute(query)).one()
        return UsageTotals(
            calls=int(row[0]),
            prompt_tokens=int(row[1]),
            completion_tokens=int(row[2]),
            cached_tokens=int(row[3]),
            cost_cny=float(row[4]),
        )
