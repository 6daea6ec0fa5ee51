"""Markdown → Telegram HTML: what Kimi writes must render, and always parse on Telegram's side."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.common.splitting import close_open_fence
from bots.telegram.formatting import (
    markdown_to_html,
    split_for_telegram,
    utf16_len,
)
from emulators.telegram import parse_html


def shown(markdown: str) -> tuple[str, set[str]]:
    text, entities = parse_html(markdown_to_html(markdown))
    return text, {e["type"] for e in entities}


def test_inline_styles_links_and_code():
    text, kinds = shown("**bold** *it* ~~gone~~ `x<y` [site](https://example.com/?a=1&b=2)")
    assert text == "bold it gone x<y site"
    assert kinds == {"bold", "italic", "strikethrough", "code", "text_link"}


def test_code_block_keeps_its_language_and_escapes():
    text, entities = parse_html(markdown_to_html("```python\nif a < b and c > d:\n    pass\n```"))
    assert text == "if a < b and c > d:\n    pass"
    assert entities == [{"type": "pre", "offset": 0, "length": len(text), "language": "python"}]


def test_headings_lists_quotes_tables():
    text, kinds = shown(
        "# Plan\n\n1. first\n2. second\n   - nested\n\n> quoted\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert text.startswith("Plan\n\n1. first\n2. second\n  • nested\n\nquoted")
    assert "a | b" in text and "1 | 2" in text
    assert {"bold", "blockquote", "pre"} <= kinds


def test_raw_html_and_unsafe_links_are_text():
    text, kinds = shown("<script>alert(1)</script> & <b>not bold</b> [x](javascript:alert(1))")
    assert "<script>" in text and "<b>not bold</b>" in text
    assert "bold" not in kinds and "text_link" not in kinds


def test_unfinished_markdown_still_renders():
    for partial in ("```py\nprint(", "**half bold", "- item\n- ", "[link](http://exa"):
        parse_html(markdown_to_html(partial))  # must not raise


def test_close_open_fence():
    assert close_open_fence("```py\ncode") == "```py\ncode\n```"
    assert close_open_fence("```py\ncode\n```") == "```py\ncode\n```"


def test_split_counts_utf16_units():
    text = ("😀" * 50 + "\n\n") * 100  # every emoji is 2 UTF-16 units
    parts = split_for_telegram(text)
    assert all(utf16_len(markdown_to_html(p)) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab *_`#>-[]()<>&\n~|!1.")), max_size=120))
def test_any_markdown_renders_to_html_telegram_accepts(source):
    html = markdown_to_html(source)
    parse_html(html)


@pytest.mark.parametrize("source", ["---", "![img](https://x.y/a.png)", "<br>"])
def test_nothing_renders_empty(source):
    assert parse_html(markdown_to_html(source))[0].strip()
