"""``GET /metrics`` after real turns: the counters and histograms that operators alert on move."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from telegram import Bot
from telegram.error import BadRequest

from bots.http import HttpServer, build_app
from bots.slack.metered import MeteredWebClient
from bots.telegram.metered import MeteredRequest
from core.limits import Limiter, LimitExceeded
from core.types import Author, CollectingSink, ConversationKey, Incoming
from emulators.moonshot import Fault
from emulators.slack import SlackEmulator
from emulators.telegram import TelegramEmulator
from tests.scaling.workers import sample

KEY = ConversationKey(platform="telegram", chat="77")
ALICE = Author(id="telegram:77", name="Alice")


@pytest.fixture
async def scrape(services) -> AsyncIterator:
    """``await scrape()``: this process's /metrics as served by the worker's HTTP server."""
    server = HttpServer(build_app(services.db), "127.0.0.1", 0)
    await server.start()

    async def get() -> str:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                return await response.text()

    yield get
    await server.stop()


async def test_a_turn_moves_turns_latency_tokens_and_cost(services, moonshot, scrape) -> None:
    before = await scrape()
    sink = CollectingSink()
    outcome = await services.assistant.handle(
        Incoming(key=KEY, author=ALICE, text="hi there"), sink
    )
    assert outcome is not None and outcome.status == "complete"
    after = await scrape()

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("kimi_turns_total", platform="telegram", outcome="complete") == 1
    assert moved("kimi_turn_duration_seconds_count", platform="telegram") == 1
    assert moved("kimi_time_to_first_token_seconds_count", model="kimi-k2") == 1
    usage = moonshot.requests[-1]
    assert usage["model"] == "kimi-k2"
    assert moved("kimi_tokens_total", model="kimi-k2", kind="prompt") > 0
    assert moved("kimi_tokens_total", model="kimi-k2", kind="completion") > 0
    assert moved("kimi_cost_total", model="kimi-k2", currency="CNY") > 0
    assert sample(after, "kimi_turns_in_progress") == 0


async def test_failed_answers_count_by_error_type(services, moonshot, scrape) -> None:
    before = await scrape()
    moonshot.inject(Fault(kind="auth"))
    await services.assistant.handle(
        Incoming(key=KEY, author=ALICE, text="hello?"), CollectingSink()
    )
    after = await scrape()
    assert (
        sample(after, "kimi_errors_total", type="auth")
        - sample(before, "kimi_errors_total", type="auth")
        == 1
    )
    assert (
        sample(after, "kimi_turns_total", platform="telegram", outcome="failed")
        - sample(before, "kimi_turns_total", platform="telegram", outcome="failed")
        == 1
    )


async def test_limiter_waits_and_refusals(services, scrape) -> None:
    limiter = Limiter(services.settings.catalog, max_wait=0.0)
    before = await scrape()
    permits = [
        await limiter.acquire(model="kimi-k2", user_id=f"u{i}", prompt_tokens=10, max_tokens=10)
        for i in range(3)  # kimi-k2 allows 3 at once
    ]
    with pytest.raises(LimitExceeded):
        await limiter.acquire(model="kimi-k2", user_id="u9", prompt_tokens=10, max_tokens=10)
    for permit in permits:
        await permit.release()
    await limiter.close()
    after = await scrape()
    labels = {"model": "kimi-k2", "scope": "account", "limit": "concurrency"}
    assert (
        sample(after, "kimi_limiter_refusals_total", **labels)
        - sample(before, "kimi_limiter_refusals_total", **labels)
        == 1
    )


async def test_platform_api_errors_by_platform_and_method(scrape) -> None:
    before = await scrape()
    async with SlackEmulator(bot_token="xoxb-metrics-test") as slack:
        client = MeteredWebClient(token="xoxb-metrics-test", base_url=slack.api_url)
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C-missing", text="hi")
    async with TelegramEmulator(token="123456:METRICS") as tg:
        bot = Bot("123456:METRICS", base_url=f"{tg.url}/bot", request=MeteredRequest())
        async with bot:
            with pytest.raises(BadRequest):
                await bot.send_message(chat_id=999_999, text="nobody here")
    after = await scrape()
    for platform, method in (("slack", "chat.postMessage"), ("telegram", "sendMessage")):
        labels = {"platform": platform, "method": method}
        assert (
            sample(after, "kimi_platform_api_errors_total", **labels)
            - sample(before, "kimi_platform_api_errors_total", **labels)
            == 1
        )
