"""Answers as Slack shows them: native streams, the post + update fallback, long answers,
expiry, the status line, rate limits and errors."""

from __future__ import annotations

import html
import itertools
import re

from emulators.moonshot import Fault, ScriptedReply
from emulators.moonshot.answers import long_text
from emulators.slack import SlackEmulator
from tests.slack.conftest import INTERVAL, SlackBot

SLOW_TEXT = " ".join(f"word{i}" for i in range(1, 61))


def tokens(text: str) -> list[str]:
    """Words in order, without the fences a split closes and reopens."""
    return [t for t in text.split() if not t.startswith("```")]


async def test_long_answer_arrives_whole_and_in_order_in_several_streams(
    emu: SlackEmulator, bot: SlackBot
) -> None:
    await emu.user_message("D1", "U1", "write a lot [[len:15000]]")
    await bot.idle()
    parts = emu.messages("D1")
    assert len(parts) >= 2
    assert all(p.streamed and p.stream_state == "stopped" for p in parts)
    assert all(len(p.text) <= 12_000 for p in parts)
    assert tokens("\n".join(p.text for p in parts)) == tokens(long_text(15_000))
    assert all(p.text.count("```") % 2 == 0 for p in parts), "each part renders on its own"


async def test_long_answer_on_the_fallback_is_split_for_mrkdwn(
    emu: SlackEmulator, bot: SlackBot
) -> None:
    emu.api.config.streaming_enabled = False
    await emu.user_message("D1", "U1", "write a lot [[len:15000]]")
    await bot.idle()
    parts = emu.messages("D1")
    assert len(parts) >= 4
    assert all(len(p.text) <= 3_900 and not p.streamed for p in parts)
    shown = html.unescape("\n".join(p.text for p in parts))  # mrkdwn escapes & < >
    assert tokens(shown) == tokens(long_text(15_000))
    texts = [p.text for p in parts]
    assert len(set(texts)) == len(texts), "no part is posted twice"


async def test_expired_stream_falls_back_to_update_with_the_full_text(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.enqueue(ScriptedReply(text=SLOW_TEXT))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.03, times=1))
    await emu.user_message("D1", "U1", "take your time")
    started = await emu.wait_for(lambda: [m for m in emu.messages("D1") if m.text])
    assert emu.expire_streams() == [started[0].ts]
    await bot.idle()
    [answer] = emu.messages("D1")
    assert answer.stream_expired
    assert answer.text == SLOW_TEXT
    final_update = emu.calls_of("chat.update")[-1]
    assert final_update.params["ts"] == answer.ts
    assert final_update.params["markdown_text"] == SLOW_TEXT


async def test_streaming_unavailable_uses_post_and_paced_updates(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    emu.api.config.streaming_enabled = False
    markdown = (
        "## Plan\n\n**Bold** and *italic*, see [the docs](https://example.com/a?b=1&c=2).\n\n"
    )
    moonshot.enqueue(ScriptedReply(text=markdown + SLOW_TEXT))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02, times=1))
    await emu.user_message("D1", "U1", "format please")
    await bot.idle()
    [answer] = emu.messages("D1")
    assert not answer.streamed
    assert answer.text == (
        "*Plan*\n\n*Bold* and _italic_, see <https://example.com/a?b=1&c=2|the docs>.\n\n"
        + SLOW_TEXT
    )
    assert len(emu.calls_of("chat.postMessage")) == 1
    updates = emu.calls_of("chat.update")
    assert len(updates) >= 3, "previews while the answer streams"
    previews = updates[:-1]  # the final update lands at once
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(previews)]
    assert gaps and min(gaps) >= INTERVAL * 0.8, f"previews are paced: {gaps}"
    # The next answer skips the refused stream call.
    await emu.user_message("D1", "U1", "again")
    await bot.idle()
    assert len(emu.calls_of("chat.startStream")) == 1


async def test_native_stream_sends_markdown_as_is(emu: SlackEmulator, bot: SlackBot, moonshot):
    markdown = "# Title\n\n**bold** `code` [link](https://example.com) & <tag>"
    moonshot.enqueue(ScriptedReply(text=markdown))
    await emu.user_message("D1", "U1", "markdown")
    await bot.idle()
    [answer] = emu.messages("D1")
    assert answer.streamed and answer.text == markdown


async def test_status_line_while_waiting_then_cleared(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02, times=1))
    sent = await emu.user_message("C1", "U1", "think first", mention_bot=True)
    await bot.idle()
    assert emu.statuses[0] == ("C1", sent.ts, "is thinking…", None)
    assert emu.statuses[-1].status == ""
    methods = [c.method for c in emu.calls]
    assert methods.index("assistant.threads.setStatus") < methods.index("chat.startStream")


async def test_status_line_speaks_the_users_language(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    sent = await emu.user_message("C1", "U1", "请先想一想", mention_bot=True)
    await bot.idle()
    assert emu.statuses[0] == ("C1", sent.ts, "正在思考…", None)


async def test_rate_limit_waits_for_retry_after(emu: SlackEmulator, bot: SlackBot) -> None:
    emu.inject("chat.startStream", error="ratelimited", retry_after=1)
    await emu.user_message("D1", "U1", "busy slack")
    await bot.idle()
    first, second = emu.calls_of("chat.startStream")
    assert first.status == 429 and second.status == 200
    assert second.timestamp - first.timestamp >= 0.95
    [answer] = emu.messages("D1")
    assert answer.streamed and answer.text == "Echo (kimi-k2): busy slack"


async def test_kimi_error_is_a_short_reply_in_the_users_language(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.inject(Fault(kind="auth", times=5))
    sent = await emu.user_message("C1", "U1", "请帮我总结一下", mention_bot=True)
    await bot.idle()
    [reply] = emu.messages("C1", thread_ts=sent.ts)
    assert "API" in reply.text and re.search(r"[\u4e00-\u9fff]", reply.text)
    assert emu.statuses[-1].status == ""


async def test_dropped_stream_keeps_the_partial_answer_and_says_why(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.enqueue(ScriptedReply(text=SLOW_TEXT))
    moonshot.inject(Fault(kind="drop_stream", after_chunks=6, times=5))
    await emu.user_message("D1", "U1", "tell me")
    await bot.idle()
    [answer] = emu.messages("D1")
    partial, _, reason = answer.text.partition("\n\n⚠️ ")
    assert partial and SLOW_TEXT.startswith(partial)
    assert "network" in reason
