"""The console's cost pages: the overview (at a glance), usage and cost over time, the CSV.

Every number comes from :class:`core.console.Console`, which reads the same ledger queries as
``kimi-bot usage``; the CSV export *is* that command's output for the same ``--by``/``--since``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bots.http import Route
from bots.web.admin.charts import Series, bar_chart, line_chart, meter
from bots.web.admin.layout import HTML_HEADERS, card, esc, page, panel, table
from core.console import CSV_GROUPS, GROUPS, PERIODS, BudgetUse, Console, UsageSeries
from core.usage_report import amounts, money

CSV_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
BUDGET_NAMES = {
    "global_monthly": "the whole bot, this month",
    "user_monthly": "this month",
    "user_daily": "today",
}


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    return value if value in allowed else default


def _tokens(value: float) -> str:
    """``1.2M`` / ``35.1k`` / ``812``: token counts on an axis."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 1_000:
        return f"{value / 1_000:.3g}k"
    return f"{value:,.0f}"


class UsagePages:
    """``/admin`` (overview), ``/admin/usage`` and ``/admin/usage.csv``."""

    def __init__(self, console: Console, gate: Any, now: Callable[[], datetime]) -> None:
        self._console = console
        self._gate = gate
        self._now = now

    def routes(self) -> list[Route]:
        return [
            ("GET", "/admin", self.overview),
            ("GET", "/admin/usage", self.usage),
            ("GET", "/admin/usage.csv", self.csv),
        ]

    def _money(self, digits: int = 4) -> Callable[[float], str]:
        currency = self._console.currency
        return lambda value: money(value, currency, digits)

    # -- overview --------------------------------------------------------------------------
    async def overview(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        data = await self._console.overview(self._now())
        currency = data.currency
        today, month = data.periods.today, data.periods.month
        balance = data.balance
        if balance is not None:
            left = (
                f"{data.days_left:,.0f} days at the last 7 days' spending"
                if data.days_left is not None
                else "no spending in the last 7 days"
            )
            balance_card = card("Balance", esc(balance.money(balance.available)), esc(left))
        else:
            balance_card = card("Balance", "—", esc(data.balance_error), css="muted")
        failed = data.outcomes.answers - data.outcomes.by_status.get("complete", 0)
        rate = failed / data.outcomes.answers if data.outcomes.answers else 0.0
        rated = data.feedback.up + data.feedback.down
        liked = f"{data.feedback.up / rated:.0%} 👍" if rated else "no ratings yet"
        cards = "".join(
            [
                card(
                    "Cost today",
                    esc(amounts(today.costs, currency)),
                    esc(f"{today.calls:,} calls · {today.total_tokens:,} tokens"),
                ),
                card(
                    "Cost this month",
                    esc(amounts(month.costs, currency)),
                    esc(f"{month.calls:,} calls · {month.total_tokens:,} tokens"),
                ),
                balance_card,
                card(
                    "Answers not completed (month)",
                    esc(f"{rate:.1%}"),
                    esc(f"{failed:,} of {data.outcomes.answers:,} answers"),
                    css="bad" if rate >= 0.05 else "",
                ),
                card(
                    "Feedback (month)",
                    esc(liked),
                    esc(f"{data.feedback.up:,} 👍 · {data.feedback.down:,} 👎"),
                ),
            ]
        )
        daily = data.daily
        chart = bar_chart(
            "cost-daily",
            f"Cost per day, last {len(daily.buckets)} days ({currency})",
            [b.label[5:] for b in daily.buckets],
            _cost_series(daily),
            fmt=self._money(2),
        )
        body = [
            "<h1>Overview</h1>",
            f'<section class="cards">{cards}</section>',
            panel(chart, _other_currencies(daily)),
        ]
        if len(data.balance_samples) >= 2:
            start = data.balance_samples[0][0]
            labels = [
                datetime.fromtimestamp(t, UTC).astimezone(self._console.tz).strftime("%m-%d %H:%M")
                for t, _ in data.balance_samples
            ]
            trend = line_chart(
                "balance-trend",
                "Balance as checked by this console",
                labels,
                [Series("available", [v for _, v in data.balance_samples])],
                fmt=self._money(2),
            )
            since = datetime.fromtimestamp(start, UTC).astimezone(self._console.tz)
            note = f"Checks since {since:%Y-%m-%d %H:%M} (at most one a minute)."
            body.append(panel(trend, f'<p class="muted">{esc(note)}</p>'))
        return page("Overview", "".join(body), session=session)

    # -- usage -----------------------------------------------------------------------------
    async def usage(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        period = _choice(request, "period", PERIODS, "day")
        by = _choice(request, "by", GROUPS, "model")
        now = self._now()
        data, rows = await self._console.usage(period, by, now)
        currency = data.currency
        labels = [_short(b.label, period) for b in data.buckets]
        cost = bar_chart(
            "cost",
            f"Cost per {period} by {by} ({currency})",
            labels,
            _cost_series(data),
            fmt=self._money(2),
        )
        tokens = bar_chart(
            "tokens",
            f"Tokens per {period}: fresh input, cached input, output",
            labels,
            [
                Series("fresh input", [b.fresh_tokens for b in data.buckets]),
                Series("cached input", [b.cached_tokens for b in data.buckets]),
                Series("output", [b.completion_tokens for b in data.buckets]),
            ],
            fmt=_tokens,
        )
        fees = ""
        if any(b.web_searches for b in data.buckets):
            fees = bar_chart(
                "search-fees",
                f"Web-search fees per {period} ({currency})",
                labels,
                [Series("", [b.tool_fees for b in data.buckets])],
                fmt=self._money(2),
            )
        since_text = data.window.since_text
        csv_by = by if by in CSV_GROUPS else "model"
        csv_link = f"/admin/usage.csv?by={csv_by}&amp;since={esc(since_text)}"
        budgets = await self._console.budgets(now)
        body = [
            "<h1>Usage and cost</h1>",
            _filters(period, by),
            panel(cost, _other_currencies(data)),
            panel(tokens),
            panel(fees) if fees else "",
            f"<h2>By {esc(by)} since {esc(f'{data.window.since:%Y-%m-%d}')}</h2>",
            _usage_table(by, rows),
            f'<p><a class="button" href="{csv_link}" download>CSV export</a> '
            f'<span class="muted">the same as <code>kimi-bot usage --by {esc(csv_by)} '
            f"--since {esc(since_text)} --format csv</code></span></p>",
            _budgets(budgets, self._money(2)),
        ]
        return page("Usage", "".join(body), session=session)

    async def csv(self, request: web.Request) -> web.Response:
        self._gate.require(request)
        by = request.query.get("by", "user")
        since = request.query.get("since") or None
        try:
            text = await self._console.csv(by, since, self._now())
        except ValueError as exc:
            return web.Response(status=400, text=str(exc), headers=HTML_HEADERS)
        name = f"usage-by-{by}.csv"
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={**CSV_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )


def _short(label: str, period: str) -> str:
    return label[5:] if period in ("day", "week") else label


def _cost_series(data: UsageSeries) -> list[Series]:
    return [
        Series(key or "(none)", [b.by_group.get(key, 0.0) for b in data.buckets])
        for key in data.groups
    ]


def _other_currencies(data: UsageSeries) -> str:
    if not data.other_currencies:
        return ""
    shown = amounts(data.other_currencies)
    return (
        f'<p class="warn">Also billed in another currency (not added): {esc(shown)}. '
        "See the table below.</p>"
    )


def _filters(period: str, by: str) -> str:
    def options(values: tuple[str, ...], chosen: str) -> str:
        return "".join(
            f'<option value="{v}"{" selected" if v == chosen else ""}>{v}</option>' for v in values
        )

    return (
        '<form class="filters" method="get" action="/admin/usage">'
        f'<label>Period<select name="period">{options(PERIODS, period)}</select></label>'
        f'<label>Grouped by<select name="by">{options(GROUPS, by)}</select></label>'
        '<button class="primary" type="submit">Show</button></form>'
    )


def _usage_table(by: str, rows: list[Any]) -> str:
    headers = [by, "calls", "fresh input", "cached input", "output", "cost", "searches", "fees"]
    headers += ["1st token ms"]
    cells = [
        [
            esc(r.key or "(none)"),
            f"{r.calls:,}",
            f"{r.prompt_tokens - r.cached_tokens:,}",
            f"{r.cached_tokens:,}",
            f"{r.completion_tokens:,}",
            esc(money(r.cost, r.currency)),
            f"{r.web_searches:,}",
            esc(money(r.tool_fees, r.currency)),
            "-" if r.avg_first_token_ms is None else f"{r.avg_first_token_ms:,.0f}",
        ]
        for r in rows
    ]
    return table(headers, cells)


def _budgets(uses: list[BudgetUse], fmt: Callable[[float], str]) -> str:
    if not uses:
        return (
            '<h2>Budgets</h2><p class="muted">No budget is set (BUDGET_USER_DAILY, '
            "BUDGET_USER_MONTHLY, BUDGET_GLOBAL_MONTHLY, or per user under Settings).</p>"
        )
    rows = []
    for k, use in enumerate(uses):
        who = "all users" if not use.who else use.who
        gauge = meter(
            f"budget-{k}", f"{who}: {BUDGET_NAMES[use.scope]}", use.spent, use.limit, fmt=fmt
        )
        rows.append([esc(who), esc(BUDGET_NAMES[use.scope]), gauge])
    return "<h2>Budgets</h2>" + table(
        ["who", "budget", "spent of the budget"], rows, text_columns=3
    )
