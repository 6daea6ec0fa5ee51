"""Image content parts and what they cost, without any project import (core.tokens uses it).

Why a dict subclass: the limiter's TPM reservation and ``max_tokens`` count the request's
messages through :meth:`core.tokens.TokenEstimator.message`, which sees only the message
dicts. An :class:`ImagePart` built by the context builder carries the image's stored estimate
(Moonshot's own count, made once at ingestion) as an attribute the SDK never serializes; a
plain part (someone else's) is counted by the tile rule from the dimensions in its data URL's
first bytes, which is cheap whatever the image's size.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Mapping
from typing import Any

from PIL import Image

PATCH = 14  # pixels per side of one image token (K2.5's tiling)
FALLBACK_TOKENS = 1024  # an image whose dimensions cannot even be read
HEADER_CHARS = 64 * 1024  # base64 read to find the dimensions (PNG/GIF/WebP: a few bytes)


class ImagePart(dict[str, Any]):
    """``{"type": "image_url", "image_url": {"url": ...}}`` plus its token count (not sent)."""

    __slots__ = ("tokens",)

    def __init__(self, url: str, tokens: int) -> None:
        super().__init__(type="image_url", image_url={"url": url})
        self.tokens = tokens


def tile_tokens(width: int, height: int) -> int:
    """ceil(w/14) * ceil(h/14): one token per 14x14 patch."""
    return max(1, math.ceil(width / PATCH) * math.ceil(height / PATCH))


def data_url(format: str, data: bytes) -> str:
    """The documented way to send an image: a base64 ``data:`` URL."""
    return f"data:image/{format};base64,{base64.b64encode(data).decode('ascii')}"


def part_tokens(part: Mapping[str, Any]) -> int:
    """Tokens of one image part: its carried estimate, else the tile rule on its data URL."""
    carried = getattr(part, "tokens", None)
    if isinstance(carried, int):
        return carried
    holder = part.get("image_url")
    url = holder.get("url") if isinstance(holder, Mapping) else None
    return data_url_tokens(url) if isinstance(url, str) else FALLBACK_TOKENS


def data_url_tokens(url: str) -> int:
    """The tile rule on the dimensions read from the start of a base64 data URL (always
    enough for PNG, GIF and WebP; for JPEG unless a large EXIF block comes first, when the
    whole payload is decoded once)."""
    _, _, payload = url.partition(",")
    for chars in (HEADER_CHARS, len(payload)):
        head = payload[: chars - chars % 4]
        try:
            with Image.open(io.BytesIO(base64.b64decode(head))) as image:
                return tile_tokens(*image.size)
        except (OSError, ValueError, binascii.Error, SyntaxError):
            continue
    return FALLBACK_TOKENS
