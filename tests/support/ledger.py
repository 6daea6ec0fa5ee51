"""A ledger row for tests that write usage directly: one Telegram user's call unless told."""

from __future__ import annotations

from typing import Any

from storage import UsageEntry


def ledger_row(**fields: Any) -> UsageEntry:
    """``UsageEntry`` with plain defaults; pass only what the test is about."""
    values: dict[str, Any] = {
        "model": "kimi-k2",
        "prompt_tokens": 2000,
        "completion_tokens": 500,
        "cached_tokens": 0,
        "cost": 0.01,
        "currency": "CNY",
        "latency_ms": 800,
        "first_token_ms": 200,
        "user_id": "telegram:1",
        "platform": "telegram",
        "chat_key": "telegram:1",
        "conversation_id": None,
        "message_id": None,
    }
    values.update(fields)
    return UsageEntry(**values)
