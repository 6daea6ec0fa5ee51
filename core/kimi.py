"""The Kimi client: one streaming call with our retry policy, on the official ``openai`` SDK.

Why we read the SSE lines ourselves (through the SDK's ``with_streaming_response``): the SDK's
parsed stream hides whether ``data: [DONE]`` arrived, and only ``[DONE]`` proves an answer is
complete. Transport, auth headers and HTTP errors still come from the SDK.

Why our own retries: the SDK's automatic retries spend RPM and ignore the "try again after N
seconds" that Moonshot puts in the 429 message (there is no Retry-After header). The SDK's
retries are off (``max_retries=0``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import orjson

from core import errors
from core.catalog import ModelSpec

log = logging.getLogger(__name__)

DeltaCallback = Callable[[str], Awaitable[None]]
RetryCallback = Callable[[errors.KimiError, float, int], Awaitable[None]]

_WAIT_RE = re.compile(r"after\s+(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
# Moonshot's TPM and TPD 429s: "request reached organization TPD rate limit, current:X, limit:Y"
# (no wait named, unlike the RPM and concurrency ones).
_TOKEN_LIMIT_RE = re.compile(r"\b(TPM|TPD)\b", re.IGNORECASE)
_TOO_LONG_RE = re.compile(r"exceeded model token limit|context length|too long", re.IGNORECASE)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ToolCall:
    """A tool call as the model sent it; ``id`` is opaque and echoed back unchanged."""

    id: str
    name: str
    arguments: str
    type: str = "function"


@dataclass(slots=True)
class Completion:
    """What one (possibly retried) streaming call produced."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str = ""
    attempts: int = 0
    latency_s: float = 0.0
    first_token_s: float | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The assistant message to append to history before tool results (kept unchanged).

        A thinking model's reasoning goes back with it: Moonshot refuses a tool-call message of
        a thinking model without its ``reasoning_content`` (400 "thinking is enabled but
        reasoning_content is missing in assistant tool call message")."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": c.type,
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        return message


class PartialAnswer(errors.StreamInterrupted):
    """The stream broke after text was shown; carries what arrived so it can be kept."""

    def __init__(self, detail: str, completion: Completion) -> None:
        super().__init__(detail)
        self.completion = completion


@dataclass(slots=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_rate_limit_wait: float = 90.0

    def delay(self, error: errors.KimiError, attempt: int) -> float:
        """How long to wait before attempt ``attempt + 1``; rate limits wait what Moonshot said."""
        if isinstance(error, errors.RateLimited):
            return min(error.wait_seconds, self.max_rate_limit_wait) + random.uniform(0, 0.25)
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)


def sdk_http_client(transport: str, timeout: float) -> httpx2.AsyncClient:
    """The SDK's own HTTP client for ``transport`` (KIMI_HTTP_CLIENT), with the SDK's defaults.

    ``aiohttp`` is the SDK's documented ``DefaultAioHttpClient``: a streamed answer is one read
    per token, and aiohttp's C parser reads one for about half the CPU of httpx's pure-Python
    stack (measured 29 -> 16 ms of process CPU for a 222-chunk stream, bench/NOTES.md)."""
    if transport == "aiohttp":
        return openai.DefaultAioHttpClient(timeout=timeout)
    return openai.DefaultAsyncHttpxClient(timeout=timeout)


class KimiClient:
    """Streams chat completions from Moonshot and maps every failure to a typed ``KimiError``.
    A :class:`core.chat_model.ChatModel`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float = 300.0,
        idle_timeout: float = 60.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: str = "httpx",  # KIMI_HTTP_CLIENT's value; unset: the SDK's own default
    ) -> None:
        self._sdk = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=idle_timeout,
            http_client=sdk_http_client(transport, idle_timeout),
        )
        self.total_timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        """The underlying SDK client (files API, models, token estimates)."""
        return self._sdk

    async def close(self) -> None:
        await self._sdk.close()

    async def stream(
        self,
        *,
        model: ModelSpec,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        on_delta: DeltaCallback | None = None,
        on_retry: RetryCallback | None = None,
        on_reasoning: DeltaCallback | None = None,
    ) -> Completion:
        """Stream one answer, retrying per the policy while no answer text has been shown yet
        (reasoning may have been: a retry thinks again)."""
        callbacks = _Callbacks(on_delta, on_reasoning)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            result = Completion(model=model.id, attempts=attempt)
            try:
                async with asyncio.timeout(self.total_timeout):
                    await self._stream_once(
                        result, model, messages, max_tokens, temperature, tools, callbacks, started
                    )
                result.latency_s = time.monotonic() - started
                return result
            except TimeoutError:
                error: errors.KimiError = errors.StreamInterrupted("stream exceeded total timeout")
            except errors.KimiError as exc:
                error = exc
            try:
                if result.text:
                    result.latency_s = time.monotonic() - started
                    raise PartialAnswer(str(error), result) from error
                if not error.retryable or attempt > self.policy.max_retries:
                    raise error
                delay = self.policy.delay(error, attempt - 1)
                log.warning(
                    "kimi call failed (%s: %s); retry %d/%d in %.1fs",
                    error.kind,
                    error.detail,
                    attempt,
                    self.policy.max_retries,
                    delay,
                )
                if on_retry is not None:
                    await on_retry(error, delay, attempt)
                await self._sleep(delay)
            finally:
                # The error's traceback holds this frame: kept in a local, the two would be a
                # reference cycle, and the whole turn behind it would wait for a full collection.
                del error

    async def _stream_once(
        self,
        result: Completion,
        model: ModelSpec,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None,
        tools: Sequence[Mapping[str, Any]] | None,
        callbacks: _Callbacks,
        started: float,
    ) -> None:
        params: dict[str, Any] = {
            "model": model.id,
            "messages": [],  # sent as is in extra_body: see below
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if model.fixed_temperature is not None:
            params["temperature"] = model.fixed_temperature
        elif model.send_temperature and temperature is not None:
            params["temperature"] = temperature
        # The SDK walks typed parameters key by key against its TypedDicts before encoding them:
        # for the messages that is CPU proportional to the history (the largest cost that grew
        # with conversation length, bench/NOTES.md). Ours are plain JSON already, so they go in
        # extra_body, which the SDK merges into the body as is (its keys win).
        raw: dict[str, Any] = {"messages": list(messages)}
        if tools:
            raw["tools"] = list(tools)
        calls: dict[int, ToolCall] = {}
        done = False
        try:
            async with self._sdk.chat.completions.with_streaming_response.create(
                **params, extra_body=raw
            ) as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    # orjson: a chunk per token, and the standard library's decoder was 7 % of
                    # the event loop's time under load (py-spy, bench.soak); its errors are
                    # json.JSONDecodeError too.
                    chunk = orjson.loads(data)
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise _error_from_body(chunk, status=None, model=model.id)
                    await _apply_chunk(chunk, result, calls, callbacks, started)
        except openai.APIStatusError as exc:
            raise error_from_status(exc, model.id) from None
        except openai.APIConnectionError as exc:
            failure = connection_failure(exc)
            if failure is None:
                raise errors.StreamInterrupted(
                    "no data from Moonshot within the idle timeout"
                ) from None
            raise errors.StreamInterrupted(f"connection error: {failure}") from None
        except httpx2.HTTPError as exc:  # a cut mid-body surfaces from iter_lines unwrapped
            raise errors.StreamInterrupted(f"connection error: {type(exc).__name__}") from None
        except json.JSONDecodeError:
            raise errors.StreamInterrupted("malformed stream chunk") from None
        result.tool_calls = [calls[i] for i in sorted(calls)]
        if not done:
            raise errors.StreamInterrupted("stream ended without [DONE]")


def connection_failure(exc: openai.APIConnectionError) -> str | None:
    """What broke the connection (an exception's name), or None when it timed out.

    The aiohttp transport's exception map reports every refused or lost connection as a connect
    timeout (``APITimeoutError``), so for a timeout the first cause that is a timeout or a
    socket or aiohttp error decides (named, not imported: aiohttp is the SDK's business here)."""
    if not isinstance(exc, openai.APITimeoutError):
        return type(exc.__cause__ or exc).__name__
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return None
        if isinstance(cause, OSError) or type(cause).__module__.startswith("aiohttp"):
            return type(cause).__name__
        cause = cause.__cause__
    return None


@dataclass(frozen=True, slots=True)
class _Callbacks:
    on_delta: DeltaCallback | None
    on_reasoning: DeltaCallback | None


async def _apply_chunk(
    chunk: Mapping[str, Any],
    result: Completion,
    calls: dict[int, ToolCall],
    callbacks: _Callbacks,
    started: float,
) -> None:
    """Fold one SSE chunk into ``result``: text, reasoning, tool-call fragments, usage."""
    if chunk.get("usage"):
        result.usage = _usage(chunk["usage"])
    for choice in chunk.get("choices") or []:
        if choice.get("usage"):
            result.usage = _usage(choice["usage"])
        if choice.get("finish_reason"):
            result.finish_reason = choice["finish_reason"]
        delta = choice.get("delta") or {}
        thought = delta.get("reasoning_content")
        if thought:
            result.reasoning += thought
            if callbacks.on_reasoning is not None:
                await callbacks.on_reasoning(thought)
        for fragment in delta.get("tool_calls") or []:
            _merge_tool_fragment(calls, fragment)
        text = delta.get("content")
        if text:
            if result.first_token_s is None:
                result.first_token_s = time.monotonic() - started
            result.text += text
            if callbacks.on_delta is not None:
                await callbacks.on_delta(text)


def _merge_tool_fragment(calls: dict[int, ToolCall], fragment: Mapping[str, Any]) -> None:
    index = int(fragment.get("index", 0))
    function = fragment.get("function") or {}
    call = calls.get(index)
    if call is None:
        call = calls[index] = ToolCall(id="", name="", arguments="")
    if fragment.get("id"):
        call.id = fragment["id"]
    if fragment.get("type"):
        call.type = fragment["type"]
    if function.get("name"):
        call.name = function["name"]
    if function.get("arguments"):
        call.arguments += function["arguments"]


def _usage(raw: Mapping[str, Any]) -> Usage:
    details = raw.get("prompt_tokens_details") or {}
    cached = raw.get("cached_tokens") or details.get("cached_tokens") or 0
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(cached),
    )


def error_from_status(exc: openai.APIStatusError, model: str = "") -> errors.KimiError:
    """Map an SDK status error to our typed error (also used by the files API)."""
    return _error_from_body(exc.body, status=exc.status_code, fallback=exc.message, model=model)


def _error_from_body(
    body: object, *, status: int | None, fallback: str = "", model: str = ""
) -> errors.KimiError:
    """Map Moonshot's ``{"error": {"type", "message"}}`` and the HTTP status to a typed error."""
    error = body.get("error", body) if isinstance(body, Mapping) else None
    kind = str(error.get("type") or "") if isinstance(error, Mapping) else ""
    message = str(error.get("message") or "") if isinstance(error, Mapping) else str(body or "")
    message = message or fallback
    detail = f"{status or 'stream'} {kind}: {message}".strip()
    if kind == "exceeded_current_quota_error":
        return errors.QuotaExceeded(detail, status=status)
    if kind == "engine_overloaded_error":
        return errors.Overloaded(detail, status=status)
    if kind == "content_filter":
        return errors.ContentFiltered(detail, status=status)
    if status == 429 or kind == "rate_limit_reached_error":
        match = _WAIT_RE.search(message)
        dimension = _TOKEN_LIMIT_RE.search(message)
        if match is None and dimension is not None and dimension.group(1).upper() == "TPD":
            return errors.DailyLimitReached(detail, model=model, status=status)
        wait = float(match.group(1)) if match else 1.0
        return errors.RateLimited(detail, wait_seconds=wait, status=status, wait_given=bool(match))
    if status == 401:
        return errors.AuthFailed(detail, status=status)
    if status == 403:
        return errors.PermissionDenied(detail, status=status)
    if status == 404:
        return errors.ModelNotFound(detail, status=status)
    if status == 400 and _TOO_LONG_RE.search(message):
        return errors.ContextTooLong(detail, status=status)
    if status is not None and status >= 500:
        return errors.ServerError(detail, status=status)
    if status is None:
        return errors.ServerError(detail)
    return errors.BadRequest(detail, status=status)
