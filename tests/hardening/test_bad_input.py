"""Bad input from every side: odd and broken Telegram updates and Slack events (raw JSON on our
webhook routes and through the emulators), huge texts, zero-width/RTL/emoji text, broken
Markdown both ways, unknown entity types, forged, unsigned and replayed requests, wrong webhook
secrets, corrupt and mislabelled files and a DOCX zip bomb.

Each must end in a clear answer or a refusal, and the service must keep serving: every test
ends with an ordinary question that is answered. Hypothesis generates the odd payloads; the
cases are collected first (the adapters need the event loop the test runs in), then posted.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import io
import json
import logging
import os
import re
import time
import tracemalloc
import zipfile
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.slack.routing import question_text
from core import texts
from core.assistant import MAX_MESSAGE_CHARS
from core.types import Author, CollectingSink, ConversationKey, Incoming
from emulators.moonshot import ScriptedReply
from emulators.slack import SlackEmulator
from emulators.slack.payloads import event_callback, user_message_event
from emulators.telegram import TelegramEmulator
from storage import COMPLETE
from tests.hardening.conftest import stored, track_telegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

INTERNAL = texts.text("internal")
BOT_USERNAME = "kimi_test_bot"


def collect(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of ``strategy``, reproducibly (derandomized, no example database)."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(example: Any) -> None:
        found.append(example)

    run()
    return found


def our_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """ERROR records from our own packages (adapters, core, storage)."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in {"bots", "core", "storage"}
    ]


# --------------------------------------------------------------------------- odd text

ZERO_WIDTH_AND_BIDI = [
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
]  # fmt: skip
SCRIPTS = [
    "שלום עולם",
    "مرحبا بالعالم",
    "日本語のテキスト",
    "你好，世界",
    "Привет",
    "e\u0301\u0301",
    "𝕳𝖊𝖑𝖑𝖔",
]
EMOJI = ["😀", "👩\u200d👩\u200d👧\u200d👦", "🇩🇪", "👍🏽", "🏳️\u200d🌈", "❤️", "🫠"]
BROKEN_MARKDOWN = [
    "```", "```python\n", "**", "*", "_", "__", "`", "~~", "||", "<", ">", "&", "&amp;", "<b>",
    "</i>", "<script>", "[a](", "](javascript:alert(1))", "# ", "> ", "- ", "1. ", "|a|b|\n|-|-|",
    "\\", "\n\n", "<@U1>", "<!channel>", "<https://example.com|a link>", "@kimi_test_bot",
]  # fmt: skip
ODD_TEXT = st.lists(
    st.one_of(
        st.sampled_from(ZERO_WIDTH_AND_BIDI + SCRIPTS + EMOJI + BROKEN_MARKDOWN),
        st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=6),
    ),
    min_size=1,
    max_size=12,
).map("".join)


# --------------------------------------------------------------------------- Telegram updates

KNOWN_ENTITIES = ["bot_command", "mention", "bold", "italic", "code", "pre", "url", "hashtag"]
UNKNOWN_ENTITIES = ["fancy_new_type", "date_time", "", "BOLD", "custom_emoji", "blockquote"]
OPTIONAL_PARTS = [
    "reply_to_bot", "reply_to_user", "external_reply", "quote", "forward_origin", "via_bot",
    "sticker", "location", "thread", "topic", "sender_chat", "link_preview_options",
    "future_field", "from_bot", "mention_bot", "new_chat_members", "story", "web_app_data",
]  # fmt: skip
ODD_UPDATE = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            ["message"] * 6
            + ["edited_message", "channel_post", "business_message", "message_reaction"]
            + ["future_update"]
        ),
        "chat_type": st.sampled_from(["private"] * 4 + ["group", "supergroup"]),
        "text": st.one_of(st.none(), ODD_TEXT),
        "caption": st.one_of(st.none(), ODD_TEXT),
        "entities": st.lists(
            st.tuples(
                st.sampled_from(KNOWN_ENTITIES + UNKNOWN_ENTITIES),
                st.floats(0, 1),
                st.floats(0, 1),
            ),
            max_size=4,
        ),
        "parts": st.sets(st.sampled_from(OPTIONAL_PARTS), max_size=5),
    }
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def build_update(spec: dict[str, Any], update_id: int, chat_id: int, bot_id: int) -> dict:
    """A Bot API update with the odd-but-valid shape ``spec`` describes."""
    parts = spec["parts"]
    private = spec["chat_type"] == "private"
    chat: dict[str, Any] = {"id": chat_id, "type": spec["chat_type"]}
    chat.update({"first_name": "Odd"} if private else {"title": f"Odd {chat_id}"})
    if "topic" in parts and not private:
        chat["is_forum"] = True
    user = {"id": abs(chat_id), "is_bot": "from_bot" in parts, "first_name": "Odd"}
    bot = {"id": bot_id, "is_bot": True, "first_name": "Kimi", "username": BOT_USERNAME}
    text = spec["text"]
    if "mention_bot" in parts and text is not None:
        text = f"@{BOT_USERNAME} {text}"
    message: dict[str, Any] = {"message_id": 10, "date": 1_700_000_000, "chat": chat}
    message["from"] = user
    field = "text" if text is not None else "caption"
    content = text if text is not None else spec["caption"]
    if content is not None:
        message[field] = content
        size = utf16_len(content)
        entities = []
        if "mention_bot" in parts and text is not None:
            entities.append({"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1})
        for kind, start, length in spec["entities"]:
            offset = int(start * size)
            entity = {"type": kind, "offset": offset, "length": int(length * (size - offset))}
            if kind == "pre":
                entity["language"] = "python"
            if kind == "url":
                entity["url"] = "https://example.com"
            entities.append(entity)
        if entities:
            message["entities" if field == "text" else "caption_entities"] = entities
    earlier = {"message_id": 5, "date": 1_699_999_999, "chat": chat}
    if "reply_to_bot" in parts:
        message["reply_to_message"] = {**earlier, "from": bot, "text": "an earlier answer"}
    elif "reply_to_user" in parts:
        message["reply_to_message"] = {**earlier, "from": user, "text": "an earlier question"}
    if "external_reply" in parts:
        message["external_reply"] = {
            "origin": {"type": "user", "date": 1_699_000_000, "sender_user": user},
            "chat": {"id": -100999, "type": "supergroup", "title": "Elsewhere"},
            "message_id": 3,
        }
    if "quote" in parts:
        message["quote"] = {"text": "quoted words", "position": 0}
    if "forward_origin" in parts:
        message["forward_origin"] = {
            "type": "hidden_user",
            "date": 1_699_000_000,
            "sender_user_name": "Ghost",
        }
    if "via_bot" in parts:
        message["via_bot"] = bot
    if "sticker" in parts:
        message["sticker"] = {
            "file_id": "CAACAgIAAxkBAAE",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    if "location" in parts:
        message["location"] = {"latitude": 52.52, "longitude": 13.405}
    if "thread" in parts or "topic" in parts:
        message["message_thread_id"] = 77
    if "topic" in parts and not private:
        message["is_topic_message"] = True
    if "sender_chat" in parts:
        message["sender_chat"] = {"id": -100555, "type": "channel", "title": "A channel"}
    if "link_preview_options" in parts:
        message["link_preview_options"] = {"is_disabled": True}
    if "future_field" in parts:
        message["future_field"] = {"nested": [1, "two", {"three": None}]}
    if "new_chat_members" in parts:
        message["new_chat_members"] = [{"id": 5, "is_bot": False, "first_name": "New"}]
    if "story" in parts:
        message["story"] = {"chat": {"id": -100555, "type": "channel", "title": "C"}, "id": 1}
    if "web_app_data" in parts:
        message["web_app_data"] = {"data": "{}", "button_text": "Open"}
    kind = spec["kind"]
    if kind == "edited_message":
        message["edit_date"] = 1_700_000_100
    if kind == "message_reaction":
        body: dict[str, Any] = {
            "chat": chat,
            "message_id": 5,
            "user": user,
            "date": 1_700_000_000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    else:
        body = message
    return {"update_id": update_id, kind: body}


def answered_in_private(spec: dict[str, Any]) -> bool:
    """Updates that are a turn in a private chat (everything else is ignored, or may be)."""
    return (
        spec["kind"] == "message"
        and spec["chat_type"] == "private"
        and "from_bot" not in spec["parts"]
        and "sender_chat" not in spec["parts"]
    )


async def post_update(
    session: aiohttp.ClientSession, url: str, secret: str | None, body: bytes
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def test_odd_but_valid_telegram_updates_are_answered_or_ignored(
    tg: TelegramEmulator, moonshot, telegram_webhook, caplog
):
    caplog.set_level(logging.INFO)
    bot, url, secret = telegram_webhook
    specs = collect(ODD_UPDATE, 120)
    chats: list[tuple[int, dict[str, Any]]] = []
    async with aiohttp.ClientSession() as session:
        for index, spec in enumerate(specs):
            chat = 30_000 + index if spec["chat_type"] == "private" else -1_003_000_000 - index
            tg.add_chat(chat, type=spec["chat_type"], title=None if chat > 0 else "Odd")
            update = build_update(spec, 700_000 + index, chat, tg.bot_id)
            status = await post_update(session, url, secret, json.dumps(update).encode())
            assert status == 200, (status, update)
            chats.append((chat, spec))
    await tg.wait_for(lambda: bot.processed >= len(specs), timeout=60)
    await tg.wait_for(
        lambda: all(tg.messages(c) for c, s in chats if answered_in_private(s)), timeout=60
    )
    for chat, spec in chats:
        shown = [m.text for m in tg.messages(chat) if not m.deleted]
        if answered_in_private(spec):
            assert len(shown) == 1, (spec, shown)
        elif spec["kind"] != "message":
            assert shown == [], f"{spec['kind']} is not a conversation turn: {shown}"
        else:
            assert len(shown) <= 1, (spec, shown)
        assert all(s and INTERNAL not in s for s in shown), (spec, shown)
    assert our_errors(caplog) == []
    assert sum(answered_in_private(s) for s in specs) > 30, "the strategy reaches the engine"


WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
TELEGRAM_PATHS = [
    ("message",), ("message", "chat"), ("message", "chat", "id"), ("message", "chat", "type"),
    ("message", "from"), ("message", "from", "id"), ("message", "from", "is_bot"),
    ("message", "text"), ("message", "entities"), ("message", "message_id"),
    ("message", "date"), ("update_id",), ("message", "reply_to_message"),
    ("message", "message_thread_id"), ("message", "caption"), ("message", "document"),
    ("message", "photo"), ("message", "sender_chat"), ("message", "caption_entities"),
]  # fmt: skip


def mutations(paths: list[tuple[str, ...]]) -> st.SearchStrategy[list[tuple]]:
    """Delete a field, or give it a value of the wrong type, a few times over."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("del"), st.sampled_from(paths), st.none()),
            st.tuples(st.just("set"), st.sampled_from(paths), WEIRD),
        ),
        min_size=1,
        max_size=4,
    )


def mutate(document: dict[str, Any], operations: list[tuple]) -> dict[str, Any]:
    mutated = copy.deepcopy(document)
    for operation, path, value in operations:
        parent: Any = mutated
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if operation == "del":
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return mutated


def plain_update(update_id: int, chat: int, text: str = "hello there") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Mal"},
            "from": {"id": chat, "is_bot": False, "first_name": "Mal"},
            "text": text,
        },
    }


NOT_UPDATES = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"123",
    b'"an update"',
    b"\xff\xfe\x00garbage",
    b"[" * 100_000,
    b'{"update_id": 1, "message": "text instead of an object"}',
]


async def test_malformed_telegram_updates_are_refused_and_the_bot_keeps_serving(
    tg: TelegramEmulator, moonshot, telegram_webhook
):
    bot, url, secret = telegram_webhook
    cases = collect(mutations(TELEGRAM_PATHS), 150)
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as session:
        for index, operations in enumerate(cases):
            chat = 40_000 + index
            tg.add_chat(chat)
            body = json.dumps(mutate(plain_update(800_000 + index, chat), operations)).encode()
            status = await post_update(session, url, secret, body)
            statuses[status] = statuses.get(status, 0) + 1
        for body in NOT_UPDATES:
            assert await post_update(session, url, secret, body) == 400, body[:40]
    assert set(statuses) <= {200, 400}, statuses
    assert statuses.get(400), "some updates are unreadable and refused"
    await asyncio.sleep(1.0)
    assert bot.adapter.app.running
    # Still serving: an ordinary message through the emulator's own webhook delivery.
    before = bot.processed
    tg.user_message(41_999, 41_999, "still there?")
    await tg.wait_for(lambda: bot.processed > before, timeout=20)
    await tg.wait_for(lambda: tg.messages(41_999), timeout=20)
    assert [m.text for m in tg.messages(41_999)] == ["Echo (kimi-k2): still there?"]


def near_misses(secret: str) -> st.SearchStrategy[str]:
    """Secrets that are almost right, and plain wrong ones (header-safe ASCII)."""
    header_text = st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=300
    )
    return st.one_of(
        header_text,
        st.integers(0, len(secret) - 1).map(lambda i: secret[:i]),
        st.integers(0, len(secret) - 1).map(
            lambda i: secret[:i] + chr(ord(secret[i]) ^ 1) + secret[i + 1 :]
        ),
        st.just(secret.upper()),
        st.just(secret + "x"),
        st.just(" " + secret),
        st.just(secret * 2),
    ).filter(lambda s: s.strip() != secret)


async def test_wrong_webhook_secrets_are_refused(tg: TelegramEmulator, moonshot, telegram_webhook):
    bot, url, secret = telegram_webhook
    wrong = [None, *collect(near_misses(secret), 60)]
    async with aiohttp.ClientSession() as session:
        for index, candidate in enumerate(wrong):
            body = json.dumps(plain_update(850_000 + index, 42, "let me in")).encode()
            assert await post_update(session, url, candidate, body) == 403, candidate
    await asyncio.sleep(0.5)
    assert bot.processed == 0
    assert bot.adapter.webhook.refused == len(wrong)
    assert moonshot.requests == []
    async with aiohttp.ClientSession() as session:
        body = json.dumps(plain_update(851_000, 42, "with the secret")).encode()
        tg.add_chat(42)
        assert await post_update(session, url, secret, body) == 200
    await tg.wait_for(lambda: tg.messages(42), timeout=20)
    assert [m.text for m in tg.messages(42)] == ["Echo (kimi-k2): with the secret"]


# --------------------------------------------------------------------------- odd texts, both ways

HUGE = "word " * (1024 * 1024 // 5)  # 1 MB
NASTY_QUESTIONS = {
    "huge-1mb": HUGE,
    "just-over-the-limit": "y" * (MAX_MESSAGE_CHARS + 1),
    "long-but-allowed": "z" * 150_000,
    "zero-width": "a\u200bb\u200cc\u200dd\u2060e\ufeff",
    "only-zero-width": "\u200b\u200b",
    "rtl": "\u202eabc\u202c שלום مرحبا \u200fend",
    "emoji": "👩\u200d👩\u200d👧\u200d👦 🇩🇪 👍🏽 🏳️\u200d🌈 " * 20,
    "unclosed-fence": "```python\nprint('never closed')",
    "stray-markup": "stray * and _ and < and > and & and `",
    "html-ish": "<b>bold?</b> <script>alert(1)</script> &amp; &lt;",
    "bad-link": "[click](javascript:alert(1)) and [x](",
}


def expected_reply(question: str) -> str | None:
    """The echo the emulator gives (None when the bot must refuse the message as too long)."""
    if len(question) > MAX_MESSAGE_CHARS:
        return None
    shown = question.strip()
    return f"Echo (kimi-k2): {shown if len(shown) <= 500 else shown[:500] + '…'}"


def words(text: str) -> list[str]:
    """Letters and digits only: Markdown and mrkdwn markers (``*``, ``_``, ``~``) left out."""
    return re.findall(r"[^\W_]+", text)


async def test_nasty_questions_through_telegram(
    tg: TelegramEmulator, moonshot, start_telegram, roomy_models
):
    bot = await start_telegram(kimi_models_file=roomy_models)
    tracker = track_telegram(bot)
    updates = {}
    for index, (name, question) in enumerate(NASTY_QUESTIONS.items()):
        chat = 50_000 + index
        updates[name] = (chat, tg.user_message(chat, chat, question))
    # Unknown entity types on an ordinary message, in a private chat and in a group.
    odd_entities = [
        {"type": "future_type", "offset": 0, "length": 5},
        {"type": "custom_emoji", "offset": 6, "length": 2, "custom_emoji_id": "1"},
        {"type": "", "offset": 0, "length": 0},
    ]
    updates["unknown-entities"] = (
        50_100,
        tg.user_message(50_100, 50_100, "hello odd world", entities=odd_entities),
    )
    tg.add_chat(-1_005_000, type="supergroup", title="Odd")
    updates["unknown-entities-group"] = (
        -1_005_000,
        tg.user_message(-1_005_000, 50_101, "hello group", entities=odd_entities, mention_bot=True),
    )
    for _chat, update in updates.values():
        await tracker.wait(update["update_id"])
    for name, (chat, _update) in updates.items():
        shown = [m.text or "" for m in tg.messages(chat) if not m.deleted]
        question = NASTY_QUESTIONS.get(name, "")
        assert shown and all(INTERNAL not in s for s in shown), (name, shown)
        expected = expected_reply(question) if question else None
        if question and expected is None:
            assert len(shown) == 1 and "too long" in shown[0], (name, shown)
        elif name.startswith("unknown-entities"):
            assert len(shown) == 1 and shown[0].startswith("Echo (kimi-k2): "), (name, shown)
            assert "hello" in shown[0]
        else:
            # Markdown renders HTML entities the user typed ("&amp;" shows as "&").
            entity_names = {"amp", "lt", "gt"}
            got = [w for w in words("\n".join(shown)) if w not in entity_names]
            assert got == [w for w in words(expected) if w not in entity_names], (name, shown)
    assert tg.flood_violations == []


async def test_nasty_questions_through_slack(
    emu: SlackEmulator, moonshot, start_slack, roomy_models
):
    bot = await start_slack(kimi_models_file=roomy_models)
    for index, (name, question) in enumerate(NASTY_QUESTIONS.items()):
        user, channel = f"UQ{index:02d}", f"DQ{index:02d}"
        emu.add_user(user, name=name)
        emu.add_channel(channel, is_im=True, user=user)
        await emu.user_message(channel, user, question)
    await bot.idle()
    for index, (name, question) in enumerate(NASTY_QUESTIONS.items()):
        shown = [m.text for m in emu.messages(f"DQ{index:02d}")]
        assert shown and all(INTERNAL not in s for s in shown), (name, shown)
        expected = expected_reply(question_text(question, emu.bot_user_id))
        if expected is None:
            assert len(shown) == 1 and "too long" in shown[0], (name, shown)
        else:
            # Native streams show the Markdown as sent: exactly the echo.
            assert [s.strip() for s in shown] == [expected.strip()], (name, shown)


BROKEN_ANSWERS = {
    "unclosed-fence": "Here:\n```python\nprint('never closed')\nx = 1",
    "unclosed-bold": "**bold that never ends and *italic too",
    "stray-markup": "a < b and c > d & e, 2 * 3 * 4, snake_case_name, `tick",
    "html-ish": "<b>not html</b> <script>alert(1)</script> &amp; &lt;",
    "links": "[click](javascript:alert(1)) [ok](https://example.com/a?b=1&c=2) [broken](",
    "table": "| a | b |\n|---|---|\n| 1 | 2 \n| 3",
    "nesting": "***___~~`mixed`~~___*** > quote\n# heading\n- item\n  - sub",
    "zero-width-rtl": "\u202eright to left\u202c and \u200bzero\u200dwidth 👩\u200d👩\u200d👧",
    "long-unclosed-fence": "```\n" + "line of code\n" * 700,
    "emoji-wall": "😀" * 1900,  # 3,800 UTF-16 units: one message, no surrogate pair cut
}


def token_words(text: str) -> list[str]:
    """Words as the chat shows them: no code-fence language tag, and HTML entities in the
    Markdown ("&amp;") count as the character they stand for."""
    return [w for w in words(text) if w not in {"python", "amp", "lt", "gt"}]


@pytest.mark.parametrize("group", [False, True], ids=["private", "group"])
async def test_broken_markdown_answers_reach_telegram(
    tg: TelegramEmulator, moonshot, start_telegram, roomy_models, group
):
    bot = await start_telegram(kimi_models_file=roomy_models)
    tracker = track_telegram(bot)
    waits = []
    for index, answer in enumerate(BROKEN_ANSWERS.values()):
        chat = (-1_006_000 - index) if group else 60_000 + index
        if group:
            tg.add_chat(chat, type="supergroup", title="Broken")
        moonshot.enqueue(ScriptedReply(text=answer))
        update = tg.user_message(chat, 60_500, f"q{index}", mention_bot=group)
        await tracker.wait(update["update_id"])  # one at a time: scripted answers are a queue
        waits.append(chat)
    for chat, (name, answer) in zip(waits, BROKEN_ANSWERS.items(), strict=True):
        shown = [m.text or "" for m in tg.messages(chat) if not m.deleted]
        assert shown and all(INTERNAL not in s for s in shown), (name, shown)
        got = "\n".join(shown)
        if name == "emoji-wall":
            assert got.replace("\n", "") == answer, "every emoji once, none cut in half"
        elif name == "links":  # link texts show, their URLs live in the entities
            assert token_words(got) == ["click", "javascript", "alert", "1", "ok", "broken"]
        else:
            assert token_words(got) == token_words(answer), (name, shown)
        links = [e.get("url", "") for m in tg.messages(chat) for e in m.entities]
        assert not any(url.lower().startswith("javascript") for url in links), links
    assert tg.flood_violations == []


@pytest.mark.parametrize("answer", ["😀" * 2100, "😀 " * 1400], ids=["emoji", "emoji-words"])
def test_long_emoji_answers_split_into_few_telegram_messages(answer: str) -> None:
    from bots.telegram.formatting import split_for_telegram
    from emulators.telegram import utf16_len

    parts = split_for_telegram(answer)
    assert "".join(parts).replace(" ", "") == answer.replace(" ", "")
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert len(parts) <= 3, [len(p) for p in parts]


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "post+update"])
async def test_broken_markdown_answers_reach_slack(
    emu: SlackEmulator, moonshot, start_slack, roomy_models, streaming
):
    emu.api.config.streaming_enabled = streaming
    bot = await start_slack(kimi_models_file=roomy_models)
    for index, answer in enumerate(BROKEN_ANSWERS.values()):
        moonshot.enqueue(ScriptedReply(text=answer))
        await emu.user_message("D1", "U1", f"q{index}")
        await bot.idle()
    shown = [m.text for m in emu.messages("D1")]
    assert all(INTERNAL not in s for s in shown)
    got = "\n".join(shown)
    for name, answer in BROKEN_ANSWERS.items():
        if name == "emoji-wall":
            assert answer in got.replace("\n", "")
        else:
            for word in token_words(answer):
                assert word in got, (name, word)


# --------------------------------------------------------------------------- Slack events


def slack_event(emu: SlackEmulator, index: int, channel: str = "D1", user: str = "U1") -> dict:
    event = user_message_event(
        channel=emu.workspace.channels[channel],
        user=user,
        text=f"hello {index}",
        ts=f"{1_700_000_000 + index}.000100",
        team_id=emu.team_id,
    )
    return event_callback(event, team_id=emu.team_id, app_id="A0APP", bot_user_id=emu.bot_user_id)


SUBTYPES = [
    None, "file_share", "thread_broadcast", "bot_message", "me_message", "channel_join",
    "message_changed", "message_deleted", "huddle_thread", "future_subtype",
]  # fmt: skip
ODD_EVENT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message"] * 5 + ["app_mention", "reaction_added", "future"]),
        "subtype": st.sampled_from([None] * 8 + SUBTYPES),
        "where": st.sampled_from(
            [("D1", "im")] * 5
            + [("C1", "channel"), ("C1", "group"), ("CUNKNOWN", "channel"), ("D1", "app_home")]
            + [("D1", "mpim"), ("C1", "im")]
        ),
        "user": st.sampled_from(["U1", "U1", "UNOBODY", None]),
        "text": st.one_of(st.none(), ODD_TEXT),
        "thread": st.sampled_from([None, "same", "other"]),
        "files": st.sampled_from([None, "ok", "no_url", "huge", "html", "not_dicts"]),
        "extras": st.sets(
            st.sampled_from(["bot_id", "hidden", "edited", "blocks", "future", "no_event_id"]),
            max_size=3,
        ),
    }
)


def build_event(emu: SlackEmulator, spec: dict[str, Any], index: int) -> dict[str, Any]:
    ts = f"{1_710_000_000 + index}.000200"
    event: dict[str, Any] = {"type": spec["type"], "ts": ts, "event_ts": ts, "team": emu.team_id}
    event["channel"], event["channel_type"] = spec["where"]
    if spec["user"] is not None:
        event["user"] = spec["user"]
    if spec["subtype"] is not None:
        event["subtype"] = spec["subtype"]
    if spec["text"] is not None:
        event["text"] = spec["text"]
    if spec["thread"] == "same":
        event["thread_ts"] = ts
    elif spec["thread"] == "other":
        event["thread_ts"] = "1600000000.000100"
    if spec["files"] is not None:
        if spec["files"] == "not_dicts":
            event["files"] = ["F1", 3, None]
        else:
            data = b"<html>sign in</html>" if spec["files"] == "html" else b"plain notes"
            mime = "text/html" if spec["files"] == "html" else "text/plain"
            hosted = emu.add_file(f"FO{index}", "notes.txt", mime, data, user="U1")
            if spec["files"] == "no_url":
                hosted.pop("url_private_download")
                hosted.pop("url_private")
            if spec["files"] == "huge":
                hosted["size"] = 500 * 1024 * 1024
            event["files"] = [hosted]
    extras = spec["extras"]
    if "bot_id" in extras:
        event["bot_id"] = "B999"
    if "hidden" in extras:
        event["hidden"] = True
    if "edited" in extras:
        event["edited"] = {"user": "U1", "ts": ts}
    if "blocks" in extras:
        event["blocks"] = [{"type": "future_block", "elements": [{"type": "?"}]}]
    if "future" in extras:
        event["future_field"] = {"nested": [1, None]}
    payload = event_callback(event, team_id=emu.team_id, app_id="A0APP", bot_user_id="U0BOT")
    if "no_event_id" in extras:
        payload.pop("event_id")
    return payload


async def test_odd_but_valid_slack_events_are_answered_or_ignored(
    emu: SlackEmulator, moonshot, start_slack, roomy_models, caplog
):
    caplog.set_level(logging.INFO)
    emu.add_channel("CUNKNOWN", name="unknown")
    bot = await start_slack(kimi_models_file=roomy_models)
    specs = collect(ODD_EVENT, 120)
    before = len(emu.workspace.messages)
    for index, spec in enumerate(specs):
        status, body = await emu.post_event(build_event(emu, spec, index), url=bot.events_url)
        # bolt answers 404 for event types nobody listens to (the app never subscribes to them)
        expected = 200 if spec["type"] in ("message", "app_mention") else 404
        assert status == expected, (status, body, spec)
    await bot.idle()
    answers = [m for m in emu.workspace.messages[before:] if m.is_bot]
    assert all(INTERNAL not in m.text for m in answers)
    assert our_errors(caplog) == []
    assert len(answers) >= 10, "the strategy reaches the engine"
    await assert_slack_still_serves(emu, bot)


async def assert_slack_still_serves(emu: SlackEmulator, bot: Any) -> None:
    before = len(emu.messages("D2"))
    await emu.user_message("D2", "U2", "an ordinary question")
    await bot.idle()
    assert [m.text for m in emu.messages("D2")[before:]] == ["Echo (kimi-k2): an ordinary question"]


SLACK_PATHS = [
    ("event",), ("event", "type"), ("event", "user"), ("event", "ts"), ("event", "text"),
    ("event", "channel"), ("event", "channel_type"), ("event", "thread_ts"),
    ("event", "subtype"), ("event", "files"), ("event", "blocks"), ("event_id",), ("team_id",),
    ("type",), ("authorizations",), ("api_app_id",),
]  # fmt: skip


async def test_malformed_slack_events_never_take_the_service_down(
    emu: SlackEmulator, moonshot, start_slack, roomy_models
):
    bot = await start_slack(kimi_models_file=roomy_models)
    cases = collect(mutations(SLACK_PATHS), 150)
    statuses: dict[int, int] = {}
    for index, operations in enumerate(cases):
        payload = mutate(slack_event(emu, 10_000 + index), operations)
        status, _ = await emu.post_event(payload, url=bot.events_url)
        statuses[status] = statuses.get(status, 0) + 1
    for body in (b"", b"{", b"null", b"[]", b"payload=%7B", b"[" * 100_000):
        status, _ = await emu.post_event(body, url=bot.events_url)
        statuses[status] = statuses.get(status, 0) + 1
    await bot.idle()
    # Signed by Slack, yet not Slack's schema: a refusal (4xx, or a 500 from inside bolt for
    # the most broken shapes, which Slack would retry and drop) but never a hang or a crash.
    assert set(statuses) <= {200, 400, 401, 404, 500}, statuses
    assert statuses.get(200), statuses
    await assert_slack_still_serves(emu, bot)


def signature(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def test_unsigned_forged_and_replayed_slack_requests(
    emu: SlackEmulator, moonshot, start_slack
):
    bot = await start_slack()
    payload = slack_event(emu, 1)
    body = json.dumps(payload)
    now = int(time.time())
    other_body = json.dumps(slack_event(emu, 2))
    forged = [
        {"sign": False},
        {"signature": "v0=" + "0" * 64},
        {"signature": signature("not-the-secret", str(now), body), "timestamp": now},
        {"signature": signature(emu.signing_secret, str(now), other_body), "timestamp": now},
        {"signature": "v1=" + signature(emu.signing_secret, str(now), body)[3:], "timestamp": now},
        {"signature": "", "timestamp": now},
        {"timestamp": now - 6 * 60},  # a captured request replayed six minutes later
        {"timestamp": now + 10 * 60},  # from the future
    ]
    for case in forged:
        status, _ = await emu.post_event(body, url=bot.events_url, **case)
        assert status == 401, case
    # A captured request (timestamp T, signature S) replayed as is six minutes later.
    captured_at = now - 6 * 60
    captured = {"X-Slack-Signature": signature(emu.signing_secret, str(captured_at), body)}
    captured["X-Slack-Request-Timestamp"] = str(captured_at)
    status, _ = await emu.post_event(body, url=bot.events_url, sign=False, headers=captured)
    assert status == 401
    form = "command=%2Fkimi&text=usage&user_id=U1&channel_id=D1&team_id=T001"
    status, _ = await emu.post_event(
        form,
        url=bot.events_url.replace("/events", "/commands"),
        signature="v0=" + "1" * 64,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 401
    await bot.idle()
    assert moonshot.requests == [] and emu.messages("D1") == []

    # The genuine request, then the very same request again (within the window), then the same
    # event redelivered with a new signature: answered exactly once.
    fresh = {"X-Slack-Request-Timestamp": str(now)}
    fresh["X-Slack-Signature"] = signature(emu.signing_secret, str(now), body)
    for _ in range(2):
        status, _ = await emu.post_event(body, url=bot.events_url, sign=False, headers=fresh)
        assert status == 200
    await emu.redeliver(payload, retry_num=1)
    await bot.idle()
    assert len(moonshot.requests) == 1
    assert [m.text for m in emu.messages("D1")] == ["Echo (kimi-k2): hello 1"]


async def test_a_non_numeric_slack_timestamp_is_refused_with_401(emu: SlackEmulator, start_slack):
    bot = await start_slack()
    body = json.dumps(slack_event(emu, 3))
    status, _ = await emu.post_event(body, url=bot.events_url, timestamp="yesterday")
    assert status == 401


# --------------------------------------------------------------------------- files

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def docx_bytes(body: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", body)
    return buffer.getvalue()


def docx_bomb(megabytes: int = 256) -> bytes:
    """A DOCX whose document.xml expands from ~250 KB to ``megabytes`` MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(b"<w:document><w:body><w:p><w:r><w:t>")
            block = b"A" * (1 << 20)
            for _ in range(megabytes):
                member.write(block)
            member.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return buffer.getvalue()


def bad_files() -> dict[str, tuple[str, str, bytes]]:
    real = docx_bytes(b"<w:document><w:body><w:p><w:r><w:t>hi</w:t></w:r></w:p></w:body>")
    return {
        "png-named-pdf": ("scan.pdf", "application/pdf", PNG),
        "truncated-docx": ("report.docx", DOCX, real[: len(real) // 2]),
        "random-xlsx": ("numbers.xlsx", XLSX, os.urandom(4096)),
        "pdf-header-only": ("broken.pdf", "application/pdf", b"%PDF-1.7\n%garbage"),
        "zip-named-docx": ("archive.docx", DOCX, docx_bytes(b"").replace(b"word/", b"misc/")),
        "binary-named-txt": ("notes.txt", "text/plain", os.urandom(2048)),
        "empty": ("empty.md", "text/markdown", b""),
        "unknown-type": ("tool.exe", "application/octet-stream", b"MZ" + os.urandom(512)),
    }


def clear_file_reply(name: str, text: str) -> bool:
    return name in text and any(
        phrase in text for phrase in ("could not read", "not a format", "empty", "too")
    )


async def test_corrupt_and_mislabelled_files_through_telegram(
    tg: TelegramEmulator, moonshot, start_telegram, roomy_models
):
    bot = await start_telegram(kimi_models_file=roomy_models)
    tracker = track_telegram(bot)
    for index, (case, (name, mime, data)) in enumerate(bad_files().items()):
        chat = 70_000 + index
        update = tg.user_document(chat, chat, data, name, mime, caption="what is in it?")
        await tracker.wait(update["update_id"])
        shown = [m.text or "" for m in tg.messages(chat) if not m.deleted]
        assert any(clear_file_reply(name, s) for s in shown), (case, shown)
        assert all(INTERNAL not in s for s in shown), (case, shown)
        after = tg.user_message(chat, chat, "and now a plain question")
        await tracker.wait(after["update_id"])
        assert tg.messages(chat)[-1].text == "Echo (kimi-k2): and now a plain question", case
    assert len(moonshot.files) == 0, "nothing left on the account"


async def test_corrupt_and_mislabelled_files_through_slack(
    emu: SlackEmulator, moonshot, start_slack
):
    bot = await start_slack()
    for index, (case, (name, mime, data)) in enumerate(bad_files().items()):
        before = len(emu.messages("D1"))
        hosted = emu.add_file(f"FB{index}", name, mime, data, user="U1")
        await emu.user_message("D1", "U1", "what is in it?", files=[hosted])
        await bot.idle()
        shown = [m.text for m in emu.messages("D1")[before:]]
        assert any(clear_file_reply(name, s) for s in shown), (case, shown)
        assert all(INTERNAL not in s for s in shown), (case, shown)
    await assert_slack_still_serves(emu, bot)


async def test_a_docx_zip_bomb_is_refused_without_expanding_it(
    tg: TelegramEmulator, moonshot, start_telegram
):
    bomb = docx_bomb(256)
    assert len(bomb) < 1024 * 1024 and zipfile.ZipFile(io.BytesIO(bomb)).infolist()[1].file_size > (
        256 * 1024 * 1024
    )
    bot = await start_telegram()
    tracker = track_telegram(bot)
    tracemalloc.start()
    try:
        update = tg.user_document(100, 100, bomb, "bomb.docx", DOCX, caption="summarize")
        await tracker.wait(update["update_id"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB allocated: something expanded it"
    shown = [m.text or "" for m in tg.messages(100)]
    assert len(shown) == 1 and "could not read “bomb.docx”" in shown[0], shown
    after = tg.user_message(100, 100, "still fine?")
    await tracker.wait(after["update_id"])
    assert tg.messages(100)[-1].text == "Echo (kimi-k2): still fine?"


# --------------------------------------------------------------------------- the engine itself

KEY = ConversationKey(platform="cli", chat="bad-input")


async def test_odd_text_through_the_engine_is_stored_and_answered(roomy_services, moonshot):
    """Every odd text (Hypothesis-made, control characters aside) is stored and answered."""
    questions = [q for q in collect(ODD_TEXT, 60) if q.strip()]
    for question in questions:
        sink = CollectingSink()
        outcome = await roomy_services.assistant.handle(
            Incoming(
                key=KEY, author=Author(id="cli:odd", name="Odd 👩\u200d👩\u200d👧"), text=question
            ),
            sink,
        )
        if question.strip().startswith("/"):
            assert sink.replies, question  # a command (maybe unknown): answered directly
            continue
        assert outcome is not None and outcome.status == COMPLETE, (question, sink)
        assert sink.final == expected_reply(question), question
    rows = await stored(roomy_services.db, KEY)
    users = [r.content for r in rows if r.role == "user"]
    assert users == [q for q in questions if not q.strip().startswith("/")]


async def test_a_nul_character_is_stored_and_answered(services, moonshot, request):
    author = Author(id="cli:nul", name="Nul\x00Name")
    sink = CollectingSink()
    outcome = await services.assistant.handle(Incoming(KEY, author, "before\x00after"), sink)
    assert outcome is not None and outcome.status == COMPLETE, sink
    rows = await stored(services.db, KEY)
    assert [r.role for r in rows] == ["user", "assistant"]
    assert "before" in rows[0].content and "after" in rows[0].content
