"""The emulator's token estimate: one small, CJK-aware rule used for usage, limits and estimates.

Kimi's real tokenizer is not available offline; what matters for the emulator is that the same
rule is used everywhere (stream and non-stream usage, TPM, context window, the estimate endpoint,
and where ``max_tokens`` cuts an answer).
"""

from __future__ import annotations

import math
from typing import Any

from emulators.moonshot.filestore import FileStore
from emulators.moonshot.vision import content_image_tokens


def _tokens(ascii_chars: int, other_chars: int) -> int:
    return math.ceil(ascii_chars / 4 + other_chars * 0.6)


def estimate_tokens(text: str) -> int:
    """About 1 token per 4 ASCII characters and 0.6 tokens per other (mostly CJK) character."""
    if not text:
        return 0
    # Counted in C: the ASCII characters are what survives an ASCII encode that drops the rest
    # (a generator over every character was ~7 % of a soak's emulator CPU).
    ascii_chars = len(text) if text.isascii() else len(text.encode("ascii", "ignore"))
    return max(1, _tokens(ascii_chars, len(text) - ascii_chars))


def cut_to_tokens(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose estimate fits in ``budget`` tokens."""
    if estimate_tokens(text) <= budget:
        return text
    ascii_chars = other = 0
    for index, ch in enumerate(text):
        if ord(ch) < 128:
            ascii_chars += 1
        else:
            other += 1
        if max(1, _tokens(ascii_chars, other)) > budget:
            return text[:index]
    return text


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
    """Everything in a message that the model reads as text: content, reasoning kept in the
    history, and tool-call names and arguments."""
    text = content_text(message.get("content"))
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        text += reasoning
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            text += f"{function.get('name', '')}{function.get('arguments', '')}"
    return text


def estimate_messages(messages: list[dict[str, Any]], files: FileStore | None = None) -> int:
    """Prompt estimate: the sum over messages (each message's estimate, at least 1), plus one
    token per 14×14 tile of every image (``files`` resolves ``ms://`` images)."""
    return sum(
        max(1, estimate_tokens(message_text(m))) + content_image_tokens(m.get("content"), files)
        for m in messages
        if isinstance(m, dict)
    )
