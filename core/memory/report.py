"""``/memory``: the conversation's summary, what it covers, and what is still sent verbatim."""

from __future__ import annotations

from core import texts
from core.memory.policy import MemoryPolicy
from core.tokens import MESSAGE_OVERHEAD, raw_estimate
from storage import Database

READ_LIMIT = 1_000  # messages counted at most (a display, not a bill)


async def memory_report(
    db: Database, conversation_id: int | None, policy: MemoryPolicy, lang: str
) -> str:
    summary = await db.summaries.latest(conversation_id) if conversation_id else None
    after = summary.through_id if summary is not None else 0
    recent = (
        await db.summaries.uncovered(conversation_id, after, limit=READ_LIMIT)
        if conversation_id
        else []
    )
    tokens = sum((m.token_estimate or raw_estimate(m.content)) + MESSAGE_OVERHEAD for m in recent)
    if not policy.enabled:
        return texts.text("memory_off", lang, recent=len(recent))
    if summary is None:
        return texts.text(
            "memory_none", lang, recent=len(recent), tokens=tokens, limit=policy.max_tokens
        )
    span = "?"
    if summary.first_at is not None and summary.last_at is not None:
        span = f"{summary.first_at.date().isoformat()} – {summary.last_at.date().isoformat()}"
    return texts.text(
        "memory_summary",
        lang,
        covered=summary.covered_messages,
        span=span,
        model=summary.model,
        summary=summary.content,
        recent=len(recent),
        tokens=tokens,
        limit=policy.max_tokens,
    )
