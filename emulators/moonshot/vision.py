"""Images in message content: which parts are images, their bytes, what they cost, which to refuse.

Moonshot's vision models take ``content`` as a list of ``{"type": "text"}`` and
``{"type": "image_url", "image_url": {"url": ...}}`` parts, where the url is a base64 ``data:``
url or a file uploaded with purpose ``image`` (``ms://<file_id>``); web urls are refused
("unsupported image url"). Every image is decoded (images.py), so a corrupt one is a 400 and a
good one costs one token per 14×14 tile.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

from emulators.moonshot.filestore import FileStore
from emulators.moonshot.images import SeenImage, UnreadableImage, look

FALLBACK_IMAGE_TOKENS = 1024  # an image that cannot be read (only estimates meet one)
PART_TYPES = frozenset({"text", "image_url"})
FILE_URL_PREFIX = "ms://"
DATA_URL_PREFIX = "data:image/"
IMAGE_PURPOSE = "image"
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


def last_user_content(messages: list[dict[str, Any]]) -> Any:
    """The newest user message's ``content``: what the model is looking at now."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message.get("content")
    return None


def last_user_images(messages: list[dict[str, Any]]) -> int:
    return image_count(last_user_content(messages))


def seen_images(content: Any, files: FileStore | None = None) -> list[SeenImage]:
    """Every image of one ``content``, decoded; raises :class:`UnreadableImage` with the reason."""
    return [look(image_bytes(url, files)) for url in image_urls(content)]


def content_image_tokens(content: Any, files: FileStore | None = None) -> int:
    """Prompt tokens of the images in one ``content`` (unreadable ones at a fixed estimate)."""
    total = 0
    for url in image_urls(content):
        try:
            total += look(image_bytes(url, files)).tokens
        except UnreadableImage:
            total += FALLBACK_IMAGE_TOKENS
    return total


def image_bytes(url: Any, files: FileStore | None) -> bytes:
    """The bytes behind a ``data:`` url or an ``ms://`` file id."""
    if not isinstance(url, str):
        raise UnreadableImage("an image part needs image_url.url")
    if url.startswith(FILE_URL_PREFIX):
        file_id = url[len(FILE_URL_PREFIX) :]
        record = files.get(file_id) if files is not None else None
        if record is None:
            raise UnreadableImage(f"the image file {file_id} is not found")
        if record.purpose != IMAGE_PURPOSE or record.data is None:
            raise UnreadableImage(
                f"the file {file_id} was uploaded with purpose {record.purpose!r}, "
                f"not {IMAGE_PURPOSE!r}"
            )
        return record.data
    _header, _comma, data = url.partition(",")
    try:
        return b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableImage("the image is not valid base64") from exc


def image_problem(
    messages: list[dict[str, Any]], model_id: str, vision: bool, files: FileStore | None = None
) -> str | None:
    """Why the content parts cannot be used: malformed parts or urls, a model without eyes,
    or an image that does not decode (checked in that order)."""
    urls: list[tuple[int, str]] = []
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
            urls.append((position, url))
    if urls and not vision:
        return f"the model {model_id} does not support image input"
    for position, url in urls:
        try:
            look(image_bytes(url, files))
        except UnreadableImage as exc:
            return f"the image in the message at position {position} is invalid: {exc}"
    return None


def _url_problem(url: Any, position: int) -> str | None:
    if not isinstance(url, str) or not url:
        return f"an image part of the message at position {position} needs image_url.url"
    if url.startswith(FILE_URL_PREFIX):
        return None
    header, comma, _data = url.partition(",")
    if not (url.startswith(DATA_URL_PREFIX) and comma and header.endswith(";base64")):
        return f"unsupported image url: {url[:URL_SHOWN]}"
    return None
