"""A 30,000-character answer from a model that may write 2,048 tokens per reply arrives whole on
every surface: the answer cut at ``max_tokens`` is continued with Partial Mode, each call is in
the ledger, the stored answer is the whole text. With too few continuations allowed, the answer
says it is incomplete and is stored so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bots.telegram.formatting import split_for_telegram
from emulators.moonshot.answers import long_text
from emulators.telegram import utf16_len
from storage import COMPLETE, INCOMPLETE, Database
from tests.telegram.conftest import USER, handled
from tests.thinking.conftest import kimi_bot_ask, ledger_rows, models_file, stored_answers
from tests.web.conftest import send, texts_of

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

LENGTH = 30_000
MAX_OUTPUT = 2_048
QUESTION = f"write me a long story [[len:{LENGTH}]]"
EXPECTED = long_text(LENGTH)
INCOMPLETE_NOTE = "(answer incomplete"


def words(text: str) -> list[str]:
    """The answer's words as a chat shows them (code fences are formatting, not text)."""
    return [w for w in text.split() if not w.startswith("```")]


@pytest.fixture
def capped(tmp_path: Path) -> str:
    """kimi-k2 may write 2,048 tokens per reply (the emulator's ~4 characters a token: the
    30,000 characters need four replies)."""
    return models_file(tmp_path, kimi_k2=MAX_OUTPUT)


def assert_continued(requests: list[dict[str, Any]], answer: str) -> list[dict[str, Any]]:
    """The turn's chat requests: a first one, then Partial Mode continuations of ``answer``,
    each prefix longer than the last; none asks for more than the catalog's max_output."""
    first, *continuations = requests
    assert not first["messages"][-1].get("partial")
    assert len(continuations) >= 3, "30,000 characters take several 2,048-token replies"
    prefixes = []
    for request in continuations:
        last = request["messages"][-1]
        assert last["role"] == "assistant" and last["partial"] is True
        assert answer.startswith(last["content"])
        prefixes.append(len(last["content"]))
    assert prefixes == sorted(prefixes) and len(set(prefixes)) == len(prefixes)
    assert all(r["max_tokens"] <= MAX_OUTPUT for r in requests)
    assert max(r["max_tokens"] for r in requests) == MAX_OUTPUT
    return continuations


async def assert_stored_whole(db: Database, calls: int) -> None:
    [answer] = await stored_answers(db)
    assert answer.content == EXPECTED
    assert answer.status == COMPLETE
    assert await ledger_rows(db) == calls, "one ledger row per model call"


async def test_telegram_private_chat_gets_the_whole_answer_in_parts(
    tg, moonshot, start_telegram, capped
):
    bot = await start_telegram(kimi_models_file=capped)
    tg.user_message(USER, USER, QUESTION)
    await handled(tg, bot, 1, within=45)

    messages = [m for m in tg.messages(USER) if not m.deleted]
    assert len(messages) == len(split_for_telegram(EXPECTED)) >= 7
    assert all(utf16_len(m.text) <= 4096 for m in messages)
    shown = "\n".join(m.text for m in messages)
    assert words(shown) == words(EXPECTED)
    assert INCOMPLETE_NOTE not in shown
    assert_continued(moonshot.requests, EXPECTED)
    await assert_stored_whole(bot.services.db, len(moonshot.requests))
    assert tg.flood_violations == []


async def test_slack_dm_gets_the_whole_answer_in_parts(emu, moonshot, start_slack, capped):
    bot = await start_slack(kimi_models_file=capped)
    await emu.user_message("D1", "U1", QUESTION)
    await bot.idle()

    parts = emu.messages("D1")
    assert len(parts) >= 3
    assert all(len(p.text) <= 12_000 for p in parts)
    shown = "\n".join(p.text for p in parts)
    assert words(shown) == words(EXPECTED)
    assert INCOMPLETE_NOTE not in shown
    assert_continued(moonshot.requests, EXPECTED)
    await assert_stored_whole(bot.services.db, len(moonshot.requests))


async def test_web_chat_streams_the_whole_answer(web_chat, moonshot, capped):
    async with web_chat(kimi_models_file=capped) as chat:
        client = chat.browser()
        await client.get("/")
        status, events = await send(client, QUESTION)
        assert status == 200
        assert texts_of(events, "aborted") == []
        assert texts_of(events, "done") == [EXPECTED]
        assert "".join(texts_of(events, "delta")) == EXPECTED
        assert_continued(moonshot.requests, EXPECTED)
        await assert_stored_whole(chat.services.db, len(moonshot.requests))


async def test_terminal_prints_the_whole_answer(moonshot, sqlite_url, tmp_path, capped):
    run = await kimi_bot_ask(
        QUESTION,
        moonshot_url=moonshot.base_url,
        database_url=sqlite_url,
        cwd=tmp_path,
        KIMI_MODELS_FILE=capped,
    )
    assert run.status == 0, run.err
    assert run.out == EXPECTED + "\n"
    assert INCOMPLETE_NOTE not in run.out + run.err
    assert_continued(moonshot.requests, EXPECTED)
    db = Database(sqlite_url)
    try:
        await assert_stored_whole(db, len(moonshot.requests))
    finally:
        await db.close()


async def test_too_few_continuations_end_with_the_incomplete_note_on_the_web(
    web_chat, moonshot, capped
):
    async with web_chat(kimi_models_file=capped, kimi_max_continuations=1) as chat:
        client = chat.browser()
        await client.get("/")
        _, events = await send(client, QUESTION)
        _, second = moonshot.requests
        assert second["messages"][-1]["partial"] is True
        said = "".join(texts_of(events, "delta"))
        assert 0 < len(said) < LENGTH and EXPECTED.startswith(said)
        [done] = texts_of(events, "done")
        assert done.startswith(said) and INCOMPLETE_NOTE in done[len(said) :]
        [answer] = await stored_answers(chat.services.db)
        assert answer.status == INCOMPLETE and answer.content == said
        assert await ledger_rows(chat.services.db) == 2


async def test_too_few_continuations_end_with_the_incomplete_note_on_the_terminal(
    moonshot, sqlite_url, tmp_path, capped
):
    run = await kimi_bot_ask(
        QUESTION,
        moonshot_url=moonshot.base_url,
        database_url=sqlite_url,
        cwd=tmp_path,
        KIMI_MODELS_FILE=capped,
        KIMI_MAX_CONTINUATIONS="1",
    )
    assert len(moonshot.requests) == 2
    db = Database(sqlite_url)
    try:
        [answer] = await stored_answers(db)
    finally:
        await db.close()
    assert answer.status == INCOMPLETE and 0 < len(answer.content) < LENGTH
    assert run.out.startswith(answer.content)
    assert INCOMPLETE_NOTE in run.out + run.err, "the user is told the answer is cut"
    assert run.status != 0, "exit status 0 means a complete answer was printed"
