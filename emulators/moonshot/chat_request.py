"""Validation of a chat-completions body, with the real API's status codes and error types.

The emulator is stricter than OpenAI where Moonshot is: temperature in [0, 1], no empty
content, prompt + max_tokens must fit the context window, tool results must answer a call,
images only for vision models, thinking models need the reasoning of tool-call turns back,
and Partial Mode does not mix with JSON mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.catalog import Catalog, ModelSpec
from emulators.moonshot import errors
from emulators.moonshot.filestore import FileStore
from emulators.moonshot.images import SeenImage
from emulators.moonshot.partial import Prefix, partial_prefix, partial_problem
from emulators.moonshot.thinking import MISSING_REASONING, missing_reasoning_index
from emulators.moonshot.tokens import content_text, estimate_messages
from emulators.moonshot.vision import image_problem, last_user_content, seen_images

DEFAULT_MAX_TOKENS = 1024
MAX_TOOLS = 128
ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A body that passed validation, with the numbers limits and usage need."""

    body: dict[str, Any]
    spec: ModelSpec
    messages: list[dict[str, Any]]
    max_tokens: int
    prompt_tokens: int
    stream: bool
    include_usage: bool
    partial: Prefix | None = None
    seen: tuple[SeenImage, ...] = ()  # the newest user message's images, decoded
    cached_tokens: int = 0  # prompt tokens the prefix cache served (prefix_cache.py)

    @property
    def model(self) -> str:
        return self.spec.id

    def declares_tool(self, name: str) -> bool:
        """Whether ``tools`` declares a builtin function called ``name`` (e.g. ``$web_search``)."""
        for tool in self.body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("type") == "builtin_function":
                function = tool.get("function")
                if isinstance(function, dict) and function.get("name") == name:
                    return True
        return False


def validate(
    body: Any, catalog: Catalog, files: FileStore | None = None
) -> ChatRequest | web.Response:
    """The request, or the error response the real API would give. ``catalog`` holds the
    models the account serves: any other id is a 404; ``files`` resolves ``ms://`` images."""
    if not isinstance(body, dict):
        return errors.invalid_request("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return errors.invalid_request("model is required")
    if model not in catalog:
        return errors.not_found(f"Not found the model {model} or Permission denied")
    spec = catalog.get(model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return errors.invalid_request("messages must be a non-empty list")
    problem = (
        _message_problem(messages)
        or _parameter_problem(body, spec)
        or image_problem(messages, spec.id, spec.vision, files)
        or partial_problem(body, messages)
    )
    if problem:
        return errors.invalid_request(problem)
    missing = missing_reasoning_index(messages) if spec.thinking else None
    if missing is not None:
        return errors.error_response(
            400, "invalid_request_error", MISSING_REASONING.format(index=missing)
        )
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
    prompt_tokens = estimate_messages(messages, files)
    if prompt_tokens + max_tokens > spec.context_window:
        return errors.invalid_request(
            f"Your request exceeded model token limit: {spec.context_window}"
        )
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    return ChatRequest(
        body=body,
        spec=spec,
        messages=messages,
        max_tokens=max_tokens,
        prompt_tokens=prompt_tokens,
        stream=bool(body.get("stream")),
        include_usage=include_usage,
        partial=partial_prefix(messages),
        seen=tuple(seen_images(last_user_content(messages), files)),
    )


def _message_problem(messages: list[Any]) -> str | None:
    call_ids: set[str] = set()
    for position, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"message at position {position} must be an object"
        role = message.get("role")
        if role not in ROLES:
            return f"message at position {position} has an invalid role {role!r}"
        tool_calls = message.get("tool_calls")
        if role == "assistant" and isinstance(tool_calls, list):
            call_ids.update(c.get("id") for c in tool_calls if isinstance(c, dict))
        if _is_empty(message.get("content")) and not (role == "assistant" and _says_more(message)):
            return f"the message at position {position} with role {role} must not be empty"
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not call_id:
                return f"the tool message at position {position} needs a tool_call_id"
            if call_id not in call_ids:
                return f"tool_call_id {call_id} is not found"
    return None


def _says_more(message: dict[str, Any]) -> bool:
    """An assistant message may leave content empty if it calls tools, or if it is a Partial
    Mode prefix that so far holds only reasoning."""
    if message.get("tool_calls"):
        return True
    reasoning = message.get("reasoning_content")
    return message.get("partial") is True and isinstance(reasoning, str) and bool(reasoning)


def _is_empty(content: Any) -> bool:
    if content is None:
        return True
    if isinstance(content, list):
        return not content
    return not content_text(content).strip()


def _parameter_problem(body: dict[str, Any], spec: ModelSpec) -> str | None:
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            return "temperature must be a number"
        if not 0 <= temperature <= 1:
            return f"temperature {temperature} is out of range, must be in [0, 1]"
        fixed = spec.fixed_temperature
        if fixed is not None and abs(temperature - fixed) > 1e-9:
            return f"invalid temperature: only {fixed} is allowed for this model"
    top_p = body.get("top_p")
    if top_p is not None and (not isinstance(top_p, int | float) or not 0 <= top_p <= 1):
        return "top_p must be in [0, 1]"
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            return f"{key} must be a positive integer"
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools must be a list"
        if len(tools) > MAX_TOOLS:
            return f"too many tools: {len(tools)}, at most {MAX_TOOLS}"
    if body.get("tool_choice") == "required":
        return "tool_choice 'required' is not supported, use 'auto' or 'none'"
    return None
