"""Kimi's web search through Slack: the status line says so while it runs, the answer lands."""

from __future__ import annotations

from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot


async def test_web_search_status_line_and_answer(emu: SlackEmulator, bot: SlackBot, moonshot):
    sent = await emu.user_message("C1", "U1", "search the news about owls", mention_bot=True)
    await bot.idle()
    statuses = [s.status for s in emu.statuses]
    assert "searching the web…" in statuses
    assert statuses[-1] == "", "the status line is cleared at the end"
    [answer] = emu.messages("C1", sent.ts)
    assert "web search results" in answer.text
