"""Answers for demo mode (``kimi-bot run`` with no key): say plainly that they are not Kimi's,
and show what the bot sent, so a newcomer sees memory and documents work end to end."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from emulators.moonshot.answers import images_seen, last_user_text
from emulators.moonshot.images import SeenImage
from emulators.moonshot.tokens import content_text
from emulators.moonshot.vision import last_user_images

QUOTE_LIMIT = 300
DOCUMENT_EXCERPT = 160


def demo_answer(messages: list[dict[str, Any]], seen: Sequence[SeenImage] = ()) -> str:
    """A Markdown answer naming the question, the remembered turns, the images (``seen``: the
    newest message's, decoded) and the documents in context."""
    question = last_user_text(messages).strip()
    if len(question) > QUOTE_LIMIT:
        question = question[:QUOTE_LIMIT] + "…"
    earlier = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user") - 1
    lines = [
        "*Demo mode: this answer comes from kimi-bot's offline emulator, not from Kimi.*",
        "",
        f"You asked: “{question}”",
        "",
        f"I remember {earlier} earlier message{'s' if earlier != 1 else ''} of yours in this "
        "conversation."
        if earlier > 0
        else "This is the first message of this conversation.",
    ]
    images = last_user_images(messages)
    if images:
        what = "it" if images == 1 else "them"
        lines += [
            "",
            f"{images_seen(images, seen)} (The emulator reads only the format, size and main "
            f"colour of {what}, not what {'it shows' if images == 1 else 'they show'}.)",
        ]
    documents = _documents(messages)
    if documents:
        lines += ["", "Documents I can read in this conversation:"]
        for name, content in documents:
            excerpt = " ".join(content.split())[:DOCUMENT_EXCERPT]
            lines.append(f"- **{name}** ({len(content):,} characters): “{excerpt}…”")
    lines += [
        "",
        "Set `MOONSHOT_API_KEY` and restart to get real answers from Kimi.",
    ]
    return "\n".join(lines)


def _documents(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(filename, content) of Moonshot's file-content system messages."""
    found = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "system":
            continue
        try:
            payload = json.loads(content_text(message.get("content")))
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(payload, dict) and payload.get("type") == "file":
            found.append((str(payload.get("filename", "file")), str(payload.get("content", ""))))
    return found
