"""Bytes to text the way a Chinese/Japanese service must: UTF-8 first, then GB18030 or CP932.

GB18030 accepts most Shift-JIS byte sequences (as nonsense Hanzi), so "first decoder that works"
would garble Japanese files; when both legacy codecs decode, the one whose characters are the
common ones of its language wins.
"""

from __future__ import annotations

import codecs
from html.parser import HTMLParser

CONTROL_ALLOWED = {"\t", "\n", "\r", "\f", "\x1b"}
MAX_CONTROL_RATIO = 0.01


class NotText(ValueError):
    """The bytes are not text in any encoding the emulator knows."""


def decode_text(data: bytes) -> str:
    """Decode text bytes; raise :class:`NotText` for binary content."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _checked(data.decode(codec, errors="strict"))
    if b"\x00" in data:
        raise NotText("binary content (NUL bytes)")
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    candidates = []
    for codec, score in (("gb18030", _chinese_score), ("cp932", _japanese_score)):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        candidates.append((score(text), codec, text))
    if candidates:
        candidates.sort(key=lambda c: -c[0])  # stable: GB18030 wins ties
        return _checked(candidates[0][2])
    try:
        return _checked(data.decode("cp1252"))
    except UnicodeDecodeError:
        raise NotText("undecodable bytes (not UTF-8, GB18030, Shift-JIS or CP1252)") from None


def _checked(text: str) -> str:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in CONTROL_ALLOWED)
    if text and controls / len(text) > MAX_CONTROL_RATIO:
        raise NotText("binary content (control characters)")
    return text


def _chinese_score(text: str) -> float:
    """Share of non-ASCII characters that are GB2312 level-1 Hanzi or common punctuation."""
    wide = [ch for ch in text if ord(ch) >= 128]
    if not wide:
        return 1.0
    good = 0
    for ch in wide:
        try:
            lead = ch.encode("gb2312")[0]
        except UnicodeEncodeError:
            continue
        if 0xB0 <= lead <= 0xD7 or 0xA1 <= lead <= 0xA3:
            good += 1
    return good / len(wide)


def _japanese_score(text: str) -> float:
    """Share of non-ASCII characters that are kana, JIS level-1 kanji or JIS symbols."""
    wide = [ch for ch in text if ord(ch) >= 128]
    if not wide:
        return 1.0
    good = 0
    for ch in wide:
        if "\u3040" <= ch <= "\u30ff":
            good += 1
            continue
        try:
            encoded = ch.encode("cp932")
        except UnicodeEncodeError:
            continue
        if len(encoded) == 2 and (0x81 <= encoded[0] <= 0x84 or 0x889F <= _int(encoded) <= 0x9872):
            good += 1
    return good / len(wide)


def _int(encoded: bytes) -> int:
    return int.from_bytes(encoded, "big")


class _TextOnly(HTMLParser):
    BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "table",
            "ul",
            "ol",
            "pre",
            "blockquote",
            "title",
            "header",
            "footer",
        }
    )
    SKIP = frozenset({"script", "style", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML/XHTML document, one block per line, without scripts and styles."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)
