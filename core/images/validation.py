"""What an image is, checked with Pillow before anything is stored or sent.

Moonshot's vision guide lists PNG, JPEG, WebP and GIF. Animations are refused rather than
silently reduced to a first frame the user may not mean; a file Pillow cannot decode to the
end is corrupt (a truncated upload, a renamed file).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Pillow's format name -> ours (the data URL's subtype).
FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}


class ImageRejected(Exception):
    """The image cannot be used; ``key`` names the phrase that says why (core.phrases.images)."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ImageFacts:
    format: str  # png, jpeg, webp, gif
    width: int
    height: int

    @property
    def mime_type(self) -> str:
        return f"image/{self.format}"


def inspect_image(data: bytes) -> ImageFacts:
    """Format and size of a usable still image; :class:`ImageRejected` otherwise.

    Decodes the whole image (CPU-bound: callers run it in a thread), since a header alone
    says nothing about a truncated file."""
    if not data:
        raise ImageRejected("image_corrupt", "empty file")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                if kind not in FORMATS:
                    raise ImageRejected("image_format", kind or "unknown")
                if getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) > 1:
                    raise ImageRejected("image_animated", kind)
                width, height = image.size
                image.load()
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("image_too_many_pixels", str(exc)) from None
        except UnidentifiedImageError:
            raise ImageRejected("image_corrupt", "not readable as an image") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageRejected("image_corrupt", str(exc) or type(exc).__name__) from None
    if width <= 0 or height <= 0:
        raise ImageRejected("image_corrupt", "no pixels")
    return ImageFacts(FORMATS[kind], width, height)
