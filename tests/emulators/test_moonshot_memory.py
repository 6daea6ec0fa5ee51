"""The Moonshot emulator's prefix cache, deterministic summarizer and recall marker, through the
real ``openai`` SDK over HTTP.

Compaction tests and ``bench/longconv.py`` rely on these: a cache that counts what Moonshot
would (byte-identical prefixes, whole 256-token chunks, per account, with a TTL), a summary that
keeps the facts, and a recall whose answer depends only on what the prompt carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from core.catalog import builtin_catalog
from emulators.moonshot import MoonshotEmulator, ScriptedReply
from emulators.moonshot.billing import answer_cost
from emulators.moonshot.prefix_cache import CHUNK_TOKENS, PrefixCache, prompt_keys
from emulators.moonshot.tokens import estimate_messages, estimate_tokens

KEY = "sk-test"
MODEL = "kimi-k2-0905-preview"  # a model with a cache-hit price in the catalog
LONG = "alpha beta gamma delta " * 100  # ~600 tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emu() -> AsyncIterator[MoonshotEmulator]:
    emulator = MoonshotEmulator(api_key=KEY, accept_any_key=True, enforce_limits=False)
    await emulator.start()
    yield emulator
    await emulator.stop()


def sdk(emulator: MoonshotEmulator, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key=key, max_retries=0)


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are Kimi. " + LONG}]
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn}: " + LONG})
        messages.append({"role": "assistant", "content": f"answer {turn}: " + LONG})
    return messages


async def usage_of(client: openai.AsyncOpenAI, messages: list[dict[str, Any]], **kw: Any) -> Any:
    result = await client.chat.completions.create(model=MODEL, messages=messages, **kw)
    return result.usage


# -- prefix cache -------------------------------------------------------------------------------


async def test_first_request_has_no_cached_tokens(emu: MoonshotEmulator) -> None:
    async with sdk(emu) as client:
        usage = await usage_of(client, [*conversation(1), {"role": "user", "content": "next"}])
    assert usage.model_extra.get("cached_tokens") is None
    assert usage.prompt_tokens_details is None


async def test_a_growing_conversation_hits_the_cache_in_whole_chunks(
    emu: MoonshotEmulator,
) -> None:
    first = [*conversation(1), {"role": "user", "content": "first question"}]
    second = [*conversation(2), {"role": "user", "content": "second question"}]
    assert second[: len(first) - 1] == first[:-1]
    async with sdk(emu) as client:
        await usage_of(client, first)
        usage = await usage_of(client, second)
    shared = estimate_messages(first[:-1])  # everything but the newest user message
    expected = shared // CHUNK_TOKENS * CHUNK_TOKENS
    assert expected > 0
    assert usage.model_extra["cached_tokens"] == expected
    assert usage.prompt_tokens_details.cached_tokens == expected
    assert usage.prompt_tokens == estimate_messages(second)


async def test_a_cache_hit_is_billed_at_the_cache_price(emu: MoonshotEmulator) -> None:
    messages = [*conversation(2), {"role": "user", "content": "again"}]
    async with sdk(emu) as client:
        await usage_of(client, messages)
        before = emu.state.balance.available
        usage = await usage_of(client, messages)
    paid = before - emu.state.balance.available
    spec = builtin_catalog().get(MODEL)
    cached = usage.model_extra["cached_tokens"]
    assert cached > 0
    assert paid == pytest.approx(spec.cost(usage.prompt_tokens, usage.completion_tokens, cached))
    assert paid < spec.cost(usage.prompt_tokens, usage.completion_tokens, 0)
    assert answer_cost(emu.state.catalog, MODEL, usage.model_dump(), []) == pytest.approx(paid)


async def test_a_changed_system_prompt_breaks_the_prefix(emu: MoonshotEmulator) -> None:
    first = [*conversation(2), {"role": "user", "content": "q"}]
    changed = [{"role": "system", "content": "It is 12:01. You are Kimi. " + LONG}, *first[1:]]
    async with sdk(emu) as client:
        await usage_of(client, first)
        usage = await usage_of(client, changed)
    assert usage.model_extra.get("cached_tokens") is None


async def test_tools_are_part_of_the_prefix(emu: MoonshotEmulator) -> None:
    tool = {
        "type": "function",
        "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
    }
    messages = [*conversation(2), {"role": "user", "content": "q"}]
    async with sdk(emu) as client:
        await usage_of(client, messages)
        with_tools = await usage_of(client, messages, tools=[tool])
        again = await usage_of(client, messages, tools=[tool])
    assert with_tools.model_extra.get("cached_tokens") is None
    assert again.model_extra["cached_tokens"] > 0


async def test_the_cache_is_per_account(emu: MoonshotEmulator) -> None:
    messages = [*conversation(2), {"role": "user", "content": "q"}]
    async with sdk(emu, "sk-one") as one, sdk(emu, "sk-two") as two:
        await usage_of(one, messages)
        other = await usage_of(two, messages)
        same = await usage_of(one, messages)
    assert other.model_extra.get("cached_tokens") is None
    assert same.model_extra["cached_tokens"] > 0


async def test_entries_expire_after_the_ttl(emu: MoonshotEmulator) -> None:
    clock = Clock()
    emu.state.prefix_cache = PrefixCache(ttl=300, clock=clock)
    messages = [*conversation(2), {"role": "user", "content": "q"}]
    async with sdk(emu) as client:
        await usage_of(client, messages)
        clock.now += 299  # a hit renews the entries
        assert (await usage_of(client, messages)).model_extra["cached_tokens"] > 0
        clock.now += 301
        expired = await usage_of(client, messages)
    assert expired.model_extra.get("cached_tokens") is None
    keys = prompt_keys(MODEL, None, messages)
    assert len(emu.state.prefix_cache) == len(keys.chunks) + 1  # and the exact prompt's key


async def test_a_scripted_usage_wins_over_the_cache(emu: MoonshotEmulator) -> None:
    messages = [*conversation(2), {"role": "user", "content": "q"}]
    async with sdk(emu) as client:
        await usage_of(client, messages)
        emu.enqueue(ScriptedReply(text="x", usage={"prompt_tokens": 50, "cached_tokens": 7}))
        usage = await usage_of(client, messages)
    assert usage.model_extra["cached_tokens"] == 7
    assert usage.prompt_tokens == 50


async def test_streamed_usage_reports_cached_tokens(emu: MoonshotEmulator) -> None:
    messages = [*conversation(2), {"role": "user", "content": "q"}]
    async with sdk(emu) as client:
        await usage_of(client, messages)
        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens > 0


async def test_an_exact_resend_is_cached_whole(emu: MoonshotEmulator) -> None:
    short = [{"role": "user", "content": "a short question"}]  # under one 256-token chunk
    longer = [*conversation(1), {"role": "user", "content": "q"}]
    async with sdk(emu) as client:
        await usage_of(client, short)
        again = await usage_of(client, short, temperature=0.9, max_tokens=50)
        extended = await usage_of(
            client,
            [*short, {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}],
        )
        await usage_of(client, longer)
        resent = await usage_of(client, longer)
    # generation parameters are not part of the prompt; an exact re-send is cached whole
    assert again.model_extra["cached_tokens"] == again.prompt_tokens == estimate_messages(short)
    assert extended.model_extra.get("cached_tokens") is None, "no chunk under 256 tokens"
    assert resent.model_extra["cached_tokens"] == resent.prompt_tokens
    assert resent.prompt_tokens % CHUNK_TOKENS != 0


def test_memory_stays_bounded() -> None:
    cache = PrefixCache(max_entries=10)
    for number in range(50):
        messages = [{"role": "user", "content": f"conversation {number} " + LONG * 3}]
        cache.use("sk", prompt_keys(MODEL, None, messages))
    assert len(cache) == 10


def test_keys_are_one_per_chunk_and_one_for_the_prompt() -> None:
    messages = conversation(3)
    keys = prompt_keys(MODEL, None, messages)
    total = estimate_messages(messages)
    assert keys.tokens == total
    assert [tokens for _, tokens in keys.chunks][-1] == total // CHUNK_TOKENS * CHUNK_TOKENS
    assert len({tokens for _, tokens in keys.chunks}) == len(keys.chunks)
    assert len(keys.chunks) <= total // CHUNK_TOKENS
    assert keys.exact not in {digest for digest, _ in keys.chunks}


# -- summarizer ----------------------------------------------------------------------------------


def summary_request(*transcript: str, max_tokens: int = 400) -> dict[str, Any]:
    return {
        "model": "moonshot-v1-8k",
        "max_tokens": max_tokens,
        "messages": [
            {"role": "system", "content": "Summarize the conversation below. Keep every fact."},
            {"role": "user", "content": "\n".join(transcript)},
        ],
    }


async def answer(emu: MoonshotEmulator, body: dict[str, Any]) -> str:
    async with sdk(emu) as client:
        result = await client.chat.completions.create(**body)
    return result.choices[0].message.content


async def test_the_summary_keeps_facts_in_order_without_duplicates(
    emu: MoonshotEmulator,
) -> None:
    text = await answer(
        emu,
        summary_request(
            "Alice: Hello there! My name is Alice.",
            "Kimi: Nice to meet you, Alice.",
            "Bob: The meeting moved to 15:30. Thanks!",
            "Alice: My name is Alice.",
            "Kimi: Remember the budget. P1.1: w1 w2 w3",
            "Bob: Cats are wonderful [[len:900]]",
        ),
    )
    assert text == (
        "Summary: Alice: My name is Alice. Bob: The meeting moved to 15:30. "
        "Kimi: Remember the budget. Bob: Cats are wonderful"
    )


async def test_a_summary_of_a_summary_keeps_its_facts(emu: MoonshotEmulator) -> None:
    body = summary_request("I moved to Lyon.", "Fine weather today.")
    body["messages"].insert(1, {"role": "system", "content": "Summary: My code is 4711."})
    text = await answer(emu, body)
    assert text == "Summary: My code is 4711."
    assert "Lyon" not in text  # no digit, no " is ": not a fact by the emulator's rule


async def test_the_summary_fits_max_tokens_in_whole_sentences(emu: MoonshotEmulator) -> None:
    facts = [f"Fact number {i} is true." for i in range(100)]
    text = await answer(emu, summary_request(*facts, max_tokens=40))
    assert estimate_tokens(text) <= 40
    assert text.startswith("Summary: Fact number 0 is true. Fact number 1 is true.")
    assert text.endswith("is true.")


async def test_a_request_with_tools_is_no_summary(emu: MoonshotEmulator) -> None:
    body = summary_request("My name is Ada.")
    body["tools"] = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    assert (await answer(emu, body)).startswith("Echo (moonshot-v1-8k): ")


async def test_ordinary_answers_are_unchanged(emu: MoonshotEmulator) -> None:
    body = {
        "model": "kimi-k2",
        "messages": [
            {"role": "system", "content": "You are Kimi."},
            {"role": "user", "content": "My name is Ada."},
        ],
    }
    assert await answer(emu, body) == "Echo (kimi-k2): My name is Ada."


# -- recall --------------------------------------------------------------------------------------


async def test_recall_finds_the_key_in_every_message(emu: MoonshotEmulator) -> None:
    body = {
        "model": "kimi-k2",
        "messages": [
            {"role": "system", "content": "You are Kimi."},
            {"role": "system", "content": "Summary: Zorblat's code is 4711. Weather is fine."},
            {"role": "user", "content": "My pet ZORBLAT sleeps. Nothing else. [[len:40]]"},
            {"role": "assistant", "content": "P1.1: w1 w2"},
            {"role": "user", "content": "What about zorblat? [[recall:Zorblat]]"},
        ],
    }
    assert await answer(emu, body) == "Zorblat's code is 4711. My pet ZORBLAT sleeps."


async def test_recall_of_an_unknown_key(emu: MoonshotEmulator) -> None:
    body = {
        "model": "kimi-k2",
        "messages": [{"role": "user", "content": "Tell me [[recall:Quux]] [[len:500]]"}],
    }
    assert await answer(emu, body) == "I don't know Quux."
