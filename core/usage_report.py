"""The ``usage`` command's numbers: tokens and CNY for today, this month and all time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from storage import Database, UsageTotals


@dataclass(frozen=True, slots=True)
class UsagePeriods:
    today: UsageTotals
    month: UsageTotals
    all_time: UsageTotals


def period_starts(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start of today and of this month in the operator's time zone."""
    local = now.astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


async def usage_periods(
    db: Database,
    now: datetime,
    tz: ZoneInfo,
    *,
    user_id: str | None = None,
    chat_key: str | None = None,
) -> UsagePeriods:
    day, month = period_starts(now, tz)
    return UsagePeriods(
        today=await db.usage.totals(user_id=user_id, chat_key=chat_key, since=day),
        month=await db.usage.totals(user_id=user_id, chat_key=chat_key, since=month),
        all_time=await db.usage.totals(user_id=user_id, chat_key=chat_key),
    )


def format_totals(label: str, totals: UsageTotals) -> str:
    return (
        f"{label}: {totals.total_tokens:,} tokens "
        f"({totals.prompt_tokens:,} in / {totals.completion_tokens:,} out), "
        f"¥{totals.cost_cny:.4f}, {totals.calls} call{'s' if totals.calls != 1 else ''}"
    )


def format_periods(title: str, periods: UsagePeriods) -> str:
    return "\n".join(
        [
            title,
            format_totals("Today", periods.today),
            format_totals("This month", periods.month),
            format_totals("All time", periods.all_time),
        ]
    )
