"""Images in message content: which parts are images, what they cost, and which requests to refuse.

Moonshot's vision models take ``content`` as a list of ``{"type": "text"}`` and
``{"type": "image_url", "image_url": {"url": ...}}`` parts, where the url is a base64 ``data:``
url or an uploaded file (``ms://<file_id>``); web urls are refused ("unsupported image url").
Real image tokens grow with the resolution: the emulator charges one fixed estimate per image.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

IMAGE_TOKENS = 1024  # the emulator's prompt-token estimate for one image, whatever its size
PART_TYPES = frozenset({"text", "image_url"})
FILE_URL_PREFIX = "ms://"
DATA_URL_PREFIX = "data:image/"
URL_SHOWN = 80


def image_urls(content: Any) -> list[Any]:
    """The ``image_url.url`` of every image part of one message ``content`` (may be malformed)."""
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            holder = part.get("image_url")
            urls.append(holder.get("url") if isinstance(holder, dict) else None)
    return urls


def image_count(content: Any) -> int:
    return len(image_urls(content))


def last_user_images(messages: list[dict[str, Any]]) -> int:
    """Images in the newest user message: what the model is looking at now."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return image_count(message.get("content"))
    return 0


def image_problem(messages: list[dict[str, Any]], model_id: str, vision: bool) -> str | None:
    """Why the content parts cannot be used (malformed parts, bad urls, a model without eyes)."""
    images = 0
    for position, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in PART_TYPES:
                return (
                    f"unsupported content part type {kind!r} in the message at position {position}"
                )
            if kind == "text" and not isinstance(part.get("text"), str):
                return f"a text part of the message at position {position} needs a string 'text'"
        for url in image_urls(content):
            problem = _url_problem(url, position)
            if problem:
                return problem
            images += 1
    if images and not vision:
        return f"the model {model_id} does not support image input"
    return None


def _url_problem(url: Any, position: int) -> str | None:
    if not isinstance(url, str) or not url:
        return f"an image part of the message at position {position} needs image_url.url"
    if url.startswith(FILE_URL_PREFIX):
        return None
    header, comma, data = url.partition(",")
    if not (url.startswith(DATA_URL_PREFIX) and comma and header.endswith(";base64")):
        return f"unsupported image url: {url[:URL_SHOWN]}"
    try:
        b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"the image in the message at position {position} is not valid base64"
    return None
