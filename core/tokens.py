"""Token estimates: Kimi's tokenizer is not on PyPI, so we count by script and calibrate.

The API's ``usage.prompt_tokens`` is the truth; ``TokenEstimator.calibrate`` keeps a running
ratio between our estimate and that truth so context building converges on the real budget.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from core.images.parts import part_tokens

# Per-message framing the chat template adds (role markers, separators).
MESSAGE_OVERHEAD = 4


def is_cjk(ch: str) -> bool:
    """Han, kana, hangul and CJK punctuation/full-width forms."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
        or 0x3000 <= code <= 0x303F
        or 0xFF00 <= code <= 0xFFEF
    )


def raw_estimate(text: str) -> int:
    """Uncalibrated token count: ~0.7 per CJK character, ~1 per 4 other characters."""
    if not text:
        return 0
    if text.isascii():
        return max(1, round(len(text) / 4))
    return _non_ascii_estimate(text)


# Every turn re-estimates the whole prompt (the limiter admits calls by it), so the history's
# texts come back turn after turn: counting a CJK text character by character costs ~10 ms for
# 120 messages, remembering it costs a hash (bench/NOTES.md, long conversations). Bounded.
@lru_cache(maxsize=2048)
def _non_ascii_estimate(text: str) -> int:
    cjk = 0
    other = 0
    wide = 0
    for ch in text:
        if is_cjk(ch):
            cjk += 1
        elif ord(ch) < 128:
            other += 1
        elif unicodedata.category(ch).startswith("L"):
            wide += 1
        else:
            other += 2  # emoji, symbols: usually several byte-level tokens
    return max(1, round(cjk * 0.7 + wide * 0.5 + other / 4))


class TokenEstimator:
    """A CJK-aware estimate scaled by a factor learnt from real usage (bounded to 0.5–2.0)."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def text(self, text: str) -> int:
        return max(1, round(raw_estimate(text) * self.factor)) if text else 0

    def scaled(self, raw_tokens: int) -> int:
        """Calibrated tokens of one message from its stored raw estimate, framing included."""
        return round(raw_tokens * self.factor) + MESSAGE_OVERHEAD

    def message(self, message: Mapping[str, Any]) -> int:
        """One message: its content, and a thinking model's reasoning sent back with it."""
        content = message.get("content") or ""
        images = 0
        if isinstance(content, list):  # content parts: text, and images (see core.images.parts)
            images = sum(part_tokens(p) for p in content if _is_image(p))
            content = "\n".join(str(p.get("text") or "") for p in content if _is_text(p))
        elif not isinstance(content, str):
            content = str(content)
        reasoning = message.get("reasoning_content") or ""
        return self.text(content) + images + self.text(str(reasoning)) + MESSAGE_OVERHEAD

    def messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        return sum(self.message(m) for m in messages)

    def calibrate(self, estimated_raw: int, actual: int) -> None:
        """Move the factor towards actual/estimated (an exponential moving average)."""
        if estimated_raw <= 0 or actual <= 0:
            return
        observed = actual / estimated_raw
        self.factor = min(2.0, max(0.5, 0.8 * self.factor + 0.2 * observed))

    def calibrate_after_overflow(self) -> None:
        """Moonshot refused a context we estimated to fit, without saying its real size: count
        25% higher from now on (still at most 2.0)."""
        self.factor = min(2.0, self.factor * 1.25)

    def raw_messages(self, messages: Iterable[Mapping[str, Any]]) -> int:
        return sum(raw_estimate(str(m.get("content") or "")) + MESSAGE_OVERHEAD for m in messages)


def _is_image(part: object) -> bool:
    return isinstance(part, Mapping) and part.get("type") == "image_url"


def _is_text(part: object) -> bool:
    return isinstance(part, Mapping) and part.get("type") == "text"
