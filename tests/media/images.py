"""Small real images and stand-in sound for the media tests, made on the spot with Pillow."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

# Not real Opus/MPEG-4: the adapters pass bytes through without decoding them.
OGG = b"OggS\x00\x02" + bytes(range(200))
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(200))


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    """A one-colour picture in ``fmt`` (PNG, JPEG, WEBP, GIF)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def recorder(services: Any) -> list[tuple[Any, list[bytes]]]:
    """Record what reaches the core's ``handle`` (each Incoming and its attachments' bytes),
    then let the core answer as usual."""
    seen: list[tuple[Any, list[bytes]]] = []
    assistant = services.assistant
    original = assistant.handle

    async def handle(incoming: Any, sink: Any) -> Any:
        seen.append((incoming, [await a.fetch() for a in incoming.attachments]))
        return await original(incoming, sink)

    assistant.handle = handle
    return seen


async def stored_user_texts(services: Any, key: Any) -> list[str]:
    """The user's messages stored in a conversation, oldest first."""
    conversation = await services.db.conversations.active(key)
    if conversation is None:
        return []
    rows = await services.db.messages.page(conversation.id, limit=100)
    return [row.content for row in reversed(rows) if row.role == "user"]


def image_parts(moonshot: Any) -> list[str]:
    """The image data URLs in the last user message of the Moonshot emulator's last chat."""
    chats = [r for r in moonshot.requests if "messages" in r]
    if not chats:
        return []
    content = [m for m in chats[-1]["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def chat_requests(moonshot: Any) -> list[dict[str, Any]]:
    """The chat completion requests the Moonshot emulator received."""
    return [r for r in moonshot.requests if "messages" in r]
