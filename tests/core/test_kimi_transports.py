"""KIMI_HTTP_CLIENT: both of the openai SDK's transports stream an answer and fail the same way
(aiohttp's exception map calls a refused connection a connect timeout; the client must not)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core import errors
from core.catalog import builtin_catalog
from core.kimi import KimiClient, PartialAnswer, RetryPolicy
from emulators.moonshot import Fault, MoonshotEmulator
from tests.cli.common import closed_port

KEY = "sk-transport"
MODEL = builtin_catalog().get("kimi-k2")
MESSAGES = [{"role": "user", "content": "hello there"}]
TRANSPORTS = ["aiohttp", "httpx"]


def client(base_url: str, transport: str, idle_timeout: float = 60.0) -> KimiClient:
    return KimiClient(
        api_key=KEY,
        base_url=base_url,
        idle_timeout=idle_timeout,
        policy=RetryPolicy(max_retries=0),
        transport=transport,
    )


@pytest.fixture
async def moonshot() -> AsyncIterator[MoonshotEmulator]:
    async with MoonshotEmulator(api_key=KEY, enforce_limits=False, token_delay=0) as emulator:
        yield emulator


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_answer_streams_whole(moonshot: MoonshotEmulator, transport: str) -> None:
    kimi = client(moonshot.base_url, transport)
    deltas: list[str] = []

    async def collect(delta: str) -> None:
        deltas.append(delta)

    try:
        completion = await kimi.stream(
            model=MODEL, messages=MESSAGES, max_tokens=100, on_delta=collect
        )
    finally:
        await kimi.close()
    assert completion.text == "Echo (kimi-k2): hello there"
    assert len(deltas) > 1 and "".join(deltas) == completion.text
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stream_cut_mid_body_keeps_what_was_shown(
    moonshot: MoonshotEmulator, transport: str
) -> None:
    moonshot.inject(Fault("drop_stream", after_chunks=3, abort=True))
    kimi = client(moonshot.base_url, transport)
    try:
        with pytest.raises(PartialAnswer) as cut:
            await kimi.stream(model=MODEL, messages=MESSAGES, max_tokens=100)
    finally:
        await kimi.close()
    assert cut.value.completion.text  # the first chunks arrived before the cut
    assert "Echo (kimi-k2): hello there".startswith(cut.value.completion.text)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_nothing_listening_is_a_connection_error_not_a_timeout(transport: str) -> None:
    kimi = client(f"http://127.0.0.1:{closed_port()}/v1", transport)
    try:
        with pytest.raises(errors.StreamInterrupted) as failed:
            await kimi.stream(model=MODEL, messages=MESSAGES, max_tokens=100)
    finally:
        await kimi.close()
    assert failed.value.detail.startswith("connection error: "), failed.value.detail
    assert "timeout" not in failed.value.detail.lower()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_that_says_nothing_is_an_idle_timeout(transport: str) -> None:
    release = asyncio.Event()

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kimi = client(f"http://127.0.0.1:{port}/v1", transport, idle_timeout=0.5)
    try:
        with pytest.raises(errors.StreamInterrupted) as failed:
            await kimi.stream(model=MODEL, messages=MESSAGES, max_tokens=100)
    finally:
        release.set()
        await kimi.close()
        server.close()
        await server.wait_closed()
    assert failed.value.detail == "no data from Moonshot within the idle timeout"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_malformed_chunk_interrupts_the_stream_and_keeps_what_was_shown(
    transport: str,
) -> None:
    """A chunk that is not JSON (orjson decodes the stream) ends the answer as interrupted,
    with the text that came before it kept."""
    body = b'data: {"choices":[{"index":0,"delta":{"content":"half an "}}]}\n\ndata: {not json\n\n'

    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request's headers; its body is not needed
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbled, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kimi = client(f"http://127.0.0.1:{port}/v1", transport)
    try:
        with pytest.raises(PartialAnswer) as cut:
            await kimi.stream(model=MODEL, messages=MESSAGES, max_tokens=100)
    finally:
        await kimi.close()
        server.close()
        await server.wait_closed()
    assert cut.value.completion.text == "half an "
    assert "malformed stream chunk" in str(cut.value)
