"""The console's live page: each model's requests in flight, queued and in the RPM/TPM windows
against the account's limits, 429s avoided (calls that waited) and received, the workers
alive, the answers being written, and the database and Redis (the readiness checks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bots.http import Route, _state, readiness_checks
from bots.web.admin.charts import meter
from bots.web.admin.layout import card, esc, page, table
from core.console import Console
from core.limits import LimitSnapshot


class LivePages:
    """``/admin/live``."""

    def __init__(
        self, console: Console, gate: Any, services: Any, now: Callable[[], datetime]
    ) -> None:
        self._console = console
        self._gate = gate
        self._services = services
        self._now = now

    def routes(self) -> list[Route]:
        return [("GET", "/admin/live", self.live)]

    async def _health(self) -> dict[str, str | None]:
        checks = readiness_checks(self._services.db, self._services.redis)
        states = await asyncio.gather(*(_state(check) for _, check in checks))
        return {name: state for (name, _), state in zip(checks, states, strict=True)}

    async def live(self, request: web.Request) -> web.Response:
        session = self._gate.require(request)
        now = self._now()
        data = await self._console.live(now)
        health = await self._health()
        alive = [w for w in data.workers if w.heartbeat_at >= data.alive_after]
        health_cards = "".join(
            card(
                name.capitalize(),
                '<span class="ok">up</span>'
                if state is None
                else f'<span class="down">down ({esc(state)})</span>',
            )
            for name, state in health.items()
        )
        if "redis" not in health:
            health_cards += card("Redis", "—", "not configured (REDIS_URL): limits are per worker")
        cards = (
            card("Workers alive", f"{len(alive):,}", esc(f"of {len(data.workers):,} registered"))
            + card("Answers being written", f"{data.in_progress:,}", "across every worker")
            + health_cards
        )
        body = [
            "<h1>Live state</h1>",
            f'<section class="cards">{cards}</section>',
            "<h2>Moonshot limits per model</h2>",
            '<p class="muted">In the last minute, across every worker when Redis is shared; '
            "queued and 429s received are this worker's.</p>",
            _limits_table(data.limits, data.waits),
            "<h2>Workers</h2>",
            table(
                ["worker", "host", "pid", "last heartbeat", "state"],
                [
                    [
                        esc(w.id),
                        esc(w.hostname),
                        f"{w.pid}",
                        esc(f"{(now - w.heartbeat_at).total_seconds():,.0f} s ago"),
                        '<span class="ok">alive</span>'
                        if w.heartbeat_at >= data.alive_after
                        else '<span class="down">silent</span>',
                    ]
                    for w in data.workers
                ],
                text_columns=2,
            ),
        ]
        return page("Live", "".join(body), session=session)


def _limits_table(limits: list[LimitSnapshot], waits: dict[str, float]) -> str:
    daily = any(s.tpd is not None for s in limits)  # a TPD column only when a model has one
    rows = []
    for k, s in enumerate(limits):
        eff = s.effective
        row = [
            esc(s.model),
            meter(f"rpm-{k}", f"{s.model} requests per minute", s.requests, eff.rpm),
            meter(f"tpm-{k}", f"{s.model} tokens per minute", s.tokens, eff.tpm),
            meter(f"conc-{k}", f"{s.model} requests in flight", s.in_flight, eff.concurrency),
        ]
        if daily:
            tpd = s.tpd
            today = f"{s.model} tokens today"
            row.append("—" if tpd is None else meter(f"tpd-{k}", today, s.day_tokens, tpd))
        row += [
            f"{s.queued:,}",
            f"{waits.get(s.model, 0.0):,.0f}",
            f"{s.received_429:,}",
            _limit_state(s),
        ]
        rows.append(row)
    headers = ["model", "RPM", "TPM", "in flight", *(["TPD today"] if daily else [])]
    return table([*headers, "queued", "429s avoided", "429s received", "state"], rows)


def _limit_state(s: LimitSnapshot) -> str:
    if s.paused_for > 0:
        return f'<span class="down">paused {s.paused_for:,.0f} s after a 429</span>'
    if s.factor < 1:
        return f'<span class="warn">limits ×{s.factor:.3g} after a 429</span>'
    if s.day_spent:
        return '<span class="down">tokens per day spent</span>'
    return '<span class="ok">open</span>'
