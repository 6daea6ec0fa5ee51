"""Isolation and secrets.

A user can never read another conversation's history or documents through any command, and
settings of one conversation never change another. Tokens and keys never appear in the log
output, in any chat, or in an error message, including when Moonshot, Telegram and Slack all
refuse our credentials.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from hypothesis import strategies as st

from bots.cli import _secrets
from bots.telegram.webhook import derive_secret
from core.config import ConfigError
from core.logs import configure_logging
from core.service import start_services
from core.types import Attachment, Author, CollectingSink, ConversationKey, Incoming
from core.usage_report import format_totals, usage_periods
from emulators.moonshot import Fault, ScriptedReply
from emulators.slack import SlackEmulator
from emulators.telegram import TelegramEmulator
from tests.conftest import EMULATOR_KEY, make_settings
from tests.hardening.conftest import track_slack, track_telegram
from tests.hardening.test_bad_input import collect, plain_update, post_update
from tests.slack.conftest import APP_TOKEN, BOT_TOKEN, SECRET
from tests.telegram.conftest import TOKEN

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

DEFAULT_MODEL = "kimi-k2"

# --------------------------------------------------------------------------- the conversations


@dataclass(frozen=True)
class Place:
    """A conversation and who may speak in it (the first speaker is a group admin)."""

    name: str
    key: ConversationKey
    speakers: tuple[Author, ...]
    group: bool


ALICE_TG = Author(id="telegram:9101", name="Alice")
BOB_TG = Author(id="telegram:9102", name="Bob")
ALICE_SL = Author(id="slack:U1", name="Alice")
BOB_SL = Author(id="slack:U2", name="Bob")
PLACES = [
    Place("tA", ConversationKey("telegram", chat="9101"), (ALICE_TG,), False),
    Place("tB", ConversationKey("telegram", chat="9102"), (BOB_TG,), False),
    Place("tG", ConversationKey("telegram", chat="-9100"), (ALICE_TG, BOB_TG), True),
    Place("tG7", ConversationKey("telegram", chat="-9100", thread="7"), (ALICE_TG, BOB_TG), True),
    Place("sD", ConversationKey("slack", chat="D1", workspace="T1"), (ALICE_SL,), False),
    Place("sDb", ConversationKey("slack", chat="D2", workspace="T1"), (BOB_SL,), False),
    # The same thread ts in two channels: two conversations.
    Place(
        "sC1",
        ConversationKey("slack", chat="C1", workspace="T1", thread="1700000000.000100"),
        (ALICE_SL, BOB_SL),
        True,
    ),
    Place(
        "sC2",
        ConversationKey("slack", chat="C2", workspace="T1", thread="1700000000.000100"),
        (BOB_SL,),
        True,
    ),
]
MODELS = ["kimi-k2", "moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k"]

ACTION = st.tuples(
    st.sampled_from(
        ["say"] * 4
        + ["ask"] * 2
        + ["doc", "docs", "forget", "forget_all", "usage", "model", "system", "reset", "search"]
        + ["cancel", "model_show", "system_show"]
    ),
    st.integers(0, len(PLACES) - 1),
    st.integers(0, 1),  # which speaker
    st.integers(1, 3),  # a document number, a model index…
)


@dataclass
class World:
    """What each conversation should look like, kept by the test independently of the bot."""

    planted: dict[str, set[str]] = field(default_factory=dict)  # place -> its secret tokens
    before_reset: dict[str, set[str]] = field(default_factory=dict)  # forgotten by /reset
    model: dict[str, str] = field(default_factory=dict)
    prompt: dict[str, str | None] = field(default_factory=dict)
    search: dict[str, bool] = field(default_factory=dict)
    counter: int = 0

    def token(self, kind: str, place: str) -> str:
        self.counter += 1
        token = f"{kind}Z{place}Z{self.counter}Z"
        self.planted.setdefault(place, set()).add(token)
        return token

    def foreign(self, place: str) -> set[str]:
        return {t for name, tokens in self.planted.items() if name != place for t in tokens}


def document(name: str, content: str) -> Attachment:
    data = content.encode()

    async def fetch() -> bytes:
        return data

    return Attachment(name=name, mime_type="text/plain", size=len(data), fetch=fetch)


def sink_text(sink: CollectingSink) -> str:
    parts = [*sink.replies, *sink.notices, *sink.deltas, sink.final or ""]
    if sink.aborted:
        parts.extend(sink.aborted)
    return "\n".join(parts)


async def run_action(services, moonshot, world: World, action: tuple) -> None:
    verb, place_index, who, number = action
    place = PLACES[place_index]
    author = place.speakers[who % len(place.speakers)]
    admin = author is place.speakers[0]
    name = place.name
    text, files = "", ()
    if verb == "say":
        text = f"remember {world.token('SECRET', name)}"
    elif verb == "ask":
        text = "what do you know so far?"
    elif verb == "doc":
        doc_name = f"{world.token('docname', name)}.txt"
        text, files = "read this", (document(doc_name, f"notes {world.token('DOC', name)}"),)
    elif verb == "docs":
        text = "/docs"
    elif verb == "forget":
        text = f"/forget {number}"
    elif verb == "forget_all":
        text = "/forget all"
    elif verb == "usage":
        text = "/usage"
    elif verb == "model":
        text = f"/model {MODELS[number]}"
    elif verb == "model_show":
        text = "/model"
    elif verb == "system":
        text = f"/system You are careful. {world.token('PROMPT', name)}"
    elif verb == "system_show":
        text = "/system"
    elif verb == "reset":
        text = "/reset"
    elif verb == "search":
        text = "/search " + ("off" if number % 2 else "on")
    elif verb == "cancel":
        text = "/cancel"
    incoming = Incoming(
        key=place.key,
        author=author,
        text=text,
        is_group=place.group,
        attachments=files,
        author_is_chat_admin=admin,
    )
    first_request = len(moonshot.requests)
    sink = CollectingSink()
    await services.assistant.handle(incoming, sink)
    requests = moonshot.requests[first_request:]

    # Nothing from another conversation: not in the chat, not in what Kimi was sent.
    shown = sink_text(sink)
    sent = json.dumps(requests, ensure_ascii=False)
    for token in world.foreign(name):
        assert token not in shown, f"{action}: {token} shown in {name}: {shown[:300]}"
        assert token not in sent, f"{action}: {token} sent to Kimi from {name}"
    for token in world.before_reset.get(name, set()):
        if not token.startswith("PROMPT"):  # /reset keeps the system prompt by design
            assert token not in sent, f"{action}: {token} survived /reset in {name}"

    # Settings: only the conversation's own /model, /system and /search count.
    allowed_to_configure = not place.group or admin
    if verb == "model" and "Model switched" in shown:
        world.model[name] = MODELS[number]
    if verb == "system" and allowed_to_configure:
        world.prompt[name] = text.removeprefix("/system ")
    if verb == "search":
        world.search[name] = text.endswith("on")
    if verb == "reset" and allowed_to_configure:
        world.before_reset.setdefault(name, set()).update(world.planted.get(name, set()))
    for request in requests:
        assert request["model"] == world.model.get(name, DEFAULT_MODEL), (action, request["model"])
        system = request["messages"][0]["content"]
        expected_prompt = world.prompt.get(name)
        if expected_prompt:
            assert system.startswith(expected_prompt), (action, system[:200])
        tools = json.dumps(request.get("tools") or [])
        assert ("$web_search" in tools) == world.search.get(name, True), (action, tools)

    if verb == "usage":
        now = datetime.now(UTC)
        mine = await usage_periods(services.db, now, ZoneInfo("UTC"), user_id=author.id)
        line = format_totals("All time", mine.all_time, currency="CNY")
        assert line in shown.split("\n\n")[0], shown
        if place.group:
            chat = await usage_periods(
                services.db, now, ZoneInfo("UTC"), chat_key=place.key.label()
            )
            line = format_totals("All time", chat.all_time, currency="CNY")
            assert line in shown.split("\n\n")[1], shown
        else:
            assert "This conversation" not in shown


async def test_no_command_reaches_another_conversation(roomy_services, moonshot):
    """Random programs of questions, documents and every command, by the right speakers of
    eight conversations (private, group, topic, Slack DM and two threads with one ts): nothing
    planted in one conversation ever shows in another, nor is sent to Kimi from another."""
    world = World()
    programs = collect(st.lists(ACTION, min_size=10, max_size=10), 30)
    for program in programs:
        for action in program:
            await run_action(roomy_services, moonshot, world, action)
    assert sum(len(t) for t in world.planted.values()) > 50, "the programs plant enough"
    # The libraries: each conversation holds only documents added there.
    for place in PLACES:
        conversation = await roomy_services.db.conversations.active(place.key)
        if conversation is None:
            continue
        for item in await roomy_services.assistant.library.listing(conversation.id):
            assert f"Z{place.name}Z" in item.name, (place.name, item.name)


async def test_cancel_stops_only_the_own_answer(roomy_services, moonshot):
    moonshot.enqueue(ScriptedReply(text="word " * 100))
    moonshot.inject(Fault(kind="slow_tokens", delay=0.02))
    alice = Incoming(PLACES[0].key, ALICE_TG, "a long answer please")
    answer = CollectingSink()
    task = asyncio.create_task(roomy_services.assistant.handle(alice, answer))
    for _ in range(500):
        if answer.deltas:
            break
        await asyncio.sleep(0.01)
    bob = CollectingSink()
    await roomy_services.assistant.handle(Incoming(PLACES[1].key, BOB_TG, "/cancel"), bob)
    assert bob.replies == ["Nothing to cancel."]
    outcome = await asyncio.wait_for(task, 10)
    assert outcome is not None and outcome.status == "complete"
    assert answer.final == "word " * 100


async def test_a_telegram_reply_to_another_chat_brings_nothing_from_it(
    tg: TelegramEmulator, moonshot, telegram_webhook
):
    bot, url, secret = telegram_webhook
    tracker = track_telegram(bot)
    tg.add_chat(9102)
    tg.add_chat(-9100, type="supergroup", title="Team")
    secret_update = tg.user_message(9102, 9102, "Bob's secret is TANGERINE-42")
    await tracker.wait(secret_update["update_id"])
    [bob_answer] = tg.messages(9102)
    group_question = {
        "update_id": 990_001,
        "message": {
            "message_id": 50,
            "date": 1_700_000_000,
            "chat": {"id": -9100, "type": "supergroup", "title": "Team"},
            "from": {"id": 9101, "is_bot": False, "first_name": "Alice"},
            "text": "what did he say?",
            # A reply whose original lives in Bob's private chat (forged; Telegram would send
            # an external_reply), and an external reply quoting it.
            "reply_to_message": {
                "message_id": bob_answer.message_id,
                "date": 1_700_000_000,
                "chat": {"id": 9102, "type": "private", "first_name": "Bob"},
                "from": {"id": tg.bot_id, "is_bot": True, "first_name": "Kimi"},
                "text": bob_answer.text,
            },
            "external_reply": {
                "origin": {
                    "type": "user",
                    "date": 1,
                    "sender_user": {"id": 9102, "is_bot": False, "first_name": "Bob"},
                },
                "chat": {"id": 9102, "type": "private", "first_name": "Bob"},
                "message_id": bob_answer.message_id,
            },
        },
    }
    async with aiohttp.ClientSession() as session:
        status = await post_update(session, url, secret, json.dumps(group_question).encode())
    assert status == 200
    await tracker.wait(990_001)
    group_requests = [r for r in moonshot.requests if "what did he say?" in json.dumps(r)]
    assert group_requests, "the reply to the bot is answered in the group"
    assert "TANGERINE" not in json.dumps(group_requests)
    assert all("TANGERINE" not in (m.text or "") for m in tg.messages(-9100))


async def test_a_slack_thread_ts_in_another_channel_is_another_conversation(
    emu: SlackEmulator, moonshot, start_slack
):
    bot = await start_slack()
    tracker = track_slack(bot)
    emu.add_channel("C2", name="random")
    root = await emu.user_message("C1", "U1", "the launch code is PLUM-4729", mention_bot=True)
    await tracker.wait(("C1", root.ts))
    # Bob replies in C2 "in the thread" with the same ts: without a mention the bot is not
    # engaged there; with one it starts a new conversation that knows nothing of C1's.
    quiet = await emu.user_message("C2", "U2", "what is the code?", thread_ts=root.ts)
    await bot.idle()
    assert emu.messages("C2") == []
    assert not any("what is the code?" in json.dumps(r) for r in moonshot.requests)
    asked = await emu.user_message(
        "C2", "U2", "tell me the code", thread_ts=root.ts, mention_bot=True
    )
    await tracker.wait(("C2", asked.ts))
    assert quiet.ts != asked.ts
    request = moonshot.requests[-1]
    assert "PLUM" not in json.dumps(request)
    assert all("PLUM" not in m.text for m in emu.messages("C2"))
    # Slash commands in a channel show the caller's own usage and no thread's documents.
    await emu.slash_command("/kimi", "usage", "C1", "U2")
    await emu.slash_command("/kimi", "docs", "C1", "U2")
    await bot.idle()
    answers = [json.dumps(r["body"]) for r in emu.command_responses]
    assert answers and not any("PLUM" in a for a in answers)
    u2_calls = await bot.services.db.usage.totals(user_id="slack:U2")
    assert any(f"{u2_calls.calls} call" in a for a in answers), answers


# --------------------------------------------------------------------------- secrets

WRONG_MOONSHOT_KEY = "sk-wrong-key-0123456789abcdef"
WRONG_TELEGRAM_TOKEN = "123456:WRONG-SECRET-PART"
WRONG_SLACK_TOKEN = "xoxb-wrong-token-0123456789"
WEBHOOK_SECRET = "hardening-Secret_42"
SECRETS = {
    "moonshot key": EMULATOR_KEY,
    "wrong moonshot key": WRONG_MOONSHOT_KEY,
    "telegram token": TOKEN,
    "telegram token secret part": TOKEN.split(":", 1)[1],
    "wrong telegram token": WRONG_TELEGRAM_TOKEN.split(":", 1)[1],
    "telegram webhook secret": WEBHOOK_SECRET,
    "derived webhook secret": derive_secret(TOKEN),
    "slack bot token": BOT_TOKEN,
    "slack app token": APP_TOKEN,
    "slack signing secret": SECRET,
    "wrong slack token": WRONG_SLACK_TOKEN,
}


def leaks(text: str, ignore: tuple[str, ...] = ()) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text and name not in ignore]


class RawRecords(logging.Handler):
    """Every record as formatted the moment it is logged (before any filter changes it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


@pytest.fixture
def production_logging(caplog: pytest.LogCaptureFixture):
    """``kimi-bot run``'s logging at DEBUG (its redacting handler, into a buffer), with the raw
    records and caplog watching in front of it; everything is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    noisy = ["httpx", "httpx2", "httpcore", "aiohttp.access", "openai", "alembic"]
    saved_levels = {name: logging.getLogger(name).level for name in noisy}
    caplog.set_level(logging.DEBUG)
    output = io.StringIO()
    raw = RawRecords()

    def install(secrets: list[str]) -> None:
        configure_logging("DEBUG", secrets)
        production = root.handlers[0]
        production.setStream(output)  # type: ignore[attr-defined]
        root.handlers[:] = [raw, caplog.handler, production]

    yield install, output, raw
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


async def failing_run(tg, emu, moonshot, start_telegram, start_slack, roomy_models, url_secret):
    """A run with every credential refused somewhere, plus ordinary traffic; returns what the
    bot said in error messages and HTTP answers."""
    said: list[str] = []
    from tests.telegram.test_updates import free_port

    # Telegram in webhook mode (setWebhook carries the secret), Slack in Socket Mode (the app
    # token) and over HTTP (the signing secret).
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    telegram = await start_telegram(
        telegram_webhook_url=url, kimi_models_file=roomy_models, **url_secret
    )
    from bots.http import HttpServer, build_app

    server = HttpServer(
        build_app(telegram.services.db, telegram.adapter.routes()), "127.0.0.1", port
    )
    await server.start()
    tracker = track_telegram(telegram)
    slack = await start_slack(socket=True, kimi_models_file=roomy_models)
    http_slack = await start_slack(route=False, kimi_models_file=roomy_models)
    try:
        update = tg.user_message(9101, 9101, "hello")
        await tracker.wait(update["update_id"])
        moonshot.inject(Fault(kind="auth", times=2))  # Moonshot 401
        update = tg.user_message(9101, 9101, "and now?")
        await tracker.wait(update["update_id"])
        tg.inject("sendMessage", 401, times=3)  # Telegram 401
        update = tg.user_message(9101, 9101, "once more")
        await tracker.wait(update["update_id"])
        update = tg.user_document(9101, 9101, b"notes about owls", "owls.txt", "text/plain")
        await tracker.wait(update["update_id"])
        async with aiohttp.ClientSession() as session:
            body = json.dumps(plain_update(991_000, 9101)).encode()
            async with session.post(
                url, data=body, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
            ) as r:
                said.append(await r.text())

        await emu.user_message("D1", "U1", "hello slack")
        moonshot.inject(Fault(kind="auth", times=2))
        await emu.user_message("D1", "U1", "and now?")
        emu.inject("chat.startStream", "invalid_auth", times=2)  # Slack invalid_auth
        emu.inject("chat.postMessage", "invalid_auth", times=2)
        emu.inject("assistant.threads.setStatus", "invalid_auth")
        sent = await emu.user_message("C1", "U1", "in a thread", mention_bot=True)
        file = emu.add_file("F9", "notes.txt", "text/plain", b"owls at dawn", user="U1")
        await emu.user_message("D1", "U1", "read it", files=[file])
        await emu.slash_command("/kimi", "usage", "D1", "U1")
        await slack.idle()
        for forged in ({"sign": False}, {"signature": "v0=" + "0" * 64}):
            status, text = await emu.post_event(
                {"type": "event_callback", "event": {}}, url=http_slack.events_url, **forged
            )
            said.append(f"{status} {text}")
        assert sent.ts

        # Start-up with wrong credentials: the errors must not quote them.
        wrong_tg = await start_services(
            make_settings(
                moonshot.base_url,
                telegram.services.settings.database_url,
                telegram_bot_token=WRONG_TELEGRAM_TOKEN,
                telegram_api_url=tg.url,
            )
        )
        from bots.telegram import TelegramAdapter

        try:
            with pytest.raises(ConfigError) as refused:
                await TelegramAdapter(wrong_tg).start()
            said.append(str(refused.value))
        finally:
            await wrong_tg.close()
        wrong_slack = await start_services(
            make_settings(
                moonshot.base_url,
                telegram.services.settings.database_url,
                slack_bot_token=WRONG_SLACK_TOKEN,
                slack_signing_secret=SECRET,
                slack_api_url=emu.api_url,
            )
        )
        from bots.slack import SlackAdapter

        adapter = SlackAdapter(wrong_slack)
        try:
            with pytest.raises(Exception) as failed:  # any error, as long as it is clean
                await adapter.start()
            said.append(f"{type(failed.value).__name__}: {failed.value}")
        finally:
            await adapter.stop()
            await wrong_slack.close()
        wrong_key = await start_services(
            make_settings(
                moonshot.base_url,
                telegram.services.settings.database_url,
                moonshot_api_key=WRONG_MOONSHOT_KEY,
            )
        )
        try:
            sink = CollectingSink()
            await wrong_key.assistant.handle(
                Incoming(ConversationKey("cli", chat="wrong-key"), Author("cli:x"), "hi"), sink
            )
            said.append(sink_text(sink))
            assert sink.aborted and "API key" in sink.aborted[1]
        finally:
            await wrong_key.close()
    finally:
        await server.stop()
    return said


def everything_shown(tg: TelegramEmulator, emu: SlackEmulator, moonshot) -> str:
    """All a user or Moonshot could ever see: messages, drafts, statuses, ephemeral and command
    answers, and every request sent to Moonshot."""
    parts = [m.text or "" for m in tg.state.sent]
    parts += [text for drafts in tg.state.drafts.values() for _, text in drafts]
    parts += [m.text for m in emu.workspace.messages if m.is_bot]
    parts += [s.status for s in emu.statuses]
    parts += [json.dumps(x) for x in (emu.ephemerals, emu.command_responses, moonshot.requests)]
    return "\n".join(parts)


async def test_no_secret_in_logs_chats_or_error_messages(
    tg, emu, moonshot, start_telegram, start_slack, roomy_models, production_logging
):
    install, output, raw = production_logging
    url_secret = {"telegram_webhook_secret": WEBHOOK_SECRET}
    settings = make_settings(
        moonshot.base_url,
        "sqlite+aiosqlite:///:memory:",
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=WEBHOOK_SECRET,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_signing_secret=SECRET,
    )
    # What `kimi-bot run` configures; the wrong credentials below each stand for "the
    # configured one" of their own start-up, so they are configured too.
    install([*_secrets(settings), WRONG_MOONSHOT_KEY, WRONG_TELEGRAM_TOKEN, WRONG_SLACK_TOKEN])
    said = await failing_run(
        tg, emu, moonshot, start_telegram, start_slack, roomy_models, url_secret
    )

    assert any("API key" in s for s in said), "the wrong-key failure was reported"
    assert any("401" in s for s in said), "forged Slack requests were refused"
    assert len(raw.lines) > 200, "DEBUG logging captured the run"
    assert any("Unauthorized" in line or "invalid_auth" in line for _, line in raw.lines)
    # What the operator sees (the redacting handler's output), what caplog captured after it,
    # what users and Moonshot saw, and every error message or HTTP answer.
    assert leaks(output.getvalue()) == []
    assert leaks(everything_shown(tg, emu, moonshot)) == []
    assert leaks("\n".join(said)) == []
    # Our own code never writes a secret into a log record in the first place (the redactor
    # is the last line of defence, not the first).
    ours = "\n".join(
        line for name, line in raw.lines if name.split(".")[0] in ("bots", "core", "storage")
    )
    assert leaks(ours) == []


async def test_the_derived_webhook_secret_never_reaches_the_log(
    tg, moonshot, start_telegram, roomy_models, production_logging
):
    install, output, _raw = production_logging
    settings = make_settings(
        moonshot.base_url, "sqlite+aiosqlite:///:memory:", telegram_bot_token=TOKEN
    )
    install(_secrets(settings))
    from tests.telegram.test_updates import free_port

    await start_telegram(
        telegram_webhook_url=f"http://127.0.0.1:{free_port()}", kimi_models_file=roomy_models
    )
    assert tg.hub.webhook is not None and tg.hub.webhook.secret_token == derive_secret(TOKEN)
    assert derive_secret(TOKEN) not in output.getvalue()
