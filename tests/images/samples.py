"""Images made here with Pillow, and helpers to read them back out of a recorded request."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from PIL import Image

from core.types import Attachment, ConversationKey
from storage import Database


def still(fmt: str, size: tuple[int, int] = (64, 32), colour: str = "red") -> bytes:
    """A real still image in ``fmt`` (PNG, JPEG, WEBP, GIF, BMP, TIFF)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def image(name: str, data: bytes, mime: str = "", *, kind: str = "image", size: int | None = None):
    """An attachment as an adapter hands it over; ``fetched`` counts downloads."""
    calls: list[int] = []

    async def fetch() -> bytes:
        calls.append(1)
        return data

    made = Attachment(
        name=name,
        mime_type=mime,
        size=len(data) if size is None else size,
        fetch=fetch,
        kind=kind,
    )
    return made, calls


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_parts(request: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(subtype, bytes) of every image part of a recorded chat request, oldest first."""
    found = []
    for message in request["messages"]:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") == "image_url":
                header, _, payload = part["image_url"]["url"].partition(",")
                subtype = header.removeprefix("data:image/").removesuffix(";base64")
                found.append((subtype, base64.b64decode(payload)))
    return found


def system_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "system"]


async def link_an_image(
    db: Database, data: bytes, chat: str = "1", conversation_id: int | None = None
) -> int:
    """A user message in a conversation (new unless given) carrying ``data`` as its image;
    returns the conversation's id."""
    if conversation_id is None:
        conversation_id = (
            await db.conversations.get_or_create(ConversationKey("telegram", chat), is_group=False)
        ).id
    message_id = await db.messages.add(conversation_id, "user", "look")
    image = await db.images.create(
        sha256=sha(data), format="png", width=64, height=32, data=data, token_count=15
    )
    number = await db.images.link(
        conversation_id,
        message_id,
        image.id,
        position=0,
        name="a.png",
        token_count=15,
        added_by="telegram:1",
        added_by_name="Alice",
    )
    assert number == 1
    return conversation_id
