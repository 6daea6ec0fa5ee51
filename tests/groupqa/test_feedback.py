"""Feedback on answers: a Telegram reaction, a Slack button and a web chat POST each store a
rating against the right answer, a second rating replaces the first, ``kimi-bot usage --by
model`` shows the counts and ``kimi_feedback_total`` counts the ratings."""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from bots.slack.feedback import BUTTONS
from bots.telegram import TelegramAdapter
from core.catalog import load_catalog
from core.service import Services, start_services
from core.usage_cli import configure_parser, run_usage_command
from emulators.slack import SlackEmulator
from emulators.telegram import TelegramEmulator
from tests.conftest import make_settings
from tests.slack.conftest import StartBot, emu, start_bot  # noqa: F401 (fixtures)
from tests.support.database import clean_database
from tests.telegram.conftest import FAST, TOKEN, USER, Bot, handled, tg  # noqa: F401
from tests.web.conftest import running_web_chat, send
from tests.web.demo_server import demo_server
from tests.web.test_browser import browser_page  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def feedback_count(rating: str) -> float:
    return REGISTRY.get_sample_value("kimi_feedback_total", {"rating": rating}) or 0.0


async def answers(services: Services) -> list[tuple[int, str]]:
    """Every stored answer: (id, text), oldest first."""
    from sqlalchemy import select

    from storage.models import Message

    async with services.db.engine.connect() as connection:
        rows = await connection.execute(
            select(Message.id, Message.content)
            .where(Message.role == "assistant")
            .order_by(Message.id)
        )
        return [(int(r[0]), str(r[1])) for r in rows]


@pytest.fixture
async def telegram_bot(
    tg: TelegramEmulator,  # noqa: F811
    moonshot: Any,
    sqlite_url: str,
) -> AsyncIterator[Bot]:
    settings = make_settings(
        moonshot.base_url,
        sqlite_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=tg.url,
        **FAST,
    )
    services = await start_services(settings)
    adapter = TelegramAdapter(services)
    await adapter.start()
    bot = Bot(adapter, services)
    yield bot
    await bot.stop()


async def test_telegram_reactions_rate_the_answer_and_the_last_one_counts(
    tg: TelegramEmulator,  # noqa: F811
    telegram_bot: Bot,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = telegram_bot.services.db
    tg.user_message(USER, USER, "first question")
    tg.user_message(USER, USER, "second question")
    await handled(tg, telegram_bot, 2)
    [first, second] = await answers(telegram_bot.services)
    bot_messages = [m for m in tg.messages(USER) if not m.deleted]
    assert [m.text for m in bot_messages] == [first[1], second[1]]
    up_before, down_before = feedback_count("up"), feedback_count("down")

    # Delivered at all only because the bot lists message_reaction in allowed_updates.
    tg.user_reaction(USER, USER, bot_messages[0].message_id, ["👍"])
    await handled(tg, telegram_bot, 3)
    assert await db.feedback.rating(first[0], f"telegram:{USER}") == 1
    assert await db.feedback.rating(second[0], f"telegram:{USER}") is None

    tg.user_reaction(USER, USER, bot_messages[0].message_id, ["👎"])
    await handled(tg, telegram_bot, 4)
    assert await db.feedback.rating(first[0], f"telegram:{USER}") == -1, "the second replaces"
    assert feedback_count("up") == up_before + 1
    assert feedback_count("down") == down_before + 1

    tg.user_reaction(USER, USER, bot_messages[1].message_id, ["❤"])
    await handled(tg, telegram_bot, 5)
    assert await db.feedback.rating(second[0], f"telegram:{USER}") is None, "not a thumb"

    args = configure_parser(argparse.ArgumentParser()).parse_args(
        ["--since", "all", "--by", "model"]
    )
    settings = SimpleNamespace(
        database_url=sqlite_url, kimi_timezone="UTC", catalog=load_catalog(None)
    )
    assert await run_usage_command(settings, args) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[1].split()
    assert header[-2:] == ["👍", "👎"]
    [row] = [line.split() for line in out if line.startswith("kimi-k2")]
    assert row[-2:] == ["0", "1"], "one 👎 (the 👍 was replaced)"


async def test_a_failed_post_link_leaves_the_delivered_answer_alone(
    tg: TelegramEmulator,  # noqa: F811
    telegram_bot: Bot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The answer is delivered before its posts are linked for reactions: a database error
    there is the operator's to read in the log, not an error message after the answer."""

    async def broken_link(*_args: object) -> None:
        raise OperationalError("INSERT INTO answer_posts", {}, Exception("disk I/O error"))

    monkeypatch.setattr(telegram_bot.services.db.feedback, "link", broken_link)
    with caplog.at_level(logging.ERROR):
        tg.user_message(USER, USER, "a question")
        await handled(tg, telegram_bot, 1)
    [(answer_id, text)] = await answers(telegram_bot.services)
    assert [m.text for m in tg.messages(USER) if not m.deleted] == [text]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert f"answer {answer_id} in telegram:{USER}: reactions on its messages" in errors[0]
    assert "disk I/O error" in errors[0]


@pytest.mark.parametrize("socket", [False, True], ids=["http", "socket-mode"])
async def test_slack_buttons_under_an_answer_store_the_press(
    emu: SlackEmulator,  # noqa: F811
    start_bot: StartBot,  # noqa: F811
    socket: bool,
) -> None:
    bot = await start_bot(socket=socket)
    db = bot.services.db
    await emu.user_message("D1", "U1", "what is 2+2?")
    await bot.idle()
    [(answer_id, text)] = await answers(bot.services)
    [answer] = emu.messages("D1")
    assert answer.text == text, "the answer alone in the conversation"
    assert answer.blocks is not None and answer.blocks[-1]["type"] == "context_actions"
    assert emu.ephemerals == [], "the buttons are on the answer itself"
    up_before = feedback_count("up")

    delivery = await emu.click_button("D1", answer.ts, "U1", BUTTONS, choice="positive")
    await bot.idle()
    assert delivery.acked
    assert await db.feedback.rating(answer_id, "slack:U1") == 1
    assert feedback_count("up") == up_before + 1
    assert any("Thanks" in e.get("text", "") for e in emu.ephemerals)

    await emu.click_button("D1", answer.ts, "U1", BUTTONS, choice="negative")
    await bot.idle()
    assert await db.feedback.rating(answer_id, "slack:U1") == -1


async def test_web_chat_post_rates_only_this_browsers_answers(moonshot: Any, db_url: str) -> None:
    async with running_web_chat(moonshot.base_url, db_url) as chat:
        await clean_database(chat.services.db)
        alice, mallory = chat.browser(), chat.browser()
        await alice.get("/")
        await mallory.get("/")
        status, events = await send(alice, "hello")
        assert status == 200
        [end] = [data for name, data in events if name == "end"]
        answer = end["answer"]
        [(stored, _)] = await answers(chat.services)
        assert answer == stored

        headers = {"X-Kimi-Chat": "1"}
        async with alice.post(
            "/api/feedback", json={"answer": answer, "rating": 1}, headers=headers
        ) as response:
            assert response.status == 200
        async with alice.post(
            "/api/feedback", json={"answer": answer, "rating": -1}, headers=headers
        ) as response:
            assert response.status == 200
        async with mallory.post(
            "/api/feedback", json={"answer": answer, "rating": 1}, headers=headers
        ) as response:
            assert response.status == 404, "another browser's answer"
        async with alice.post(
            "/api/feedback", json={"answer": "x", "rating": 5}, headers=headers
        ) as response:
            assert response.status == 400
        async with alice.post("/api/feedback", json={"answer": answer, "rating": 1}) as response:
            assert response.status == 403, "the page's header is required"

        ratings = await chat.services.db.feedback.by_model()
        assert [(c.up, c.down) for c in ratings.values()] == [(0, 1)]


async def test_the_web_chat_page_shows_rating_buttons_that_stick(
    browser_page: Any,  # noqa: F811
    tmp_path: Any,
) -> None:
    """In a real browser: 👍/👎 under the finished answer; the press is stored (the chosen button
    is marked only after the server said yes) and the buttons come back after a reload."""
    page = browser_page
    async with demo_server(tmp_path) as server:
        await page.goto(f"{server.url}/")
        await page.fill("#text", "rate me")
        await page.keyboard.press("Enter")
        rating = page.locator(".msg.assistant .rating")
        await rating.wait_for()
        await rating.locator("button[data-rating='-1']").click()
        await page.locator(".msg.assistant .rate.chosen").wait_for()
        assert await page.locator(".rate.chosen").get_attribute("data-rating") == "-1"
        await page.reload()
        await page.locator(".msg.assistant .rating").wait_for()
        assert await page.locator(".msg.assistant .rate").count() == 2
