"""Getting answers out whatever Telegram does: long answers, flood control, 429s, lost packets."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from emulators.moonshot import Fault, ScriptedReply
from emulators.moonshot.answers import long_text
from emulators.telegram import utf16_len
from storage.records import ConversationKey
from tests.telegram.conftest import GROUP, USER, handled, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def words(text: str) -> list[str]:
    """The answer's words as a chat shows them (code fences are formatting, not text)."""
    return [w for w in text.split() if not w.startswith("```")]


def calls_to(tg, method: str, chat: int):
    return [c for c in tg.calls_of(method) if int(c.params.get("chat_id", 0)) == chat]


async def test_a_10000_character_answer_arrives_whole_and_in_order(tg, moonshot, start_bot):
    chat = GROUP
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    tg.user_message(chat, USER, "a long one please [[len:10000]]", mention_bot=True)
    await handled(tg, bot, 1, within=30)

    expected = long_text(10000)
    messages = [m for m in tg.messages(chat) if not m.deleted]
    assert len(messages) >= 3
    assert all(utf16_len(m.text) <= 4096 for m in messages)
    ids = [m.message_id for m in messages]
    assert ids == sorted(ids)
    shown = "\n".join(m.text for m in messages)
    assert words(shown) == words(expected), "nothing lost, duplicated or reordered"
    assert "def step_1() -> int:" in shown
    code = [e for m in messages for e in m.entities if e["type"] == "pre"]
    assert code and code[0].get("language") == "python"
    assert tg.flood_violations == []


async def test_a_slow_long_stream_in_a_group_never_trips_flood_control(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    # Asking for an edit every 0.1 s: the flood guard must hold the floor anyway.
    bot = await start_bot(telegram_edit_interval_group=0.1)
    # ~700 chunks at 5 ms: a stream of several seconds, so previews must be paced.
    moonshot.inject(Fault(kind="slow_tokens", delay=0.005))
    tg.user_message(GROUP, USER, "stream it [[len:4300]]", mention_bot=True)
    await handled(tg, bot, 1, within=30)

    messages = [m for m in tg.messages(GROUP) if not m.deleted]
    assert len(messages) == 2
    assert words("\n".join(m.text for m in messages)) == words(long_text(4300))
    assert len(messages[0].edits) >= 2, "the answer was visibly streamed"
    assert tg.flood_violations == []
    edits = [c.timestamp for c in calls_to(tg, "editMessageText", GROUP)]
    sends = [c.timestamp for c in calls_to(tg, "sendMessage", GROUP)]
    stamps = sorted(edits + sends)
    # The guard spaces calls 1 s apart when sent; arrival times may jitter a little under load.
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(stamps))
    assert not any("not modified" in f.description for f in tg.failures)


@pytest.mark.parametrize("method", ["editMessageText", "sendMessage"])
async def test_an_injected_429_still_ends_with_the_full_text(tg, moonshot, start_bot, method):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    answer = " ".join(f"w{i}" for i in range(120))
    moonshot.enqueue(ScriptedReply(text=answer))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.015))
    tg.inject(method, 429, retry_after=1, times=1)
    tg.user_message(GROUP, USER, "go", mention_bot=True)
    await handled(tg, bot, 1, within=30)

    assert [m.text for m in tg.messages(GROUP) if not m.deleted] == [answer]
    failed = [f for f in tg.failures if f.error_code == 429]
    assert len(failed) == 1
    later = [
        c.timestamp
        for c in tg.calls
        if c.timestamp > failed[0].timestamp and c.method in ("sendMessage", "editMessageText")
    ]
    assert later and later[0] - failed[0].timestamp >= 1.0, "retry_after honoured exactly"
    assert tg.flood_violations == []


async def test_a_429_on_the_final_private_message_waits_and_lands_once(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.inject("sendMessage", 429, retry_after=1, times=1)
    tg.user_message(USER, USER, "quick")
    await handled(tg, bot, 1)
    sends = tg.calls_of("sendMessage")
    assert len(sends) == 2 and sends[1].timestamp - sends[0].timestamp >= 1.0
    assert [m.text for m in tg.messages(USER)] == ["Echo (kimi-k2): quick"]


async def test_network_errors_on_the_final_message_are_retried(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.inject("sendMessage", kind="network", times=1)
    tg.user_message(USER, USER, "through a flaky network")
    await handled(tg, bot, 1)
    assert [m.text for m in tg.messages(USER)] == ["Echo (kimi-k2): through a flaky network"]
    assert len(tg.calls_of("sendMessage")) == 2


async def test_unparseable_html_is_resent_as_plain_text(tg, moonshot, start_bot):
    bot = await start_bot()
    moonshot.enqueue(ScriptedReply(text="**important**: 1 < 2"))
    tg.inject(
        "sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag", times=1
    )
    tg.user_message(USER, USER, "compare")
    await handled(tg, bot, 1)
    (message,) = tg.messages(USER)
    assert message.text == "**important**: 1 < 2"
    assert message.parse_mode is None


async def test_the_typing_indicator_lasts_until_the_first_text(
    tg, moonshot, start_bot, monkeypatch
):
    from bots.telegram import chat_action

    monkeypatch.setattr(chat_action, "REFRESH_SECONDS", 0.2)
    bot = await start_bot()
    moonshot.inject(Fault(kind="stall_stream", after_chunks=1, stall_seconds=1.0))
    tg.user_message(USER, USER, "think first")
    await handled(tg, bot, 1)
    typing = [c.timestamp for c in tg.calls_of("sendChatAction")]
    first_text = min(
        c.timestamp for c in tg.calls if c.method in ("sendMessageDraft", "sendMessage")
    )
    assert len([t for t in typing if t < first_text]) >= 3, "refreshed while waiting"
    assert all(t < first_text + 0.1 for t in typing), "stopped once text was visible"


async def test_a_retry_notice_shows_without_breaking_the_answer(tg, moonshot, start_bot):
    bot = await start_bot()
    moonshot.inject(Fault(kind="rate_limit", wait_seconds=1, times=1))
    tg.user_message(USER, USER, "are you busy?")
    await handled(tg, bot, 1)
    assert any(text.startswith("⏳ Kimi is busy") for _, text in tg.drafts(USER))
    assert [m.text for m in tg.messages(USER)] == ["Echo (kimi-k2): are you busy?"]


async def test_notices_outside_an_answer_are_paced_too(tg, moonshot, start_bot):
    """Every Bot API call goes through the flood guard (PTB's rate limiter hook), so a burst
    of notices (e.g. turns a crashed worker left, told at once) stays inside the limits."""
    tg.add_chat(USER)
    bot = await start_bot()
    key = ConversationKey(platform="telegram", workspace="", chat=str(USER), thread="")
    await asyncio.gather(*(bot.adapter.notify(key, f"notice {i}") for i in range(5)))
    assert sorted(visible(tg, USER)) == [f"notice {i}" for i in range(5)]
    assert tg.flood_violations == []
