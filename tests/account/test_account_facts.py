"""core.account through the real openai SDK: what Moonshot says, and one safe line when it
cannot say (the key never appears)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest
from aiohttp import web

from core.account import AccountFacts, AccountUnavailable
from core.kimi import sdk_http_client
from core.service import start_services
from core.types import Author, CollectingSink
from tests.cli.common import closed_port
from tests.conftest import EMULATOR_KEY, make_settings
from tests.support.messages import ask

WRONG_KEY = "sk-wrong-key-for-account-facts-000"


def facts(
    base_url: str,
    key: str = EMULATOR_KEY,
    currency: str = "CNY",
    transport: str = "httpx",
    timeout: float = 5.0,
) -> AccountFacts:
    return AccountFacts(
        openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            http_client=sdk_http_client(transport, timeout),
        ),
        currency=currency,
        timeout=timeout,
    )


@pytest.fixture
async def stub() -> AsyncIterator[Callable[[web.Response], Awaitable[str]]]:
    """``url = stub(response)``: a server whose balance endpoint answers ``response``."""
    runner: list[web.AppRunner] = []

    async def start(response: web.Response) -> str:
        async def balance(_request: web.Request) -> web.Response:
            return response

        app = web.Application()
        app.router.add_get("/v1/users/me/balance", balance)
        app_runner = web.AppRunner(app)
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0)
        await site.start()
        runner.append(app_runner)
        port = app_runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for item in runner:
        await item.cleanup()


async def test_the_emulators_account(moonshot: Any) -> None:
    account = facts(moonshot.base_url, currency="USD")
    served = await account.served_models()
    assert served[0] == "kimi-k2" and "moonshot-v1-8k" in served
    balance = await account.balance()
    assert balance.amounts() == {"available": 49.58, "voucher": 46.58, "cash": 3.0}
    assert balance.describe() == "$49.58 available (voucher $46.58, cash $3.00)"


async def test_a_rejected_key_is_named_not_shown(moonshot: Any) -> None:
    account = facts(moonshot.base_url, key=WRONG_KEY)
    for ask_it in (account.served_models, account.balance):
        with pytest.raises(AccountUnavailable) as caught:
            await ask_it()
        assert caught.value.status == 401
        assert "MOONSHOT_API_KEY was rejected (401)" in str(caught.value)
        assert WRONG_KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("transport", "refused"), [("httpx", "ConnectError"), ("aiohttp", "ClientConnectorError")]
)
async def test_nothing_listening(transport: str, refused: str) -> None:
    """A refused connection is named as one with either transport (aiohttp's own exception map
    calls it a connect timeout)."""
    account = facts(f"http://127.0.0.1:{closed_port()}/v1", transport=transport)
    with pytest.raises(AccountUnavailable) as caught:
        await account.served_models()
    assert caught.value.status is None
    assert str(caught.value).endswith(f"/v1: cannot connect ({refused})")


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_a_server_that_never_answers_is_a_timeout(transport: str) -> None:
    answered = asyncio.Event()

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answered.wait()  # accepts, reads nothing, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        account = facts(f"http://127.0.0.1:{port}/v1", transport=transport, timeout=1.0)
        with pytest.raises(AccountUnavailable) as caught:
            await account.served_models()
    finally:
        answered.set()
        server.close()
        await server.wait_closed()
    assert str(caught.value).endswith("/v1: no answer within 1s"), str(caught.value)


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (web.json_response({"code": 0, "status": True}), "unexpected answer (no data object)"),
        (
            web.json_response({"code": 0, "data": {"available_balance": 1.0}}),
            "unexpected answer (no voucher_balance)",
        ),
        (
            web.json_response({"error": {"message": "not for you"}}, status=404),
            "HTTP 404 (not for you)",
        ),
    ],
    ids=["no-data", "missing-kind", "refused"],
)
async def test_answers_that_say_nothing_usable(
    stub: Any, response: web.Response, says: str
) -> None:
    url = await stub(response)
    with pytest.raises(AccountUnavailable) as caught:
        await facts(url).balance()
    assert str(caught.value).endswith(says), str(caught.value)


async def test_amounts_sent_as_strings_are_read(stub: Any) -> None:
    body = {"available_balance": "-1.5", "voucher_balance": "0", "cash_balance": "-1.5"}
    url = await stub(web.json_response({"code": 0, "data": body}))
    balance = await facts(url).balance()
    assert balance.describe() == "-¥1.50 available (voucher ¥0.00, cash -¥1.50)"


async def test_usage_says_when_the_balance_is_unknown(stub: Any, sqlite_url: str) -> None:
    url = await stub(web.json_response({"error": {"message": "server busy"}}, status=503))
    services = await start_services(make_settings(url, sqlite_url, admins="cli:root"))
    try:
        sink = CollectingSink()
        await services.assistant.handle(ask("/usage", author=Author("cli:root")), sink)
        assert sink.replies[0].splitlines()[-1] == (
            "Moonshot balance (admins only): unavailable right now "
            f"(GET /users/me/balance at {url}: HTTP 503 (server busy))"
        )
    finally:
        await services.close()
