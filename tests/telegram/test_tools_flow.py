"""Kimi's web search through Telegram: the status is visible while it runs, the answer lands."""

from __future__ import annotations

from emulators.moonshot import Fault
from tests.telegram.conftest import GROUP, USER, handled, visible


async def test_web_search_shows_a_status_then_answers(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    # Both model calls stream slowly, so the search takes long enough to be seen.
    moonshot.inject(Fault(kind="slow_tokens", delay=0.2, times=2))
    tg.user_message(GROUP, USER, "search the latest AI news", mention_bot=True)
    await handled(tg, bot, 1, within=30)
    shown_while_running = [
        str(call.params.get("text", ""))
        for call in tg.calls
        if call.method in ("sendMessage", "editMessageText")
    ]
    assert any("searching the web" in text for text in shown_while_running)
    assert "web search results" in visible(tg, GROUP)[-1]
    assert "searching the web" not in visible(tg, GROUP)[-1], "the status goes away at the end"
    assert [m["role"] for m in moonshot.requests[-1]["messages"]][-2:] == ["assistant", "tool"]
