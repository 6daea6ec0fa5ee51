"""The message a user replied to, as quoted context in front of their own words.

The quote becomes part of the turn's text rather than a field the core expands later: it is
what the user asked about, so it is stored with the user's message (later turns and histories
see exactly what Kimi saw), counted by the length and token limits, and needs no change to
storage or context building. Adapters build a :class:`Quoted` from their platform's reply; this
module owns the one platform-neutral format. Files of the quoted message travel separately, as
attachments of the turn.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_QUOTE_CHARS = 8_000  # a quoted text longer than this is cut (Telegram's own cap is 4096)


@dataclass(frozen=True, slots=True)
class Quoted:
    """What the model is told about the replied-to message."""

    author: str  # who wrote it (for a forwarded message: its original author)
    text: str = ""  # its text or caption, or only the part the user selected
    forwarded_by: str = ""  # who forwarded it here, when it is a forward
    partial: bool = False  # ``text`` is the part the user selected, not the whole message
    media: str = ""  # what else it carries, described ("the document “a.pdf”", "a photo")


def quote_block(quoted: Quoted) -> str:
    """``[Replying to Bob, forwarded by Ann]`` then the quoted lines, each after ``> ``."""
    head = f"[Replying to {quoted.author or 'someone'}"
    if quoted.forwarded_by:
        head += f", forwarded by {quoted.forwarded_by}"
    if quoted.media:
        head += f", with {quoted.media}"
    if quoted.partial:
        head += ", quoting part of it"
    head += "]"
    text = quoted.text.strip()
    if len(text) > MAX_QUOTE_CHARS:
        text = text[:MAX_QUOTE_CHARS].rstrip() + " …"
    lines = [f"> {line}".rstrip() for line in text.splitlines()]
    return "\n".join([head, *lines])


def with_quote(text: str, quoted: Quoted) -> str:
    """The user's words after the quote block (just the block when they said nothing)."""
    block = quote_block(quoted)
    return f"{block}\n\n{text.strip()}" if text.strip() else block
