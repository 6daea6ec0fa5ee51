"""``/summarize [N]``: the last N stored messages of this conversation, summarized by the model.

The request becomes one ordinary user message ("Summarize the conversation below…" and the
transcript, quoted, with speakers' names) answered as a normal turn, so the limits, budgets and
the usage ledger apply as to any question. What is summarized is what the bot stored: in
Telegram groups that is only what it saw (privacy mode off, or messages addressed to it).

A transcript longer than the model can read at once keeps its newest messages that fit, and
the user is told how many were left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import texts
from core.phrases import LANGUAGES
from core.tokens import raw_estimate
from core.vocabulary import ConversationKey
from storage import Database

DEFAULT_COUNT = 50
MAX_COUNT = 500
# The transcript may use this share of the model's window: the rest is for the conversation's
# own history (sent with every turn), the system prompt and the answer.
WINDOW_SHARE = 0.5
MAX_TRANSCRIPT_TOKENS = 40_000  # ~160,000 characters: under the assistant's message size limit
BOT_NAME = "Kimi"
# Earlier /summarize requests are stored messages too; they never go into a new transcript.
_REQUEST_STARTS = tuple(
    texts.text("summarize_request", lang, count=0).split("(")[0].split("（")[0]
    for lang in LANGUAGES
)


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """``question`` is the message to answer (None: nothing to summarize); ``say`` is what to
    tell the user first (why not, or that older messages were left out)."""

    question: str | None
    say: str | None = None


def parse_count(args: str) -> int | None:
    """``""`` → the default; a number from 2 to MAX_COUNT; None for anything else."""
    words = args.split()
    if not words:
        return DEFAULT_COUNT
    if len(words) != 1 or not words[0].isdigit():
        return None
    count = int(words[0])
    return count if 2 <= count <= MAX_COUNT else None


async def conversation_summary(
    db: Database, key: ConversationKey, args: str, lang: str, window_tokens: int
) -> SummaryRequest:
    """The question that asks for a summary of this conversation's last messages."""
    count = parse_count(args)
    if count is None:
        return SummaryRequest(None, texts.text("summarize_bad_count", lang, limit=MAX_COUNT))
    conversation = await db.conversations.active(key)
    lines = await _last_said(db, conversation.id, count) if conversation else []
    if len(lines) < 2:
        return SummaryRequest(None, texts.text("summarize_too_little", lang, count=len(lines)))
    budget = min(int(window_tokens * WINDOW_SHARE), MAX_TRANSCRIPT_TOKENS)
    kept = _newest_that_fit(lines, budget)
    say = None
    if len(kept) < len(lines):
        say = texts.text("summarize_trimmed", lang, kept=len(kept), count=len(lines))
    header = texts.text("summarize_request", lang, count=len(kept))
    return SummaryRequest(header + "\n\n" + "\n".join(kept), say)


async def _last_said(db: Database, conversation_id: int, count: int) -> list[str]:
    """The newest ``count`` things people and the bot said, oldest first, as transcript lines
    (earlier summary requests and empty rows are skipped, not counted)."""
    lines: list[str] = []
    before: int | None = None
    while len(lines) < count:
        page = await db.messages.page(conversation_id, before_id=before, limit=count)
        if not page:
            break
        before = page[-1].id
        lines += [
            _line(m.role, m.author_name, m.content)
            for m in page  # newest first
            if m.role in ("user", "assistant")
            and m.content.strip()
            and not m.content.startswith(_REQUEST_STARTS)
        ]
    return lines[:count][::-1]


def _line(role: str, author: str | None, content: str) -> str:
    """One message of the transcript, quoted: ``> Alice: text`` (continuation lines quoted too)."""
    name = BOT_NAME if role == "assistant" else (author or "someone")
    text = content.strip().replace("\n", "\n> ")
    return f"> {name}: {text}"


def _newest_that_fit(lines: list[str], budget: int) -> list[str]:
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = raw_estimate(line) + 1
        if kept and used + cost > budget:
            break
        kept.append(line)
        used += cost
    return kept[::-1]
