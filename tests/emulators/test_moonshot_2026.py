"""The Moonshot emulator follows Kimi as it is in 2026, driven by the real ``openai`` SDK over HTTP:
thinking models, max_tokens cuts, Partial Mode, images, TPM/TPD wording, served models, balance.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import openai
import pytest
from PIL import Image

from core.catalog import Catalog, builtin_catalog
from emulators.moonshot import Fault, MoonshotEmulator, ScriptedReply, estimate_tokens
from emulators.moonshot.answers import long_text
from emulators.moonshot.images import look
from emulators.moonshot.partial import DEFAULT_CONTINUATION
from emulators.moonshot.tokens import estimate_messages


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (28, 14), "red").save(buffer, "PNG")
    return buffer.getvalue()


KEY = "sk-test"
THINKING = "kimi-k2-thinking"
WAIT = re.compile(r"please try again after (\d+) seconds")
PNG_BYTES = _png_bytes()  # a real, decodable 28×14 red PNG: vision models decode every image
PNG = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
SEEN = look(PNG_BYTES)
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
]


@pytest.fixture
async def emu() -> AsyncIterator[MoonshotEmulator]:
    emulator = MoonshotEmulator(api_key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def client(emu: MoonshotEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk(emu) as c:
        yield c


def sdk(emulator: MoonshotEmulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key=KEY, max_retries=0)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def with_images(text: str, count: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": PNG}} for _ in range(count)]
    return [{"role": "user", "content": parts}]


async def chat(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], model: str = "kimi-k2", **kw: Any
) -> Any:
    return await client.chat.completions.create(model=model, messages=messages, **kw)


async def stream(
    client: openai.AsyncOpenAI, messages: list[dict[str, Any]], model: str = "kimi-k2", **kw: Any
) -> list[Any]:
    chunks = await client.chat.completions.create(model=model, messages=messages, stream=True, **kw)
    return [chunk async for chunk in chunks]


def reasoning_of(message: Any) -> str | None:
    return (message.model_extra or {}).get("reasoning_content")


def streamed(chunks: list[Any]) -> tuple[str, str, list[str]]:
    """(reasoning, content, order of delta kinds 'r'/'c') of a stream."""
    reasoning = content = ""
    order: list[str] = []
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        piece = (delta.model_extra or {}).get("reasoning_content")
        if piece:
            reasoning += piece
            order.append("r")
        if delta.content:
            content += delta.content
            order.append("c")
    return reasoning, content, order


def catalog_with(model: str = "kimi-k2", **changes: Any) -> Catalog:
    base = builtin_catalog()
    return replace(base, models={**base.models, model: replace(base.get(model), **changes)})


async def raw(emulator: MoonshotEmulator, method: str, path: str, body: Any = None) -> Any:
    root = emulator.base_url.removesuffix("/v1")
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, root + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


# -- thinking models ------------------------------------------------------------------------------


async def test_thinking_model_streams_reasoning_before_content(
    client: openai.AsyncOpenAI,
) -> None:
    question = user("why is the sky blue?")
    reasoning, content, order = streamed(await stream(client, question, THINKING))
    assert reasoning.startswith("The user asks: “why is the sky blue?”")
    assert content == f"Echo ({THINKING}): why is the sky blue?"
    assert order == sorted(order, reverse=True) and order[0] == "r" and order[-1] == "c"

    plain = await chat(client, question, THINKING)
    message = plain.choices[0].message
    assert reasoning_of(message) == reasoning and message.content == content
    assert plain.usage.completion_tokens == estimate_tokens(reasoning) + estimate_tokens(content)


async def test_non_thinking_models_stream_no_reasoning_unless_scripted(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    reasoning, content, _ = streamed(await stream(client, user("hi"), "kimi-k2"))
    assert reasoning == "" and content == "Echo (kimi-k2): hi"
    emu.enqueue(ScriptedReply(text="no thoughts", reasoning=""))
    silent = await chat(client, user("hi"), THINKING)
    assert reasoning_of(silent.choices[0].message) is None
    assert silent.choices[0].message.content == "no thoughts"


async def test_reasoning_and_content_share_max_tokens(client: openai.AsyncOpenAI) -> None:
    result = await chat(client, user("write [[len:4000]]"), THINKING, max_tokens=300)
    choice = result.choices[0]
    assert choice.finish_reason == "length"
    assert result.usage.completion_tokens == 300
    reasoning = reasoning_of(choice.message)
    assert reasoning.startswith("The user asks")
    content = choice.message.content
    assert 0 < len(content) < 4000 and long_text(4000).startswith(content)
    assert estimate_tokens(reasoning) + estimate_tokens(content) == 300


async def test_a_turn_can_spend_the_whole_budget_thinking(client: openai.AsyncOpenAI) -> None:
    full = await chat(client, user("think hard"), THINKING)
    whole_reasoning = reasoning_of(full.choices[0].message)
    chunks = await stream(client, user("think hard"), THINKING, max_tokens=5)
    reasoning, content, _ = streamed(chunks)
    assert content == ""
    assert reasoning and whole_reasoning.startswith(reasoning) and reasoning != whole_reasoning
    final = chunks[-1].choices[0]
    assert final.finish_reason == "length"
    assert final.usage["completion_tokens"] == estimate_tokens(reasoning) <= 5


async def test_tool_call_turn_must_keep_its_reasoning(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.enqueue(ScriptedReply(tool_calls=[{"name": "get_weather", "arguments": {}}]))
    history = [{"role": "system", "content": "You are Kimi."}, *user("weather in Beijing?")]
    first = await chat(client, history, THINKING, tools=TOOLS)
    assert first.choices[0].finish_reason == "tool_calls"
    turn = first.choices[0].message.model_dump(exclude_none=True)
    assert turn["reasoning_content"]
    call_id = turn["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "name": "get_weather", "content": "25C"}

    stripped = {k: v for k, v in turn.items() if k != "reasoning_content"}
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(client, [*history, stripped, result], THINKING, tools=TOOLS)
    assert caught.value.body == {
        "type": "invalid_request_error",
        "message": "thinking is enabled but reasoning_content is missing in assistant tool "
        "call message at index 2",
    }
    answer = await chat(client, [*history, turn, result], THINKING, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop"
    assert reasoning_of(answer.choices[0].message).startswith("The tool results are in")
    plain_model = await chat(client, [*history, stripped, result], "kimi-k2", tools=TOOLS)
    assert plain_model.choices[0].finish_reason == "stop"


# -- max_tokens ----------------------------------------------------------------------------------


async def test_missing_max_tokens_defaults_to_1024(client: openai.AsyncOpenAI) -> None:
    result = await chat(client, user("[[len:10000]]"))
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens == 1024
    assert result.choices[0].message.content == long_text(10000)[:4096]


async def test_scripted_answers_are_cut_at_max_tokens(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    text = long_text(2000)
    emu.enqueue(ScriptedReply(text=text))
    emu.enqueue(ScriptedReply(text=text))
    plain = await chat(client, user("go"), max_tokens=100)
    assert plain.choices[0].message.content == text[:400]
    assert (plain.choices[0].finish_reason, plain.usage.completion_tokens) == ("length", 100)
    chunks = await stream(client, user("go"), max_tokens=100)
    assert streamed(chunks)[1] == text[:400]
    assert chunks[-1].choices[0].finish_reason == "length"
    fits = await chat(client, user("short"), max_tokens=100)
    assert fits.choices[0].finish_reason == "stop"


# -- Partial Mode --------------------------------------------------------------------------------


async def test_a_long_scripted_reply_arrives_whole_through_partial_mode(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    script = long_text(30_000) + "\n\n结尾：月之暗面的回答到此为止。"
    emu.enqueue(ScriptedReply(text=script))
    emu.enqueue(ScriptedReply(text="the next answer"))
    question = user("write the whole report")
    got, rounds, finish = "", 0, "length"
    while finish == "length":
        messages = question + (
            [{"role": "assistant", "content": got, "partial": True}] if got else []
        )
        result = await chat(client, messages, max_tokens=2048)
        piece = result.choices[0].message.content
        assert script[len(got) :].startswith(piece) and piece  # continues, never repeats
        assert result.usage.completion_tokens <= 2048
        assert result.usage.prompt_tokens == estimate_messages(messages)
        got += piece
        finish = result.choices[0].finish_reason
        rounds += 1
        assert rounds < 10
    assert finish == "stop" and got == script and rounds >= 4
    assert (await chat(client, user("again"))).choices[0].message.content == "the next answer"


async def test_partial_mode_streams_the_rest(client: openai.AsyncOpenAI) -> None:
    first = await chat(client, user("[[len:3000]]"), max_tokens=200)
    head = first.choices[0].message.content
    assert first.choices[0].finish_reason == "length" and len(head) == 800
    prefix = {"role": "assistant", "content": head[:500], "partial": True}  # a shorter prefix
    chunks = await stream(client, [*user("[[len:3000]]"), prefix], max_tokens=2000)
    assert head[:500] + streamed(chunks)[1] == long_text(3000)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_default_answers_continue_even_when_never_remembered(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    text = long_text(3000)
    prefix = {"role": "assistant", "content": text[:1000], "partial": True}
    result = await chat(client, [*user("[[len:3000]]"), prefix], max_tokens=2000)
    assert emu.stats()["continuable"] == 0
    assert result.choices[0].message.content == text[1000:]
    assert result.choices[0].finish_reason == "stop"


async def test_partial_mode_continues_reasoning_then_content(client: openai.AsyncOpenAI) -> None:
    question = user("[[len:2000]]")
    whole = reasoning_of((await chat(client, question, THINKING)).choices[0].message)
    cut = await chat(client, question, THINKING, max_tokens=8)
    so_far = reasoning_of(cut.choices[0].message)
    assert cut.choices[0].message.content == "" and whole.startswith(so_far) and so_far != whole
    prefix = {"role": "assistant", "content": "", "reasoning_content": so_far, "partial": True}
    rest = await chat(client, [*question, prefix], THINKING, max_tokens=4000)
    assert so_far + reasoning_of(rest.choices[0].message) == whole
    assert rest.choices[0].message.content == long_text(2000)
    assert rest.choices[0].finish_reason == "stop"


async def test_partial_mode_with_an_unknown_prefix(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    prefix = [{"role": "assistant", "content": "Once upon a time", "partial": True}]
    result = await chat(client, [*user("tell a story"), *prefix])
    assert result.choices[0].message.content == DEFAULT_CONTINUATION
    emu.enqueue(ScriptedReply(text=" there was a moon."))
    scripted = await chat(client, [*user("tell a story"), *prefix])
    assert scripted.choices[0].message.content == " there was a moon."


async def test_partial_mode_refuses_json_mode(client: openai.AsyncOpenAI) -> None:
    messages = [*user("json please"), {"role": "assistant", "content": "{", "partial": True}]
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(client, messages, response_format={"type": "json_object"})
    assert caught.value.body["type"] == "invalid_request_error"
    assert "partial" in caught.value.body["message"]


# -- vision --------------------------------------------------------------------------------------


async def test_vision_models_see_images(emu: MoonshotEmulator, client: openai.AsyncOpenAI) -> None:
    messages = with_images("what is this?", 2)
    result = await chat(client, messages, "kimi-k2.5")
    described = SEEN.describe()
    assert described == f"PNG 28×14, mostly red (sha256 {SEEN.sha256[:12]})"
    assert result.choices[0].message.content.endswith(f"I saw 2 images: {described}; {described}.")
    assert "They sent 2 images" in reasoning_of(result.choices[0].message)
    assert result.usage.prompt_tokens == estimate_tokens("what is this?") + 2 * 2
    one = await chat(client, with_images("and this?", 1), "moonshot-v1-8k-vision-preview")
    assert one.choices[0].message.content == (
        f"Echo (moonshot-v1-8k-vision-preview): and this?\n\nI saw 1 image: {described}."
    )
    status, body = await raw(
        emu,
        "POST",
        "/v1/tokenizers/estimate-token-count",
        {"model": "kimi-k2.5", "messages": messages},
    )
    assert status == 200 and body["data"]["total_tokens"] == result.usage.prompt_tokens


async def test_text_models_refuse_images(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(client, with_images("what is this?", 1), "kimi-k2")
    assert caught.value.body == {
        "type": "invalid_request_error",
        "message": "Invalid request: the model kimi-k2 does not support image input",
    }
    web_image = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        }
    ]
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(client, web_image, "kimi-k2.5")
    assert "unsupported image url: https://example.com/a.png" in caught.value.body["message"]


async def test_demo_answers_for_thinking_and_vision_models() -> None:
    async with MoonshotEmulator(api_key=KEY, demo=True) as emulator, sdk(emulator) as c:
        result = await chat(c, with_images("what is in the picture?", 1), "kimi-k2.5")
        message = result.choices[0].message
        assert message.content.startswith("*Demo mode")
        assert "“what is in the picture?”" in message.content
        assert "I saw 1 image: PNG 28×14, mostly red" in message.content
        assert reasoning_of(message).startswith("The user asks")


# -- TPM and TPD ---------------------------------------------------------------------------------


async def test_tpd_counts_answered_tokens_per_beijing_day() -> None:
    emulator = MoonshotEmulator(api_key=KEY, catalog=catalog_with(tpd=100))
    await emulator.start()
    # 23:00 in Beijing, then 00:30 the next day: the same UTC date, another Beijing day.
    emulator.state.daily.clock = lambda: datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    try:
        async with sdk(emulator) as c:
            first = await chat(c, user("a" * 200))
            used = first.usage.total_tokens
            assert used > 100  # answered: the prompt alone fitted
            with pytest.raises(openai.RateLimitError) as caught:
                await chat(c, user("b"))
            assert (await chat(c, user("b"), "moonshot-v1-8k")).choices  # per model
            emulator.state.daily.clock = lambda: datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
            assert (await chat(c, user("b"))).choices[0].finish_reason == "stop"
        body = caught.value.body
        assert body["type"] == "rate_limit_reached_error"
        assert body["message"].endswith(
            f"request reached organization TPD rate limit, current:{used + 1}, limit:100"
        )
        assert not WAIT.search(body["message"])
        assert emulator.rate_limited_count == 1
    finally:
        await emulator.stop()


@pytest.mark.parametrize(
    "kind, wording",
    [
        ("tpm_limit", "TPM rate limit, current:300001, limit:300000"),
        ("tpd_limit", "TPD rate limit, current:1500001, limit:1500000"),
    ],
)
async def test_tpm_and_tpd_faults(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI, kind: str, wording: str
) -> None:
    status, _ = await raw(emu, "POST", "/_emulator/faults", {"kind": kind})
    assert status == 200
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(client, user("hi"))
    assert caught.value.body["type"] == "rate_limit_reached_error"
    assert caught.value.body["message"].endswith(f"request reached organization {wording}")
    assert not WAIT.search(caught.value.body["message"])
    emu.inject(Fault(kind="rate_limit", wait_seconds=7))
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(client, user("hi"))
    assert WAIT.search(caught.value.body["message"]).group(1) == "7"  # RPM keeps its wait
    assert emu.rate_limited_count == 2


# -- account: served models and balance ----------------------------------------------------------


async def test_served_models_narrow_the_account(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    assert [m.id async for m in client.models.list()] == emu.catalog.ids()
    emu.served_models = ["kimi-k2.5", "moonshot-v1-8k"]
    served = [m.id async for m in client.models.list()]
    assert served == [i for i in emu.catalog.ids() if i in {"kimi-k2.5", "moonshot-v1-8k"}]
    assert len(served) == 2
    with pytest.raises(openai.NotFoundError) as caught:
        await chat(client, user("hi"), "kimi-k2")
    assert caught.value.body["type"] == "resource_not_found_error"
    assert (await chat(client, user("hi"), "moonshot-v1-8k")).choices

    status, body = await raw(emu, "POST", "/_emulator/served_models", {"models": ["nope"]})
    assert status == 400 and "nope" in body["error"]["message"]
    status, body = await raw(emu, "POST", "/_emulator/served_models", {"models": ["kimi-k2"]})
    assert status == 200 and [m.id async for m in client.models.list()] == ["kimi-k2"]
    await raw(emu, "POST", "/_emulator/served_models", {"models": None})
    assert len([m async for m in client.models.list()]) == len(emu.catalog.ids())

    async with MoonshotEmulator(api_key=KEY, served_models=["kimi-k2.6"]) as narrow:
        async with sdk(narrow) as c:
            assert [m.id async for m in c.models.list()] == ["kimi-k2.6"]
        narrow.served_models = None
        narrow.reset()
        assert narrow.served_models == ["kimi-k2.6"]  # reset goes back to the configured set


async def test_balance_pays_tokens_and_web_search_fees(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    catalog = emu.catalog
    spec = catalog.get("kimi-k2")
    tools = [{"type": "builtin_function", "function": {"name": "$web_search"}}]
    messages: list[dict[str, Any]] = user("search the news about Kimi")
    first = await chat(client, messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append(
        {
            "role": "tool",
            "tool_call_id": call.id,
            "name": "$web_search",
            "content": call.function.arguments,
        }
    )
    second = await chat(client, messages, tools=tools)
    spent = (
        spec.cost(first.usage.prompt_tokens, first.usage.completion_tokens)
        + catalog.fee_for("$web_search")
        + spec.cost(second.usage.prompt_tokens, second.usage.completion_tokens)
    )
    assert catalog.fee_for("$web_search") == 0.03
    status, body = await raw(emu, "GET", "/v1/users/me/balance")
    assert status == 200 and body["code"] == 0 and body["status"] is True
    assert body["data"]["available_balance"] == pytest.approx(49.58 - spent, abs=1e-8)


async def test_cached_tokens_are_billed_at_the_cache_price(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    spec = emu.catalog.get("kimi-k2-0905-preview")
    emu.enqueue(ScriptedReply(text="ok", usage={"prompt_tokens": 100_000, "cached_tokens": 90_000}))
    result = await chat(client, user("again"), spec.id)
    cost = spec.cost(100_000, result.usage.completion_tokens, 90_000)
    assert cost < spec.cost(100_000, result.usage.completion_tokens)
    assert emu.balance["available_balance"] == pytest.approx(49.58 - cost, abs=1e-8)


async def test_an_empty_balance_refuses_with_quota_429() -> None:
    async with MoonshotEmulator(api_key=KEY, enforce_limits=False) as emulator:
        async with sdk(emulator) as c:
            status, body = await raw(
                emulator,
                "POST",
                "/_emulator/balance",
                {"cash_balance": 0.001, "voucher_balance": 0},
            )
            assert status == 200 and body["balance"]["available_balance"] == 0.001
            await chat(c, user("x" * 4000))  # costs more than is left: answered, then in debt
            with pytest.raises(openai.RateLimitError) as caught:
                await chat(c, user("one more"))
            assert caught.value.body["type"] == "exceeded_current_quota_error"
            assert "insufficient balance" in caught.value.body["message"]
            balance = emulator.balance
            assert balance["available_balance"] == 0 and balance["cash_balance"] < 0
            emulator.set_balance(cash=10)
            assert (await chat(c, user("recharged"))).choices[0].finish_reason == "stop"
            status, body = await raw(emulator, "POST", "/_emulator/balance", {"cash": 1})
            assert status == 400


async def test_demo_mode_never_runs_out_of_money() -> None:
    async with MoonshotEmulator(api_key=KEY, demo=True) as emulator, sdk(emulator) as c:
        emulator.state.balance.charge(1_000)
        assert emulator.balance["available_balance"] == 0
        assert (await chat(c, user("still here?"))).choices[0].message.content


async def test_reset_forgets_continuations_balance_and_daily_tokens(
    emu: MoonshotEmulator, client: openai.AsyncOpenAI
) -> None:
    emu.enqueue(ScriptedReply(text=long_text(3000)))
    cut = await chat(client, user("go"), max_tokens=100)
    assert emu.stats()["continuable"] == 1 and emu.state.daily.used("kimi-k2") > 0
    emu.set_balance(cash=0, voucher=0)
    emu.reset()
    stats = emu.stats()
    assert stats["continuable"] == 0 and stats["balance"]["available_balance"] == 49.58
    assert emu.state.daily.used("kimi-k2") == 0
    partial = {"role": "assistant", "content": cut.choices[0].message.content, "partial": True}
    again = await chat(client, [*user("go"), partial])
    assert again.choices[0].message.content == DEFAULT_CONTINUATION
    assert json.dumps(stats["served_models"]) == "null"
