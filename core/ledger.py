"""Usage rows for the ledger: one per Moonshot call, priced from the catalog in its currency
(the account's: CNY on api.moonshot.cn, USD on api.moonshot.ai), tool fees included."""

from __future__ import annotations

import logging

from core.catalog import Catalog, ModelSpec
from core.kimi import Completion
from core.tokens import TokenEstimator
from core.tools.registry import WEB_SEARCH
from core.types import Incoming
from storage import ConversationRecord
from storage.records import UsageEntry

log = logging.getLogger(__name__)


def usage_entry(
    completion: Completion,
    model: ModelSpec,
    conversation: ConversationRecord,
    caller: Incoming | tuple[str, str],
    answer_id: int | None,
    prompt_estimate: int,
    estimator: TokenEstimator,
    *,
    catalog: Catalog,
) -> UsageEntry:
    """Moonshot's ``usage`` when present (the billing truth), else our estimates; plus the
    catalog's per-call fee of each ``$web_search`` the completion asked for (Moonshot bills it
    on top of the search results' tokens, which the next call's prompt carries).

    ``caller``: the message answered, or ``(user_id, platform)`` for a call no message asked
    for (a memory summary), billed to the user whose turn set it off."""
    user_id, platform = (
        (caller.author.id, caller.platform) if isinstance(caller, Incoming) else caller
    )
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
    searches = sum(1 for call in completion.tool_calls if call.name == WEB_SEARCH)
    fees = searches * catalog.fee_for(WEB_SEARCH)
    return UsageEntry(
        model=model.id,
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
        cached_tokens=cached,
        cost=model.cost(prompt, completion_tokens, cached) + fees,
        currency=catalog.currency,
        tool_fees=fees,
        web_searches=searches,
        latency_ms=int(completion.latency_s * 1000),
        first_token_ms=None
        if completion.first_token_s is None
        else int(completion.first_token_s * 1000),
        user_id=user_id,
        platform=platform,
        chat_key=conversation.key.label(),
        conversation_id=conversation.id,
        message_id=answer_id,
    )
