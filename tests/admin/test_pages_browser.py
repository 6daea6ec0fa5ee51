"""The operator console in a real browser (Debian's headless Chromium through Playwright): sign
in with ADMIN_TOKEN, chat in the web chat, and see the charts draw the usage report's numbers;
the CSV download is ``kimi-bot usage --format csv``; the pages fit a phone's screen."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.console import window
from core.usage_report import amounts, money, usage_periods
from tests.admin.auth_support import ADMIN_TOKEN, new_page
from tests.admin.conftest import ledger_row, seed
from tests.web.demo_server import clean_env, demo_server

KIMI_BOT = str(Path(sys.executable).with_name("kimi-bot"))


async def sign_in(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{base_url}/admin")
    assert page.url.endswith("/admin/login"), "the console asks for a login first"
    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/admin")


async def chat_once(page, base_url: str, text: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{base_url}/")
    await page.fill("#text", text)
    await page.keyboard.press("Enter")
    await page.locator(".msg.assistant").first.wait_for()
    await page.wait_for_function("() => !document.querySelector('#send').disabled")


async def test_an_operator_sees_what_the_deployment_costs(
    browser, admin_console, sqlite_url, tmp_path
):
    async with admin_console() as console:
        db = console.services.db
        settings = console.services.settings
        tz = ZoneInfo(settings.kimi_timezone)
        now = datetime.now(UTC)
        await seed(
            db,
            [
                (now - timedelta(days=2), ledger_row(cost=0.75, cached=300)),
                (now - timedelta(days=2), ledger_row(model="moonshot-v1-8k", cost=0.5)),
                (now - timedelta(days=4), ledger_row(cost=1.25, user="slack:T1:U1")),
            ],
        )
        chatter = await new_page(browser)
        await chat_once(chatter, console.base_url, "Hello Kimi, how much do I cost?")

        page = await new_page(browser)
        await sign_in(page, console.base_url)

        # The overview: today's and this month's cost, as the usage command computes them.
        periods = await usage_periods(db, datetime.now(UTC), tz)
        currency = settings.catalog.currency
        today_card = page.locator(".card", has_text="Cost today").locator(".big")
        assert await today_card.inner_text() == amounts(periods.today.costs, currency)
        month_card = page.locator(".card", has_text="Cost this month").locator(".big")
        assert await month_card.inner_text() == amounts(periods.month.costs, currency)
        chart = page.locator("svg#cost-daily")
        await chart.wait_for(state="visible")
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        assert (await chart.locator("title").first.text_content() or "").startswith("Cost per day")

        # Usage by day: each day's bar is that day's row of `kimi-bot usage --by day`.
        await page.click("nav >> text=Usage")
        await page.wait_for_url("**/admin/usage")
        since = window("day", datetime.now(UTC), tz).since
        days = await db.usage.report(by="day", since=since, tz=tz)
        assert len(days) == 3
        for day in days:
            bars = page.locator(f'svg#cost rect.bar[data-label="{day.key[5:]}"]')
            values = [
                float(v or 0)
                for v in await bars.evaluate_all(
                    "els => els.map(e => e.getAttribute('data-value'))"
                )
            ]
            assert sum(values) == pytest.approx(day.cost)
            printed = money(day.cost, day.currency, 2)
            assert await page.locator("svg#cost text.value", has_text=printed).count() >= 1
        cached = await page.locator('svg#tokens rect.bar[data-series="cached input"]').evaluate_all(
            "els => els.reduce((n, e) => n + Number(e.dataset.value), 0)"
        )
        assert cached == 300

        # The table by model, then grouped by week.
        await page.select_option("select[name=by]", "model")
        await page.select_option("select[name=period]", "week")
        await page.click("form.filters button")
        await page.wait_for_url("**/admin/usage?period=week&by=model")
        models = await db.usage.report(by="model", since=window("week", now, tz).since, tz=tz)
        rows = page.locator("table tbody tr")
        assert await rows.count() == len(models)
        for k, row in enumerate(models):
            assert (await rows.nth(k).locator("td").first.inner_text()) == row.key
            assert money(row.cost, row.currency) in await rows.nth(k).inner_text()

        # The CSV download is the command's output, byte for byte.
        link = page.locator("a", has_text="CSV export")
        href = await link.get_attribute("href")
        assert href is not None and "by=model" in href
        async with page.expect_download() as started:
            await link.click()
        download = await started.value
        exported = await asyncio.to_thread(Path(await download.path()).read_bytes)
        since_text = window("week", now, tz).since_text
        printed = await usage_cli(
            tmp_path,
            *("--by", "model", "--since", since_text),
            fmt="csv",
            DATABASE_URL=sqlite_url,
            KIMI_TIMEZONE=settings.kimi_timezone,
        )
        assert exported == printed

        # Log out: the console asks for the token again.
        await page.click("header form button")
        await page.wait_for_url("**/admin/login")
        await page.goto(f"{console.base_url}/admin/usage")
        assert page.url.endswith("/admin/login")


async def test_the_pages_fit_a_phone(browser, admin_console):
    async with admin_console() as console:
        await seed(
            console.services.db,
            [(datetime.now(UTC) - timedelta(days=1), ledger_row(user="x" * 120, cost=0.5))],
        )
        page = await new_page(
            browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
        )
        await sign_in(page, console.base_url)
        for path in ("/admin", "/admin/usage?by=user", "/admin/live", "/admin/quality"):
            await page.goto(f"{console.base_url}{path}")
            await page.locator("main h1").wait_for()
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{path} is wider than the phone by {overflow}px"
            # a chart keeps readable numbers: it scrolls sideways inside its panel
            boxes = page.locator(".chart-box")
            for k in range(await boxes.count()):
                box = await boxes.nth(k).bounding_box()
                assert box is not None and box["width"] <= 390
                scrolls = await boxes.nth(k).evaluate("e => getComputedStyle(e).overflowX")
                assert scrolls == "auto"


async def test_kimi_bot_run_serves_the_console_with_the_commands_numbers(browser, tmp_path):
    """``kimi-bot run`` itself (demo mode, ADMIN_TOKEN set), and ``kimi-bot usage`` on the same
    database: the console's cost today and its CSV are the command's."""
    async with demo_server(tmp_path, ADMIN_TOKEN=ADMIN_TOKEN) as server:
        assert "operator console: http://127.0.0.1:" in server.output()
        chatter = await new_page(browser)
        await chat_once(chatter, server.url, "Hello from a real kimi-bot run")

        page = await new_page(browser)
        await sign_in(page, server.url)
        report = json.loads(await usage_cli(tmp_path, "--by", "day", "--since", "today"))
        assert report["rows"], "the chat's call is in the ledger"
        total = report["totals"][0]
        today = page.locator(".card", has_text="Cost today").locator(".big")
        assert await today.inner_text() == money(total["cost"], total["currency"])
        assert (
            f"{total['calls']:,} calls"
            in await page.locator(".card", has_text="Cost today").inner_text()
        )

        await page.goto(f"{server.url}/admin/usage?by=model")
        async with page.expect_download() as started:
            await page.click("text=CSV export")
        download = await started.value
        exported = await asyncio.to_thread(Path(await download.path()).read_bytes)
        printed = await usage_cli(tmp_path, "--by", "model", "--since", "30d", fmt="csv")
        assert exported == printed
        assert b"kimi-k2" in exported


async def usage_cli(home: Path, *args: str, fmt: str = "json", **env: str) -> bytes:
    """``kimi-bot usage`` in a fresh shell under ``home`` (``env`` on top): the server's
    shell, or its settings, so it reads the same database."""
    process = await asyncio.create_subprocess_exec(
        *(KIMI_BOT, "usage", *args, "--format", fmt),
        env=clean_env(home, **env),
        cwd=home,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    printed, errors = await process.communicate()
    assert process.returncode == 0, errors
    return printed
