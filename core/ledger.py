"""Usage rows for the ledger: one per Moonshot call, priced from the catalog."""

from __future__ import annotations

import logging

from core.catalog import ModelSpec
from core.kimi import Completion
from core.tokens import TokenEstimator
from core.types import Incoming
from storage import ConversationRecord
from storage.records import UsageEntry

log = logging.getLogger(__name__)


def usage_entry(
    completion: Completion,
    model: ModelSpec,
    conversation: ConversationRecord,
    incoming: Incoming,
    answer_id: int | None,
    prompt_estimate: int,
    estimator: TokenEstimator,
) -> UsageEntry:
    """Moonshot's ``usage`` when present (the billing truth), else our estimates."""
    usage = completion.usage
    if usage is None:
        log.warning("no usage in Moonshot's answer; recording estimates")
        prompt, completion_tokens, cached = prompt_estimate, estimator.text(completion.text), 0
    else:
        prompt, completion_tokens, cached = (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
        )
    return UsageEntry(
        model=model.id,
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
        cached_tokens=cached,
        cost_cny=model.cost_cny(prompt, completion_tokens, cached),
        latency_ms=int(completion.latency_s * 1000),
        first_token_ms=None
        if completion.first_token_s is None
        else int(completion.first_token_s * 1000),
        user_id=incoming.author.id,
        platform=incoming.platform,
        chat_key=conversation.key.label(),
        conversation_id=conversation.id,
        message_id=answer_id,
    )
