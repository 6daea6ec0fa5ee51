"""The tool loop's requests: Partial Mode continuations and reasoning sent back on tool calls.

The model here is a recording stand-in (what the loop sends is the subject); the same paths run
end to end against the Moonshot emulator in tests/thinking/test_thinking_e2e.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.catalog import builtin_catalog
from core.kimi import Completion, ToolCall
from core.tools.loop import RoundHandlers, ToolLoop
from core.tools.registry import ToolRegistry

MODEL = builtin_catalog().get("kimi-k2-thinking")
TOOLS = [{"type": "builtin_function", "function": {"name": "$web_search"}}]


class RecordingModel:
    def __init__(self, replies: list[Completion]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []

    async def stream(self, **kwargs: Any) -> Completion:
        self.requests.append({**kwargs, "messages": list(kwargs["messages"])})
        reply = self.replies.pop(0)
        if kwargs.get("on_reasoning") and reply.reasoning:
            await kwargs["on_reasoning"](reply.reasoning)
        if reply.text:
            await kwargs["on_delta"](reply.text)
        return reply


async def run_loop(
    model: RecordingModel, max_continuations: int = 4
) -> tuple[list[str], list[str]]:
    shown: list[str] = []
    thought: list[str] = []

    async def on_delta(text: str) -> None:
        shown.append(text)

    async def on_reasoning(text: str) -> None:
        thought.append(text)

    async def ignore(*_: Any) -> None:
        return None

    def sizer(messages: Sequence[Mapping[str, Any]], tools: Any) -> int:
        return 2048

    loop = ToolLoop(model, ToolRegistry(), max_rounds=3, max_continuations=max_continuations)
    await loop.run(
        model=MODEL,
        messages=[{"role": "user", "content": "write a long story"}],
        output=sizer,
        temperature=None,
        tools=TOOLS,
        handlers=RoundHandlers(
            on_delta=on_delta,
            on_retry=ignore,
            on_status=ignore,
            on_completion=ignore,
            on_reasoning=on_reasoning,
        ),
    )
    return shown, thought


async def test_a_cut_answer_is_continued_with_partial_mode_until_it_stops() -> None:
    model = RecordingModel(
        [
            Completion(text="Once ", reasoning="plan", finish_reason="length"),
            Completion(text="upon a ", finish_reason="length"),
            Completion(text="time.", finish_reason="stop"),
        ]
    )
    shown, thought = await run_loop(model)
    assert "".join(shown) == "Once upon a time."
    assert thought == ["plan"]
    assert len(model.requests) == 3
    first, second, third = (r["messages"] for r in model.requests)
    assert first == [{"role": "user", "content": "write a long story"}]
    assert second[-1] == {
        "role": "assistant",
        "content": "Once ",
        "partial": True,
        "reasoning_content": "plan",
    }
    assert third[-1]["content"] == "Once upon a " and third[-1]["partial"] is True
    assert all(r["tools"] == TOOLS for r in model.requests)  # same prefix as the cut request


async def test_reasoning_only_cut_is_continued_from_the_reasoning() -> None:
    model = RecordingModel(
        [
            Completion(text="", reasoning="long thought", finish_reason="length"),
            Completion(text="The answer.", reasoning="", finish_reason="stop"),
        ]
    )
    shown, _ = await run_loop(model)
    assert shown == ["The answer."]
    partial = model.requests[1]["messages"][-1]
    assert partial == {
        "role": "assistant",
        "content": "",
        "partial": True,
        "reasoning_content": "long thought",
    }


async def test_continuations_stop_at_the_limit() -> None:
    model = RecordingModel([Completion(text=f"{i} ", finish_reason="length") for i in range(5)])
    shown, _ = await run_loop(model, max_continuations=2)
    assert "".join(shown) == "0 1 2 "
    assert len(model.requests) == 3


async def test_tool_call_message_carries_its_reasoning_back() -> None:
    search = ToolCall(id="search:0", name="$web_search", arguments='{"q": "x"}')
    model = RecordingModel(
        [
            Completion(
                reasoning="I should search", tool_calls=[search], finish_reason="tool_calls"
            ),
            Completion(text="Found it.", finish_reason="stop"),
        ]
    )
    await run_loop(model)
    assistant = model.requests[1]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["reasoning_content"] == "I should search"
    assert assistant["tool_calls"][0]["id"] == "search:0"
    assert model.requests[1]["messages"][2]["tool_call_id"] == "search:0"
