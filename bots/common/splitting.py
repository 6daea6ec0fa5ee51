"""Split a long Markdown answer into platform-sized parts without breaking code blocks.

Why our own: the known splitters (textwrap, LangChain's) cut on characters or words, not on
Markdown structure. We cut on blank lines first, then lines, then words, and when a cut falls
inside a fenced code block we close the fence in one part and reopen it (same language) in
the next, so every part renders on its own.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
_FENCE_LINE = re.compile(r"^\s*(```+|~~~+)", re.MULTILINE)


def split_markdown(text: str, limit: int) -> list[str]:
    """Parts of at most ``limit`` characters, in order; joining them loses no content."""
    if limit < 40:
        raise ValueError("limit too small to split sensibly")
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    fence: str | None = None  # the opening fence line while inside a code block
    budget = limit - 8  # room for a closing fence

    def flush() -> None:
        nonlocal current, size
        if not current:
            return
        body = "".join(current).rstrip("\n")
        if fence is not None:
            body += "\n```"
        if body.strip():
            parts.append(body)
        current = [fence + "\n"] if fence is not None else []
        size = len(current[0]) if current else 0

    for line in _lines(text):
        match = _FENCE.match(line)
        for piece in _pieces(line, budget - (len(fence) + 1 if fence else 0)):
            blank_break = piece.strip() == "" and size > budget * 0.6
            if size + len(piece) > budget or blank_break:
                flush()
                if blank_break:
                    continue
            current.append(piece)
            size += len(piece)
        if match:
            fence = None if fence is not None else line.strip()
    flush()
    return parts


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _pieces(line: str, limit: int) -> list[str]:
    """A line, or for a line longer than the limit, word-sized pieces of it."""
    if len(line) <= limit:
        return [line]
    pieces: list[str] = []
    rest = line
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit)
        if cut <= limit // 2:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def inside_fence(text: str) -> bool:
    """True when ``text`` ends inside a fenced code block (an odd number of fence lines)."""
    return len(_FENCE_LINE.findall(text)) % 2 == 1


def close_open_fence(text: str) -> str:
    """A cut-off answer may end inside a code block; close it so a note after it is not code."""
    if inside_fence(text):
        return text.rstrip("\n") + "\n```"
    return text
