"""Slack's feedback buttons sit on the answer itself: ``chat.stopStream`` carries them when the
answer streams, the final ``chat.update`` when it is posted and edited, and only the last message
of a long answer has them. Where Slack takes no blocks, an ephemeral message to the asker does."""

from __future__ import annotations

import html
from typing import Any

from bots.slack.feedback import BUTTONS, UP
from emulators.moonshot import Fault, ScriptedReply
from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot, bot, emu, start_bot  # noqa: F401 (fixtures)

SLOW_TEXT = " ".join(f"word{i}" for i in range(1, 61))


async def answer_ids(bot: SlackBot) -> list[int]:  # noqa: F811
    from sqlalchemy import select

    from storage.models import Message

    async with bot.services.db.engine.connect() as connection:
        rows = await connection.execute(
            select(Message.id).where(Message.role == "assistant").order_by(Message.id)
        )
        return [int(r[0]) for r in rows]


def feedback_values(blocks: list[dict[str, Any]] | None) -> tuple[str, str] | None:
    """The two buttons' values of a message's context_actions block, if it has one."""
    for block in blocks or []:
        if block["type"] == "context_actions":
            [element] = block["elements"]
            assert element["type"] == "feedback_buttons" and element["action_id"] == BUTTONS
            return element["positive_button"]["value"], element["negative_button"]["value"]
    return None


def thumbs_ephemerals(emu: SlackEmulator) -> list[dict[str, Any]]:  # noqa: F811
    return [e for e in emu.ephemerals if e["blocks"] and "actions" in str(e["blocks"])]


async def test_a_streamed_answer_ends_with_the_buttons_of_chat_stop_stream(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
) -> None:
    await emu.user_message("D1", "U1", "hello there")
    await bot.idle()
    [answer_id] = await answer_ids(bot)
    [answer] = emu.messages("D1")
    assert answer.streamed and answer.text == "Echo (kimi-k2): hello there"
    [stop] = emu.calls_of("chat.stopStream")
    assert feedback_values(stop.params["blocks"]) == (f"up:{answer_id}", f"down:{answer_id}")
    assert feedback_values(answer.blocks) == (f"up:{answer_id}", f"down:{answer_id}")
    assert emu.calls_of("chat.update") == [] and emu.ephemerals == []
    assert emu.calls_of("chat.postMessage") == [], "one message: the answer"


async def test_the_posted_fallback_adds_the_buttons_with_its_final_update(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
    moonshot: Any,
) -> None:
    emu.api.config.streaming_enabled = False
    moonshot.enqueue(ScriptedReply(text="**Bold** answer & more"))
    await emu.user_message("D1", "U1", "post it")
    await bot.idle()
    [answer_id] = await answer_ids(bot)
    [answer] = emu.messages("D1")
    assert answer.text == "*Bold* answer &amp; more", "the text stays the notification text"
    final = emu.calls_of("chat.update")[-1]
    assert final.params["ts"] == answer.ts
    assert feedback_values(final.params["blocks"]) == (f"up:{answer_id}", f"down:{answer_id}")
    sections = [b["text"]["text"] for b in answer.blocks or [] if b["type"] == "section"]
    assert sections == [answer.text], "a message with blocks shows them: the text is one"
    assert len(emu.calls_of("chat.postMessage")) == 1 and emu.ephemerals == []

    delivery = await emu.click_button("D1", answer.ts, "U1", BUTTONS, choice="negative")
    await bot.idle()
    assert delivery.acked
    assert await bot.services.db.feedback.rating(answer_id, "slack:U1") == -1


async def test_a_long_answer_has_the_buttons_on_its_last_message_only(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
) -> None:
    await emu.user_message("D1", "U1", "write a lot [[len:15000]]")
    await bot.idle()
    emu.api.config.streaming_enabled = False  # the second answer posts and edits
    await emu.user_message("D1", "U1", "again, a lot [[len:9000]]")
    await bot.idle()
    first, second = await answer_ids(bot)
    messages = emu.messages("D1")
    streamed = [m for m in messages if m.streamed]
    posted = [m for m in messages if not m.streamed]
    assert len(streamed) >= 2 and len(posted) >= 3
    assert [feedback_values(m.blocks) for m in streamed[:-1]] == [None] * (len(streamed) - 1)
    assert feedback_values(streamed[-1].blocks) == (f"up:{first}", f"down:{first}")
    assert [feedback_values(m.blocks) for m in posted[:-1]] == [None] * (len(posted) - 1)
    assert feedback_values(posted[-1].blocks) == (f"up:{second}", f"down:{second}")
    last = posted[-1]
    shown = "".join(b["text"]["text"] for b in last.blocks or [] if b["type"] == "section")
    assert html.unescape(shown).split() == html.unescape(last.text).split()
    assert emu.ephemerals == []


async def test_a_thread_answer_in_a_channel_is_rated_from_its_buttons(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
) -> None:
    asked = await emu.user_message("C1", "U1", "rate me", mention_bot=True)
    await bot.idle()
    [answer_id] = await answer_ids(bot)
    [answer] = emu.messages("C1", thread_ts=asked.ts)
    assert feedback_values(answer.blocks) == (f"up:{answer_id}", f"down:{answer_id}")
    await emu.click_button("C1", answer.ts, "U2", BUTTONS, choice="positive")
    await bot.idle()
    assert await bot.services.db.feedback.rating(answer_id, "slack:U2") == 1


async def test_blocks_slack_refuses_fall_back_to_an_ephemeral_message(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
) -> None:
    emu.inject("chat.stopStream", error="invalid_blocks")
    await emu.user_message("D1", "U1", "no blocks for you")
    await bot.idle()
    [answer_id] = await answer_ids(bot)
    [answer] = emu.messages("D1")
    assert answer.text == "Echo (kimi-k2): no blocks for you" and answer.stream_state == "stopped"
    assert feedback_values(answer.blocks) is None
    [buttons] = thumbs_ephemerals(emu)
    assert (buttons["channel"], buttons["user"]) == ("D1", "U1"), "shown to the asker"
    await emu.click_button("D1", buttons["message_ts"], "U1", UP)
    await bot.idle()
    assert await bot.services.db.feedback.rating(answer_id, "slack:U1") == 1


async def test_an_expired_stream_continued_as_markdown_gets_ephemeral_buttons(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
    moonshot: Any,
) -> None:
    moonshot.enqueue(ScriptedReply(text=SLOW_TEXT))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.03, times=1))
    await emu.user_message("D1", "U1", "take your time")
    await emu.wait_for(lambda: [m for m in emu.messages("D1") if m.text])
    emu.expire_streams()
    await bot.idle()
    [answer] = emu.messages("D1")
    assert answer.text == SLOW_TEXT
    assert emu.calls_of("chat.update")[-1].params["markdown_text"] == SLOW_TEXT
    assert "blocks" not in emu.calls_of("chat.update")[-1].params, "Slack takes none with it"
    assert len(thumbs_ephemerals(emu)) == 1


async def test_an_answer_that_failed_gets_no_buttons(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
    moonshot: Any,
) -> None:
    moonshot.inject(Fault(kind="auth", times=5))
    await emu.user_message("D1", "U1", "this fails")
    await bot.idle()
    assert emu.messages("D1"), "the error is said"
    assert all(feedback_values(m.blocks) is None for m in emu.messages("D1"))
    assert thumbs_ephemerals(emu) == []


async def test_a_slash_command_answer_in_the_dm_has_the_buttons_too(
    emu: SlackEmulator,  # noqa: F811
    bot: SlackBot,  # noqa: F811
) -> None:
    await emu.slash_command("/kimi", "what is new?", "D1", "U1")
    await bot.idle()
    [answer_id] = await answer_ids(bot)
    [answer] = emu.messages("D1")
    assert answer.text == "Echo (kimi-k2): what is new?"
    assert feedback_values(answer.blocks) == (f"up:{answer_id}", f"down:{answer_id}")
    await emu.slash_command("/kimi", "help", "D1", "U1")
    await bot.idle()
    helped = emu.messages("D1")[1:]
    assert helped and all(feedback_values(m.blocks) is None for m in helped), "not on help"
