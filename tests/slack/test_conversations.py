"""DMs, mentions and threads: who gets answered, where, and with which memory."""

from __future__ import annotations

from emulators.slack import SlackEmulator
from tests.slack.conftest import SlackBot, StartBot, user_texts


async def test_dm_answer_streams_natively_and_remembers(
    emu: SlackEmulator, start_bot: StartBot, moonshot, db_url: str
) -> None:
    bot = await start_bot(database_url=db_url)
    first = await emu.user_message("D1", "U1", "my name is Ada")
    assert first.deliveries[0].status == 200
    await bot.idle()
    [answer] = emu.messages("D1")
    assert answer.text == "Echo (kimi-k2): my name is Ada"
    assert answer.streamed and answer.stream_state == "stopped"
    assert answer.thread_ts is None, "a DM is answered at its top level"

    await emu.user_message("D1", "U1", "what is my name?")
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == ["my name is Ada", "what is my name?"]
    assert [m.text for m in emu.messages("D1")][-1] == "Echo (kimi-k2): what is my name?"


async def test_threaded_reply_in_a_dm_is_its_own_conversation(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    root = await emu.user_message("D1", "U1", "remember the colour blue")
    await bot.idle()
    await emu.user_message("D1", "U1", "side question", thread_ts=root.ts)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == ["side question"]
    [reply] = emu.messages("D1", thread_ts=root.ts)
    assert reply.text == "Echo (kimi-k2): side question"


async def test_mention_is_answered_in_its_thread_once(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    sent = await emu.user_message("C1", "U1", "what is up?", mention_bot=True)
    assert len(sent.deliveries) == 2 and all(d.status == 200 for d in sent.deliveries)
    await bot.idle()
    replies = emu.messages("C1", thread_ts=sent.ts)
    assert len(replies) == 1, "message + app_mention must produce one answer"
    assert emu.messages("C1") == replies, "nothing at the channel's top level"
    assert len(moonshot.requests) == 1
    assert user_texts(moonshot.requests[0]) == ["Alice: what is up?"]
    assert replies[0].text == "Echo (kimi-k2): Alice: what is up?"
    # The app_mention answered; the message twin was never even taken (its id is still free).
    claims = bot.services.db.events
    assert not await claims.claim("slack", sent.envelope("app_mention")["event_id"])
    assert await claims.claim("slack", sent.envelope("message")["event_id"])


async def test_follow_up_in_engaged_thread_needs_no_mention(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    root = await emu.user_message("C1", "U1", "start a thread", mention_bot=True)
    await bot.idle()
    await emu.user_message("C1", "U1", "and a follow-up", thread_ts=root.ts)
    await bot.idle()
    mention = await emu.user_message("C1", "U2", "me too", thread_ts=root.ts, mention_bot=True)
    await bot.idle()
    assert await bot.services.db.events.claim("slack", mention.envelope("message")["event_id"])
    replies = emu.messages("C1", thread_ts=root.ts)
    assert [r.text for r in replies] == [
        "Echo (kimi-k2): Alice: start a thread",
        "Echo (kimi-k2): Alice: and a follow-up",
        "Echo (kimi-k2): Bob: me too",
    ]


async def test_thread_memory_is_shared_and_names_speakers(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    root = await emu.user_message("C1", "U1", "I like tea", mention_bot=True)
    await bot.idle()
    await emu.user_message("C1", "U2", "what does Alice like?", thread_ts=root.ts)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == ["Alice: I like tea", "Bob: what does Alice like?"]
    assert len(emu.calls_of("users.info")) == 2, "one users.info per person, then cached"
    await emu.user_message("C1", "U1", "thanks", thread_ts=root.ts)
    await bot.idle()
    assert len(emu.calls_of("users.info")) == 2


async def test_unengaged_threads_and_plain_channel_messages_are_ignored(
    emu: SlackEmulator, bot: SlackBot, moonshot
) -> None:
    top = await emu.user_message("C1", "U1", "just chatting")
    await emu.user_message("C1", "U2", "a reply in a thread the bot never joined", thread_ts=top.ts)
    await bot.idle()
    assert moonshot.requests == []
    assert emu.messages("C1") == []
    # The same thread, once the bot is mentioned in it, is engaged from then on.
    await emu.user_message("C1", "U2", "now you", thread_ts=top.ts, mention_bot=True)
    await bot.idle()
    await emu.user_message("C1", "U1", "and again", thread_ts=top.ts)
    await bot.idle()
    assert [user_texts(r)[-1] for r in moonshot.requests] == ["Bob: now you", "Alice: and again"]


async def test_memory_survives_a_restart_of_the_worker(
    emu: SlackEmulator, start_bot: StartBot, moonshot, sqlite_url: str
) -> None:
    first = await start_bot(database_url=sqlite_url)
    await emu.user_message("D1", "U1", "my name is Ada")
    await first.idle()
    await first.close()
    second = await start_bot(database_url=sqlite_url)
    await emu.user_message("D1", "U1", "who am I?")
    await second.idle()
    assert user_texts(moonshot.requests[-1]) == ["my name is Ada", "who am I?"]
