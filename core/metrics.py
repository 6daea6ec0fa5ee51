"""Prometheus metrics of this worker, recorded through small named hooks.

Each worker process serves its own ``GET /metrics`` and Prometheus scrapes every worker (they are
separate processes, often on separate hosts), so plain in-process collectors are right here and no
multiprocess mode is needed. Call sites use the ``record_*`` functions below, never the collectors
directly, so the metric names and labels live in this one file.

Label values are kept to small, known sets (platform, outcome, model id, error kind, API method),
never user or chat ids, so the number of series stays bounded.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from storage.records import UsageEntry

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0)

TURNS = Counter("kimi_turns", "Answered turns, by platform and outcome", ["platform", "outcome"])
TURN_SECONDS = Histogram(
    "kimi_turn_duration_seconds",
    "Whole turn latency (message in the assistant to the answer's end)",
    ["platform"],
    buckets=_LATENCY_BUCKETS,
)
TURNS_IN_PROGRESS = Gauge("kimi_turns_in_progress", "Turns running or queued in this worker")
COMPACTIONS_WAITING = Gauge(
    "kimi_compactions_waiting",
    "Conversations due for a summary that wait for one of COMPACTION_CONCURRENCY's slots",
)
FIRST_TOKEN_SECONDS = Histogram(
    "kimi_time_to_first_token_seconds",
    "Moonshot call start to its first streamed token",
    ["model"],
    buckets=_FIRST_TOKEN_BUCKETS,
)
TOKENS = Counter("kimi_tokens", "Tokens billed by Moonshot", ["model", "kind"])
COST = Counter(
    "kimi_cost",
    "Cost of Moonshot calls (tokens and tool fees), in the currency the account bills in",
    ["model", "currency"],
)
LIMITER_WAITS = Counter("kimi_limiter_waits", "Moonshot calls that queued for a limit", ["model"])
LIMITER_WAIT_SECONDS = Histogram(
    "kimi_limiter_wait_seconds",
    "Time calls spent queued for a limit",
    ["model"],
    buckets=_WAIT_BUCKETS,
)
LIMITER_REFUSALS = Counter(
    "kimi_limiter_refusals",
    "Calls refused by the limiter (expected wait over LIMIT_MAX_WAIT)",
    ["model", "scope", "limit"],
)
ERRORS = Counter("kimi_errors", "Failed answers and internal errors, by type", ["type"])
PLATFORM_API_ERRORS = Counter(
    "kimi_platform_api_errors",
    "Failed Telegram/Slack API calls, by platform and method",
    ["platform", "method"],
)
LOCK_WAIT_SECONDS = Histogram(
    "kimi_conversation_lock_wait_seconds",
    "Time a turn waited for its conversation's lock",
    buckets=_WAIT_BUCKETS,
)
LOCKS_LOST = Counter(
    "kimi_conversation_locks_lost", "Conversation leases that lapsed while held (see LOCK_LEASE)"
)
TELEGRAM_POLLING = Gauge(
    "kimi_telegram_polling", "1 while this worker holds the Telegram polling lease"
)
FEEDBACK = Counter(
    "kimi_feedback", "Ratings of answers (a changed rating counts again)", ["rating"]
)
ACCOUNT_BALANCE = Gauge(
    "kimi_account_balance",
    "The Moonshot account's balance in the catalog's currency, as last checked",
    ["kind"],
)


def record_turn(platform: str, outcome: str, seconds: float) -> None:
    """A turn ended: ``outcome`` is complete, incomplete, failed, cancelled, interrupted, crashed."""
    TURNS.labels(platform=platform or "unknown", outcome=outcome).inc()
    TURN_SECONDS.labels(platform=platform or "unknown").observe(max(0.0, seconds))


def record_usage(entries: list[UsageEntry]) -> None:
    """Tokens, cost and time to first token of a turn's Moonshot calls (its ledger rows)."""
    for entry in entries:
        TOKENS.labels(model=entry.model, kind="prompt").inc(entry.prompt_tokens)
        TOKENS.labels(model=entry.model, kind="completion").inc(entry.completion_tokens)
        TOKENS.labels(model=entry.model, kind="cached").inc(entry.cached_tokens)
        COST.labels(model=entry.model, currency=entry.currency).inc(max(0.0, entry.cost))
        if entry.first_token_ms is not None:
            FIRST_TOKEN_SECONDS.labels(model=entry.model).observe(entry.first_token_ms / 1000)


def record_limiter_wait(model: str, seconds: float) -> None:
    LIMITER_WAITS.labels(model=model).inc()
    LIMITER_WAIT_SECONDS.labels(model=model).observe(max(0.0, seconds))


def record_limiter_refusal(model: str, scope: str, limit: str) -> None:
    LIMITER_REFUSALS.labels(model=model, scope=scope, limit=limit).inc()


def record_error(kind: str) -> None:
    """A failed answer (the KimiError kind: ``rate_limited``, ``auth``…) or ``internal``."""
    ERRORS.labels(type=kind).inc()


def record_feedback(rating: int) -> None:
    """A user rated an answer: ``up``, ``down`` or ``cleared`` (a reaction taken back)."""
    FEEDBACK.labels(rating="up" if rating > 0 else "down" if rating < 0 else "cleared").inc()


def record_platform_error(platform: str, method: str) -> None:
    """A Telegram/Slack API call that failed (error answer or network error)."""
    PLATFORM_API_ERRORS.labels(platform=platform, method=method or "unknown").inc()


def record_lock_wait(seconds: float) -> None:
    LOCK_WAIT_SECONDS.observe(max(0.0, seconds))


def record_lock_lost() -> None:
    LOCKS_LOST.inc()


def set_telegram_polling(active: bool) -> None:
    TELEGRAM_POLLING.set(1 if active else 0)


def set_account_balance(amounts: dict[str, float]) -> None:
    """The balance check's result: ``kind`` is available, voucher or cash."""
    for kind, amount in amounts.items():
        ACCOUNT_BALANCE.labels(kind=kind).set(amount)


def render(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The text exposition format and its content type, for ``GET /metrics``."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
