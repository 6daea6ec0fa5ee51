"""Images in ``/docs`` and ``/forget``.

Images are numbered apart from documents ("image #N"): documents keep the numbers users
already know, and neither kind's numbering depends on the other's table. ``/forget N`` is a
document, ``/forget image N`` (also ``img N``, ``i N``, ``图片 N``) an image, ``/forget all``
both.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from core import texts
from storage.images import LinkedImage

_IMAGE_TARGET = re.compile(r"^\s*(?:image|img|i|图片|图)\s*#?\s*(\d+)\s*$", re.IGNORECASE)


def parse_image_target(args: str) -> int | None:
    """The image number of ``/forget image N``; None when the target is not an image."""
    match = _IMAGE_TARGET.match(args)
    return int(match.group(1)) if match else None


def image_line(image: LinkedImage, lang: str, tz: ZoneInfo) -> str:
    return texts.text(
        "images_line",
        lang,
        number=image.number,
        name=image.name,
        width=image.width,
        height=image.height,
        size=human_size(image.size_bytes),
        who=image.added_by_name or image.added_by,
        when=image.added_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
    )


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
