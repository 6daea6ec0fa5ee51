"""The console's dashboard pages over HTTP, on the real server with the real gate: the numbers
are the usage report's, the CSV is ``kimi-bot usage --format csv``, conversations are off
unless allowed and audited when read, the live page shows each model's limits."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.console import window
from core.limits.backend import scaled
from core.usage_report import amounts, money, usage_periods
from emulators.moonshot.scripts import Fault
from tests.admin.auth_support import log_in
from tests.admin.conftest import ledger_row, seed
from tests.web.conftest import send
from tests.web.demo_server import clean_env

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))
PAGES = [
    "/admin",
    "/admin/usage",
    "/admin/usage?period=week&by=platform",
    "/admin/usage?period=month&by=user",
    "/admin/live",
    "/admin/quality",
    "/admin/conversations",
    "/admin/usage.csv",
]


def cells(html: str) -> list[list[str]]:
    """The text of every table row's cells (tags stripped)."""
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in rows
    ]


def svg_values(html: str, chart_id: str) -> list[tuple[str, str, float]]:
    """(series, label, value) of every bar of one chart."""
    svg = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.S)
    assert svg, f"no chart {chart_id}"
    return [
        (unescape(s), unescape(label), float(v))
        for s, label, v in re.findall(
            r'<rect class="bar" data-series="([^"]*)" data-label="([^"]*)" data-value="([^"]*)"',
            svg.group(0),
        )
    ]


async def seed_month(db, now: datetime) -> None:
    """Calls over several days, models, platforms and users, one in dollars, cached tokens
    and web searches, all inside the last 30 days."""
    rows = [
        (now - timedelta(days=1), ledger_row(cost=0.25, cached=400, user="telegram:1")),
        (
            now - timedelta(days=1),
            ledger_row(
                model="moonshot-v1-8k",
                cost=0.125,
                user="slack:T1:U2",
                platform="slack",
                chat="slack:T1:C9",
            ),
        ),
        (
            now - timedelta(days=3),
            ledger_row(cost=0.5, web_searches=2, tool_fees=0.06, user="telegram:1"),
        ),
        (
            now - timedelta(days=5),
            ledger_row(model="moonshot-v1-8k", cost=1.0, first_token_ms=900, user="telegram:7"),
        ),
        (now - timedelta(days=5), ledger_row(cost=0.02, currency="USD", user="telegram:7")),
        (now - timedelta(days=40), ledger_row(cost=9.0, user="telegram:1")),  # outside 30 days
    ]
    await seed(db, rows)


async def test_every_page_needs_a_login(admin_console):
    async with admin_console() as console:
        anonymous = console.browser()
        for path in PAGES:
            async with anonymous.get(path, allow_redirects=False) as response:
                assert response.status == 303, path
                assert response.headers["Location"] == "/admin/login"
        wrong = console.browser()
        refused = await log_in(wrong, "not-the-token")
        assert refused.status == 401
        async with wrong.get("/admin/usage", allow_redirects=False) as response:
            assert response.status == 303
        forged = console.browser()
        forged.cookie_jar.update_cookies({"kimi_admin": "eyJhIjoidG9rZW4ifQ.forged.sig"})
        async with forged.get("/admin", allow_redirects=False) as response:
            assert response.status == 303


async def test_the_console_is_off_without_a_way_to_sign_in(admin_console):
    async with admin_console(admin_token=None, admins=[]) as console:
        client = console.browser()
        async with client.get("/admin/usage") as response:
            assert response.status == 403
            page = await response.text()
        assert "ADMIN_TOKEN" in page and "The operator console is off" in page


async def test_the_usage_page_shows_the_reports_numbers(admin_console):
    async with admin_console() as console:
        db, now = console.services.db, datetime.now(UTC)
        await seed_month(db, now)
        client = await console.signed_in()
        async with client.get("/admin/usage?period=day&by=model") as response:
            assert response.status == 200
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            html = await response.text()

        tz = ZoneInfo(console.services.settings.kimi_timezone)
        since = window("day", now, tz).since
        report = await db.usage.report(by="model", since=since, tz=tz)
        table = cells(html)
        for row in report:  # the table is the report's rows, one per model and currency
            assert [row.key, f"{row.calls:,}"] in [r[:2] for r in table]
            line = next(
                r for r in table if r[0] == row.key and r[5] == money(row.cost, row.currency)
            )
            assert line[2] == f"{row.prompt_tokens - row.cached_tokens:,}"
            assert line[3] == f"{row.cached_tokens:,}"

        # The cost chart: CNY only (the dollar row is shown apart), per day as `--by day` says.
        bars = svg_values(html, "cost")
        days = await db.usage.report(by="day", since=since, tz=tz)
        for day in (d for d in days if d.currency == "CNY"):
            drawn = sum(v for _, label, v in bars if label == day.key[5:])
            assert drawn == pytest.approx(day.cost)
        assert sum(v for *_, v in bars) == pytest.approx(0.25 + 0.125 + 0.5 + 1.0)
        assert "$0.0200" in html and "not added" in html
        # Printed totals on the bars, in the catalog's currency.
        assert ">¥1.00<" in html and ">¥0.38<" in html
        # Fresh vs cached tokens, and the web-search fees chart.
        tokens = svg_values(html, "tokens")
        assert sum(v for s, _, v in tokens if s == "cached input") == 400
        assert sum(v for s, _, v in svg_values(html, "search-fees")) == pytest.approx(0.06)

        async with client.get("/admin/usage?period=month&by=platform") as response:
            html = await response.text()
        month = svg_values(html, "cost")
        platforms = await db.usage.report(
            by="platform", since=window("month", now, tz).since, tz=tz
        )
        for row in (r for r in platforms if r.currency == "CNY"):
            assert sum(v for s, _, v in month if s == row.key) == pytest.approx(row.cost)
        assert {s for s, _, _ in month} == {"telegram", "slack"}
        assert sum(v for *_, v in month) >= 0.25 + 0.125 + 0.5 + 1.0
        assert [r[0] for r in cells(html)[1:]] == [r.key for r in platforms]


async def test_the_overview_shows_today_and_this_month(admin_console, moonshot):
    async with admin_console() as console:
        chat = console.browser()
        async with chat.get("/"):
            pass
        status, events = await send(chat, "Hello from the web chat")
        assert status == 200 and any(e == "done" or e == "end" for e, _ in events)
        db, now = console.services.db, datetime.now(UTC)
        tz = ZoneInfo(console.services.settings.kimi_timezone)
        periods = await usage_periods(db, now, tz)
        assert periods.today.calls >= 1

        client = await console.signed_in()
        async with client.get("/admin") as response:
            html = await response.text()
        currency = console.services.settings.catalog.currency
        assert unescape(amounts(periods.today.costs, currency)) in unescape(html)
        assert f"{periods.month.calls:,} calls" in html
        assert '<svg class="chart" id="cost-daily"' in html
        # the emulator's balance, asked of the account
        assert "Balance" in html and "days at the last 7 days" in html


async def test_csv_export_equals_kimi_bot_usage(admin_console, sqlite_url, tmp_path):
    async with admin_console() as console:
        await seed_month(console.services.db, datetime.now(UTC))
        client = await console.signed_in()
        for by, since in (("model", "30d"), ("user", "all"), ("day", "7d"), ("chat", "today")):
            async with client.get(f"/admin/usage.csv?by={by}&since={since}") as response:
                assert response.status == 200
                assert response.content_type == "text/csv"
                exported = await response.read()
            env = clean_env(
                tmp_path,
                DATABASE_URL=sqlite_url,
                KIMI_TIMEZONE=console.services.settings.kimi_timezone,
            )
            process = await asyncio.create_subprocess_exec(
                KIMI_BOT,
                "usage",
                "--by",
                by,
                "--since",
                since,
                "--format",
                "csv",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            printed, errors = await process.communicate()
            assert process.returncode == 0, errors
            assert exported == printed, by
            assert exported.count(b"\n") >= 2
        async with client.get("/admin/usage.csv?by=platform") as response:
            assert response.status == 400  # the command has no --by platform
        async with client.get("/admin/usage.csv?by=model&since=yesterday") as response:
            assert response.status == 400
            assert "is not YYYY-MM-DD, Nd" in await response.text()  # the command's own message


async def test_conversations_are_refused_unless_allowed(admin_console):
    async with admin_console() as console:
        client = await console.signed_in()
        for path in ("/admin/conversations", "/admin/conversations/1"):
            async with client.get(path) as response:
                assert response.status == 403
                assert "ADMIN_CAN_READ=true" in await response.text()


async def test_reading_a_conversation_is_audited(admin_console):
    async with admin_console(admin_can_read=True) as console:
        chat = console.browser()
        async with chat.get("/"):
            pass
        await send(chat, "Where do <b>owls</b> nest?")
        client = await console.signed_in()
        async with client.get("/admin/conversations") as response:
            listing = await response.text()
        found = re.search(r'href="/admin/conversations/(\d+)"', listing)
        assert found, listing
        async with client.get(f"/admin/conversations/{found.group(1)}") as response:
            assert response.status == 200
            page = await response.text()
        assert "Where do &lt;b&gt;owls&lt;/b&gt; nest?" in page  # shown as text, never markup
        audit = await console.services.admin.audit_log(limit=10)
        actions = [(row.admin_id, row.action, row.detail) for row in audit]
        assert ("token", "conversation viewed", f"conversation {found.group(1)}") in actions
        assert any(a == "conversations listed" for _, a, _ in actions)
        async with client.get("/admin/conversations/999999") as response:
            assert response.status == 404


async def test_the_live_page_shows_each_models_limits(admin_console, moonshot):
    async with admin_console(kimi_max_retries=0) as console:
        moonshot.inject(Fault("rate_limit", wait_seconds=0))
        chat = console.browser()
        async with chat.get("/"):
            pass
        await send(chat, "This one gets a 429")
        catalog = console.services.settings.catalog
        spec = catalog.get(console.services.settings.kimi_model)
        halved = scaled(spec.limits, 0.5)  # after the 429, as the limiter now admits
        assert halved.concurrency == 1, "the test holds the one slot left"
        limiter = console.services.limiter
        held = await limiter.acquire(
            model=spec.id, user_id="ops", prompt_tokens=1000, max_tokens=500
        )
        queued = asyncio.Event()

        async def on_wait(_seconds: float) -> None:
            queued.set()

        waiting = asyncio.create_task(
            limiter.acquire(
                model=spec.id, user_id="ops2", prompt_tokens=10, max_tokens=10, on_wait=on_wait
            )
        )
        await queued.wait()
        db = console.services.db
        await db.workers.heartbeat("w-alive", "host-a", 11)
        await db.workers.heartbeat("w-silent", "host-b", 12)
        await _age_heartbeat(db, "w-silent", seconds=3600)
        client = await console.signed_in()
        try:
            async with client.get("/admin/live") as response:
                html = await response.text()
        finally:
            await held.release()
            await (await waiting).release()
        row = next(r for r in cells(html) if r and r[0] == spec.id)
        # the 429'd request and the held one are in the RPM window
        assert row[1].endswith(f"2 / {halved.rpm:,} ({2 / halved.rpm:.0%})")
        assert f"/ {halved.tpm:,} (" in row[2]
        assert row[3].endswith("1 / 1 (100%)")  # the held permit
        assert row[4] == "1"  # the call waiting for it
        assert row[6] == "1"  # the 429 received
        assert row[7] == "limits ×0.5 after a 429"
        assert "TPD today" not in html  # no model of the catalog has a tokens-per-day limit
        for other in catalog.ids():
            assert any(r and r[0] == other for r in cells(html))
        assert "Database" in html and '<span class="ok">up</span>' in html
        workers = {r[0]: r for r in cells(html) if r and r[0].startswith("w-")}
        assert workers["w-alive"][1:3] == ["host-a", "11"] and workers["w-alive"][4] == "alive"
        assert workers["w-silent"][4] == "silent"
        assert re.search(r"Workers alive</div><div class=\"big\">1</div>", html)


async def test_the_quality_page_shows_failures_latency_and_feedback(admin_console, moonshot):
    async with admin_console(kimi_max_retries=0) as console:
        now = datetime.now(UTC)
        await seed(
            console.services.db,
            [
                (now - timedelta(hours=1), ledger_row(first_token_ms=ms))
                for ms in range(100, 1100, 100)
            ],
        )
        chat = console.browser()
        async with chat.get("/"):
            pass
        moonshot.inject(Fault("auth"))
        await send(chat, "This answer fails")
        status, events = await send(chat, "This one works")
        assert status == 200
        answer = next(d["answer"] for e, d in events if e == "end")
        async with chat.post(
            "/api/feedback", json={"answer": answer, "rating": 1}, headers={"X-Kimi-Chat": "1"}
        ) as r:
            assert r.status == 200
        client = await console.signed_in()
        async with client.get("/admin/quality") as response:
            html = await response.text()
        table = cells(html)
        assert ["auth", "1"] in table
        model = "kimi-k2-0905-preview"
        latency = next(r for r in table if r and r[0] == model)
        assert latency[2:] == ["500", "900", "1,000"]  # p50, p90, p99 of 100…1000 ms
        thumbs = next(
            r for r in table if r and r[0] == console.services.settings.kimi_model and len(r) == 4
        )
        assert thumbs[1:] == ["1", "0", "100%"]
        assert '<svg class="chart" id="errors"' in html


async def _age_heartbeat(db, worker_id: str, *, seconds: float) -> None:
    """Make a worker look silent (its last heartbeat ``seconds`` ago)."""
    from sqlalchemy import update

    from storage.models import Worker

    async with db.engine.begin() as connection:
        await connection.execute(
            update(Worker)
            .where(Worker.id == worker_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
