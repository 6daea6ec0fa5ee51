"""What the emulator's vision models 'see' in an image: format, size, main colour and a hash.

Real eyes are not available offline; a deterministic description is enough for tests to check that
the exact bytes arrived (the sha256 prefix) and that they were the intended picture (format, size,
colour). Pillow is imported inside :func:`look` so a worker talking to the real Moonshot never
loads it. Tokens follow the K2.5 rule: one per 14×14 pixel tile.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import OrderedDict
from dataclasses import dataclass

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # what Moonshot's vision guide lists
TILE = 14  # pixels per side of one image token
SAMPLE_SIDE = 48  # the colour count runs on a thumbnail at most this big
SHA_SHOWN = 12
REMEMBERED = 256  # decoded images kept, by sha256 (not by bytes: photos are big)
PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 160, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "orange": (255, 140, 0),
    "purple": (128, 0, 128),
    "pink": (255, 160, 200),
    "brown": (140, 80, 20),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}


class UnreadableImage(ValueError):
    """The bytes are not an image the vision models take; the message says why."""


@dataclass(frozen=True, slots=True)
class SeenImage:
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF
    width: int
    height: int
    colour: str
    sha256: str
    frames: int = 1

    @property
    def tokens(self) -> int:
        return image_tokens(self.width, self.height)

    def describe(self) -> str:
        """``PNG 64×32, mostly red (sha256 0123456789ab)``; animations name their frames."""
        animated = f", {self.frames} frames" if self.frames > 1 else ""
        return (
            f"{self.format} {self.width}×{self.height}{animated}, mostly {self.colour} "
            f"(sha256 {self.sha256[:SHA_SHOWN]})"
        )


def image_tokens(width: int, height: int) -> int:
    """One token per 14×14 tile (at least one)."""
    return max(1, math.ceil(width / TILE) * math.ceil(height / TILE))


_seen: OrderedDict[str, SeenImage] = OrderedDict()


def look(data: bytes) -> SeenImage:
    """Decode ``data`` fully (a truncated file fails here, not later); remembered because a
    conversation sends the same picture again with every turn."""
    if not data:
        raise UnreadableImage("the image is empty")
    digest = hashlib.sha256(data).hexdigest()
    seen = _seen.get(digest)
    if seen is None:
        seen = _decode(data, digest)
        _seen[digest] = seen
        if len(_seen) > REMEMBERED:
            _seen.popitem(last=False)
    else:
        _seen.move_to_end(digest)
    return seen


def _decode(data: bytes, digest: str) -> SeenImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or "unknown"
            if kind not in SUPPORTED_FORMATS:
                supported = ", ".join(f.lower() for f in SUPPORTED_FORMATS)
                raise UnreadableImage(
                    f"unsupported image format {kind.lower()}, supported: {supported}"
                )
            image.load()
            frames = int(getattr(image, "n_frames", 1) or 1)
            colour = dominant_colour(image)
            width, height = image.size
    except UnreadableImage:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise UnreadableImage(f"the image could not be decoded ({exc})") from exc
    return SeenImage(
        format=kind,
        width=width,
        height=height,
        colour=colour,
        sha256=digest,
        frames=frames,
    )


def dominant_colour(image: object) -> str:
    """The palette name most pixels are nearest to (transparency shows white underneath)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    rgba = image.convert("RGBA")
    rgba.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE))
    flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat.alpha_composite(rgba)
    counts: dict[str, int] = {}
    for number, colour in flat.convert("RGB").getcolors(SAMPLE_SIDE * SAMPLE_SIDE) or []:
        name = nearest_name(colour)
        counts[name] = counts.get(name, 0) + number
    order = list(PALETTE)
    return max(counts, key=lambda name: (counts[name], -order.index(name)))


def nearest_name(rgb: tuple[int, int, int]) -> str:
    return min(
        PALETTE, key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, PALETTE[name], strict=True))
    )
