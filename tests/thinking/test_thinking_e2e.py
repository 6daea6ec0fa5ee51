"""Thinking models on every surface: the platform shows that the model thinks (a "thinking… N s"
preview or status, SSE events, stderr), never the reasoning in the answer; the reasoning goes
back on the web-search tool-call message (the emulator, like Moonshot, refuses it otherwise) and
is stored beside the answer; the catalog's temperature rules hold. A model that spends a whole
reply on reasoning is continued until it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.catalog import builtin_catalog
from emulators.moonshot import Fault, ScriptedReply
from emulators.moonshot.thinking import default_reasoning
from emulators.moonshot.websearch import search_answer
from storage import COMPLETE, Database
from tests.telegram.conftest import USER, handled, visible
from tests.thinking.conftest import (
    StoredAnswer,
    kimi_bot_ask,
    ledger_rows,
    models_file,
    stored_answers,
)
from tests.web.conftest import send, texts_of

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

THINKING = "kimi-k2-thinking"
QUESTION = "search the latest AI news"
# Sentences of the emulator's default reasoning (emulators/moonshot/thinking.py): before the
# search, and after it.
THOUGHTS = ("I will answer directly and briefly", "The tool results are in")
THINKING_STATUS = "thinking…"


def assert_no_reasoning(shown: str) -> None:
    for thought in THOUGHTS:
        assert thought not in shown, f"reasoning leaked into the answer: {thought!r}"


def assert_thinking_turn(
    requests: list[dict[str, Any]], answer: StoredAnswer, model: str = THINKING
) -> None:
    """The turn's two chat requests (the search, then the answer) and its stored answer."""
    search, final = requests
    assert search["model"] == final["model"] == model
    assert search["messages"][-1] == {"role": "user", "content": QUESTION}
    *_, call, result = final["messages"]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == (
        "$web_search"
    )
    thought_before = default_reasoning(search["messages"])
    assert call["reasoning_content"] == thought_before, "reasoning goes back with its tool call"
    assert result["role"] == "tool" and result["tool_call_id"] == call["tool_calls"][0]["id"]

    assert answer.status == COMPLETE and answer.model == model
    assert answer.content == search_answer(final["messages"])
    assert answer.reasoning == thought_before + "\n\n" + default_reasoning(final["messages"])
    assert_no_reasoning(answer.content)

    spec = builtin_catalog().get(model)
    for request in requests:
        if spec.fixed_temperature is not None:
            assert request["temperature"] == spec.fixed_temperature
        if not spec.send_temperature:
            assert "temperature" not in request


async def test_telegram_previews_thinking_and_shows_only_the_answer(tg, moonshot, start_telegram):
    bot = await start_telegram()
    tg.user_command(USER, USER, "model", THINKING)
    await handled(tg, bot, 1)
    # The search call streams slowly, so its reasoning lasts long enough to be previewed.
    moonshot.inject(Fault(kind="slow_tokens", delay=0.05))
    tg.user_message(USER, USER, QUESTION)
    await handled(tg, bot, 2, within=30)

    calls = [
        (c.method, str(c.params.get("text", "")))
        for c in tg.calls
        if c.method in ("sendMessageDraft", "editMessageText", "sendMessage")
    ]
    thinking = [i for i, (_, text) in enumerate(calls) if text.startswith(f"⏳ {THINKING_STATUS}")]
    answered = [i for i, (_, text) in enumerate(calls) if "web search results" in text]
    assert thinking and answered, calls
    assert thinking[0] < answered[0], "the preview says the model thinks before the answer"
    for _, text in calls:
        assert_no_reasoning(text)

    *_, shown = visible(tg, USER)
    assert "web search results" in shown
    assert_no_reasoning(shown)
    assert THINKING_STATUS not in shown
    [answer] = await stored_answers(bot.services.db)
    assert_thinking_turn(moonshot.requests, answer)
    assert await ledger_rows(bot.services.db) == 2
    assert tg.flood_violations == []


async def test_slack_status_line_says_thinking_and_the_answer_has_no_reasoning(
    emu, moonshot, start_slack
):
    bot = await start_slack(kimi_model=THINKING)
    sent = await emu.user_message("D1", "U1", QUESTION)
    await bot.idle()

    statuses = [s for s in emu.statuses if s.channel == "D1" and s.thread_ts == sent.ts]
    said = [s.status for s in statuses]
    assert any(s.startswith(THINKING_STATUS) for s in said), said
    assert said[-1] == "", "the status line is cleared at the end"
    methods = [
        c.method
        if c.method != "assistant.threads.setStatus"
        else f"status:{c.params.get('status', '')}"
        for c in emu.calls
    ]
    first_thinking = next(i for i, m in enumerate(methods) if m.startswith("status:thinking…"))
    first_answer = next(
        i for i, m in enumerate(methods) if m in ("chat.startStream", "chat.postMessage")
    )
    assert first_thinking < first_answer, "the status says thinking before the answer appears"

    [message] = emu.messages("D1")
    assert "web search results" in message.text
    assert_no_reasoning(message.text)
    [answer] = await stored_answers(bot.services.db)
    assert_thinking_turn(moonshot.requests, answer)


@pytest.mark.parametrize("model", [THINKING, "kimi-k2.5"])
async def test_web_chat_sends_reasoning_as_its_own_events(web_chat, moonshot, model):
    async with web_chat(kimi_model=model) as chat:
        client = chat.browser()
        await client.get("/")
        status, events = await send(client, QUESTION)
        assert status == 200
        names = [name for name, _ in events]
        assert "thinking" in names and "delta" in names
        assert names.index("thinking") < names.index("delta"), "it thinks before answering"
        [done] = texts_of(events, "done")
        assert "".join(texts_of(events, "delta")) == done
        assert_no_reasoning(done)
        [answer] = await stored_answers(chat.services.db)
        assert "".join(texts_of(events, "thinking")) == answer.reasoning
        assert done == answer.content
        assert_thinking_turn(moonshot.requests, answer, model)


async def test_terminal_shows_reasoning_on_stderr_only_when_asked(moonshot, sqlite_url, tmp_path):
    async def ask(*flags: str) -> Any:
        moonshot.reset()
        return await kimi_bot_ask(
            QUESTION,
            "--model",
            THINKING,
            *flags,
            moonshot_url=moonshot.base_url,
            database_url=sqlite_url,
            cwd=tmp_path,
        )

    shown = await ask("--show-thinking")
    shown_requests = list(moonshot.requests)
    quiet = await ask("-c", "quiet")
    quiet_requests = list(moonshot.requests)
    db = Database(sqlite_url)
    try:
        first, second = await stored_answers(db)
    finally:
        await db.close()

    assert shown.status == 0, shown.err
    assert shown.out == first.content + "\n"
    before, after = (default_reasoning(r["messages"]) for r in shown_requests)
    assert first.reasoning == before + "\n\n" + after
    assert before in shown.err and after in shown.err, shown.err
    assert_no_reasoning(shown.out)
    assert_thinking_turn(shown_requests, first)

    assert quiet.status == 0, quiet.err
    assert quiet.out == second.content + "\n"
    assert_no_reasoning(quiet.out + quiet.err)
    assert quiet.err.count(f"[{THINKING_STATUS}]") == 1, quiet.err
    assert_thinking_turn(quiet_requests, second)


# -- a reply spent on reasoning -----------------------------------------------------------------

LONG_REASONING = " ".join(f"thought{i}" for i in range(200))  # ~1,600 characters, ~400 tokens
ANSWER = "Forty-two, after all that thinking."
SMALL_OUTPUT = 300  # tokens per reply: the reasoning alone does not fit in one


@pytest.fixture
def small_output(tmp_path: Path) -> str:
    return models_file(tmp_path, kimi_k2_thinking=SMALL_OUTPUT)


def assert_continued_from_reasoning(requests: list[dict[str, Any]]) -> None:
    first, second = requests
    assert first["max_tokens"] <= SMALL_OUTPUT and second["max_tokens"] <= SMALL_OUTPUT
    partial = second["messages"][-1]
    assert partial["role"] == "assistant" and partial["partial"] is True
    assert partial["content"] == ""
    assert partial["reasoning_content"] and LONG_REASONING.startswith(partial["reasoning_content"])
    assert len(partial["reasoning_content"]) < len(LONG_REASONING)


async def test_reasoning_that_fills_the_reply_is_continued_to_the_answer_on_the_web(
    web_chat, moonshot, small_output
):
    moonshot.enqueue(ScriptedReply(reasoning=LONG_REASONING, text=ANSWER))
    async with web_chat(kimi_model=THINKING, kimi_models_file=small_output) as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, "what is the meaning of life?")
        assert texts_of(events, "aborted") == []
        assert texts_of(events, "done") == [ANSWER]
        assert "".join(texts_of(events, "thinking")) == LONG_REASONING
        assert_continued_from_reasoning(moonshot.requests)
        [answer] = await stored_answers(chat.services.db)
        assert answer.status == COMPLETE and answer.content == ANSWER
        assert answer.reasoning == LONG_REASONING
        assert await ledger_rows(chat.services.db) == 2


async def test_reasoning_that_fills_the_reply_is_continued_to_the_answer_on_telegram(
    tg, moonshot, start_telegram, small_output
):
    moonshot.enqueue(ScriptedReply(reasoning=LONG_REASONING, text=ANSWER))
    bot = await start_telegram(kimi_model=THINKING, kimi_models_file=small_output)
    tg.user_message(USER, USER, "what is the meaning of life?")
    await handled(tg, bot, 1)

    assert visible(tg, USER) == [ANSWER]
    assert_continued_from_reasoning(moonshot.requests)
    [answer] = await stored_answers(bot.services.db)
    assert answer.status == COMPLETE and answer.reasoning == LONG_REASONING
