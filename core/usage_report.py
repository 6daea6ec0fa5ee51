"""The ``usage`` command's numbers: tokens and cost for today, this month and all time.

Costs are shown in the currency each ledger row was billed in (the catalog's: CNY on
api.moonshot.cn, USD on api.moonshot.ai); a period with calls in both shows both amounts side by
side, never one sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core import texts
from core.catalog import CURRENCY_SIGNS
from storage import Database, UsageTotals


@dataclass(frozen=True, slots=True)
class UsagePeriods:
    today: UsageTotals
    month: UsageTotals
    all_time: UsageTotals


def money(amount: float, currency: str, digits: int = 4) -> str:
    """``¥0.0123`` / ``$0.0123``: the currency's sign, else its code (``EUR 0.0123``)."""
    sign = CURRENCY_SIGNS.get(currency, f"{currency} ")
    return f"{sign}{amount:.{digits}f}"


def amounts(by_currency: Mapping[str, float], currency: str | None = None, digits: int = 4) -> str:
    """Money in one or more currencies, each on its own (``¥1.2000 + $0.0300``); with none,
    zero in ``currency`` (or a bare zero when that is unknown too)."""
    shown = [money(v, c, digits) for c, v in sorted(by_currency.items())]
    if shown:
        return " + ".join(shown)
    return money(0.0, currency, digits) if currency else f"{0:.{digits}f}"


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


def format_totals(
    label: str, totals: UsageTotals, lang: str = "en", currency: str | None = None
) -> str:
    """One period's line; ``currency`` (the catalog's) only dresses a zero when nothing was
    spent. Web searches, when there were any, end the line with their count and fees."""
    calls = texts.text(
        "usage_call" if totals.calls == 1 else "usage_calls", lang, count=totals.calls
    )
    line = texts.text(
        "usage_line",
        lang,
        label=label,
        total=totals.total_tokens,
        prompt=totals.prompt_tokens,
        completion=totals.completion_tokens,
        cost=amounts(totals.costs, currency),
        calls=calls,
    )
    if totals.web_searches:
        line += texts.text(
            "usage_searches",
            lang,
            count=totals.web_searches,
            fee=amounts(totals.tool_fees, currency),
        )
    return line


def format_periods(
    title: str, periods: UsagePeriods, lang: str = "en", currency: str | None = None
) -> str:
    return "\n".join(
        [
            title,
            format_totals(texts.text("usage_today", lang), periods.today, lang, currency),
            format_totals(texts.text("usage_month", lang), periods.month, lang, currency),
            format_totals(texts.text("usage_all", lang), periods.all_time, lang, currency),
        ]
    )
