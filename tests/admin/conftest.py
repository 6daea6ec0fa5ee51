"""Fixtures of the ``/admin`` tests: a running operator console (``tests/admin/auth_support``)
on SQLite or on the session's database, a headless Chromium, and usage ledger rows to seed.

``admin_console(**settings)`` (SQLite) or ``console(**settings)`` (``db_url``) starts one;
its ``signed_in()`` is an HTTP client already through the ``ADMIN_TOKEN`` login form, as a
browser would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from typing import Any

import pytest

from storage.records import UsageEntry
from tests.admin.auth_support import running_console
from tests.web.test_browser import CHROMIUM_ARGS, chromium_path


@pytest.fixture
def admin_console(moonshot: Any, sqlite_url: str) -> Callable[..., Any]:
    """``async with admin_console(admin_can_read=True) as console``: settings as overrides."""
    return partial(running_console, moonshot.base_url, sqlite_url)


@pytest.fixture
def console(moonshot: Any, db_url: str) -> Callable[..., Any]:
    """``admin_console`` on ``db_url`` (PostgreSQL too when ``TEST_POSTGRES_URL`` is set)."""
    return partial(running_console, moonshot.base_url, db_url)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """Debian's headless Chromium through Playwright."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def ledger_row(
    *,
    model: str = "kimi-k2-0905-preview",
    user: str = "telegram:1",
    platform: str = "telegram",
    chat: str = "telegram:1",
    prompt: int = 1000,
    completion: int = 200,
    cached: int = 0,
    cost: float = 0.01,
    currency: str = "CNY",
    first_token_ms: int | None = 300,
    web_searches: int = 0,
    tool_fees: float = 0.0,
) -> UsageEntry:
    """One ledger row as a Moonshot call writes it (for seeding past days)."""
    return UsageEntry(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cost=cost,
        currency=currency,
        latency_ms=900,
        first_token_ms=first_token_ms,
        user_id=user,
        platform=platform,
        chat_key=chat,
        conversation_id=None,
        message_id=None,
        tool_fees=tool_fees,
        web_searches=web_searches,
    )


async def seed(db: Any, rows: list[tuple[datetime, UsageEntry]]) -> None:
    for when, entry in rows:
        await db.usage.record_at(entry, when)
