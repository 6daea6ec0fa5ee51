"""Thinking models: the reasoning they stream before answering, and the rule that a tool-call
turn sent back must keep its reasoning.

Moonshot answers 400 when an assistant message with ``tool_calls`` reaches a thinking model
without its ``reasoning_content`` (the exact message is quoted below, no "Invalid request:"
prefix), so the emulator refuses it the same way and bots find out in tests, not in production.
"""

from __future__ import annotations

from typing import Any

from emulators.moonshot.answers import last_user_text
from emulators.moonshot.vision import last_user_images

MISSING_REASONING = (
    "thinking is enabled but reasoning_content is missing in assistant tool call message "
    "at index {index}"
)
QUESTION_SHOWN = 120


def default_reasoning(messages: list[dict[str, Any]]) -> str:
    """A short, deterministic line of 'thought' built from the request."""
    last = messages[-1] if messages else {}
    if isinstance(last, dict) and last.get("role") == "tool":
        return "The tool results are in; I will read them and answer from them."
    question = " ".join(last_user_text(messages).split())
    if len(question) > QUESTION_SHOWN:
        question = question[:QUESTION_SHOWN] + "…"
    images = last_user_images(messages)
    seen = ""
    if images == 1:
        seen = " They sent an image; I look at it first."
    elif images > 1:
        seen = f" They sent {images} images; I look at them first."
    return f"The user asks: “{question}”.{seen} I will answer directly and briefly."


def missing_reasoning_index(messages: list[dict[str, Any]]) -> int | None:
    """Index of the first assistant tool-call message without ``reasoning_content``, if any."""
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or not message.get("tool_calls"):
            continue
        reasoning = message.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning:
            return index
    return None
