"""Partial Mode: a request ending with ``{"role": "assistant", "content": ..., "partial": true}``
asks the model to go on from that text without repeating it.

Answers cut at ``max_tokens`` are remembered whole (bounded), so a client that continues them
with Partial Mode gets exactly the rest, as it would from the real model, and a long scripted
reply arrives complete over several continuations. Default answers are deterministic, so they
can be continued even once forgotten.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

KEEP = 64  # answers cut at max_tokens that can still be continued
DEFAULT_CONTINUATION = " (continued by the emulator: it does not know how this text goes on)"


@dataclass(frozen=True, slots=True)
class Prefix:
    """What the client says the assistant has produced so far."""

    content: str
    reasoning: str


@dataclass(frozen=True, slots=True)
class Rest:
    """What is left to say after a prefix."""

    reasoning: str
    content: str


def partial_prefix(messages: list[dict[str, Any]]) -> Prefix | None:
    """The prefix of a Partial Mode request, or None if the request is not one."""
    last = messages[-1]
    if (
        not isinstance(last, dict)
        or last.get("role") != "assistant"
        or last.get("partial") is not True
    ):
        return None
    content = last.get("content")
    reasoning = last.get("reasoning_content")
    return Prefix(
        content=content if isinstance(content, str) else "",
        reasoning=reasoning if isinstance(reasoning, str) else "",
    )


def partial_problem(body: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """Partial Mode cannot be combined with JSON mode."""
    response_format = body.get("response_format")
    json_mode = isinstance(response_format, dict) and response_format.get("type") == "json_object"
    if json_mode and partial_prefix(messages) is not None:
        return "partial mode is not supported together with response_format json_object"
    return None


def rest_after(prefix: Prefix, reasoning: str, content: str) -> Rest | None:
    """What remains of the answer (``reasoning``, ``content``) after ``prefix``, if it starts it:
    a content prefix continues the content; a reasoning-only prefix continues the reasoning."""
    if prefix.content:
        if content.startswith(prefix.content):
            return Rest(reasoning="", content=content[len(prefix.content) :])
    elif prefix.reasoning and reasoning.startswith(prefix.reasoning):
        return Rest(reasoning=reasoning[len(prefix.reasoning) :], content=content)
    return None


class Continuations:
    """The full intended text (reasoning, content) of the newest answers cut at max_tokens."""

    def __init__(self, keep: int = KEEP) -> None:
        self._items: deque[tuple[str, str]] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, reasoning: str, content: str) -> None:
        for item in list(self._items):
            if item[1] == content:
                self._items.remove(item)
                if len(item[0]) > len(reasoning):
                    reasoning = item[0]
        self._items.append((reasoning, content))

    def find(self, prefix: Prefix) -> Rest | None:
        """The rest of the newest remembered answer that ``prefix`` starts, if any."""
        for reasoning, content in reversed(self._items):
            rest = rest_after(prefix, reasoning, content)
            if rest is not None:
                return rest
        return None

    def clear(self) -> None:
        self._items.clear()
