"""Moonshot errors to typed errors, the retry policy, localized texts and stream-chunk folding."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import errors, texts
from core.kimi import (
    Completion,
    PartialAnswer,
    RetryPolicy,
    ToolCall,
    Usage,
    _apply_chunk,
    _Callbacks,
    _error_from_body,
    _merge_tool_fragment,
    _usage,
)

# status, type, message, expected class, retryable
ERROR_TABLE: list[tuple[int, str, str, type[errors.KimiError], bool]] = [
    (
        400,
        "invalid_request_error",
        "Invalid request: temperature out of range",
        errors.BadRequest,
        False,
    ),
    (
        400,
        "invalid_request_error",
        "Invalid request: Your request exceeded model token limit: 8192",
        errors.ContextTooLong,
        False,
    ),
    (
        400,
        "content_filter",
        "The request was rejected because it was considered high risk",
        errors.ContentFiltered,
        False,
    ),
    (401, "invalid_authentication_error", "Invalid Authentication", errors.AuthFailed, False),
    (401, "incorrect_api_key_error", "Incorrect API key provided", errors.AuthFailed, False),
    (
        403,
        "permission_denied_error",
        "The API you are accessing is not open",
        errors.PermissionDenied,
        False,
    ),
    (
        404,
        "resource_not_found_error",
        "Not found the model kimi-x or Permission denied",
        errors.ModelNotFound,
        False,
    ),
    (
        429,
        "rate_limit_reached_error",
        "Your account org-abc request reached max request: 3, please try again after 7 seconds",
        errors.RateLimited,
        True,
    ),
    (
        429,
        "engine_overloaded_error",
        "The engine is currently overloaded, please try again later",
        errors.Overloaded,
        True,
    ),
    (
        429,
        "exceeded_current_quota_error",
        "Your account org-abc is suspended, please check your plan and billing details",
        errors.QuotaExceeded,
        False,
    ),
    (500, "server_error", "Failed to extract file: broken pdf", errors.ServerError, True),
    (500, "unexpected_output", "unexpected output", errors.ServerError, True),
    (504, "", "Gateway Timeout", errors.ServerError, True),
]


@pytest.mark.parametrize("wrapped", [True, False], ids=["full-body", "inner-dict"])
@pytest.mark.parametrize(
    ("status", "kind", "message", "expected", "retryable"),
    ERROR_TABLE,
    ids=[f"{row[0]}-{row[1] or 'none'}-{row[3].__name__}" for row in ERROR_TABLE],
)
def test_error_table(
    wrapped: bool,
    status: int,
    kind: str,
    message: str,
    expected: type[errors.KimiError],
    retryable: bool,
) -> None:
    inner: dict[str, Any] = {"message": message, "type": kind}
    body = {"error": inner} if wrapped else inner
    error = _error_from_body(body, status=status)
    assert type(error) is expected
    assert error.retryable is retryable
    assert error.status == status
    assert message in str(error)
    assert str(status) in str(error)


def test_rate_limit_wait_is_read_from_the_message() -> None:
    body = {
        "error": {
            "type": "rate_limit_reached_error",
            "message": "Your account org-abc request reached max request: 3, "
            "please try again after 7 seconds",
        }
    }
    error = _error_from_body(body, status=429)
    assert isinstance(error, errors.RateLimited)
    assert error.wait_seconds == 7
    assert error.retryable


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        ("please try again after 1 seconds", 1.0),
        ("please try again after 2.5 seconds", 2.5),
        ("Please Try Again After 30s", 30.0),
        ("rate limit reached", 1.0),  # no hint: a short default
    ],
)
def test_rate_limit_wait_variants(message: str, wait: float) -> None:
    error = _error_from_body({"type": "rate_limit_reached_error", "message": message}, status=429)
    assert isinstance(error, errors.RateLimited)
    assert error.wait_seconds == pytest.approx(wait)


def test_429_without_a_type_is_a_rate_limit() -> None:
    error = _error_from_body({"error": {"message": "too many requests"}}, status=429)
    assert isinstance(error, errors.RateLimited)


def test_quota_is_not_retryable_even_though_it_is_a_429() -> None:
    error = _error_from_body(
        {"error": {"type": "exceeded_current_quota_error", "message": "balance exhausted"}},
        status=429,
    )
    assert isinstance(error, errors.QuotaExceeded)
    assert not isinstance(error, errors.RateLimited)
    assert error.retryable is False


@pytest.mark.parametrize("body", [None, "", "<html>Gateway Timeout</html>", {}, {"error": None}])
def test_504_with_any_body_is_a_retryable_server_error(body: object) -> None:
    error = _error_from_body(body, status=504)
    assert isinstance(error, errors.ServerError)
    assert error.retryable
    assert error.status == 504


def test_fallback_message_is_used_when_the_body_has_none() -> None:
    error = _error_from_body(None, status=502, fallback="Bad Gateway")
    assert isinstance(error, errors.ServerError)
    assert "Bad Gateway" in str(error)


def test_error_inside_a_stream_has_no_status() -> None:
    error = _error_from_body(
        {"error": {"type": "server_error", "message": "stream broke"}}, status=None
    )
    assert isinstance(error, errors.ServerError)
    assert error.status is None
    assert "stream" in str(error)
    overloaded = _error_from_body(
        {"error": {"type": "engine_overloaded_error", "message": "busy"}}, status=None
    )
    assert isinstance(overloaded, errors.Overloaded)


def test_user_messages_do_not_repeat_the_operator_detail() -> None:
    error = _error_from_body(
        {"error": {"type": "invalid_authentication_error", "message": "key sk-abc123 invalid"}},
        status=401,
    )
    assert "sk-abc123" not in error.user_message
    assert "key" in error.user_message.lower()


# --- retry policy --------------------------------------------------------------------------------


@pytest.mark.parametrize("wait", [0.5, 1.0, 7.0, 60.0])
@pytest.mark.parametrize("attempt", [0, 3, 10])
def test_rate_limit_delay_waits_at_least_what_moonshot_said(wait: float, attempt: int) -> None:
    policy = RetryPolicy()
    error = errors.RateLimited("x", wait_seconds=wait)
    for _ in range(50):
        delay = policy.delay(error, attempt)
        assert wait <= delay <= wait + 1.0


def test_rate_limit_delay_is_capped() -> None:
    policy = RetryPolicy(max_rate_limit_wait=30.0)
    error = errors.RateLimited("x", wait_seconds=3600)
    for _ in range(50):
        assert 30.0 <= policy.delay(error, 0) <= 31.0


@given(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=2**31))
def test_backoff_is_bounded_by_max_delay(attempt: int, seed: int) -> None:
    random.seed(seed)
    policy = RetryPolicy(base_delay=0.5, max_delay=20.0)
    for error in (errors.ServerError("x"), errors.Overloaded("x"), errors.StreamInterrupted("x")):
        delay = policy.delay(error, attempt)
        assert 0 < delay <= 20.0


def test_backoff_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=16.0)
    error = errors.ServerError("x")
    for attempt, full in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (9, 16.0)]:
        for _ in range(30):
            delay = policy.delay(error, attempt)
            # Equal jitter: between half and all of the exponential step.
            assert full / 2 <= delay <= full


# --- texts ---------------------------------------------------------------------------------------

ALL_ERRORS = [
    errors.RateLimited,
    errors.Overloaded,
    errors.ServerError,
    errors.StreamInterrupted,
    errors.ContextTooLong,
    errors.BadRequest,
    errors.AuthFailed,
    errors.PermissionDenied,
    errors.ModelNotFound,
    errors.ContentFiltered,
    errors.QuotaExceeded,
]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_error_text_in_chinese_for_a_chinese_user(cls: type[errors.KimiError]) -> None:
    lang = texts.language_of("你好，请帮我总结一下这篇文章")
    assert lang == "zh"
    error = cls("detail")
    zh = texts.error_text(error, lang)
    assert texts.is_chinese(zh)
    assert zh != error.user_message
    assert texts.error_text(error, "en") == error.user_message
    assert not texts.is_chinese(error.user_message)


def test_chinese_texts_are_distinct_per_error() -> None:
    zh = {texts.error_text(cls("x"), "zh") for cls in ALL_ERRORS}
    assert len(zh) == len(ALL_ERRORS)


def test_subclass_uses_its_parent_chinese_text() -> None:
    partial = PartialAnswer("cut", Completion(text="half"))
    assert texts.error_text(partial, "zh") == texts.error_text(errors.StreamInterrupted(), "zh")


def test_language_detection() -> None:
    assert texts.language_of("hello there") == "en"
    assert texts.language_of("") == "en"
    assert texts.language_of("请帮我用 Python 写一个函数") == "zh"
    assert texts.language_of("解释 this") == "zh"


def test_error_text_for_an_unknown_language_is_english() -> None:
    error = errors.RateLimited("x")
    assert texts.error_text(error, "fr") == error.user_message


# --- usage ---------------------------------------------------------------------------------------


def test_usage_with_cached_tokens_at_the_top_level() -> None:
    usage = _usage(
        {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cached_tokens": 64}
    )
    assert usage == Usage(prompt_tokens=100, completion_tokens=20, cached_tokens=64)
    assert usage.total_tokens == 120


def test_usage_with_cached_tokens_in_prompt_details() -> None:
    usage = _usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 32},
        }
    )
    assert usage.cached_tokens == 32


def test_usage_without_cached_tokens() -> None:
    usage = _usage({"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": None})
    assert usage == Usage(5, 1, 0)
    assert _usage({}) == Usage(0, 0, 0)


def test_usage_top_level_zero_falls_back_to_details() -> None:
    usage = _usage(
        {
            "prompt_tokens": 100,
            "completion_tokens": 1,
            "cached_tokens": 0,
            "prompt_tokens_details": {"cached_tokens": 50},
        }
    )
    assert usage.cached_tokens == 50


# --- tool-call fragments -------------------------------------------------------------------------


def test_tool_fragments_are_merged_by_index() -> None:
    calls: dict[int, ToolCall] = {}
    fragments = [
        {
            "index": 0,
            "id": "functions.get_weather:0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "search:1",
            "type": "builtin_function",
            "function": {"name": "$web_search", "arguments": '{"query'},
        },
        {"index": 0, "function": {"arguments": '{"city": '}},
        {"index": 1, "function": {"arguments": '": "kimi"}'}},
        {"index": 0, "function": {"arguments": '"Beijing"}'}},
    ]
    for fragment in fragments:
        _merge_tool_fragment(calls, fragment)
    assert sorted(calls) == [0, 1]
    assert calls[0] == ToolCall(
        id="functions.get_weather:0",
        name="get_weather",
        arguments='{"city": "Beijing"}',
        type="function",
    )
    assert calls[1].id == "search:1"
    assert calls[1].name == "$web_search"
    assert calls[1].type == "builtin_function"
    assert calls[1].arguments == '{"query": "kimi"}'


def test_later_fragments_without_id_or_name_keep_them() -> None:
    calls: dict[int, ToolCall] = {}
    _merge_tool_fragment(calls, {"index": 0, "id": "a:0", "function": {"name": "f"}})
    _merge_tool_fragment(
        calls, {"index": 0, "id": "", "function": {"name": None, "arguments": "{}"}}
    )
    assert calls[0].id == "a:0"
    assert calls[0].name == "f"
    assert calls[0].arguments == "{}"


async def test_apply_chunk_folds_text_reasoning_tools_and_usage() -> None:
    result = Completion(model="kimi-k2")
    calls: dict[int, ToolCall] = {}
    seen: list[str] = []
    thought: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    async def on_reasoning(text: str) -> None:
        thought.append(text)

    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "think "}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "more"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hello"}}]},
        {"choices": [{"index": 0, "delta": {"content": ", world"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "t:0", "function": {"name": "f", "arguments": "{"}}
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": "tool_calls",
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 2},
                }
            ]
        },
    ]
    for chunk in chunks:
        await _apply_chunk(chunk, result, calls, _Callbacks(on_delta, on_reasoning), 0.0)
    assert result.text == "Hello, world"
    assert seen == ["Hello", ", world"], "reasoning never reaches the answer's callback"
    assert result.reasoning == "think more"
    assert thought == ["think ", "more"]
    assert result.finish_reason == "tool_calls"
    assert result.usage == Usage(10, 5, 2)
    assert result.first_token_s is not None
    assert calls[0] == ToolCall(id="t:0", name="f", arguments="{}")


async def test_apply_chunk_reads_a_usage_only_chunk() -> None:
    result = Completion()
    await _apply_chunk(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 7,
                "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        },
        result,
        {},
        None,
        0.0,
    )
    assert result.usage == Usage(7, 3, 4)
    assert result.text == ""


def test_assistant_message_keeps_tool_call_ids_unchanged() -> None:
    completion = Completion(
        text="",
        tool_calls=[
            ToolCall(
                id="search:0", name="$web_search", arguments='{"q":1}', type="builtin_function"
            )
        ],
    )
    message = completion.assistant_message()
    assert message["role"] == "assistant"
    assert message["tool_calls"] == [
        {
            "id": "search:0",
            "type": "builtin_function",
            "function": {"name": "$web_search", "arguments": '{"q":1}'},
        }
    ]
    assert "tool_calls" not in Completion(text="hi").assistant_message()
