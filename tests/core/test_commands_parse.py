"""Command parsing, the access policy and the log redactor."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from core.access import AccessPolicy
from core.commands import Command, parse_command
from core.logs import SecretRedactor
from core.types import Author, ConversationKey, Incoming

# --- parse_command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/reset", Command("reset", "")),
        ("  /reset  ", Command("reset", "")),
        ("/RESET", Command("reset", "")),
        ("/model@kimi_bot kimi-k2", Command("model", "kimi-k2")),
        ("/model@kimi_bot", Command("model", "")),
        ("/model   moonshot-v1-8k  ", Command("model", "moonshot-v1-8k")),
        ("/ask what is x", Command("ask", "what is x")),
        (
            "/system You are a pirate. Talk like one.",
            Command("system", "You are a pirate. Talk like one."),
        ),
        ("/some_command arg", Command("some_command", "arg")),
    ],
)
def test_commands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "/",
        " / ",
        "",
        "hello /reset",
        "what is 1/2?",
        "//reset",
        "/@kimi_bot",
        "/ reset",
        "/re-set",
        "/path/to/file",
    ],
)
def test_not_commands(text: str) -> None:
    assert parse_command(text) is None


def test_multiline_argument_after_a_space_is_kept_whole() -> None:
    assert parse_command("/system line one\nline two") == Command("system", "line one\nline two")


def test_command_followed_by_a_newline() -> None:
    assert parse_command("/system\nYou are a pirate") == Command("system", "You are a pirate")


# --- access policy -------------------------------------------------------------------------------


def incoming(user: str, chat: str = "42", platform: str = "telegram") -> Incoming:
    return Incoming(
        key=ConversationKey(platform=platform, chat=chat),
        author=Author(id=user, name="someone"),
        text="hi",
        is_group=chat.startswith("-"),
    )


def test_empty_lists_allow_everyone() -> None:
    policy = AccessPolicy()
    assert policy.allows(incoming("telegram:1"))
    assert policy.allows(incoming("slack:U42", chat="C1", platform="slack"))
    assert not policy.is_admin("telegram:1")


def test_allow_list_by_user() -> None:
    policy = AccessPolicy.from_lists([], ["telegram:1", "slack:U42"], [])
    assert policy.allows(incoming("telegram:1"))
    assert policy.allows(incoming("slack:U42", chat="C1", platform="slack"))
    assert not policy.allows(incoming("telegram:2"))
    assert not policy.allows(incoming("slack:U43", chat="C1", platform="slack"))
    # Ids are platform-qualified: the same number on another platform is someone else.
    assert not policy.allows(incoming("cli:1", platform="cli"))


def test_allow_list_by_chat() -> None:
    policy = AccessPolicy.from_lists([], [], ["telegram:-100123"])
    assert policy.allows(incoming("telegram:7", chat="-100123"))
    assert policy.allows(incoming("telegram:8", chat="-100123"))
    assert not policy.allows(incoming("telegram:7", chat="-100999"))
    assert not policy.allows(incoming("telegram:7", chat="7"))  # private chat with the same user
    assert not policy.allows(incoming("slack:U1", chat="-100123", platform="slack"))


def test_user_and_chat_lists_combine() -> None:
    policy = AccessPolicy.from_lists([], ["telegram:7"], ["telegram:-100123"])
    assert policy.allows(incoming("telegram:7", chat="7"))
    assert policy.allows(incoming("telegram:7", chat="-100999"))
    assert policy.allows(incoming("telegram:8", chat="-100123"))
    assert not policy.allows(incoming("telegram:8", chat="8"))


def test_admins_are_always_allowed() -> None:
    policy = AccessPolicy.from_lists(["telegram:99"], ["telegram:1"], ["telegram:-100123"])
    assert policy.is_admin("telegram:99")
    assert not policy.is_admin("telegram:1")
    assert policy.allows(incoming("telegram:99"))
    assert policy.allows(incoming("telegram:99", chat="-100999"))


def test_admins_alone_do_not_restrict_others() -> None:
    policy = AccessPolicy.from_lists(["telegram:99"], [], [])
    assert policy.allows(incoming("telegram:1"))


# --- secret redactor -----------------------------------------------------------------------------

MOONSHOT_KEY = "sk-AbCdEf0123456789abcdef"
SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
SLACK_APP = "xapp-1-A0123456789-0123456789-abcdef"
TELEGRAM = "123456789:AAHfYqL0abcdefghijklmnopqrstuvwxyz1"
CONFIGURED = "plain-configured-secret"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(SecretRedactor([CONFIGURED, "short"]))
    logger = logging.getLogger("tests.core.redactor")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.handlers[:] = []


@pytest.mark.parametrize("secret", [MOONSHOT_KEY, SLACK_BOT, SLACK_APP, TELEGRAM, CONFIGURED])
def test_redact_masks_secrets_and_token_shapes(secret: str) -> None:
    redactor = SecretRedactor([CONFIGURED])
    cleaned = redactor.redact(f"calling with {secret} now")
    assert secret not in cleaned
    assert "***" in cleaned
    assert cleaned.startswith("calling with ")
    assert cleaned.endswith(" now")


def test_redact_leaves_ordinary_text_alone() -> None:
    redactor = SecretRedactor([CONFIGURED])
    text = "user telegram:123456 asked about sk- and 12:30, task-1 done"
    assert redactor.redact(text) == text


def test_short_configured_values_are_not_masked() -> None:
    # Masking a 1-5 character value would garble every log line.
    assert SecretRedactor(["abc", ""]).redact("abc abc") == "abc abc"


def test_longer_secret_masked_before_its_prefix() -> None:
    redactor = SecretRedactor(["secret-one", "secret-one-two"])
    assert redactor.redact("x secret-one-two y") == "x *** y"


def test_secret_in_message(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.warning(f"key is {MOONSHOT_KEY} and {CONFIGURED}")
    output = stream.getvalue()
    assert MOONSHOT_KEY not in output
    assert CONFIGURED not in output
    assert "key is *** and ***" in output


def test_secret_in_args(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("posting to %s with token %s (%d tries)", "https://slack.com/api/", SLACK_BOT, 3)
    output = stream.getvalue()
    assert SLACK_BOT not in output
    assert "posting to https://slack.com/api/ with token *** (3 tries)" in output


def test_secret_in_exception_text(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    try:
        raise RuntimeError(f"auth failed for {MOONSHOT_KEY} / {CONFIGURED} / {TELEGRAM}")
    except RuntimeError:
        logger.exception("call failed")
    output = stream.getvalue()
    assert "call failed" in output
    assert "RuntimeError: auth failed for *** / *** / ***" in output
    for secret in (MOONSHOT_KEY, CONFIGURED, TELEGRAM):
        assert secret not in output


def test_clean_records_are_unchanged(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("answered in %.1fs", 1.25)
    assert stream.getvalue() == "INFO answered in 1.2s\n"


def test_filter_always_keeps_the_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (MOONSHOT_KEY,), None)
    assert SecretRedactor().filter(record) is True
    assert record.getMessage() == "token ***"


def test_telegram_token_inside_a_bot_api_url() -> None:
    url = f"https://api.telegram.org/bot{TELEGRAM}/getMe"
    assert TELEGRAM not in SecretRedactor().redact(f"HTTP Request: POST {url}")
