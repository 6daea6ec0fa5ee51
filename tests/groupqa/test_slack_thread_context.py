"""Slack: a thread people were having is context the first time the bot is addressed in it."""

from __future__ import annotations

from emulators.slack import SlackEmulator
from tests.slack import conftest as slack
from tests.slack.conftest import StartBot, user_texts

# The Slack fixtures (this package's conftest.py holds the Telegram ones).
emu, start_bot, bot = slack.emu, slack.start_bot, slack.bot


async def test_first_mention_reads_the_thread_with_names_in_order_once(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot()
    root = await emu.user_message("C1", "U1", "Shall we ship on Friday?")
    said = [
        ("U2", "Friday is risky, QA is out"),
        ("U1", "then Monday?"),
        ("U2", "Monday works, see <https://plan.example|the plan>"),
        ("U1", "ok, Monday it is"),
    ]
    for user, text in said:
        await emu.user_message("C1", user, text, thread_ts=root.ts)
    await bot.idle()
    assert moonshot.requests == [], "nobody addressed the bot yet"

    await emu.user_message("C1", "U2", "what did we decide?", thread_ts=root.ts, mention_bot=True)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == [
        "Alice: Shall we ship on Friday?",
        "Bob: Friday is risky, QA is out",
        "Alice: then Monday?",
        "Bob: Monday works, see the plan (https://plan.example)",
        "Alice: ok, Monday it is",
        "Bob: what did we decide?",
    ]
    assert len(emu.calls_of("conversations.replies")) == 1

    await emu.user_message("C1", "U1", "and who tests?", thread_ts=root.ts, mention_bot=True)
    await bot.idle()
    assert len(emu.calls_of("conversations.replies")) == 1, "an engaged thread is not re-read"
    texts = user_texts(moonshot.requests[-1])
    assert texts[:5] == user_texts(moonshot.requests[-2])[:5], "stored once, not twice"
    assert texts[-1] == "Alice: and who tests?"
    assert len(texts) == 7


async def test_files_are_named_and_the_bots_own_messages_skipped(
    emu: SlackEmulator, bot, moonshot
) -> None:
    root = emu.seed_message("C1", "U1", "the report is attached")
    pdf = emu.add_file("F1", "q3-report.pdf", "application/pdf", b"%PDF-1.4", user="U1")
    emu.seed_message("C1", "U1", "", thread_ts=root, files=[pdf])
    emu.seed_message("C1", "U1", "an old answer of mine", thread_ts=root, bot=True)
    await emu.user_message("C1", "U2", "summarize this thread", thread_ts=root, mention_bot=True)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == [
        "Alice: the report is attached",
        "Alice: [shared files: q3-report.pdf]",
        "Bob: summarize this thread",
    ]


async def test_a_long_thread_is_paged_and_the_budget_keeps_the_newest(
    emu: SlackEmulator, start_bot: StartBot, moonshot
) -> None:
    bot = await start_bot(slack_thread_context_tokens=400)
    root = emu.seed_message("C1", "U1", "message 0 " + "lorem ipsum dolor " * 4)
    for n in range(1, 450):
        emu.seed_message("C1", "U1", f"message {n} " + "lorem ipsum dolor " * 4, thread_ts=root)
    await emu.user_message("C1", "U2", "tl;dr?", thread_ts=root, mention_bot=True)
    await bot.idle()
    calls = emu.calls_of("conversations.replies")
    assert len(calls) == 3, "450 messages in pages of 200"
    assert not calls[0].params.get("cursor")
    assert all(c.params.get("cursor") for c in calls[1:])
    texts = user_texts(moonshot.requests[-1])
    assert texts[-1] == "Bob: tl;dr?"
    read = texts[:-1]
    assert 3 <= len(read) < 50, "the budget bounds what is read"
    numbers = [int(t.split()[2]) for t in read]
    assert numbers == list(range(450 - len(read), 450)), "the newest, in order, oldest dropped"


async def test_another_threads_messages_never_appear(emu: SlackEmulator, bot, moonshot) -> None:
    other = emu.seed_message("C1", "U1", "secret plans")
    emu.seed_message("C1", "U1", "more secret plans", thread_ts=other)
    emu.add_channel("C2", name="random")
    emu.seed_message("C2", "U1", "random chatter")
    root = emu.seed_message("C1", "U2", "lunch?")
    emu.seed_message("C1", "U1", "pizza", thread_ts=root)
    await emu.user_message("C1", "U2", "what's for lunch?", thread_ts=root, mention_bot=True)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == [
        "Bob: lunch?",
        "Alice: pizza",
        "Bob: what's for lunch?",
    ]


async def test_a_thread_that_cannot_be_read_is_answered_anyway(
    emu: SlackEmulator, bot, moonshot
) -> None:
    root = emu.seed_message("C1", "U1", "private-ish")
    emu.inject("conversations.replies", "missing_scope")
    await emu.user_message("C1", "U2", "hello?", thread_ts=root, mention_bot=True)
    await bot.idle()
    assert user_texts(moonshot.requests[-1]) == ["Bob: hello?"]
    answers = [m.text for m in emu.messages("C1", thread_ts=root)]
    assert "Echo (kimi-k2): Bob: hello?" in answers
