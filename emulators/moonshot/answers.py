"""Deterministic answers built from the request, and how an answer is cut into stream chunks.

Bot tests need answers they can predict: an echo of the last user message, or with ``[[len:N]]``
exactly N characters of numbered words (so message-splitting tests can check order and loss).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from emulators.moonshot.images import SeenImage
from emulators.moonshot.tokens import content_text
from emulators.moonshot.vision import last_user_images

LEN_MARKER = re.compile(r"\[\[len:(\d+)\]\]")
MAX_LEN = 1_000_000
ECHO_LIMIT = 500
LINE_CHARS = 72
LINES_PER_PARAGRAPH = 5
CODE_AFTER_PARAGRAPH = 2
CODE_MIN_LENGTH = 3000


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the newest user message ('' if there is none)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def default_answer(
    model: str, messages: list[dict[str, Any]], seen: Sequence[SeenImage] = ()
) -> str:
    """``[[len:N]]`` text if asked for, else ``Echo (model): <last user text>`` (cut at 500 chars)
    followed by ``I saw N image(s): <description>; …`` when the last user message carries images
    (``seen``: them decoded; without it only the count is said)."""
    user_text = last_user_text(messages)
    marker = LEN_MARKER.search(user_text)
    if marker:
        return long_text(int(marker.group(1)))
    echoed = user_text if len(user_text) <= ECHO_LIMIT else user_text[:ECHO_LIMIT] + "…"
    answer = f"Echo ({model}): {echoed}"
    images = last_user_images(messages)
    if images:
        answer += f"\n\n{images_seen(images, seen)}"
    return answer


def images_seen(count: int, seen: Sequence[SeenImage] = ()) -> str:
    """``I saw 2 images: PNG 64×32, mostly red (sha256 …); JPEG …`` (or just the count)."""
    said = f"I saw {count} image{'s' if count != 1 else ''}"
    if not seen:
        return f"{said}."
    return f"{said}: {'; '.join(image.describe() for image in seen)}."


def long_text(length: int) -> str:
    """Exactly ``length`` characters: paragraphs of 5 numbered lines of words w1, w2, … in order.

    A fenced code block follows paragraph 2 when ``length`` > 3000, so splitters meet a fence.
    The last character is never whitespace, so a client that strips the text keeps its length.
    """
    length = max(0, min(length, MAX_LEN))
    parts: list[str] = []
    total = 0
    word = 1
    paragraph = 1
    while total < length:
        lines = []
        for line_no in range(1, LINES_PER_PARAGRAPH + 1):
            line = f"P{paragraph}.{line_no}:"
            while len(line) < LINE_CHARS:
                line += f" w{word}"
                word += 1
            lines.append(line)
        block = "\n".join(lines) + "\n\n"
        parts.append(block)
        total += len(block)
        if paragraph == CODE_AFTER_PARAGRAPH and length > CODE_MIN_LENGTH:
            code = _code_block()
            parts.append(code)
            total += len(code)
        paragraph += 1
    text = "".join(parts)[:length]
    if text and text[-1].isspace():
        text = text[:-1] + "."
    return text


def _code_block() -> str:
    body = "".join(f"def step_{i}() -> int:\n    return {i}\n\n" for i in range(1, 4))
    return f"```python\n{body.rstrip()}\n```\n\n"


def split_pieces(text: str, max_chars: int = 8) -> list[str]:
    """Small stream pieces (a word with its spaces, long runs cut at ``max_chars``); joins back exactly."""
    if not text:
        return []
    words = re.findall(r"\s*\S+\s*", text) or [text]
    if sum(len(w) for w in words) != len(text):
        words = [text]
    pieces: list[str] = []
    for word in words:
        pieces.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return pieces


def split_in(text: str, parts: int) -> list[str]:
    """``text`` in ``parts`` pieces (some may be empty): tool-call arguments arrive in fragments."""
    if parts <= 1:
        return [text]
    size = max(1, -(-len(text) // parts))
    pieces = [text[i * size : (i + 1) * size] for i in range(parts)]
    pieces[-1] += text[parts * size :]
    return pieces
