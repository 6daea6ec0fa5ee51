"""The text catalog and the command registry: complete in both languages, one list of commands."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest

from core import command_registry, texts
from core.commands import CommandHandler
from core.phrases import CATALOG, LANGUAGES
from core.workers import INTERRUPTED_NOTICE


def fields(template: str) -> set[str]:
    """The placeholders a text fills in (``{count}``, ``{size:.1f}`` → ``count``, ``size``)."""
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


def listed(help_text: str) -> list[str]:
    """The commands a help text lists, one ``/name …`` line each."""
    return re.findall(r"^/(\w+)", help_text, flags=re.MULTILINE)


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_every_text_has_both_languages_with_the_same_placeholders(key: str) -> None:
    variants = CATALOG[key]
    assert set(variants) == set(LANGUAGES), key
    assert all(variants[lang].strip() for lang in LANGUAGES), key
    assert fields(variants["en"]) == fields(variants["zh"]), key


def test_chinese_texts_with_words_are_written_in_chinese() -> None:
    """A Chinese text with any letters in it is Chinese, not a copy of the English."""
    for key, variants in CATALOG.items():
        words = re.sub(r"\{[^}]*\}|`[^`]*`|/\w+", "", variants["zh"])
        if re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", words) and variants["zh"] != variants["en"]:
            assert texts.is_chinese(words), key


def test_every_command_has_help_in_both_languages() -> None:
    for spec in command_registry.COMMANDS:
        assert set(spec.help) == set(LANGUAGES), spec.name
        assert all(spec.help[lang].strip() for lang in LANGUAGES), spec.name
        assert texts.is_chinese(spec.help["zh"]), spec.name
    assert len(command_registry.NAMES) == len(command_registry.COMMANDS), "a name twice"


def test_the_handlers_answer_exactly_the_registry_commands_but_ask() -> None:
    """``/ask`` and ``/summarize`` are questions, answered by the assistant as turns; every
    other command has a handler."""
    handlers = CommandHandler._handlers(object.__new__(CommandHandler))  # type: ignore[arg-type]
    assert set(handlers) == command_registry.NAMES - command_registry.TURN_COMMANDS


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("group", [False, True], ids=["private", "group"])
def test_help_lists_exactly_the_commands_offered_there(lang: str, group: bool) -> None:
    shown = command_registry.help_text(lang, group=group)
    assert listed(shown) == [spec.name for spec in command_registry.offered(group=group)]
    assert ("/ask" in shown) is group and ("/start" in shown) is not group
    assert ("admins" in shown or "管理员" in shown) is group


def test_every_command_is_offered_somewhere() -> None:
    private = {spec.name for spec in command_registry.offered(group=False)}
    groups = {spec.name for spec in command_registry.offered(group=True)}
    assert private | groups == command_registry.NAMES
    assert "search" in private and "search" in groups


def test_web_hints_are_the_private_commands_in_the_language_asked() -> None:
    for lang in LANGUAGES:
        hints = command_registry.hints(lang)
        assert [h["name"] for h in hints] == listed(command_registry.help_text(lang))
        assert {h["name"]: h["args"] for h in hints}["forget"] == "N|image N|all"
    assert texts.is_chinese(command_registry.hints("zh")[0]["help"])


def test_a_command_answers_in_the_language_of_its_words_else_the_users_platform() -> None:
    assert texts.command_language("") == "en"
    assert texts.command_language("", "zh") == "zh"
    assert texts.command_language("all", "zh") == "zh", "arguments are syntax, not language"
    assert texts.command_language("请简短回答", "en") == "zh"
    assert texts.command_language("", "fr") == "en"


@pytest.mark.parametrize(
    ("tag", "language"),
    [("zh-CN", "zh"), ("zh-hans", "zh"), ("zh_TW.UTF-8", "zh"), ("en-GB", "en"), ("de", "")],
)
def test_language_tags(tag: str, language: str) -> None:
    assert texts.language_tag(tag) == language


def test_the_restart_notice_has_no_user_text_to_follow_so_it_says_both() -> None:
    english, chinese = INTERRUPTED_NOTICE.split("\n")
    assert english == texts.text("worker_interrupted", "en")
    assert chinese == texts.text("worker_interrupted", "zh") and texts.is_chinese(chinese)


def test_the_commands_page_lists_the_registry_in_its_order() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
    rows = re.findall(r"^\| `(/[^`]+)` \|", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert [row.replace("\\|", "|") for row in rows] == [
        s.usage() for s in command_registry.COMMANDS
    ]
