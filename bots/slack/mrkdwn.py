"""Markdown (what Kimi writes) to Slack mrkdwn, for the fallback path without ``markdown_text``.

Why a converter: mrkdwn is not Markdown. ``**bold**`` shows asterisks, ``[text](url)`` is not a
link, headings and tables do not exist, and ``&``, ``<``, ``>`` are control characters that
must be escaped. We parse with markdown-it (CommonMark + tables + strikethrough) and render
each node as the closest mrkdwn: bold ``*x*``, italic ``_x_``, strike ``~x~``, links
``<url|text>``, headings as bold lines, lists with bullets, tables and code as code blocks.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_LINK_SCHEMES = ("http://", "https://", "mailto:")


def escape(text: str) -> str:
    """Slack's three control characters; everything else passes through."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The mrkdwn rendering of ``markdown`` (partial Markdown, mid-stream, is fine too)."""
    if not markdown.strip():
        return ""
    root = SyntaxTreeNode(_PARSER.parse(markdown))
    return _blocks(root.children, "\n\n").strip("\n")


def _blocks(nodes: list[SyntaxTreeNode], separator: str) -> str:
    rendered = (_block(node) for node in nodes)
    return separator.join(part for part in rendered if part)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        return _bold(_inline_of(node, in_bold=True))
    if kind in ("fence", "code_block"):
        return _code_block(node.content)
    if kind == "blockquote":
        inner = _blocks(node.children, "\n\n")
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "hr":
        return "──────────"
    if kind == "table":
        return _table(node)
    if kind == "html_block":
        return escape(node.content.rstrip("\n"))
    return _blocks(node.children, "\n\n")


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    start = int(str(node.attrs.get("start", 1))) if ordered else 1
    lines: list[str] = []
    for number, item in enumerate(node.children, start):
        marker = f"{number}. " if ordered else "• "
        body = _blocks(item.children, "\n")
        first, *rest = body.split("\n") if body else [""]
        lines.append(marker + first)
        lines.extend(("    " + line) if line else "" for line in rest)
    return "\n".join(lines)


def _table(node: SyntaxTreeNode) -> str:
    """Slack has no tables: aligned plain text in a code block keeps the columns readable."""
    rows = [
        [_plain(cell).strip() for cell in row.children]
        for section in node.children
        for row in section.children
    ]
    if not rows:
        return ""
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(
            (row[i] if i < len(row) else "").ljust(width) for i, width in enumerate(widths)
        ).rstrip()
        for row in rows
    ]
    if len(lines) > 1:
        lines.insert(1, "-+-".join("-" * width for width in widths))
    return _code_block("\n".join(lines))


def _code_block(content: str) -> str:
    return "```\n" + escape(content.rstrip("\n")) + "\n```"


def _inline_of(node: SyntaxTreeNode, in_bold: bool = False) -> str:
    return "".join(_inline(child, in_bold) for child in node.children)


def _inline(node: SyntaxTreeNode, in_bold: bool = False) -> str:
    kind = node.type
    if kind == "inline":
        return _inline_of(node, in_bold)
    if kind == "text":
        return escape(node.content)
    if kind in ("softbreak", "hardbreak"):
        return "\n"
    if kind == "code_inline":
        return "`" + escape(node.content) + "`"
    if kind == "strong":
        inner = _inline_of(node, True)
        return inner if in_bold else _bold(inner)
    if kind == "em":
        return _wrap("_", _inline_of(node, in_bold))
    if kind == "s":
        return _wrap("~", _inline_of(node, in_bold))
    if kind == "link":
        return _link(str(node.attrs.get("href", "")), _plain(node))
    if kind == "image":
        alt = _plain(node) or str(node.attrs.get("src", ""))
        return _link(str(node.attrs.get("src", "")), alt)
    if kind == "html_inline":
        return escape(node.content)
    return _inline_of(node, in_bold)


def _bold(text: str) -> str:
    return _wrap("*", text)


def _wrap(mark: str, text: str) -> str:
    """Marks must hug the text (``* x*`` does not render), so surrounding spaces go outside."""
    stripped = text.strip()
    if not stripped:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{mark}{stripped}{mark}{trail}"


def _link(url: str, label: str) -> str:
    if not url.startswith(_LINK_SCHEMES):
        return escape(label)
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    label = label.strip()
    if not label or label == url:
        return f"<{safe_url}>"
    return f"<{safe_url}|{escape(label).replace('|', '¦')}>"


def _plain(node: SyntaxTreeNode) -> str:
    """The text of a node without any formatting (link labels, table cells)."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)
