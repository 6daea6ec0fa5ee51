"""Cached prompt tokens per model, for "what caching saved" (``/usage``, ``kimi-bot usage``).

What a cached token saves depends on its model's prices, which live in the catalog, not in the
ledger: this query only says how many cached tokens each model had, per report key and currency;
``core.usage_report`` prices them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import UsageRecord

_KEYS = {"user": UsageRecord.user_id, "chat": UsageRecord.chat_key, "model": UsageRecord.model}


@dataclass(frozen=True, slots=True)
class CachedTokens:
    key: str  # the report's user, chat, model or day ("" when not grouped)
    model: str
    currency: str
    cached_tokens: int


async def cached_tokens_by_model(
    engine: AsyncEngine,
    *,
    by: str | None = None,
    user_id: str | None = None,
    chat_key: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    tz: tzinfo = UTC,
) -> list[CachedTokens]:
    """Sums of cached tokens per (``by`` key, model, currency) over rows that had any; ``by`` is
    user, chat, model, day (calendar days in ``tz``) or None (one group)."""
    filters: list[Any] = [UsageRecord.cached_tokens > 0]
    if user_id is not None:
        filters.append(UsageRecord.user_id == user_id)
    if chat_key is not None:
        filters.append(UsageRecord.chat_key == chat_key)
    if since is not None:
        filters.append(UsageRecord.created_at >= since.astimezone(UTC))
    if until is not None:
        filters.append(UsageRecord.created_at < until.astimezone(UTC))
    async with engine.connect() as connection:
        if by == "day":  # portable: days in any time zone, grouped here
            rows = await connection.execute(
                select(
                    UsageRecord.created_at,
                    UsageRecord.model,
                    UsageRecord.currency,
                    UsageRecord.cached_tokens,
                ).where(*filters)
            )
            sums: dict[tuple[str, str, str], int] = {}
            for created, model, currency, cached in rows.all():
                when = created if created.tzinfo else created.replace(tzinfo=UTC)
                group = (when.astimezone(tz).date().isoformat(), str(model), str(currency))
                sums[group] = sums.get(group, 0) + int(cached)
            return [CachedTokens(k, m, c, n) for (k, m, c), n in sorted(sums.items())]
        if by is not None and by not in _KEYS:
            raise ValueError(f"by must be one of user, chat, model, day, not {by!r}")
        columns = [UsageRecord.model, UsageRecord.currency]
        grouped = [_KEYS[by], *columns] if by else columns
        query = (
            select(*grouped, func.sum(UsageRecord.cached_tokens)).where(*filters).group_by(*grouped)
        )
        result = (await connection.execute(query)).all()
    if by:
        return [CachedTokens(str(r[0]), str(r[1]), str(r[2]), int(r[3] or 0)) for r in result]
    return [CachedTokens("", str(r[0]), str(r[1]), int(r[2] or 0)) for r in result]
