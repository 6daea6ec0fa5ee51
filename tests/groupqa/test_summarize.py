"""``/summarize [N]``: the last stored messages of a chat, summarized as a normal turn."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from core import texts
from core.summarize import conversation_summary
from core.types import ConversationKey
from tests.slack.conftest import emu  # noqa: F401 (fixture)
from tests.telegram.conftest import BOB, GROUP, USER, handled, user_texts, visible

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

CHATTER = [
    (USER, "Alice", "Shall we ship on Friday?"),
    (BOB, "Bob", "Friday is risky, QA is out"),
    (USER, "Alice", "then Monday"),
    (BOB, "Bob", "Monday it is"),
]


def summary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("> ")]


async def test_summarize_in_a_group_quotes_the_stored_chatter_with_names(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    tg.set_admins(GROUP, [tg.bot_id])  # sees every message, as with privacy mode off
    bot = await start_bot(telegram_group_context=True)
    for done, (user, name, text) in enumerate(CHATTER, 1):
        tg.user_message(GROUP, user, text, first_name=name)
        await handled(tg, bot, done)  # one at a time: stored in the order they were said
    tg.user_command(GROUP, BOB, "summarize", to_bot=True, first_name="Bob")
    await handled(tg, bot, len(CHATTER) + 1)

    asked = user_texts(moonshot.requests[-1])[-1]
    assert asked.startswith("Bob: Summarize the conversation below (the last 4 messages)")
    assert summary_lines(asked) == [
        "> Alice: Shall we ship on Friday?",
        "> Bob: Friday is risky, QA is out",
        "> Alice: then Monday",
        "> Bob: Monday it is",
    ]
    [answer] = visible(tg, GROUP)
    assert answer.startswith("Echo (kimi-k2): Bob: Summarize the conversation below")

    tg.user_command(GROUP, USER, "summarize", "2", to_bot=True)
    await handled(tg, bot, len(CHATTER) + 2)
    again = user_texts(moonshot.requests[-1])[-1]
    assert "(the last 2 messages)" in again
    # The newest two: Bob's last word and the summary, never the summary's request (which
    # holds a transcript: summaries of summaries would nest).
    assert summary_lines(again)[0] == "> Bob: Monday it is"
    assert summary_lines(again)[1].startswith("> Kimi: Echo (kimi-k2): Bob: Summarize")


async def test_too_little_to_summarize_explains_privacy_mode(tg, moonshot, start_bot):
    tg.add_chat(GROUP, type="supergroup", title="Team")
    bot = await start_bot()
    tg.user_message(GROUP, USER, "hi all")  # privacy mode: the bot never sees it
    tg.user_command(GROUP, USER, "summarize", to_bot=True)
    await handled(tg, bot, 1)
    assert visible(tg, GROUP) == [texts.text("summarize_too_little", "en", count=0)]
    assert "privacy mode" in visible(tg, GROUP)[0]
    assert moonshot.requests == [], "no model call for nothing"


async def test_a_bad_count_gets_the_usage(tg, moonshot, start_bot):
    bot = await start_bot()
    tg.user_message(USER, USER, "/summarize lots")
    tg.user_message(USER, USER, "/summarize 1")
    await handled(tg, bot, 2)
    expected = texts.text("summarize_bad_count", "en", limit=500)
    assert visible(tg, USER) == [expected, expected]
    assert moonshot.requests == []


async def test_a_long_transcript_keeps_the_newest_messages_that_fit(services):
    key = ConversationKey(platform="cli", chat="long")
    conversation = await services.db.conversations.get_or_create(key, is_group=False)
    for i in range(40):
        await services.db.messages.add(conversation.id, "user", f"message {i} " + "word " * 50)
    request = await conversation_summary(services.db, key, "", "en", window_tokens=2000)
    assert request.question is not None
    lines = summary_lines(request.question)
    assert 2 <= len(lines) < 40
    assert lines[-1].startswith("> someone: message 39 ")
    assert request.say == texts.text("summarize_trimmed", "en", kept=len(lines), count=40)


@asynccontextmanager
async def running_slack_bot(emu, moonshot_url: str, database_url: str, **settings: object):  # noqa: F811
    """A Slack worker over HTTP against the emulators, with settings as overrides."""
    from bots.http import HttpServer, build_app
    from bots.slack import SlackAdapter
    from core.service import start_services
    from tests.conftest import make_settings
    from tests.slack.conftest import BOT_TOKEN, SECRET, SlackBot

    built = make_settings(
        moonshot_url,
        database_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=emu.api_url,
        **settings,
    )
    services = await start_services(built)
    adapter = SlackAdapter(services)
    server = HttpServer(build_app(services.db, adapter.routes()), "127.0.0.1", 0)
    await server.start()
    bot = SlackBot(services, adapter, server)
    await adapter.start()
    emu.events_url = bot.events_url
    emu.commands_url = bot.events_url.replace("/events", "/commands")
    try:
        yield bot
    finally:
        await bot.close()


@pytest.fixture
async def slack_bot(emu, moonshot, sqlite_url):  # noqa: F811
    """A Slack worker over HTTP (the module's ``start_bot`` is Telegram's)."""
    async with running_slack_bot(emu, moonshot.base_url, sqlite_url) as bot:
        yield bot


async def test_slack_kimi_summarize_in_a_channel_uses_what_is_stored_there(
    emu,  # noqa: F811
    slack_bot,
    moonshot,
) -> None:
    delivery = await emu.slash_command("/kimi", "summarize", "C1", "U1")
    await slack_bot.idle()
    assert delivery.acked
    expected = texts.text("summarize_too_little", "en", count=0)
    shown = [m.text for m in emu.messages("C1")] + [e["text"] for e in emu.ephemerals]
    shown += [str(r["body"]) for r in emu.command_responses]
    assert any(expected in text for text in shown), shown
    assert moonshot.requests == []


async def test_slack_kimi_summarize_in_a_channel_reads_its_recent_history_once(
    emu,  # noqa: F811
    slack_bot,
    moonshot,
) -> None:
    lines = [
        ("U1", "the launch moves to Friday"),
        ("U2", "then QA needs the build by Wednesday"),
        ("U1", "agreed, Wednesday noon"),
    ]
    for user, text in lines:
        emu.seed_message("C1", user, text)
    await emu.slash_command("/kimi", "summarize", "C1", "U1")
    await slack_bot.idle()
    [first] = [r for r in moonshot.requests if r.get("messages")]
    transcript = first["messages"][-1]["content"]
    for _, text in lines:
        assert transcript.count(text) == 1, transcript
    assert transcript.index(lines[0][1]) < transcript.index(lines[2][1]), "oldest first"
    assert "Alice" in transcript and "Bob" in transcript, "speakers are named"

    emu.seed_message("C1", "U2", "and the release notes by Thursday")
    await emu.slash_command("/kimi", "summarize", "C1", "U2")
    await slack_bot.idle()
    second = [r for r in moonshot.requests if r.get("messages")][-1]["messages"][-1]["content"]
    quoted = [line for line in second.splitlines() if line.startswith("> ")]
    names = {"U1": "Alice", "U2": "Bob"}
    for user, text in lines:  # one transcript line each (the emulator's echoed answer aside)
        assert quoted.count(f"> {names[user]}: {text}") == 1, second
    assert "> Bob: and the release notes by Thursday" in quoted
