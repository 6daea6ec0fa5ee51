"""Kimi's Markdown as Telegram HTML, and answers cut into parts that fit one Telegram message.

Why HTML and not MarkdownV2: model output breaks MarkdownV2's escaping rules constantly ("Can't
parse entities"); HTML needs only ``<>&`` escaped. Telegram's HTML knows a handful of tags, so
headings become bold lines, lists become bullet lines and tables become aligned ``<pre>`` text.
Raw HTML from the model is shown as text, never interpreted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bots.common.splitting import split_markdown

# Markdown characters per part, under Telegram's 4096 visible characters (UTF-16 code units) per
# message: rendering only removes characters.
PART_LIMIT = 4000

_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:", "ftp://")

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def utf16_len(text: str) -> int:
    """Telegram counts limits and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_for_telegram(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Parts of the Markdown answer, in order, each rendering to at most one message."""
    parts: list[str] = []
    for part in split_markdown(text, limit):
        parts.extend(_fit_utf16(part, limit))
    return parts


def _fit_utf16(part: str, limit: int) -> list[str]:
    """Telegram counts UTF-16 units (emoji count 2): re-split a part that is too long in
    units with a character budget scaled to its own density, always against the real limit."""
    units = utf16_len(part)
    if units <= limit:
        return [part]
    chars = max(40, limit * len(part) // units)
    if chars >= len(part):  # cannot get smaller; leave it to the sender's plain-text fallback
        return [part]
    pieces: list[str] = []
    for piece in split_markdown(part, chars):
        pieces.extend(_fit_utf16(piece, limit))
    return pieces


def markdown_to_html(text: str) -> str:
    """Telegram HTML for one part of an answer (partial Markdown is fine: previews use it)."""
    rendered = _Renderer().render(_markdown.parse(text)).strip()
    return rendered or html.escape(text, quote=False)


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _safe_href(href: str) -> str | None:
    href = href.strip()
    return href if href.lower().startswith(_SAFE_SCHEMES) else None


class _Renderer:
    """Walks markdown-it's block tokens; one instance per render."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.lists: list[str] = []  # "bullet" or "ordered", innermost last
        self.quote_depth = 0
        self.item_start = False  # just wrote a list marker: the next block needs no break

    def write(self, text: str) -> None:
        if text:
            self.out.append(text)
            self.item_start = False

    def ends_with(self, suffix: str) -> bool:
        return "".join(self.out[-3:]).endswith(suffix)

    def block_break(self) -> None:
        """Separate a new block from what came before: a blank line, or a line break in lists."""
        if not self.out or self.item_start:
            return
        if self.ends_with("<blockquote>"):
            return
        wanted = "\n" if self.lists else "\n\n"
        current = "".join(self.out[-3:])
        trailing = len(current) - len(current.rstrip("\n"))
        if trailing < len(wanted):
            self.out.append(wanted[trailing:])

    def render(self, tokens: Sequence[Token]) -> str:
        index = 0
        while index < len(tokens):
            token = tokens[index]
            kind = token.type
            if kind == "table_open":
                end = index
                while end < len(tokens) and tokens[end].type != "table_close":
                    end += 1
                self.block_break()
                self.write(_table(tokens[index : end + 1]))
                index = end + 1
                continue
            self.block(token)
            index += 1
        return "".join(self.out)

    def block(self, token: Token) -> None:
        kind = token.type
        if kind == "heading_open":
            self.block_break()
            self.write("<b>")
        elif kind == "heading_close":
            self.write("</b>")
        elif kind == "paragraph_open":
            if not token.hidden:
                self.block_break()
        elif kind == "inline":
            self.write(_inline(token.children or []))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if self.lists:
                if not self.item_start:
                    self.write("\n")
            else:
                self.block_break()
            self.lists.append("bullet" if kind == "bullet_list_open" else "ordered")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            if self.out and not self.ends_with("\n") and not self.item_start:
                self.write("\n")
            indent = "  " * (len(self.lists) - 1)
            marker = "•" if self.lists[-1] == "bullet" else f"{token.info}{token.markup}"
            self.write(f"{indent}{marker} ")
            self.item_start = True
        elif kind == "blockquote_open":
            self.block_break()
            if self.quote_depth == 0:
                self.write("<blockquote>")
            self.quote_depth += 1
        elif kind == "blockquote_close":
            self.quote_depth -= 1
            if self.quote_depth == 0:
                while self.out and self.out[-1].strip("\n") == "":
                    self.out.pop()
                self.write("</blockquote>")
        elif kind in ("fence", "code_block"):
            self.block_break()
            code = _escape(token.content.rstrip("\n"))
            language = (token.info or "").strip().split(" ")[0]
            if language and re.fullmatch(r"[\w+#.-]{1,32}", language):
                self.write(f'<pre><code class="language-{language}">{code}</code></pre>')
            else:
                self.write(f"<pre>{code}</pre>")
        elif kind == "hr":
            self.block_break()
            self.write("———")
        elif kind == "html_block":
            self.block_break()
            self.write(_escape(token.content.rstrip("\n")))


def _inline(children: Sequence[Token]) -> str:
    out: list[str] = []
    links: list[bool] = []
    for child in children:
        kind = child.type
        if kind == "text" or kind == "html_inline":
            out.append(_escape(child.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "strong_open":
            out.append("<b>")
        elif kind == "strong_close":
            out.append("</b>")
        elif kind == "em_open":
            out.append("<i>")
        elif kind == "em_close":
            out.append("</i>")
        elif kind == "s_open":
            out.append("<s>")
        elif kind == "s_close":
            out.append("</s>")
        elif kind == "code_inline":
            out.append(f"<code>{_escape(child.content)}</code>")
        elif kind == "link_open":
            href = _safe_href(str(child.attrs.get("href", "")))
            links.append(href is not None)
            if href is not None:
                out.append(f'<a href="{html.escape(href, quote=True)}">')
        elif kind == "link_close":
            if links and links.pop():
                out.append("</a>")
        elif kind == "image":
            alt = child.content or "image"
            src = _safe_href(str(child.attrs.get("src", "")))
            if src is not None:
                out.append(f'<a href="{html.escape(src, quote=True)}">{_escape(alt)}</a>')
            else:
                out.append(_escape(alt))
    return "".join(out)


def _table(tokens: Sequence[Token]) -> str:
    """A Markdown table as aligned monospace text (Telegram has no tables)."""
    rows: list[list[str]] = []
    row: list[str] = []
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline":
            row.append(_plain(token.children or []))
        elif token.type == "tr_close":
            rows.append(row)
    if not rows:
        return ""
    columns = max(len(r) for r in rows)
    widths = [max((len(r[i]) if i < len(r) else 0) for r in rows) for i in range(columns)]
    lines = []
    for number, cells in enumerate(rows):
        padded = [(cells[i] if i < len(cells) else "").ljust(widths[i]) for i in range(columns)]
        lines.append(" | ".join(padded).rstrip())
        if number == 0 and len(rows) > 1:
            lines.append("-+-".join("-" * w for w in widths))
    return f"<pre>{_escape(chr(10).join(lines))}</pre>"


def _plain(children: Sequence[Token]) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)
