"""The usage ledger: one row per Moonshot call, and totals over time ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.database import WriteGate
from storage.models import UsageRecord, utcnow
from storage.records import UsageEntry, UsageTotals


def usage_values(entry: UsageEntry) -> dict[str, object]:
    """Column values of a usage row (for Core inserts in the same transaction as other writes)."""
    return {
        "conversation_id": entry.conversation_id,
        "message_id": entry.message_id,
        "user_id": entry.user_id,
        "platform": entry.platform,
        "chat_key": entry.chat_key,
        "model": entry.model,
        "prompt_tokens": entry.prompt_tokens,
        "completion_tokens": entry.completion_tokens,
        "cached_tokens": entry.cached_tokens,
        "cost": entry.cost,
        "currency": entry.currency,
        "tool_fees": entry.tool_fees,
        "web_searches": entry.web_searches,
        "latency_ms": entry.latency_ms,
        "first_token_ms": entry.first_token_ms,
        "created_at": utcnow(),
    }


def usage_columns(entry: UsageEntry) -> dict[str, object]:
    """``usage_values`` keyed by column name, for Core inserts (``cost`` lives in ``cost_cny``)."""
    return {
        UsageRecord.__mapper__.attrs[k].columns[0].key: v for k, v in usage_values(entry).items()
    }


def usage_row(entry: UsageEntry) -> UsageRecord:
    return UsageRecord(**usage_values(entry))


REPORT_GROUPS = ("user", "chat", "model", "day")  # ``kimi-bot usage --by``
# What a report or a series can be grouped by (the operator console adds the platform).
SERIES_GROUPS = ("platform", "model", "user", "chat")
_COLUMNS = {
    "user": UsageRecord.user_id,
    "chat": UsageRecord.chat_key,
    "model": UsageRecord.model,
    "platform": UsageRecord.platform,
}


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One line of a usage report: the totals of one user, chat, model or day in one currency
    (a key with calls in CNY and in USD has a row for each: the amounts never mix)."""

    key: str
    currency: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float  # tokens + tool fees
    avg_latency_ms: float
    avg_first_token_ms: float | None
    first_token_calls: int = 0  # calls that reported a time to first token
    tool_fees: float = 0.0
    web_searches: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """The calls of one calendar day, one group (platform, model, user or chat) and one
    currency: a point of the operator console's charts."""

    day: str  # YYYY-MM-DD in the report's time zone
    key: str
    currency: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0  # tokens + tool fees
    tool_fees: float = 0.0
    web_searches: int = 0


class UsageRepository:
    def __init__(self, sessions: async_sessionmaker, writes: WriteGate) -> None:
        self._sessions = sessions
        self._writes = writes

    async def record(self, entry: UsageEntry) -> None:
        """A ledger row of its own (a summary's call; an answer's rows close with it)."""
        statement = insert(UsageRecord).values(usage_columns(entry))
        await self._writes.execute(statement)

    async def totals(
        self,
        *,
        user_id: str | None = None,
        chat_key: str | None = None,
        since: datetime | None = None,
    ) -> UsageTotals:
        query = select(
            UsageRecord.currency,
            func.count(UsageRecord.id),
            func.coalesce(func.sum(UsageRecord.prompt_tokens), 0),
            func.coalesce(func.sum(UsageRecord.completion_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cached_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cost), 0.0),
            func.coalesce(func.sum(UsageRecord.tool_fees), 0.0),
            func.coalesce(func.sum(UsageRecord.web_searches), 0),
        ).group_by(UsageRecord.currency)
        if user_id is not None:
            query = query.where(UsageRecord.user_id == user_id)
        if chat_key is not None:
            query = query.where(UsageRecord.chat_key == chat_key)
        if since is not None:
            query = query.where(UsageRecord.created_at >= since.astimezone(UTC))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return UsageTotals(
            calls=sum(int(r[1]) for r in rows),
            prompt_tokens=sum(int(r[2]) for r in rows),
            completion_tokens=sum(int(r[3]) for r in rows),
            cached_tokens=sum(int(r[4]) for r in rows),
            costs={str(r[0]): float(r[5]) for r in rows},
            tool_fees={str(r[0]): float(r[6]) for r in rows},
            web_searches=sum(int(r[7]) for r in rows),
        )

    async def record_at(self, entry: UsageEntry, created_at: datetime) -> None:
        """Record a call with an explicit time (imports from elsewhere, tests)."""
        values = usage_values(entry)
        values["created_at"] = created_at.astimezone(UTC)
        await self._writes.execute(insert(UsageRecord).values(values))

    async def report(
        self,
        *,
        by: str = "user",
        since: datetime | None = None,
        until: datetime | None = None,
        tz: tzinfo = UTC,
    ) -> list[UsageRow]:
        """Totals per user, chat, model, day or platform (``by``) and currency of the calls in
        ``[since, until)``.

        Days are calendar days in ``tz`` (the operator's time zone), oldest first; the other
        groupings are ordered by currency, then cost, highest first.
        """
        if by not in REPORT_GROUPS and by not in SERIES_GROUPS:
            raise ValueError(f"by must be one of {', '.join(REPORT_GROUPS)}")
        filters: list[Any] = []
        if since is not None:
            filters.append(UsageRecord.created_at >= since.astimezone(UTC))
        if until is not None:
            filters.append(UsageRecord.created_at < until.astimezone(UTC))
        async with self._sessions() as session:
            dialect = session.bind.dialect.name if session.bind is not None else ""
            zone = getattr(tz, "key", None) or ("UTC" if tz is UTC else None)
            if by == "day" and (dialect != "postgresql" or zone is None):
                rows = await self._days_in_python(session, filters, tz)
            else:
                if by == "day":
                    column = func.to_char(func.timezone(zone, UsageRecord.created_at), "YYYY-MM-DD")
                else:
                    column = _COLUMNS[by]
                query = (
                    select(
                        column,
                        UsageRecord.currency,
                        func.count(UsageRecord.id),
                        func.sum(UsageRecord.prompt_tokens),
                        func.sum(UsageRecord.completion_tokens),
                        func.sum(UsageRecord.cached_tokens),
                        func.sum(UsageRecord.cost),
                        func.avg(UsageRecord.latency_ms),
                        func.avg(UsageRecord.first_token_ms),
                        func.count(UsageRecord.first_token_ms),
                        func.sum(UsageRecord.tool_fees),
                        func.sum(UsageRecord.web_searches),
                    )
                    .where(*filters)
                    .group_by(column, UsageRecord.currency)
                )
                rows = [
                    UsageRow(
                        key=str(r[0]),
                        currency=str(r[1]),
                        calls=int(r[2]),
                        prompt_tokens=int(r[3] or 0),
                        completion_tokens=int(r[4] or 0),
                        cached_tokens=int(r[5] or 0),
                        cost=float(r[6] or 0.0),
                        avg_latency_ms=float(r[7] or 0.0),
                        avg_first_token_ms=None if r[8] is None else float(r[8]),
                        first_token_calls=int(r[9] or 0),
                        tool_fees=float(r[10] or 0.0),
                        web_searches=int(r[11] or 0),
                    )
                    for r in (await session.execute(query)).all()
                ]
        if by == "day":
            return sorted(rows, key=lambda row: (row.key, row.currency))
        return sorted(rows, key=lambda row: (row.currency, -round(row.cost, 9), row.key))

    async def _days_in_python(
        self, session: AsyncSession, filters: list[Any], tz: tzinfo
    ) -> list[UsageRow]:
        """Calendar days in any time zone, for SQLite (no time-zone functions) — one pass."""
        query = select(
            UsageRecord.created_at,
            UsageRecord.currency,
            UsageRecord.prompt_tokens,
            UsageRecord.completion_tokens,
            UsageRecord.cached_tokens,
            UsageRecord.cost,
            UsageRecord.latency_ms,
            UsageRecord.first_token_ms,
            UsageRecord.tool_fees,
            UsageRecord.web_searches,
        ).where(*filters)
        groups: dict[tuple[str, str], list[float]] = {}
        firsts: dict[tuple[str, str], list[int]] = {}
        for created, currency, prompt, completion, cached, cost, latency, first, fees, searches in (
            await session.execute(query)
        ).all():
            when = created if created.tzinfo else created.replace(tzinfo=UTC)
            group = (when.astimezone(tz).date().isoformat(), str(currency))
            acc = groups.setdefault(group, [0, 0, 0, 0, 0.0, 0, 0.0, 0])
            acc[0] += 1
            acc[1] += prompt or 0
            acc[2] += completion or 0
            acc[3] += cached or 0
            acc[4] += cost or 0.0
            acc[5] += latency or 0
            acc[6] += fees or 0.0
            acc[7] += searches or 0
            if first is not None:
                firsts.setdefault(group, []).append(first)
        return [
            UsageRow(
                key=group[0],
                currency=group[1],
                calls=int(acc[0]),
                prompt_tokens=int(acc[1]),
                completion_tokens=int(acc[2]),
                cached_tokens=int(acc[3]),
                cost=float(acc[4]),
                avg_latency_ms=acc[5] / acc[0],
                avg_first_token_ms=sum(firsts[group]) / len(firsts[group])
                if group in firsts
                else None,
                first_token_calls=len(firsts.get(group, [])),
                tool_fees=float(acc[6]),
                web_searches=int(acc[7]),
            )
            for group, acc in groups.items()
        ]

    async def daily(
        self,
        *,
        by: str = "model",
        since: datetime | None = None,
        until: datetime | None = None,
        tz: tzinfo = UTC,
    ) -> list[UsagePoint]:
        """Totals per calendar day (in ``tz``), group (``by``: one of SERIES_GROUPS) and
        currency of the calls in ``[since, until)``, oldest first: the console's time series.

        Days are cut as in :meth:`report` with ``by="day"`` (in SQL on PostgreSQL, in Python on
        SQLite), so a day's points add up to that report's row of the same day."""
        if by not in SERIES_GROUPS:
            raise ValueError(f"by must be one of {', '.join(SERIES_GROUPS)}")
        column = _COLUMNS[by]
        filters = _period(since, until)
        sums = (
            func.count(UsageRecord.id),
            func.sum(UsageRecord.prompt_tokens),
            func.sum(UsageRecord.completion_tokens),
            func.sum(UsageRecord.cached_tokens),
            func.sum(UsageRecord.cost),
            func.sum(UsageRecord.tool_fees),
            func.sum(UsageRecord.web_searches),
        )
        async with self._sessions() as session:
            zone = _zone_in_sql(session, tz)
            if zone is not None:
                day = func.to_char(func.timezone(zone, UsageRecord.created_at), "YYYY-MM-DD")
                query = (
                    select(day, column, UsageRecord.currency, *sums)
                    .where(*filters)
                    .group_by(day, column, UsageRecord.currency)
                )
                rows = [tuple(r) for r in (await session.execute(query)).all()]
            else:  # SQLite: no time zones in SQL; one pass over the period's rows
                query = (
                    select(UsageRecord.created_at, column, UsageRecord.currency, *sums)
                    .where(*filters)
                    .group_by(UsageRecord.created_at, column, UsageRecord.currency)
                )
                merged: dict[tuple[str, str, str], list[Any]] = {}
                for created, key, currency, *values in (await session.execute(query)).all():
                    when = created if created.tzinfo else created.replace(tzinfo=UTC)
                    group = (when.astimezone(tz).date().isoformat(), key, currency)
                    acc = merged.setdefault(group, [0, 0, 0, 0, 0.0, 0.0, 0])
                    for k, value in enumerate(values):
                        acc[k] += value or 0
                rows = [(*group, *acc) for group, acc in merged.items()]
        points = [
            UsagePoint(
                day=str(r[0]),
                key=str(r[1] or ""),
                currency=str(r[2]),
                calls=int(r[3]),
                prompt_tokens=int(r[4] or 0),
                completion_tokens=int(r[5] or 0),
                cached_tokens=int(r[6] or 0),
                cost=float(r[7] or 0.0),
                tool_fees=float(r[8] or 0.0),
                web_searches=int(r[9] or 0),
            )
            for r in rows
        ]
        return sorted(points, key=lambda p: (p.day, p.key, p.currency))

    async def first_token_percentiles(
        self,
        percentiles: Sequence[int] = (50, 90, 99),
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, tuple[int, dict[int, float]]]:
        """Per model: the calls that reported a time to first token, and its nearest-rank
        percentiles in ms (each a time that really happened: ``percentile_disc``)."""
        filters = [*_period(since, until), UsageRecord.first_token_ms.is_not(None)]
        async with self._sessions() as session:
            if _dialect(session) == "postgresql":
                fractions = [p / 100 for p in percentiles]
                query = (
                    select(
                        UsageRecord.model,
                        func.count(UsageRecord.first_token_ms),
                        func.percentile_disc(array(fractions)).within_group(
                            UsageRecord.first_token_ms
                        ),
                    )
                    .where(*filters)
                    .group_by(UsageRecord.model)
                )
                return {
                    str(model): (int(n), dict(zip(percentiles, map(float, values), strict=True)))
                    for model, n, values in (await session.execute(query)).all()
                }
            query = select(UsageRecord.model, UsageRecord.first_token_ms).where(*filters)
            times: dict[str, list[int]] = {}
            for model, ms in (await session.execute(query)).all():
                times.setdefault(str(model), []).append(int(ms))
        found = {}
        for model, values in times.items():
            values.sort()
            n = len(values)
            found[model] = (
                n,
                {p: float(values[max(0, math.ceil(p / 100 * n) - 1)]) for p in percentiles},
            )
        return found


def _period(since: datetime | None, until: datetime | None) -> list[Any]:
    filters: list[Any] = []
    if since is not None:
        filters.append(UsageRecord.created_at >= since.astimezone(UTC))
    if until is not None:
        filters.append(UsageRecord.created_at < until.astimezone(UTC))
    return filters


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


def _zone_in_sql(session: AsyncSession, tz: tzinfo) -> str | None:
    """The zone's name when the database can cut days in it (PostgreSQL), else None."""
    zone = getattr(tz, "key", None) or ("UTC" if tz is UTC else None)
    return zone if _dialect(session) == "postgresql" else None
