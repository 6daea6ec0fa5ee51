"""The ``usage`` command's numbers: tokens and CNY for today, this month and all time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core import texts
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


def format_totals(label: str, totals: UsageTotals, lang: str = "en") -> str:
    calls = texts.text(
        "usage_call" if totals.calls == 1 else "usage_calls", lang, count=totals.calls
    )
    return texts.text(
        "usage_line",
        lang,
        label=label,
        total=totals.total_tokens,
        prompt=totals.prompt_tokens,
        completion=totals.completion_tokens,
        cost=totals.cost_cny,
        calls=calls,
    )


def format_periods(title: str, periods: UsagePeriods, lang: str = "en") -> str:
    return "\n".join(
        [
            title,
            format_totals(texts.text("usage_today", lang), periods.today, lang),
            format_totals(texts.text("usage_month", lang), periods.month, lang),
            format_totals(texts.text("usage_all", lang), periods.all_time, lang),
        ]
    )
