"""The ``usage`` command's numbers: tokens and cost for today, this month and all time.

Costs are shown in the currency each ledger row was billed in (the catalog's: CNY on
api.moonshot.cn, USD on api.moonshot.ai); a period with calls in both shows both amounts side by
side, never one sum. Cached prompt tokens (Moonshot's prefix cache) are shown against the fresh
ones, with what caching saved: their cost at the full input price minus what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from core import texts
from core.catalog import CURRENCY_SIGNS, Catalog
from storage import Database, UsageTotals
from storage.cache_savings import CachedTokens, cached_tokens_by_model


@dataclass(frozen=True, slots=True)
class UsagePeriods:
    today: UsageTotals
    month: UsageTotals
    all_time: UsageTotals
    # What Moonshot's prefix cache saved in each period, per currency (when a catalog was given)
    today_saved: Mapping[str, float] = field(default_factory=dict)
    month_saved: Mapping[str, float] = field(default_factory=dict)
    all_saved: Mapping[str, float] = field(default_factory=dict)


def cache_savings(rows: Iterable[CachedTokens], catalog: Catalog) -> dict[tuple[str, str], float]:
    """(key, currency) -> what caching saved: each cached token at its model's full input price
    minus its cache-hit price, from the catalog. Rows in another currency than the catalog's, or
    of a model it no longer has, are left out (their prices are unknown): never an over-claim."""
    saved: dict[tuple[str, str], float] = {}
    for row in rows:
        if row.currency != catalog.currency or row.model not in catalog:
            continue
        spec = catalog.get(row.model)
        if spec.cached_input_price is None:
            continue
        amount = row.cached_tokens * (spec.input_price - spec.cached_input_price) / 1_000_000
        saved[(row.key, row.currency)] = saved.get((row.key, row.currency), 0.0) + amount
    return saved


async def period_savings(
    db: Database,
    catalog: Catalog,
    *,
    since: datetime | None,
    user_id: str | None = None,
    chat_key: str | None = None,
) -> dict[str, float]:
    """What caching saved since ``since`` (None: ever), per currency."""
    rows = await cached_tokens_by_model(db.engine, user_id=user_id, chat_key=chat_key, since=since)
    return {currency: amount for (_, currency), amount in cache_savings(rows, catalog).items()}


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
    catalog: Catalog | None = None,
) -> UsagePeriods:
    """Totals for today, this month and all time; with ``catalog``, what caching saved too."""
    day, month = period_starts(now, tz)
    periods = UsagePeriods(
        today=await db.usage.totals(user_id=user_id, chat_key=chat_key, since=day),
        month=await db.usage.totals(user_id=user_id, chat_key=chat_key, since=month),
        all_time=await db.usage.totals(user_id=user_id, chat_key=chat_key),
    )
    if catalog is None or not periods.all_time.cached_tokens:
        return periods
    who = {"user_id": user_id, "chat_key": chat_key}
    return UsagePeriods(
        today=periods.today,
        month=periods.month,
        all_time=periods.all_time,
        today_saved=await period_savings(db, catalog, since=day, **who),
        month_saved=await period_savings(db, catalog, since=month, **who),
        all_saved=await period_savings(db, catalog, since=None, **who),
    )


def format_totals(
    label: str,
    totals: UsageTotals,
    lang: str = "en",
    currency: str | None = None,
    saved: Mapping[str, float] | None = None,
) -> str:
    """One period's line; ``currency`` (the catalog's) only dresses a zero when nothing was
    spent. Web searches, when there were any, end the line with their count and fees; cached
    prompt tokens, when there were any, with cached vs fresh and what caching ``saved``."""
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
    if totals.cached_tokens:
        cached = totals.cached_tokens
        fresh = max(totals.prompt_tokens - cached, 0)
        if saved:
            line += texts.text(
                "usage_cache", lang, cached=cached, fresh=fresh, saved=amounts(saved, currency)
            )
        else:  # the catalog prices none of these cache hits: unknown, not zero
            line += texts.text("usage_cache_unpriced", lang, cached=cached, fresh=fresh)
    return line


def format_periods(
    title: str, periods: UsagePeriods, lang: str = "en", currency: str | None = None
) -> str:
    return "\n".join(
        [
            title,
            format_totals(
                texts.text("usage_today", lang), periods.today, lang, currency, periods.today_saved
            ),
            format_totals(
                texts.text("usage_month", lang), periods.month, lang, currency, periods.month_saved
            ),
            format_totals(
                texts.text("usage_all", lang), periods.all_time, lang, currency, periods.all_saved
            ),
        ]
    )
