"""Where ``max_tokens`` cuts an answer: reasoning first, then content, then tool calls.

Reasoning and answer share the one budget on Moonshot's thinking models, so a turn can spend
all of it thinking and return no content; either way the cut answer finishes with "length".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulators.moonshot.tokens import cut_to_tokens, estimate_tokens


@dataclass(frozen=True, slots=True)
class Fitted:
    """The part of an answer that fits, its completion tokens, and whether anything was cut."""

    reasoning: str
    content: str
    completion_tokens: int
    cut: bool
    tool_calls: list[dict[str, str]] = field(default_factory=list)


def call_tokens(tool_calls: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(call["name"] + call["arguments"]) for call in tool_calls)


def fit(reasoning: str, content: str, tool_calls: list[dict[str, str]], max_tokens: int) -> Fitted:
    """Cut at ``max_tokens`` (emulator estimate); tool calls are kept whole or dropped."""
    kept_reasoning = cut_to_tokens(reasoning, max_tokens)
    used = estimate_tokens(kept_reasoning)
    if kept_reasoning != reasoning:
        return Fitted(kept_reasoning, "", used, cut=True)
    kept_content = cut_to_tokens(content, max_tokens - used)
    used += estimate_tokens(kept_content)
    if kept_content != content:
        return Fitted(reasoning, kept_content, used, cut=True)
    calls = call_tokens(tool_calls)
    if used + calls > max_tokens:
        return Fitted(reasoning, content, used, cut=True)
    return Fitted(reasoning, content, used + calls, cut=False, tool_calls=list(tool_calls))
