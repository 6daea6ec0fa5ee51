"""Message size limits and per-method rate limits, as Slack enforces them.

Sizes (from Slack's method/Block Kit docs and reported behaviour):
- ``text`` over 40,000 characters -> ``msg_too_long``;
- ``markdown_text`` (postMessage/update/streams, and each streamed chunk) over 12,000 -> ``msg_too_long``;
- more than 50 blocks, a section text over 3,000, a section field over 2,000, a header over
  150, or markdown blocks totalling over 12,000 -> ``invalid_blocks`` (Block Kit schema errors);
- all block text together over ~13,000 -> ``msg_blocks_too_long`` (observed, undocumented);
- a ``context_actions`` block needs 1 to 5 elements, each ``feedback_buttons`` or
  ``icon_button``; feedback buttons need a positive and a negative button, each with
  ``plain_text`` of at most 75 characters and a value of at most 2,000 -> ``invalid_blocks``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ApiError

MAX_TEXT = 40_000
MAX_MARKDOWN_TEXT = 12_000
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELD = 2_000
MAX_HEADER_TEXT = 150
MAX_MARKDOWN_BLOCKS_TOTAL = 12_000
MAX_BLOCKS_TOTAL_TEXT = 13_000
MAX_CONTEXT_ACTIONS = 5
MAX_FEEDBACK_TEXT = 75
MAX_FEEDBACK_VALUE = 2_000


def _schema_error(index: int, detail: str) -> ApiError:
    pointer = f"[json-pointer:/blocks/{index}/text]"
    return ApiError(
        "invalid_blocks",
        extra={
            "errors": [f"{detail} {pointer}"],
            "response_metadata": {"messages": [f"[ERROR] {detail} {pointer}"]},
        },
    )


def _block_text_length(node: Any) -> int:
    """All ``text`` strings in a block, recursively: what counts toward the payload size."""
    if isinstance(node, dict):
        return sum(
            len(v) if k == "text" and isinstance(v, str) else _block_text_length(v)
            for k, v in node.items()
        )
    if isinstance(node, list):
        return sum(_block_text_length(v) for v in node)
    return 0


def validate_blocks(blocks: Any) -> None:
    """Reject blocks Slack would reject; otherwise return silently."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise ApiError("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS:
        raise ApiError(
            "invalid_blocks",
            extra={"errors": [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]},
        )
    markdown_total = 0
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if not isinstance(kind, str):
            raise _schema_error(i, "missing required field: type")
        if kind == "section":
            text = block.get("text")
            if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
                raise _schema_error(i, f"must be less than {MAX_SECTION_TEXT + 1} characters")
            for fld in block.get("fields") or []:
                if isinstance(fld, dict) and len(str(fld.get("text", ""))) > MAX_SECTION_FIELD:
                    raise _schema_error(i, f"must be less than {MAX_SECTION_FIELD + 1} characters")
        elif kind == "header":
            text = block.get("text")
            if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_HEADER_TEXT:
                raise _schema_error(i, f"must be less than {MAX_HEADER_TEXT + 1} characters")
        elif kind == "context_actions":
            _validate_context_actions(i, block)
        elif kind == "markdown":
            markdown_total += len(str(block.get("text", "")))
            if markdown_total > MAX_MARKDOWN_BLOCKS_TOTAL:
                raise _schema_error(
                    i, f"markdown blocks exceed {MAX_MARKDOWN_BLOCKS_TOTAL} characters in total"
                )
    if _block_text_length(blocks) > MAX_BLOCKS_TOTAL_TEXT:
        raise ApiError("msg_blocks_too_long")


def _validate_context_actions(index: int, block: dict[str, Any]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ACTIONS:
        raise _schema_error(index, f"must provide between 1 and {MAX_CONTEXT_ACTIONS} elements")
    for element in elements:
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ("feedback_buttons", "icon_button"):
            raise _schema_error(index, f"unsupported context_actions element type {kind!r}")
        if kind != "feedback_buttons":
            continue
        for side in ("positive_button", "negative_button"):
            button = element.get(side)
            if not isinstance(button, dict):
                raise _schema_error(index, f"missing required field: {side}")
            text = button.get("text")
            if not (isinstance(text, dict) and text.get("type") == "plain_text"):
                raise _schema_error(index, f"{side}.text must be a plain_text object")
            if len(str(text.get("text", ""))) > MAX_FEEDBACK_TEXT:
                raise _schema_error(index, f"must be less than {MAX_FEEDBACK_TEXT + 1} characters")
            label = button.get("accessibility_label")
            if label is not None and len(str(label)) > MAX_FEEDBACK_TEXT:
                raise _schema_error(index, f"must be less than {MAX_FEEDBACK_TEXT + 1} characters")
            value = button.get("value")
            if not isinstance(value, str) or not value or len(value) > MAX_FEEDBACK_VALUE:
                raise _schema_error(index, f"{side}.value must be 1 to {MAX_FEEDBACK_VALUE} chars")


def validate_message_content(params: dict[str, Any], *, require_content: bool = True) -> None:
    """The checks chat.postMessage / chat.update / chat.postEphemeral share."""
    text = params.get("text")
    blocks = params.get("blocks")
    markdown_text = params.get("markdown_text")
    if markdown_text is not None and (text or blocks):
        raise ApiError("markdown_text_conflict")
    if require_content and not (text or blocks or markdown_text or params.get("attachments")):
        raise ApiError("no_text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    if isinstance(markdown_text, str) and len(markdown_text) > MAX_MARKDOWN_TEXT:
        raise ApiError("msg_too_long")
    if blocks is not None:
        validate_blocks(blocks)


Scope = Literal["workspace", "channel", "message"]


@dataclass
class RateRule:
    """A token bucket per scope key: ``burst`` calls at once, then ``per_second`` sustained."""

    burst: float
    per_second: float
    scope: Scope


# Slack's published tiers/special limits, simplified into buckets:
# chat.postMessage ~1/s per channel with short bursts; chat.update Tier 3 (50+/min), and
# ~1/s per message is the safe sustained rate; chat.appendStream Tier 4 (100+/min).
DEFAULT_RATE_RULES: dict[str, RateRule] = {
    "chat.postMessage": RateRule(burst=5, per_second=1.0, scope="channel"),
    "chat.update": RateRule(burst=3, per_second=1.0, scope="message"),
    "chat.appendStream": RateRule(burst=20, per_second=100 / 60, scope="workspace"),
}


@dataclass
class RateLimitViolation:
    """A call the emulator answered with HTTP 429 because it came too fast."""

    method: str
    key: str
    timestamp: float
    retry_after: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Answers ``ratelimited`` (HTTP 429 + Retry-After) when a bucket is empty."""

    rules: dict[str, RateRule] = field(default_factory=lambda: dict(DEFAULT_RATE_RULES))
    enabled: bool = False
    violations: list[RateLimitViolation] = field(default_factory=list)
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def check(self, method: str, params: dict[str, Any]) -> None:
        rule = self.rules.get(method)
        if not self.enabled or rule is None:
            return
        key = self._key(rule.scope, params)
        now = time.monotonic()
        bucket = self._buckets.setdefault((method, key), _Bucket(tokens=rule.burst, updated=now))
        bucket.tokens = min(rule.burst, bucket.tokens + (now - bucket.updated) * rule.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        retry_after = max(1, math.ceil((1 - bucket.tokens) / rule.per_second))
        self.violations.append(RateLimitViolation(method, key, time.time(), retry_after))
        raise ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})

    @staticmethod
    def _key(scope: Scope, params: dict[str, Any]) -> str:
        if scope == "channel":
            return str(params.get("channel", ""))
        if scope == "message":
            return f"{params.get('channel', '')}:{params.get('ts', '')}"
        return "workspace"
