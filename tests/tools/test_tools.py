"""Tool calling end to end: the engine's tool loop, the emulator's tool-call flow and the
built-in web search, with the real openai SDK over HTTP."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from functools import partial

import pytest

from core.tools.registry import ToolRegistry
from core.types import Author, CollectingSink, ConversationKey
from emulators.moonshot import ScriptedReply
from tests.support.messages import ask as support_ask

KEY = ConversationKey(platform="cli", chat="tools")
ALICE = Author(id="cli:alice", name="Alice")


ask = partial(support_ask, key=KEY, author=ALICE)


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


async def test_web_search_round_trip_echoes_arguments(services, moonshot):
    sink = CollectingSink()
    outcome = await services.assistant.handle(ask("search the latest AI news"), sink)
    assert outcome.status == "complete"
    first, second = moonshot.requests[-2], moonshot.requests[-1]
    assert {"type": "builtin_function", "function": {"name": "$web_search"}} in first["tools"]
    assistant = second["messages"][-2]
    call = assistant["tool_calls"][0]
    assert call["function"]["name"] == "$web_search"
    [tool] = tool_messages(second)
    assert tool["tool_call_id"] == call["id"] and tool["name"] == "$web_search"
    assert tool["content"] == call["function"]["arguments"], "arguments echoed unchanged"
    assert "web search results" in sink.final
    assert "searching the web…" in sink.notices
    usage = await services.db.usage.totals(user_id="cli:alice")
    assert usage.calls == 2, "both model calls of the loop are in the ledger"
    search_tokens = json.loads(call["function"]["arguments"])["usage"]["total_tokens"]
    assert usage.prompt_tokens > search_tokens, "search tokens are billed as prompt tokens"


async def test_search_off_per_conversation(services, moonshot):
    sink = CollectingSink()
    await services.assistant.handle(ask("/search off"), sink)
    assert sink.replies[-1] == "Web search is now off in this conversation."
    await services.assistant.handle(ask("search the news"), sink)
    tools = moonshot.requests[-1].get("tools") or []
    assert all(t["type"] != "builtin_function" for t in tools)
    assert len(moonshot.requests) == 1, "no tool round without the tool"
    await services.assistant.handle(ask("/search"), sink)
    assert "off" in sink.replies[-1]


async def test_plugin_called_with_validated_arguments(services, moonshot):
    moonshot.enqueue(
        ScriptedReply(tool_calls=[{"name": "calculator", "arguments": {"expression": "6*7"}}])
    )
    moonshot.enqueue(ScriptedReply(text="It is 42."))
    sink = CollectingSink()
    await services.assistant.handle(ask("what is six times seven?"), sink)
    [tool] = tool_messages(moonshot.requests[-1])
    assert json.loads(tool["content"])["result"] == 42
    assert sink.final == "It is 42."
    assert "calculating…" in sink.notices


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"expr": "1+1"}, "invalid arguments"),
        ({"expression": "__import__('os')"}, "the tool failed"),
        ("{not json", "not valid JSON"),
    ],
)
async def test_bad_calls_return_errors_and_the_turn_still_answers(
    services, moonshot, arguments, expected
):
    moonshot.enqueue(ScriptedReply(tool_calls=[{"name": "calculator", "arguments": arguments}]))
    moonshot.enqueue(ScriptedReply(text="Sorry, I could not calculate that."))
    sink = CollectingSink()
    outcome = await services.assistant.handle(ask("calc"), sink)
    [tool] = tool_messages(moonshot.requests[-1])
    assert expected in json.loads(tool["content"])["error"]
    assert outcome.status == "complete" and sink.final


async def test_slow_tool_times_out_into_an_error_result(services, moonshot):
    from core.tools.registry import Tool

    async def sleepy() -> str:
        await asyncio.sleep(5)
        return "never"

    registry = services.assistant._turns._tools
    registry.add(Tool("sleepy", "sleeps", {"type": "object"}, sleepy, timeout=0.2))
    moonshot.enqueue(ScriptedReply(tool_calls=[{"name": "sleepy", "arguments": {}}]))
    moonshot.enqueue(ScriptedReply(text="The tool was too slow."))
    sink = CollectingSink()
    await services.assistant.handle(ask("be slow"), sink)
    [tool] = tool_messages(moonshot.requests[-1])
    assert "did not answer within 0.2 seconds" in json.loads(tool["content"])["error"]
    assert sink.final == "The tool was too slow."


async def test_round_bound_stops_a_model_that_keeps_calling(services, moonshot):
    for _ in range(10):
        moonshot.enqueue(
            ScriptedReply(tool_calls=[{"name": "current_time", "arguments": {"timezone": "UTC"}}])
        )
    moonshot.enqueue(ScriptedReply(text="Enough tools."))
    sink = CollectingSink()
    outcome = await services.assistant.handle(ask("loop forever"), sink)
    rounds = services.settings.kimi_tool_max_rounds
    assert len(moonshot.requests) == rounds + 1
    assert "tools" not in moonshot.requests[-1], "the last call offers no tools"
    usage = await services.db.usage.totals(user_id="cli:alice")
    assert usage.calls == rounds + 1
    assert outcome is not None


def test_third_party_plugin_discovered_from_entry_point(tmp_path, monkeypatch):
    package = tmp_path / "kimi_weather"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from core.tools.registry import Tool

            async def _weather(city: str) -> dict:
                return {"city": city, "sky": "clear"}

            weather = Tool(
                name="weather",
                description="Weather in a city",
                parameters={"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]},
                run=_weather,
            )
            """
        )
    )
    dist = tmp_path / "kimi_weather-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kimi-weather\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[kimi_bot.tools]\nweather = kimi_weather:weather\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ToolRegistry.discover()
    assert {"weather", "calculator", "current_time"} <= set(registry.names())
    from core.kimi import ToolCall

    result = asyncio.run(
        registry.execute(ToolCall("functions.weather:0", "weather", '{"city": "Oslo"}'))
    )
    assert json.loads(result) == {"city": "Oslo", "sky": "clear"}
    bad = asyncio.run(registry.execute(ToolCall("x", "weather", "{}")))
    assert "'city' is a required property" in json.loads(bad)["error"]
    sys.modules.pop("kimi_weather", None)


async def test_tool_status_lines_follow_the_users_language(services, moonshot):
    moonshot.enqueue(
        ScriptedReply(tool_calls=[{"name": "calculator", "arguments": {"expression": "12*7"}}])
    )
    moonshot.enqueue(ScriptedReply(text="等于 84。"))
    sink = CollectingSink()
    await services.assistant.handle(ask("请帮我算一下十二乘以七"), sink)
    assert sink.notices == ["正在计算…"]
    english = CollectingSink()
    await services.assistant.handle(ask("search the latest AI news"), english)
    assert "searching the web…" in english.notices
