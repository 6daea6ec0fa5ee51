"""``kimi-bot usage``: the operator's usage report by user, chat, model or day.

``render_usage`` is a pure function from report rows to text (table, CSV or JSON);
``run_usage_command`` reads the ledger and prints it. Days and ``--since`` dates are calendar
days in ``KIMI_TIMEZONE``. Costs are in the currency each call was billed in; a report with calls
in CNY and in USD has a total for each, never one sum of both. When Moonshot's prefix cache served
some prompt tokens, the fresh ones and what caching saved (at the catalog's prices) are added.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from core.catalog import Catalog
from core.usage_report import cache_savings, money
from storage.cache_savings import cached_tokens_by_model
from storage.feedback import FeedbackCounts
from storage.usage import REPORT_GROUPS, UsageRow

FORMATS = ("table", "csv", "json")
DEFAULT_SINCE = "30d"
_DAYS_RE = re.compile(r"^(\d{1,4})d$")
_HEADERS = {"user": "user", "chat": "chat", "model": "model", "day": "day"}


def add_usage_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``usage`` on ``kimi-bot``'s sub-command parsers."""
    usage = subparsers.add_parser("usage", help="token and cost report from the usage ledger")
    configure_parser(usage)
    return usage


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        help="YYYY-MM-DD, Nd for the last N calendar days (7d, 30d), today, or all "
        f"(default {DEFAULT_SINCE})",
    )
    parser.add_argument("--by", choices=REPORT_GROUPS, default="user", help="group rows by")
    parser.add_argument("--format", choices=FORMATS, default="table", dest="format")
    return parser


def parse_since(value: str | None, now: datetime, tz: tzinfo) -> datetime | None:
    """The report's start: local midnight of a date, of N-1 days before today, or None (all)."""
    text = (value or "").strip().lower()
    if text in ("", "all"):
        return None
    today = now.astimezone(tz).date()
    if text == "today":
        day = today
    elif match := _DAYS_RE.match(text):
        days = int(match.group(1))
        if days < 1:
            raise ValueError("--since: the number of days must be at least 1 (e.g. 7d)")
        day = today - timedelta(days=days - 1)
    else:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(
                f"--since: {value!r} is not YYYY-MM-DD, Nd (e.g. 7d), today or all"
            ) from None
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _total(rows: Sequence[UsageRow], currency: str, key: str = "TOTAL") -> UsageRow:
    """The sum of ``rows`` (all in ``currency``)."""
    calls = sum(r.calls for r in rows)
    first_calls = sum(r.first_token_calls for r in rows)
    first_sum = sum((r.avg_first_token_ms or 0.0) * r.first_token_calls for r in rows)
    return UsageRow(
        key=key,
        currency=currency,
        calls=calls,
        prompt_tokens=sum(r.prompt_tokens for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        cached_tokens=sum(r.cached_tokens for r in rows),
        cost=sum(r.cost for r in rows),
        avg_latency_ms=(sum(r.avg_latency_ms * r.calls for r in rows) / calls) if calls else 0.0,
        avg_first_token_ms=(first_sum / first_calls) if first_calls else None,
        first_token_calls=first_calls,
        tool_fees=sum(r.tool_fees for r in rows),
        web_searches=sum(r.web_searches for r in rows),
    )


def _totals(rows: Sequence[UsageRow]) -> list[UsageRow]:
    """One total per currency: "TOTAL" when there is one, "TOTAL CNY" / "TOTAL USD" else."""
    currencies = sorted({r.currency for r in rows})
    return [
        _total(
            [r for r in rows if r.currency == c],
            c,
            "TOTAL" if len(currencies) == 1 else f"TOTAL {c}",
        )
        for c in currencies
    ]


def _record(row: UsageRow) -> dict[str, Any]:
    return {
        "calls": row.calls,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "cached_tokens": row.cached_tokens,
        "total_tokens": row.total_tokens,
        "cost": round(row.cost, 6),
        "currency": row.currency,
        "web_searches": row.web_searches,
        "tool_fees": round(row.tool_fees, 6),
        "avg_latency_ms": round(row.avg_latency_ms, 1),
        "avg_first_token_ms": None
        if row.avg_first_token_ms is None
        else round(row.avg_first_token_ms, 1),
    }


def _rated(
    row: UsageRow, rows: Sequence[UsageRow], feedback: Mapping[str, FeedbackCounts]
) -> FeedbackCounts:
    """A row's 👍/👎: its model's, or for a total the sum over the models it adds up."""
    if any(r is row for r in rows):
        return feedback.get(row.key, FeedbackCounts())
    keys = {r.key for r in rows if r.currency == row.currency or not row.currency}
    counts = [feedback[k] for k in keys if k in feedback]
    return FeedbackCounts(sum(c.up for c in counts), sum(c.down for c in counts))


def render_usage(
    rows: Sequence[UsageRow],
    *,
    by: str,
    fmt: str = "table",
    since: datetime | None = None,
    feedback: Mapping[str, FeedbackCounts] | None = None,
    saved: Mapping[tuple[str, str], float] | None = None,
) -> str:
    """The report as text; the table and JSON add a total per currency, CSV is rows only.
    ``feedback`` (by model only) adds each model's 👍 and 👎 counts; ``saved`` ((key, currency)
    -> what Moonshot's prefix cache saved), when some row had cached tokens, adds the fresh prompt
    tokens and that saving."""
    if by not in REPORT_GROUPS:
        raise ValueError(f"by must be one of {', '.join(REPORT_GROUPS)}")
    show_saved = saved is not None and any(r.cached_tokens for r in rows)

    def saving(row: UsageRow) -> float | None:
        """None: cached tokens of models without a cache-hit price (unknown, not zero)."""
        assert saved is not None
        if not row.cached_tokens:
            return 0.0
        if any(r is row for r in rows):
            return saved.get((row.key, row.currency))
        known = [v for (_, currency), v in saved.items() if currency == row.currency]
        return sum(known) if known else None

    def record(row: UsageRow) -> dict[str, Any]:
        values = _record(row)
        if feedback is not None:
            rated = _rated(row, rows, feedback)
            values.update(thumbs_up=rated.up, thumbs_down=rated.down)
        if show_saved:
            values.update(
                fresh_prompt_tokens=max(row.prompt_tokens - row.cached_tokens, 0),
                cache_saved=None if (amount := saving(row)) is None else round(amount, 6),
            )
        return values

    def cells(row: UsageRow) -> list[str]:
        shown = _cells(row)
        if feedback is not None:
            rated = _rated(row, rows, feedback)
            shown += [f"{rated.up:,}", f"{rated.down:,}"]
        if show_saved:
            fresh = max(row.prompt_tokens - row.cached_tokens, 0)
            amount = saving(row)
            saved_cell = "-" if amount is None or not row.currency else money(amount, row.currency)
            shown += [f"{fresh:,}", saved_cell]
        return shown

    if fmt == "json":
        return json.dumps(
            {
                "by": by,
                "since": None if since is None else since.isoformat(),
                "rows": [{by: r.key, **record(r)} for r in rows],
                "totals": [record(t) for t in _totals(rows)],
            },
            ensure_ascii=False,
            indent=2,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([by, *record(_total(rows, "")).keys()])
        for row in rows:
            writer.writerow([row.key, *("" if v is None else v for v in record(row).values())])
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    header = [_HEADERS[by], "calls", "prompt", "completion", "cached", "total", "cost"]
    header += ["searches", "avg ms", "1st token ms"]
    if feedback is not None:
        header += ["👍", "👎"]
    if show_saved:
        header += ["fresh", "cache saved"]
    lines = [cells(r) for r in rows]
    totals = _totals(rows)
    total_lines = [cells(t) for t in totals]
    widths = [max(len(c) for c in col) for col in zip(header, *lines, *total_lines, strict=True)]

    def fmt_line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    title = "Usage since " + (since.strftime("%Y-%m-%d %H:%M %Z") if since else "the beginning")
    if not rows:
        return f"{title}\n(no calls)"
    searches = [
        f"web searches: {t.web_searches:,} (fee {money(t.tool_fees, t.currency)})"
        for t in totals
        if t.web_searches
    ]
    body = [fmt_line(header), rule, *map(fmt_line, lines), rule, *map(fmt_line, total_lines)]
    return "\n".join([title, *body, *searches])


def _cells(row: UsageRow) -> list[str]:
    return [
        row.key,
        f"{row.calls:,}",
        f"{row.prompt_tokens:,}",
        f"{row.completion_tokens:,}",
        f"{row.cached_tokens:,}",
        f"{row.total_tokens:,}",
        money(row.cost, row.currency),
        f"{row.web_searches:,}",
        f"{row.avg_latency_ms:,.0f}",
        "-" if row.avg_first_token_ms is None else f"{row.avg_first_token_ms:,.0f}",
    ]


async def usage_report_text(
    db: Any,
    *,
    by: str,
    fmt: str,
    since_text: str | None,
    tz: tzinfo,
    now: datetime,
    catalog: Catalog | None = None,
) -> str:
    """The report; with ``catalog`` (its prices), what caching saved when there were cached
    tokens."""
    since = parse_since(since_text, now, tz)
    rows = await db.usage.report(by=by, since=since, tz=tz)
    feedback = await db.feedback.by_model(since=since) if by == "model" else None
    saved = None
    if catalog is not None and any(r.cached_tokens for r in rows):
        cached = await cached_tokens_by_model(db.engine, by=by, since=since, tz=tz)
        saved = cache_savings(cached, catalog)
    return render_usage(rows, by=by, fmt=fmt, since=since, feedback=feedback, saved=saved)


async def run_usage_command(settings: Any, args: argparse.Namespace) -> int:
    """``kimi-bot usage``: print the report; 2 on a bad ``--since``."""
    import sys

    from storage import Database

    tz = ZoneInfo(settings.kimi_timezone)
    db = Database(settings.database_url)
    try:
        await db.migrate()
        text = await usage_report_text(
            db,
            by=args.by,
            fmt=args.format,
            since_text=args.since,
            tz=tz,
            now=datetime.now(UTC),
            catalog=getattr(settings, "catalog", None),  # prices for "cache saved"
        )
    except ValueError as exc:
        sys.stderr.write(f"kimi-bot usage: {exc}\n")
        return 2
    finally:
        await db.close()
    print(text)
    return 0
