"""Replies name commands the way the user types them (``/reset``), and count what they say."""

from __future__ import annotations

from core import errors, texts


def test_chinese_hints_name_commands_with_the_slash() -> None:
    assert "发送 /reset 开始新的对话" in texts.error_text(errors.ContextTooLong(), "zh")
    assert "请用 /model 命令" in texts.error_text(errors.ModelNotFound(), "zh")


def test_too_long_counts_characters_in_both_languages() -> None:
    english = texts.text("too_long", "en", chars=250_000, limit=200_000)
    assert "250,000 characters; the limit is 200,000" in english
    assert "token" not in english
    chinese = texts.text("too_long", "zh", chars=250_000, limit=200_000)
    assert "250,000 个字符" in chinese and "token" not in chinese
