"""The Moonshot emulator, driven by the real ``openai`` SDK over HTTP (nothing mocked).

Bot tests trust this emulator to behave like api.moonshot.cn, so these tests pin the wire
format (SSE, usage placement, error bodies), limits, faults and the files API.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import select
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from core.catalog import Catalog, builtin_catalog
from emulators.moonshot import Fault, MoonshotEmulator, ScriptedReply, estimate_tokens
from emulators.moonshot.tokens import estimate_messages
from tests.documents.samples import SAMPLE_NAMES, encrypted_pdf, random_binary, sample

KEY = "sk-test"
ROOT = Path(__file__).resolve().parents[2]
WAIT = re.compile(r"please try again after (\d+) seconds")


def catalog_with(**limits: Any) -> Catalog:
    """The built-in catalog with kimi-k2's limits replaced (e.g. rpm=2)."""
    base = builtin_catalog()
    models = dict(base.models)
    models["kimi-k2"] = replace(models["kimi-k2"], **limits)
    return Catalog(models=models, user_limits={})


@pytest.fixture
async def emu() -> AsyncIterator[MoonshotEmulator]:
    emulator = MoonshotEmulator(api_key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def start(**kwargs: Any) -> MoonshotEmulator:
    emulator = MoonshotEmulator(api_key=KEY, **kwargs)
    await emulator.start()
    return emulator


def sdk(emulator: MoonshotEmulator, key: str = KEY, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key=key, max_retries=0, **kwargs)


@pytest.fixture
async def client(emu: MoonshotEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk(emu) as c:
        yield c


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def ask(client: openai.AsyncOpenAI, text: str, model: str = "kimi-k2", **kw: Any) -> Any:
    return await client.chat.completions.create(model=model, messages=user(text), **kw)


async def collect(client: openai.AsyncOpenAI, text: str, **kw: Any) -> list[Any]:
    stream = await client.chat.completions.create(
        model="kimi-k2", messages=user(text), stream=True, **kw
    )
    return [chunk async for chunk in stream]


def joined(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def raw(
    emulator: MoonshotEmulator, method: str, path: str, body: Any = None, key: str | None = KEY
) -> tuple[int, Any]:
    """A plain HTTP call (control API, estimate, balance); JSON decoded when possible."""
    root = emulator.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, root + path, json=body, headers=headers) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


# -- chat completions -------------------------------------------------------------------------


async def test_non_stream_answer_and_usage(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    result = await ask(client, "hello world")
    text = result.choices[0].message.content
    assert text == "Echo (kimi-k2): hello world"
    assert result.object == "chat.completion"
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.prompt_tokens == estimate_tokens("hello world")
    assert result.usage.completion_tokens == estimate_tokens(text)
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert emu.requests == [{"model": "kimi-k2", "messages": user("hello world")}]


async def test_stream_concatenates_with_usage_in_final_choice(client: openai.AsyncOpenAI) -> None:
    plain = await ask(client, "stream me please")
    chunks = await collect(client, "stream me please")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    assert len(chunks) > 4  # really split into small pieces
    assert joined(chunks) == plain.choices[0].message.content
    last = chunks[-1]
    assert last.object == "chat.completion.chunk"
    assert last.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    usage = dict(last.choices[0].usage)
    # the same prompt twice: the second is an exact re-send, cached whole (prefix_cache.py)
    assert usage.pop("cached_tokens") == plain.usage.prompt_tokens
    assert usage.pop("prompt_tokens_details") == {"cached_tokens": plain.usage.prompt_tokens}
    assert usage == plain.usage.model_dump(exclude_none=True)
    assert last.usage is None


async def test_include_usage_adds_openai_style_usage_chunk(client: openai.AsyncOpenAI) -> None:
    chunks = await collect(client, "count me", stream_options={"include_usage": True})
    final = chunks[-1]
    assert final.choices == []
    assert final.usage is not None
    in_choice = chunks[-2].choices[0].usage
    assert final.usage.total_tokens == in_choice["total_tokens"] > 0
    assert final.usage.prompt_tokens == estimate_tokens("count me")


async def test_len_marker_gives_exact_ordered_text(client: openai.AsyncOpenAI) -> None:
    result = await ask(client, "write [[len:5000]]", max_tokens=4000)
    text = result.choices[0].message.content
    assert len(text) == 5000
    assert "```python" in text and text.count("```") == 2
    numbers = [int(n) for n in re.findall(r"\bw(\d+)\b", text)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert "\n\n" in text and max(len(line) for line in text.splitlines()) <= 80
    short = await ask(client, "[[len:37]]")
    assert len(short.choices[0].message.content) == 37
    chunks = await collect(client, "write [[len:5000]]", max_tokens=4000)
    assert joined(chunks) == text


async def test_reasoning_streams_before_content(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.enqueue(ScriptedReply(text="the answer", reasoning="first think, then answer"))
    chunks = await collect(client, "why?")
    kinds = []
    for chunk in chunks[1:-1]:
        delta = chunk.choices[0].delta
        kinds.append("r" if (delta.model_extra or {}).get("reasoning_content") else "c")
    assert kinds == sorted(kinds, reverse=True) and "r" in kinds and "c" in kinds
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content", "") for c in chunks
    )
    assert reasoning == "first think, then answer"
    assert joined(chunks) == "the answer"


async def test_scripted_usage_with_cached_tokens(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.enqueue(ScriptedReply(text="cached", usage={"prompt_tokens": 100, "cached_tokens": 60}))
    result = await ask(client, "again")
    assert result.choices[0].message.content == "cached"
    assert result.usage.prompt_tokens == 100
    assert result.usage.prompt_tokens_details.cached_tokens == 60
    assert result.usage.model_extra["cached_tokens"] == 60
    assert result.usage.total_tokens == 100 + result.usage.completion_tokens


async def test_wrong_or_missing_key_is_401(emu: MoonshotEmulator) -> None:
    async with sdk(emu, key="sk-wrong") as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            await ask(bad, "hi")
    assert caught.value.body == {
        "type": "invalid_authentication_error",
        "message": "Invalid Authentication",
    }
    status, body = await raw(emu, "GET", "/v1/models", key=None)
    assert status == 401 and body["error"]["type"] == "invalid_authentication_error"
    assert emu.requests == []


async def test_any_key_mode_accepts_other_keys() -> None:
    emulator = await start(accept_any_key=True)
    try:
        async with sdk(emulator, key="sk-whatever") as c:
            assert (await ask(c, "ok")).choices[0].message.content == "Echo (kimi-k2): ok"
        status, _ = await raw(emulator, "GET", "/v1/models", key=None)
        assert status == 401
    finally:
        await emulator.stop()


async def test_unknown_model_is_404(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await ask(client, "hi", model="gpt-4o")
    assert caught.value.body["type"] == "resource_not_found_error"
    assert "gpt-4o" in caught.value.body["message"]


async def test_context_window_counts_prompt_plus_max_tokens(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, "x" * 40_000, model="moonshot-v1-8k")
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["message"] == (
        "Invalid request: Your request exceeded model token limit: 8192"
    )
    with pytest.raises(openai.BadRequestError):
        await ask(client, "short", model="moonshot-v1-8k", max_tokens=8192)
    fits = await ask(client, "short", model="moonshot-v1-8k", max_tokens=8000)
    assert fits.choices[0].message.content.startswith("Echo (moonshot-v1-8k)")


@pytest.mark.parametrize(
    "messages, extra",
    [
        ([], {}),
        ([{"role": "user", "content": ""}], {}),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}], {}),
        ([{"role": "user", "content": "hi"}], {"temperature": 1.5}),
        ([{"role": "user", "content": "hi"}], {"max_tokens": 0}),
    ],
)
async def test_invalid_requests_are_400(
    client: openai.AsyncOpenAI, messages: list[Any], extra: dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="kimi-k2", messages=messages, **extra)
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["message"].startswith("Invalid request:")


# -- limits ------------------------------------------------------------------------------------


async def test_rpm_limit_429_quotes_real_wait() -> None:
    emulator = await start(catalog=catalog_with(rpm=2))
    try:
        async with sdk(emulator) as c:
            await ask(c, "1")
            await ask(c, "2")
            with pytest.raises(openai.RateLimitError) as caught:
                await ask(c, "3")
            assert (await ask(c, "other model", model="moonshot-v1-8k")).choices
        body = caught.value.body
        assert body["type"] == "rate_limit_reached_error"
        assert "max RPM: 2" in body["message"]
        wait = int(WAIT.search(body["message"]).group(1))
        assert 55 <= wait <= 60
        assert "retry-after" not in caught.value.response.headers
        assert emulator.rate_limited_count == 1
        assert len(emulator.requests) == 4
    finally:
        await emulator.stop()


async def test_tpm_counts_prompt_plus_max_tokens() -> None:
    emulator = await start(catalog=catalog_with(tpm=3000))
    try:
        async with sdk(emulator) as c:
            await ask(c, "a", max_tokens=2000)
            with pytest.raises(openai.RateLimitError) as caught:
                await ask(c, "b", max_tokens=2000)
            await ask(c, "c", max_tokens=500)  # still fits: 2001 + 501 <= 3000
        message = caught.value.body["message"]
        assert caught.value.body["type"] == "rate_limit_reached_error"
        assert message.endswith(
            "request reached organization TPM rate limit, current:4002, limit:3000"
        )
        assert not WAIT.search(message)  # Moonshot's TPM 429 names no wait
    finally:
        await emulator.stop()


async def test_concurrency_slot_is_held_by_a_running_stream() -> None:
    emulator = await start(catalog=catalog_with(concurrency=1), token_delay=0.05)
    try:
        async with sdk(emulator) as c:
            stream = await c.chat.completions.create(
                model="kimi-k2", messages=user("a fairly long question to stream"), stream=True
            )
            first = await stream.__anext__()
            assert first.choices[0].delta.role == "assistant"
            with pytest.raises(openai.RateLimitError) as caught:
                await ask(c, "second")
            rest = [chunk async for chunk in stream]
            assert rest[-1].choices[0].finish_reason == "stop"
            assert (await ask(c, "third")).choices[0].message.content == "Echo (kimi-k2): third"
        assert "max concurrency: 1" in caught.value.body["message"]
        assert WAIT.search(caught.value.body["message"])
        assert emulator.rate_limited_count == 1
    finally:
        await emulator.stop()


async def test_parallel_streams_beyond_concurrency_get_429() -> None:
    emulator = await start(catalog=catalog_with(concurrency=2), token_delay=0.05)
    try:
        async with sdk(emulator) as c:
            results = await asyncio.gather(
                *(collect(c, f"question number {i} here") for i in range(4)),
                return_exceptions=True,
            )
        limited = [r for r in results if isinstance(r, openai.RateLimitError)]
        done = [r for r in results if isinstance(r, list)]
        assert len(done) == 2 and len(limited) == 2
        assert emulator.rate_limited_count == 2
    finally:
        await emulator.stop()


async def test_limits_off() -> None:
    emulator = await start(catalog=catalog_with(rpm=1), enforce_limits=False)
    try:
        async with sdk(emulator) as c:
            for i in range(3):
                await ask(c, str(i))
        assert emulator.rate_limited_count == 0
    finally:
        await emulator.stop()


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, error, status, error_type",
    [
        ("rate_limit", openai.RateLimitError, 429, "rate_limit_reached_error"),
        ("overloaded", openai.RateLimitError, 429, "engine_overloaded_error"),
        ("quota", openai.RateLimitError, 429, "exceeded_current_quota_error"),
        ("server_error", openai.InternalServerError, 500, "server_error"),
        ("auth", openai.AuthenticationError, 401, "invalid_authentication_error"),
        ("content_filter", openai.BadRequestError, 400, "content_filter"),
        ("timeout_504", openai.InternalServerError, 504, None),
    ],
)
async def test_error_faults_hit_next_request_once(
    emu: MoonshotEmulator,
    client: openai.AsyncOpenAI,
    kind: str,
    error: type[openai.APIStatusError],
    status: int,
    error_type: str | None,
) -> None:
    emu.inject(Fault(kind=kind, wait_seconds=7))
    with pytest.raises(error) as caught:
        await ask(client, "hi")
    assert caught.value.status_code == status
    if error_type is not None:
        assert caught.value.body["type"] == error_type
    else:
        assert "504 Gateway Time-out" in caught.value.response.text
    if kind == "rate_limit":
        assert "please try again after 7 seconds" in caught.value.body["message"]
    assert emu.rate_limited_count == (1 if status == 429 else 0)
    assert (await ask(client, "hi")).choices[0].message.content == "Echo (kimi-k2): hi"


async def test_faults_apply_in_order_and_count_down(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.inject(Fault(kind="server_error", times=2))
    emu.inject(Fault(kind="overloaded"))
    seen = []
    for _ in range(4):
        try:
            await ask(client, "x")
            seen.append("ok")
        except openai.APIStatusError as exc:
            seen.append(exc.body["type"])
    assert seen == ["server_error", "server_error", "engine_overloaded_error", "ok"]


async def test_drop_stream_ends_without_done(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    full = (await ask(client, "one two three four five six seven")).choices[0].message.content
    emu.inject(Fault(kind="drop_stream", after_chunks=3))
    chunks = await collect(client, "one two three four five six seven")
    assert len(chunks) == 3
    assert all(c.choices[0].finish_reason is None for c in chunks)
    assert full.startswith(joined(chunks)) and joined(chunks) != full
    emu.inject(Fault(kind="drop_stream", after_chunks=2))
    body = {"model": "kimi-k2", "messages": user("raw please"), "stream": True}
    status, text = await raw(emu, "POST", "/v1/chat/completions", body)
    assert status == 200
    assert text.count("data: ") == 2 and "[DONE]" not in text
    status, text = await raw(emu, "POST", "/v1/chat/completions", body)
    assert text.rstrip().endswith("data: [DONE]")


async def test_drop_stream_abort_breaks_the_connection(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.inject(Fault(kind="drop_stream", after_chunks=2, abort=True))
    received = []
    with pytest.raises(openai.APIConnectionError):
        stream = await client.chat.completions.create(
            model="kimi-k2", messages=user("cut me off please now"), stream=True
        )
        async for chunk in stream:
            received.append(chunk)
    assert len(received) <= 2
    emu.inject(Fault(kind="drop_stream"))
    with pytest.raises(openai.APIConnectionError):
        await ask(client, "non-stream request gets no answer at all")


async def test_stall_stream_times_out_client_and_frees_slot() -> None:
    emulator = await start(catalog=catalog_with(concurrency=1))
    try:
        emulator.inject(Fault(kind="stall_stream", after_chunks=2, stall_seconds=30))
        async with sdk(emulator, timeout=0.3) as c:
            started = time.monotonic()
            got = []
            with pytest.raises(openai.APITimeoutError):
                stream = await c.chat.completions.create(
                    model="kimi-k2", messages=user("stall here"), stream=True
                )
                async for chunk in stream:
                    got.append(chunk)
            assert time.monotonic() - started < 3
            assert len(got) == 2
            await asyncio.sleep(0.2)  # the server notices the client left
            assert (await ask(c, "next")).choices[0].message.content == "Echo (kimi-k2): next"
        emulator.inject(Fault(kind="stall_stream", after_chunks=2, stall_seconds=0.3))
        async with sdk(emulator) as c:
            started = time.monotonic()
            chunks = await collect(c, "resume after stall")
            assert time.monotonic() - started >= 0.3
            assert joined(chunks) == "Echo (kimi-k2): resume after stall"
    finally:
        await emulator.stop()


async def test_slow_tokens_delays_every_chunk(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    started = time.monotonic()
    fast = await collect(client, "a b c d")
    fast_time = time.monotonic() - started
    emu.inject(Fault(kind="slow_tokens", delay=0.05))
    started = time.monotonic()
    slow = await collect(client, "a b c d")
    slow_time = time.monotonic() - started
    assert joined(slow) == joined(fast)
    assert slow_time >= 0.05 * (len(slow) - 1) > fast_time


async def test_bad_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        Fault(kind="explode")


# -- tools and web search ----------------------------------------------------------------------


async def test_tool_call_fragments_merge_by_index(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.enqueue(
        ScriptedReply(
            tool_calls=[
                {"name": "get_weather", "arguments": {"city": "Beijing", "unit": "celsius"}},
                {"id": "functions.get_time:1", "name": "get_time", "arguments": "{}"},
            ]
        )
    )
    chunks = await collect(client, "weather?")
    fragments = [f for c in chunks if c.choices for f in c.choices[0].delta.tool_calls or []]
    merged: dict[int, dict[str, Any]] = {}
    for fragment in fragments:
        entry = merged.setdefault(fragment.index, {"id": None, "name": None, "args": "", "n": 0})
        if entry["n"] == 0:
            assert fragment.id and fragment.type == "function" and fragment.function.name
            entry["id"], entry["name"] = fragment.id, fragment.function.name
        else:
            assert fragment.id is None and fragment.function.name is None
        entry["args"] += fragment.function.arguments or ""
        entry["n"] += 1
    assert merged[0]["id"] == "functions.get_weather:0" and merged[0]["n"] >= 2
    assert json.loads(merged[0]["args"]) == {"city": "Beijing", "unit": "celsius"}
    assert merged[1]["name"] == "get_time" and merged[1]["args"] == "{}"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    history = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": merged[0]["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": merged[0]["args"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": merged[0]["id"], "name": "get_weather", "content": "25C"},
    ]
    answer = await client.chat.completions.create(model="kimi-k2", messages=history)
    assert answer.choices[0].finish_reason == "stop"
    history[-1] = {**history[-1], "tool_call_id": "functions.unknown:9"}
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="kimi-k2", messages=history)


async def test_web_search_round_trip_bills_search_tokens(client: openai.AsyncOpenAI) -> None:
    tools = [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    messages: list[dict[str, Any]] = user("Search the latest news about Kimi")
    first = await client.chat.completions.create(model="kimi-k2", messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "$web_search" and call.id.startswith("search:")
    arguments = json.loads(call.function.arguments)
    search_tokens = arguments["usage"]["total_tokens"]
    assert arguments["search_result"]["search_id"] and search_tokens > 0

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append(
        {
            "role": "tool",
            "tool_call_id": call.id,
            "name": "$web_search",
            "content": call.function.arguments,
        }
    )
    second = await client.chat.completions.create(model="kimi-k2", messages=messages, tools=tools)
    assert "web search results" in second.choices[0].message.content
    assert second.usage.prompt_tokens == estimate_messages(messages) + search_tokens

    tampered = dict(arguments, usage={"total_tokens": 1})
    messages[-1] = {**messages[-1], "content": json.dumps(tampered)}
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="kimi-k2", messages=messages, tools=tools)


async def test_no_search_without_the_builtin_tool(client: openai.AsyncOpenAI) -> None:
    result = await ask(client, "search the news")
    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].message.content == "Echo (kimi-k2): search the news"


# -- files -------------------------------------------------------------------------------------


async def upload(client: openai.AsyncOpenAI, name: str, data: bytes) -> Any:
    return await client.files.create(file=(name, data), purpose="file-extract")


async def content_of(client: openai.AsyncOpenAI, file_id: str) -> dict[str, Any]:
    return json.loads((await client.files.content(file_id)).text)


async def test_upload_txt_and_read_content(client: openai.AsyncOpenAI) -> None:
    text = "第一行 first line\nsecond line"
    uploaded = await upload(client, "notes.txt", text.encode())
    assert uploaded.object == "file" and uploaded.status == "ok"
    assert uploaded.bytes == len(text.encode()) and uploaded.filename == "notes.txt"
    assert uploaded.purpose == "file-extract"
    content = await content_of(client, uploaded.id)
    assert content == {
        "content": text,
        "file_type": "text/plain",
        "filename": "notes.txt",
        "title": "",
        "type": "file",
    }
    assert (await client.files.retrieve(uploaded.id)).id == uploaded.id


async def check_extracts(client: openai.AsyncOpenAI, name: str, data: bytes, marker: str) -> None:
    uploaded = await upload(client, name, data)
    assert uploaded.status == "ok"
    content = await content_of(client, uploaded.id)
    assert marker in " ".join(content["content"].split())
    assert content["filename"] == name


@pytest.mark.parametrize("name", SAMPLE_NAMES)
async def test_every_format_extracts_real_text(client: openai.AsyncOpenAI, name: str) -> None:
    made = sample(name)
    await check_extracts(client, name, made.data, made.marker)


async def test_file_types_follow_the_content(client: openai.AsyncOpenAI) -> None:
    for name in SAMPLE_NAMES:
        uploaded = await upload(client, name, sample(name).data)
        content = await content_of(client, uploaded.id)
        assert content["file_type"] == sample(name).mime, name


async def test_epub_chapters_come_in_spine_order(client: openai.AsyncOpenAI) -> None:
    uploaded = await upload(client, "book.epub", sample("sample.epub").data)
    text = (await content_of(client, uploaded.id))["content"]
    assert (
        text.index("Chapter 1") < text.index("Chapter 2") < text.index(sample("sample.epub").marker)
    )


async def test_html_loses_scripts_and_styles(client: openai.AsyncOpenAI) -> None:
    uploaded = await upload(client, "page.html", sample("sample.html").data)
    text = (await content_of(client, uploaded.id))["content"]
    assert "not shown" not in text and "font-family" not in text


async def test_gb18030_text_is_decoded(client: openai.AsyncOpenAI) -> None:
    text = "简体中文测试,我们的模型支持长上下文"
    uploaded = await upload(client, "zh.txt", text.encode("gb18030"))
    assert (await content_of(client, uploaded.id))["content"] == text


async def check_encrypted_pdf(client: openai.AsyncOpenAI, data: bytes) -> None:
    uploaded = await upload(client, "secret.pdf", data)
    assert uploaded.status == "error" and "encrypted" in uploaded.status_details
    with pytest.raises(openai.BadRequestError):
        await client.files.content(uploaded.id)


async def test_encrypted_pdf_is_stored_with_error_status(client: openai.AsyncOpenAI) -> None:
    await check_encrypted_pdf(client, encrypted_pdf())


async def check_unsupported_binary(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI, data: bytes
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await upload(client, "random.bin", data)
    assert caught.value.status_code == 500
    assert caught.value.body["type"] == "server_error"
    assert caught.value.body["message"].startswith("Failed to extract file:")
    assert len(emu.files) == 0


async def test_unsupported_binary_is_500(emu: MoonshotEmulator, client: openai.AsyncOpenAI) -> None:
    await check_unsupported_binary(emu, client, random_binary())


# -- the optional real-document corpus (third-party files; skipped when it is not there) ----------


@pytest.mark.parametrize(
    "name, marker",
    [
        ("markitdown-test_mskanji.csv", "佐藤太郎"),
        ("markitdown-test.docx", "314b0a30-5b04-470b-b9f7-eed2c2bec74a"),
        ("markitdown-test.xlsx", "6ff4173b-42a5-4784-9b19-f49caff4d93d"),
        ("markitdown-test.pptx", "2cdda5c8-e50e-4db4-b5f0-9722a649f455"),
        (
            "markitdown-test.pdf",
            "While there is contemporaneous exploration of multi-agent approaches",
        ),
        ("markitdown-test.epub", "Chapter 1"),
        ("kimi-api-brief-zh.txt", "月之暗面"),
    ],
)
async def test_real_corpus_documents_extract_real_text(
    corpus: Path, client: openai.AsyncOpenAI, name: str, marker: str
) -> None:
    await check_extracts(client, name, (corpus / name).read_bytes(), marker)


async def test_real_corpus_encrypted_pdf_is_stored_with_error_status(
    corpus: Path, client: openai.AsyncOpenAI
) -> None:
    await check_encrypted_pdf(
        client, (corpus / "pypdf-libreoffice-writer-password.pdf").read_bytes()
    )


async def test_real_corpus_unsupported_binary_is_500(
    corpus: Path, emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    await check_unsupported_binary(emu, client, (corpus / "markitdown-random.bin").read_bytes())


async def test_zip_bomb_is_refused(client: openai.AsyncOpenAI) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(openai.InternalServerError) as caught:
        await upload(client, "bomb.docx", buffer.getvalue())
    assert "zip bomb" in caught.value.body["message"]


async def test_zero_byte_and_wrong_purpose_are_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await upload(client, "empty.txt", b"")
    assert caught.value.body == {"type": "invalid_request_error", "message": "File size is zero"}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.files.create(file=("a.txt", b"abc"), purpose="assistants")
    assert "purpose" in caught.value.body["message"]


async def test_too_large_file_is_400() -> None:
    emulator = await start(max_file_bytes=1024)
    try:
        async with sdk(emulator) as c:
            with pytest.raises(openai.BadRequestError) as caught:
                await upload(c, "big.txt", b"a" * 1025)
            with pytest.raises(openai.BadRequestError):
                await upload(c, "bigger.txt", b"a" * 3_000_000)
            assert (await upload(c, "ok.txt", b"a" * 1024)).status == "ok"
        assert caught.value.body["message"].startswith("File size is too large, max file size is")
    finally:
        await emulator.stop()
    default = MoonshotEmulator()
    assert default.files.max_file_bytes == 100 * 1024 * 1024


async def test_max_file_count_then_delete_frees_a_slot() -> None:
    emulator = await start(max_files=2)
    try:
        async with sdk(emulator) as c:
            first = await upload(c, "1.txt", b"one")
            await upload(c, "2.txt", b"two")
            with pytest.raises(openai.BadRequestError) as caught:
                await upload(c, "3.txt", b"three")
            assert "exceeded the max file count" in caught.value.body["message"]
            deleted = await c.files.delete(first.id)
            assert deleted.deleted is True and deleted.id == first.id
            ids = [f.id async for f in c.files.list()]
            assert first.id not in ids and len(ids) == 1
            with pytest.raises(openai.NotFoundError):
                await c.files.retrieve(first.id)
            with pytest.raises(openai.NotFoundError):
                await c.files.delete(first.id)
            with pytest.raises(openai.NotFoundError):
                await c.files.content(first.id)
            assert (await upload(c, "3.txt", b"three")).status == "ok"
    finally:
        await emulator.stop()


# -- account endpoints -------------------------------------------------------------------------


async def test_models_estimate_and_balance(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    models = [m async for m in client.models.list()]
    assert [m.id for m in models] == builtin_catalog().ids()
    assert models[0].owned_by == "moonshot"
    assert models[0].model_extra["context_length"] == 131072
    status, body = await raw(emu, "GET", "/v1/users/me/balance")
    assert status == 200 and body["status"] is True and body["scode"] == "0x0"
    assert body["data"] == {
        "available_balance": 49.58,
        "voucher_balance": 46.58,
        "cash_balance": 3.0,
    }

    messages = [{"role": "system", "content": "你是 Kimi"}, *user("hello there")]
    status, body = await raw(
        emu,
        "POST",
        "/v1/tokenizers/estimate-token-count",
        {"model": "kimi-k2", "messages": messages},
    )
    assert status == 200
    assert body == {
        "code": 0,
        "data": {"total_tokens": estimate_messages(messages)},
        "scode": "0x0",
        "status": True,
    }
    chat = await client.chat.completions.create(model="kimi-k2", messages=messages)
    assert chat.usage.prompt_tokens == body["data"]["total_tokens"]

    status, body = await raw(emu, "GET", "/v1/users/me/balance")
    cost = emu.catalog.get("kimi-k2").cost(chat.usage.prompt_tokens, chat.usage.completion_tokens)
    assert cost > 0
    assert body["data"]["available_balance"] == pytest.approx(49.58 - cost, abs=1e-8)
    assert body["data"]["voucher_balance"] == pytest.approx(46.58 - cost, abs=1e-8)
    assert body["data"]["cash_balance"] == 3.0  # the voucher is spent first


def test_token_estimate_is_cjk_aware() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("月之暗面月之暗面月之") == 6
    # Mixed text: 9 ASCII characters (2.25 tokens) and 3 others (1.8 tokens), rounded up.
    assert estimate_tokens("Kimi: 月之暗 ok") == 5
    assert estimate_tokens("é" * 10) == 6  # accented Latin counts as "other" too


# -- control API and CLI -----------------------------------------------------------------------


async def test_http_control_api(emu: MoonshotEmulator, client: openai.AsyncOpenAI) -> None:
    status, body = await raw(emu, "POST", "/_emulator/faults", {"kind": "server_error"}, key=None)
    assert status == 200 and body["faults_pending"] == 1
    with pytest.raises(openai.InternalServerError):
        await ask(client, "one")
    status, _ = await raw(emu, "POST", "/_emulator/replies", {"text": "scripted!"}, key=None)
    assert status == 200
    assert (await ask(client, "two")).choices[0].message.content == "scripted!"
    await raw(emu, "POST", "/_emulator/faults", {"kind": "rate_limit", "wait_seconds": 3})
    with pytest.raises(openai.RateLimitError):
        await ask(client, "three")
    status, requests = await raw(emu, "GET", "/_emulator/requests", key=None)
    assert [r["messages"][0]["content"] for r in requests] == ["one", "two", "three"]
    await upload(client, "a.txt", b"abc")
    status, stats = await raw(emu, "GET", "/_emulator/stats", key=None)
    assert stats["requests"] == 3 and stats["rate_limited"] == 1 and stats["files"] == 1
    status, body = await raw(emu, "POST", "/_emulator/faults", {"kind": "nope"})
    assert status == 400 and "unknown fault kind" in body["error"]["message"]
    status, body = await raw(emu, "POST", "/_emulator/replies", {"txt": "typo"})
    assert status == 400
    status, _ = await raw(emu, "POST", "/_emulator/reset", key=None)
    assert status == 200
    status, stats = await raw(emu, "GET", "/_emulator/stats")
    assert (stats["requests"], stats["rate_limited"], stats["files"]) == (0, 0, 0)
    assert emu.requests == [] and emu.rate_limited_count == 0


async def test_in_process_reset_clears_everything(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    await ask(client, "x")
    emu.enqueue(ScriptedReply(text="never used"))
    emu.inject(Fault(kind="server_error"))
    await upload(client, "a.txt", b"abc")
    emu.reset()
    assert emu.requests == [] and len(emu.files) == 0
    assert (await ask(client, "y")).choices[0].message.content == "Echo (kimi-k2): y"


def test_cli_serves_and_prints_its_url(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        '[models."kimi-test"]\ncontext_window = 4096\nmax_output = 1024\n'
        "input_price = 1\noutput_price = 2\nrpm = 5\ntpm = 1000\nconcurrency = 1\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.moonshot",
            "--port",
            "0",
            "--any-key",
            "--models-file",
            str(models),
            "--no-limits",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 15)
        assert ready, "the emulator printed nothing"
        line = process.stdout.readline().strip()
        match = re.fullmatch(
            r"Moonshot emulator on (http://127\.0\.0\.1:\d+/v1) \(key: any\)", line
        )
        assert match, line
        request = urllib.request.Request(
            match.group(1) + "/models", headers={"Authorization": "Bearer sk-anything"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            ids = [m["id"] for m in json.load(response)["data"]]
        assert "kimi-test" in ids and "kimi-k2" in ids
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
