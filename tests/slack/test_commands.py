"""``/kimi`` over HTTP (the commands URL and the events URL) and over Socket Mode."""

from __future__ import annotations

from emulators.moonshot import Fault, ScriptedReply
from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot, StartBot, user_texts


async def test_kimi_reset_in_a_dm_starts_a_new_conversation(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    await emu.user_message("D1", "U1", "my name is Ada")
    await bot.idle()
    delivery = await emu.slash_command("/kimi", "reset", "D1", "U1")
    assert delivery.status == 200 and delivery.transport == "http"
    assert emu.commands_url.endswith("/slack/commands")
    await bot.idle()
    assert emu.messages("D1")[-1].text.startswith("Started a new conversation")
    await emu.user_message("D1", "U1", "who am I?")
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == ["who am I?"]


async def test_kimi_alone_is_help_and_commands_work_on_the_events_url(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    emu.commands_url = bot.events_url  # one Request URL for everything also works
    await emu.slash_command("/kimi", "", "D1", "U1")
    await emu.slash_command("/kimi", "model", "D1", "U1")
    await bot.idle()
    help_text, model_text = (m.text for m in emu.messages("D1"))
    assert "/reset" in help_text and "/usage" in help_text
    assert model_text.startswith("Current model: kimi-k2")
    assert moonshot.requests == []


async def test_kimi_in_a_channel_answers_only_the_caller(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    await emu.slash_command("/kimi", "reset", "C1", "U1")
    await emu.slash_command("/kimi", "usage", "C1", "U1")
    await bot.idle()
    await emu.wait_for(lambda: len(emu.command_responses) == 2)
    bodies = sorted((r["body"] for r in emu.command_responses), key=lambda b: b["text"])
    assert all(b["response_type"] == "ephemeral" for b in bodies)
    hint, usage = bodies
    assert "thread" in hint["text"] and f"<@{emu.bot_user_id}> /reset" in hint["text"]
    assert usage["text"].startswith("Your usage")
    assert emu.messages("C1") == []


async def test_cancel_from_a_thread_stops_the_answer(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    moonshot.enqueue(ScriptedReply(text="word " * 300))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02, times=1))
    root = await emu.user_message("C1", "U1", "long answer please", mention_bot=True)
    await emu.wait_for(lambda: [m for m in emu.messages("C1", thread_ts=root.ts) if m.text])
    await emu.user_message("C1", "U1", "/cancel", thread_ts=root.ts, mention_bot=True)
    await bot.idle()
    [answer] = emu.messages("C1", thread_ts=root.ts)
    assert answer.text.endswith("⚠️ Stopped.")
    assert answer.text.count("word") < 300


async def test_socket_mode_answers_a_dm_and_a_command(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(socket=True)
    assert bot.adapter.routes() == []
    await emu.wait_for(lambda: emu.socket_connections == 1)
    sent = await emu.user_message("D1", "U1", "over the socket")
    assert sent.deliveries[0].transport == "socket" and sent.deliveries[0].acked
    await bot.idle()
    [answer] = emu.messages("D1")
    assert answer.streamed and answer.text == "Echo (kimi-k2): over the socket"
    delivery = await emu.slash_command("/kimi", "reset", "D1", "U1")
    assert delivery.transport == "socket" and delivery.acked
    await bot.idle()
    assert emu.messages("D1")[-1].text.startswith("Started a new conversation")
    await bot.close()
    await emu.wait_for(lambda: emu.socket_connections == 0, timeout=5)
