"""The emulator's token estimate: one small, CJK-aware rule used for usage, limits and estimates.

Kimi's real tokenizer is not available offline; what matters for the emulator is that the same
rule is used everywhere (stream and non-stream usage, TPM, context window, the estimate endpoint).
"""

from __future__ import annotations

import math
from typing import Any


def estimate_tokens(text: str) -> int:
    """About 1 token per 4 ASCII characters and 0.6 tokens per other (mostly CJK) character."""
    if not text:
        return 0
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    other = len(text) - ascii_chars
    return max(1, math.ceil(ascii_chars / 4 + other * 0.6))


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def message_text(message: dict[str, Any]) -> str:
    """Everything in a message that the model reads: content plus tool-call names and arguments."""
    text = content_text(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            text += f"{function.get('name', '')}{function.get('arguments', '')}"
    return text


def estimate_messages(messages: list[dict[str, Any]]) -> int:
    """Prompt estimate: the sum over messages (each message's estimate, at least 1)."""
    return sum(max(1, estimate_tokens(message_text(m))) for m in messages if isinstance(m, dict))
