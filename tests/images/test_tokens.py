"""Image parts in token estimates (what the limiter reserves and ``max_tokens`` leaves)."""

from __future__ import annotations

import io

from PIL import Image

from core.catalog import builtin_catalog
from core.images.parts import ImagePart, data_url, data_url_tokens, tile_tokens
from core.images.tokens import ImageTokenCounter
from core.tokens import MESSAGE_OVERHEAD, TokenEstimator
from tests.images.samples import still


def test_tile_rule() -> None:
    assert tile_tokens(14, 14) == 1
    assert tile_tokens(15, 14) == 2
    assert tile_tokens(420, 280) == 30 * 20


def test_an_image_part_counts_its_carried_estimate_or_its_tiles() -> None:
    estimator = TokenEstimator()
    url = data_url("png", still("PNG", (140, 70)))
    carried = {"role": "user", "content": [{"type": "text", "text": "hi"}, ImagePart(url, 777)]}
    plain = {
        "role": "user",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": url}},
        ],
    }
    text_only = estimator.message({"role": "user", "content": "hi"})
    assert estimator.message(carried) == text_only + 777
    assert estimator.message(plain) == text_only + 10 * 5
    assert estimator.messages([carried, plain]) == 2 * text_only + 777 + 50
    assert text_only == estimator.text("hi") + MESSAGE_OVERHEAD


def test_dimensions_come_from_the_data_url_even_behind_a_large_icc_block() -> None:
    buffer = io.BytesIO()
    profile = b"\x00" * 100_000  # an ICC block: pushes the frame header past the first 64 KB
    Image.new("RGB", (280, 28), "red").save(buffer, format="JPEG", icc_profile=profile)
    assert buffer.getvalue().find(b"\xff\xc0") > 64 * 1024
    assert data_url_tokens(data_url("jpeg", buffer.getvalue())) == 20 * 2
    assert data_url_tokens(data_url("webp", still("WEBP", (28, 28)))) == 4
    assert data_url_tokens("data:image/png;base64,bm90IGFuIGltYWdl") == 1024  # unreadable


async def test_the_counter_falls_back_to_tiles_without_moonshot() -> None:
    counter = ImageTokenCounter(lambda: None, builtin_catalog())
    assert await counter.count("png", still("PNG", (28, 42)), 28, 42) == 2 * 3
