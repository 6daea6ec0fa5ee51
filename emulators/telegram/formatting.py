"""Telegram text rules: HTML parse mode, entity offsets in UTF-16, trimming and length limits.

The bot must survive what the real server rejects, so the parser follows tdlib's HTML parser
(the code behind the Bot API): the same tags, the same optional-semicolon entities, and the
same error texts, which PTB surfaces as ``BadRequest("Can't parse entities: ...")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "tg-emoji",
        "tg-time",
        "code",
        "pre",
        "blockquote",
    }
)
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE = " \t\n\r\v\f"
KNOWN_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: Telegram counts offsets and limits this way."""
    return len(text.encode("utf-16-le")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The substring an entity (offset/length in UTF-16 units) covers."""
    raw = text.encode("utf-16-le")
    return raw[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


class EntityParseError(ValueError):
    """Markup the server refuses; the message is tdlib's text without the prefix."""


@dataclass
class _OpenTag:
    tag: str
    argument: str
    offset: int
    attrs: dict[str, str] = field(default_factory=dict)
    expandable: bool = False


def _decode_entity(src: str, pos: int) -> tuple[str | None, int]:
    """Decode ``&...`` at ``pos`` like tdlib: numeric or 4 named ones, ``;`` optional."""
    n = len(src)
    i = pos + 1
    if i < n and src[i] == "#":
        i += 1
        base = 10
        if i < n and src[i] in "xX":
            base = 16
            i += 1
        start = i
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while i < n and src[i] in digits and i - start < 8:
            i += 1
        if i == start:
            return None, pos
        code = int(src[start:i], base)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None, pos
        char = chr(code)
    else:
        start = i
        while i < n and src[i].isascii() and src[i].isalpha():
            i += 1
        name = src[start:i]
        if name not in _NAMED_ENTITIES:
            return None, pos
        char = _NAMED_ENTITIES[name]
    if i < n and src[i] == ";":
        i += 1
    return char, i


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (visible text, entities) for Telegram-flavoured HTML or raise EntityParseError."""
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    n = len(source)
    i = 0

    def byte_at(pos: int) -> int:
        return len(source[:pos].encode("utf-8"))

    def skip_spaces(pos: int) -> int:
        while pos < n and source[pos] in _SPACE:
            pos += 1
        return pos

    while i < n:
        ch = source[i]
        if ch == "&":
            decoded, after = _decode_entity(source, i)
            if decoded is not None:
                out.append(decoded)
                u16 += utf16_len(decoded)
                i = after
                continue
        if ch != "<":
            out.append(ch)
            u16 += utf16_len(ch)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and source[i] == "/":
            i += 1
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_at(begin)}")
            j = i
            while j < n and source[j] not in _SPACE and source[j] != ">":
                j += 1
            end_name = source[i:j]
            j = skip_spaces(j)
            if j >= n or source[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_at(begin)}")
            opened = stack[-1]
            if end_name and end_name.lower() != opened.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_at(begin)}, "
                    f'expected "</{opened.tag}>", found "</{end_name}>"'
                )
            stack.pop()
            i = j + 1
            if u16 > opened.offset:
                _close_entity(opened, u16 - opened.offset, entities)
            continue

        j = i
        while j < n and source[j] not in _SPACE and source[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_at(begin)}")
        tag = source[i:j].lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {byte_at(begin)}')
        opened = _OpenTag(tag=tag, argument="", offset=u16)
        i = j
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_at(begin)}'
                )
            if source[i] == ">":
                i += 1
                break
            name_start = i
            while i < n and source[i] not in _SPACE and source[i] not in "=>/\"'":
                i += 1
            name = source[name_start:i].lower()
            if not name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_at(begin)}'
                )
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_at(begin)}'
                )
            if source[i] != "=":
                if tag == "blockquote" and name == "expandable":
                    opened.expandable = True
                continue
            i = skip_spaces(i + 1)
            if i >= n:
                raise EntityParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_at(begin)}'
                )
            if source[i] in "\"'":
                quote = source[i]
                i += 1
                value_parts: list[str] = []
                while i < n and source[i] != quote:
                    if source[i] == "&":
                        decoded, after = _decode_entity(source, i)
                        if decoded is not None:
                            value_parts.append(decoded)
                            i = after
                            continue
                    value_parts.append(source[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte_at(begin)}'
                    )
                i += 1
                value = "".join(value_parts)
            else:
                token_start = i
                while i < n and (
                    (source[i].isascii() and source[i].isalnum()) or source[i] in ".-"
                ):
                    i += 1
                value = source[token_start:i].lower()
                if i >= n or (source[i] not in _SPACE and source[i] != ">"):
                    raise EntityParseError(
                        f"Unexpected end of name token at byte offset {byte_at(token_start)}"
                    )
            opened.attrs[name] = value
            if tag == "a" and name == "href":
                opened.argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                opened.argument = value[len("language-") :]
            elif tag == "span" and name == "class" and value.startswith("tg-"):
                opened.argument = value[len("tg-") :]
            elif tag == "tg-emoji" and name == "emoji-id":
                opened.argument = value
            elif tag == "blockquote" and name == "expandable":
                opened.expandable = True
        if tag == "span" and opened.argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_at(begin)}'
            )
        stack.append(opened)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return "".join(out), sort_entities(entities)


def _close_entity(opened: _OpenTag, length: int, entities: list[dict[str, Any]]) -> None:
    """Turn a closed tag into its MessageEntity (or nothing, like tdlib for empty links)."""
    offset = opened.offset
    tag = opened.tag
    if tag in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length})
    elif tag == "a":
        url = opened.argument.strip()
        match = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if match:
            user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
            entities.append(
                {"type": "text_mention", "offset": offset, "length": length, "user": user}
            )
        elif url:
            entities.append({"type": "text_link", "offset": offset, "length": length, "url": url})
    elif tag == "code":
        entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
        if opened.argument:
            entity["_language"] = opened.argument
        entities.append(entity)
    elif tag == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == offset
            and last["length"] == length
        ):
            entities.pop()
            entity = {"type": "pre", "offset": offset, "length": length}
            if last.get("_language"):
                entity["language"] = last["_language"]
        else:
            entity = {"type": "pre", "offset": offset, "length": length}
        entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if opened.expandable else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    elif tag == "tg-emoji" and opened.argument:
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": opened.argument,
            }
        )
    elif tag == "tg-time" and opened.attrs.get("unix", "").lstrip("-").isdigit():
        entity = {
            "type": "date_time",
            "offset": offset,
            "length": length,
            "unix_time": int(opened.attrs["unix"]),
        }
        if opened.attrs.get("format"):
            entity["date_time_format"] = opened.attrs["format"]
        entities.append(entity)


def sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order like Telegram (outer before inner) and drop parser-private keys."""
    cleaned = [{k: v for k, v in e.items() if not k.startswith("_")} for e in entities]
    return sorted(cleaned, key=lambda e: (e["offset"], -e["length"]))


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as the server does, clipping entities to match."""
    stripped_left = text.lstrip(_SPACE)
    cut = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip(_SPACE)
    total = utf16_len(result)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - cut, 0)
        end = min(entity["offset"] + entity["length"] - cut, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept


def clip_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep explicit entities that fit the text; unknown types are ignored like the server does."""
    total = utf16_len(text)
    kept = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") not in KNOWN_ENTITY_TYPES:
            continue
        try:
            offset, length = int(entity["offset"]), int(entity["length"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(400, "Bad Request: can't parse entities JSON object") from exc
        end = min(offset + length, total)
        if offset >= 0 and end > offset:
            kept.append({**entity, "offset": offset, "length": end - offset})
    return sort_entities(kept)


def render_text(
    text: str | None,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None,
    *,
    limit: int = MAX_TEXT_LENGTH,
    allow_empty: bool = False,
    empty_error: str = "Bad Request: message text is empty",
    too_long_error: str = "Bad Request: message is too long",
) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode/entities, trim and check limits; return what the chat shows."""
    source = text or ""
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        try:
            visible, found = parse_html(source)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
    elif mode in ("", "none"):
        visible, found = source, clip_entities(source, list(entities or []))
    elif mode in ("markdown", "markdownv2"):
        # Not emulated: accepted as-is so such callers are visible in `calls`, not faked.
        visible, found = source, []
    else:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    visible, found = trim(visible, found)
    if not visible and not allow_empty:
        raise ApiError(400, empty_error)
    if utf16_len(visible) > limit:
        raise ApiError(400, too_long_error)
    return visible, found


_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")
_URL_RE = re.compile(r"(?<![\w/])https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_HASHTAG_RE = re.compile(r"(?<![\w#])#[^\W\d][\w]{0,255}")


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities the server adds to what a user types: commands, @mentions, URLs, hashtags."""
    found: list[dict[str, Any]] = []
    for kind, pattern in (
        ("bot_command", _COMMAND_RE),
        ("mention", _MENTION_RE),
        ("url", _URL_RE),
        ("hashtag", _HASHTAG_RE),
    ):
        for match in pattern.finditer(text):
            offset = utf16_len(text[: match.start()])
            found.append({"type": kind, "offset": offset, "length": utf16_len(match.group(0))})
    return sort_entities(found)
