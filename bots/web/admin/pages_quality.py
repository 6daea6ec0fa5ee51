"""The console's quality page: answers that did not complete by kind, time to first token
percentiles per model (the ledger's ``first_token_ms``), and 👍/👎 per model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bots.http import Route
from bots.web.admin.charts import Series, bar_chart
from bots.web.admin.layout import card, esc, page, panel, table
from core.console import PERIODS, Console

PERCENTILES = (50, 90, 99)


class QualityPages:
    """``/admin/quality``."""

    def __init__(self, console: Console, gate: Any, now: Callable[[], datetime]) -> None:
        self._console = console
        self._gate = gate
        self._now = now

    def routes(self) -> list[Route]:
        return [("GET", "/admin/quality", self.quality)]

    async def quality(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        period = request.query.get("period", "day")
        period = period if period in PERIODS else "day"
        data = await self._console.quality(period, self._now())
        outcomes = data.outcomes
        done = outcomes.by_status.get("complete", 0)
        failed = outcomes.answers - done
        rate = failed / outcomes.answers if outcomes.answers else 0.0
        kinds = sorted(outcomes.by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
        errors_chart = bar_chart(
            "errors",
            "Answers not completed, by kind",
            [k for k, _ in kinds],
            [Series("", [n for _, n in kinds])],
        )
        models = sorted(data.first_token)
        latency = bar_chart(
            "first-token",
            "Time to first token per model (ms): p50, p90, p99",
            models,
            [
                Series(f"p{p}", [data.first_token[m].get(p, 0.0) for m in models])
                for p in PERCENTILES
            ],
            stacked=False,
        )
        latency_rows = [
            [
                esc(m),
                f"{data.first_token_calls.get(m, 0):,}",
                *(f"{data.first_token[m][p]:,.0f}" for p in PERCENTILES),
            ]
            for m in models
        ]
        rated = sorted(data.feedback.items())
        feedback = bar_chart(
            "feedback",
            "Feedback per model: 👍 and 👎",
            [m or "(unknown)" for m, _ in rated],
            [
                Series("👍 up", [c.up for _, c in rated]),
                Series("👎 down", [c.down for _, c in rated]),
            ],
            stacked=False,
        )
        feedback_rows = [
            [
                esc(m or "(unknown)"),
                f"{c.up:,}",
                f"{c.down:,}",
                f"{c.up / (c.up + c.down):.0%}" if c.up + c.down else "-",
            ]
            for m, c in rated
        ]
        since = f"{data.since:%Y-%m-%d}"
        body = [
            "<h1>Quality</h1>",
            _period_form(period),
            '<section class="cards">',
            card("Answers", f"{outcomes.answers:,}", esc(f"since {since}")),
            card(
                "Not completed",
                esc(f"{rate:.1%}"),
                esc(f"{failed:,} answers failed or were cut"),
                css="bad" if rate >= 0.05 else "",
            ),
            "</section>",
            panel(errors_chart),
            table(["kind", "answers"], [[esc(k), f"{n:,}"] for k, n in kinds]),
            "<h2>Time to first token</h2>",
            panel(latency),
            table(["model", "calls", "p50 ms", "p90 ms", "p99 ms"], latency_rows),
            "<h2>Feedback</h2>",
            panel(feedback),
            table(["model", "👍 up", "👎 down", "liked"], feedback_rows),
        ]
        return page("Quality", "".join(body), session=session)


def _period_form(period: str) -> str:
    labels = {"day": "last 30 days", "week": "last 12 weeks", "month": "last 12 months"}
    options = "".join(
        f'<option value="{p}"{" selected" if p == period else ""}>{labels[p]}</option>'
        for p in PERIODS
    )
    return (
        '<form class="filters" method="get" action="/admin/quality">'
        f'<label>Since<select name="period">{options}</select></label>'
        '<button class="primary" type="submit">Show</button></form>'
    )
