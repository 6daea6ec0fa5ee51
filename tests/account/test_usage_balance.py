"""``/usage`` adds the Moonshot balance for an admin in a private chat, and only there: other
users never see it, and neither does a group an admin asks in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from core.service import Services, start_services
from core.types import Author, CollectingSink
from emulators.moonshot import ScriptedReply
from tests.conftest import make_settings
from tests.support.messages import TEST_KEY, ask

ROOT = Author(id="cli:root", name="Root")
ALICE = Author(id="cli:alice", name="Alice")
START = "Moonshot balance (admins only): ¥49.58 available (voucher ¥46.58, cash ¥3.00)"


@pytest.fixture
async def bot(moonshot: Any, sqlite_url: str) -> AsyncIterator[Services]:
    settings = make_settings(moonshot.base_url, sqlite_url, admins="cli:root")
    services = await start_services(settings)
    yield services
    await services.close()


async def usage(bot: Services, author: Author, *, group: bool = False, lang: str = "") -> str:
    sink = CollectingSink()
    incoming = replace(ask("/usage", author=author, group=group), language=lang)
    await bot.assistant.handle(incoming, sink)
    [reply] = sink.replies
    return reply


async def test_an_admin_sees_the_balance_and_it_reflects_spending(
    bot: Services, moonshot: Any
) -> None:
    report = await usage(bot, ROOT)
    assert report.splitlines()[-1] == START
    assert report.startswith("Your usage:")

    moonshot.enqueue(ScriptedReply(text="costly", usage={"prompt_tokens": 500_000}))
    outcome = await bot.assistant.handle(ask("spend a little", author=ALICE), CollectingSink())
    assert outcome is not None and outcome.status == "complete"
    cost = bot.assistant.catalog.get("kimi-k2").cost(
        500_000, outcome.completions[-1].usage.completion_tokens
    )
    assert cost > 1, "the voucher is spent first"
    assert (await usage(bot, ROOT)).splitlines()[-1] == (
        f"Moonshot balance (admins only): ¥{49.58 - cost:.2f} available "
        f"(voucher ¥{46.58 - cost:.2f}, cash ¥3.00)"
    )


async def test_others_and_groups_never_see_it(bot: Services) -> None:
    assert "balance" not in await usage(bot, ALICE)
    group_key = replace(TEST_KEY, chat="team")
    sink = CollectingSink()
    await bot.assistant.handle(replace(ask("/usage", author=ROOT, group=True), key=group_key), sink)
    assert sink.replies and "balance" not in sink.replies[0], "the whole group would see it"


async def test_the_balance_line_speaks_the_admins_language(bot: Services) -> None:
    line = (await usage(bot, ROOT, lang="zh")).splitlines()[-1]
    assert line == "Moonshot 余额（仅管理员可见）：可用 ¥49.58（代金券 ¥46.58，现金 ¥3.00）"
