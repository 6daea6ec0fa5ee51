"""What an image costs in prompt tokens.

Moonshot's image tokens are dynamic and its guide says to ask the estimate endpoint, so each
image is counted once when it arrives (a tiny chat with the image minus the same chat without
it) and the count is stored with it. When the endpoint cannot answer, K2.5's published tiling
stands in: one token per 14x14 pixel patch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import openai

from core.catalog import Catalog
from core.images.parts import data_url, tile_tokens

log = logging.getLogger(__name__)

_PROBE_TEXT = "?"


class ImageTokenCounter:
    """Moonshot's count for one image, asked of a vision model of the catalog."""

    def __init__(self, sdk: Callable[[], openai.AsyncOpenAI | None], catalog: Catalog) -> None:
        self._sdk = sdk
        vision = [m for m in catalog.by_window() if m.vision]
        self._model = vision[0].id if vision else None

    async def count(self, format: str, data: bytes, width: int, height: int) -> int:
        measured = await self._ask(data_url(format, data))
        if measured is not None and measured > 0:
            return measured
        return tile_tokens(width, height)

    async def _ask(self, url: str) -> int | None:
        sdk = self._sdk()
        if sdk is None or self._model is None:
            return None
        text_part = {"type": "text", "text": _PROBE_TEXT}
        image_part = {"type": "image_url", "image_url": {"url": url}}
        try:
            with_image = await self._total(sdk, [image_part, text_part])
            without = await self._total(sdk, [text_part])
        except (openai.APIError, KeyError, TypeError, ValueError) as exc:
            log.info(
                "image token estimate unavailable (%s); using the tile rule", type(exc).__name__
            )
            return None
        return with_image - without

    async def _total(self, sdk: openai.AsyncOpenAI, content: list[dict[str, Any]]) -> int:
        answer = await sdk.post(
            "/tokenizers/estimate-token-count",
            body={"model": self._model, "messages": [{"role": "user", "content": content}]},
            cast_to=object,
        )
        return int(answer["data"]["total_tokens"])  # type: ignore[index]
