"""``/summarize [N]``: the last N stored messages of this conversation, summarized by the model.

The request becomes one ordinary user message ("Summarize the conversation below…" and the
transcript, quoted, with speakers' names) answered as a normal turn, so the limits, budgets and
the usage ledger apply as to any question. What is summarized is what the bot stored: in
Telegram groups that is only what it saw (privacy mode off, or messages addressed to it).

A transcript longer than the model can read at once is summarized in parts (map, then reduce):
the newest messages that fit half the budget stay verbatim; the older ones are cut into parts
that each fit the summary model's window, and each part is summarized by a call of its own
(through the limiter and into the usage ledger, like a turn: :mod:`core.memory.summarizer`).
The question then carries those summaries, each labelled with how many messages it covers,
followed by the newest messages, and is answered as usual. If a part's call fails, the
question falls back to the newest messages that fit and the user is told why. Without a
summarizer (or with one that is not allowed to spend) the newest messages that fit are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core import errors, texts
from core.memory.summarizer import Summarizer
from core.phrases import LANGUAGES
from core.tokens import raw_estimate
from core.vocabulary import ConversationKey
from storage import ConversationRecord, Database

log = logging.getLogger(__name__)

DEFAULT_COUNT = 50
MAX_COUNT = 500
# The transcript may use this share of the model's window: the rest is for the conversation's
# own history (sent with every turn), the system prompt and the answer.
WINDOW_SHARE = 0.5
MAX_TRANSCRIPT_TOKENS = 40_000  # ~160,000 characters: under the assistant's message size limit
BOT_NAME = "Kimi"
# Summarized in parts, the newest messages keep this share of the budget verbatim; the part
# summaries share the rest.
VERBATIM_SHARE = 0.5
PART_SUMMARY_MIN_TOKENS = 150  # the shortest summary asked of one part
PART_SUMMARY_MAX_TOKENS = 1_200  # the longest (it sizes the parts, so it is known first)
PART_FRAMING_TOKENS = 1_000  # a part call's instructions and framing
# Our token estimate may be low for some texts: a part fills only this share of what the
# summary model's window leaves (a part refused as too long would cost the whole summary).
PART_WINDOW_SHARE = 0.8
MAX_PARTS = 10  # summary calls one /summarize may make; messages beyond them are left out
PART_INSTRUCTIONS = (
    "You summarize one part of a longer chat between people and {bot}, an AI assistant; the "
    "summaries of all parts are read together afterwards, so keep every fact that may matter: "
    "names, numbers, dates, decisions, open questions, and who said what. Drop greetings and "
    "repetition. Keep the summary under {words} words of plain sentences in the chat's "
    "language, and write nothing else."
)
_REQUEST_KEYS = ("summarize_request", "summarize_request_parts")
# Earlier /summarize requests are stored messages too; they never go into a new transcript.
_REQUEST_STARTS = tuple(
    texts.text(key, lang, count=0, older=0, parts=0, kept=0).split("(")[0].split("（")[0]
    for key in _REQUEST_KEYS
    for lang in LANGUAGES
)

Announce = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """``question`` is the message to answer (None: nothing to summarize); ``say`` is what to
    tell the user first (why not, that older messages were left out or summarized in parts)."""

    question: str | None
    say: str | None = None


@dataclass(frozen=True, slots=True)
class _Said:
    """One stored message: who said it (their name, or the bot's) and what."""

    name: str
    text: str

    @property
    def quoted(self) -> str:
        """A transcript line: ``> Alice: text`` (continuation lines quoted too)."""
        return f"> {self.name}: {self.text.replace(chr(10), chr(10) + '> ')}"

    @property
    def plain(self) -> str:
        """What a part's summary call reads: ``Alice: text``."""
        return f"{self.name}: {self.text}"


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
    db: Database,
    key: ConversationKey,
    args: str,
    lang: str,
    window_tokens: int,
    *,
    summarizer: Summarizer | None = None,
    user_id: str = "",
    announce: Announce | None = None,
) -> SummaryRequest:
    """The question that asks for a summary of this conversation's last messages.

    ``summarizer`` summarizes the older part of a long transcript in parts, billed to
    ``user_id``; ``announce`` tells the user before those calls start (they take a while)."""
    count = parse_count(args)
    if count is None:
        return SummaryRequest(None, texts.text("summarize_bad_count", lang, limit=MAX_COUNT))
    conversation = await db.conversations.active(key)
    said = await _last_said(db, conversation.id, count) if conversation else []
    if len(said) < 2:
        return SummaryRequest(None, texts.text("summarize_too_little", lang, count=len(said)))
    budget = min(int(window_tokens * WINDOW_SHARE), MAX_TRANSCRIPT_TOKENS)
    lines = [s.quoted for s in said]
    kept = _newest_that_fit(lines, budget)
    if len(kept) == len(lines):
        return SummaryRequest(_request(lang, kept))
    if summarizer is None or conversation is None:
        return _trimmed(lang, lines, budget)
    parts = _InParts(summarizer, conversation, user_id, key.platform, lang)
    return await parts.request(said, budget, announce)


class _InParts:
    """One long transcript summarized part by part, then asked about as one question."""

    def __init__(
        self,
        summarizer: Summarizer,
        conversation: ConversationRecord,
        user_id: str,
        platform: str,
        lang: str,
    ) -> None:
        self._summarizer = summarizer
        self._conversation = conversation
        self._user_id = user_id
        self._platform = platform
        self._lang = lang

    async def request(
        self, said: list[_Said], budget: int, announce: Announce | None
    ) -> SummaryRequest:
        lang = self._lang
        lines = [s.quoted for s in said]
        newest = _newest_that_fit(lines, int(budget * VERBATIM_SHARE))
        older = said[: len(said) - len(newest)]
        parts = _parts(older, self._part_capacity())
        dropped = sum(len(part) for part in parts[:-MAX_PARTS])
        parts = parts[-MAX_PARTS:]
        covered = len(older) - dropped
        room = budget - sum(raw_estimate(line) + 1 for line in newest) - PART_FRAMING_TOKENS
        per_part = max(PART_SUMMARY_MIN_TOKENS, min(PART_SUMMARY_MAX_TOKENS, room // len(parts)))
        notes = [
            texts.text(
                "summarize_in_parts", lang, older=covered, parts=len(parts), kept=len(newest)
            )
        ]
        if dropped:
            notes.append(texts.text("summarize_parts_dropped", lang, dropped=dropped))
        if announce is not None:
            await announce("\n".join(notes))
            notes = []
        try:
            summaries = [await self._summarize(part, per_part) for part in parts]
        except Exception as exc:  # a Kimi error, a limit, anything: the newest messages still go
            self._log_failure(exc)
            reason = (
                texts.error_text(exc, lang)
                if isinstance(exc, errors.KimiError)
                else texts.text("internal", lang)
            )
            fallback = _trimmed(lang, lines, budget)
            failed = texts.text(
                "summarize_parts_failed", lang, reason=reason.strip(), trimmed=fallback.say
            )
            return SummaryRequest(fallback.question, failed)
        question = self._question(parts, summaries, newest)
        return SummaryRequest(question, "\n".join(notes) or None)

    def _question(self, parts: list[list[_Said]], summaries: list[str], newest: list[str]) -> str:
        """The header, each part's summary labelled with the messages it covers, then the
        newest messages as they were said."""
        lang = self._lang
        older = sum(len(part) for part in parts)
        sections = [
            texts.text(
                "summarize_request_parts",
                lang,
                count=older + len(newest),
                older=older,
                parts=len(parts),
                kept=len(newest),
            )
        ]
        for number, (part, summary) in enumerate(zip(parts, summaries, strict=True), 1):
            label = texts.text(
                "summarize_part_label", lang, part=number, parts=len(parts), count=len(part)
            )
            sections.append(f"{label}\n{summary.strip()}")
        newest_label = texts.text("summarize_newest_label", lang, count=len(newest))
        sections.append(newest_label + "\n" + "\n".join(newest))
        return "\n\n".join(sections)

    def _part_capacity(self) -> int:
        """Transcript tokens one part's call may carry, from the summary model's window."""
        window = self._summarizer.model_window()
        free = window - PART_SUMMARY_MAX_TOKENS - PART_FRAMING_TOKENS
        return max(int(free * PART_WINDOW_SHARE), 200)

    async def _summarize(self, part: list[_Said], max_tokens: int) -> str:
        transcript = "Messages:\n" + "\n".join(s.plain for s in part)
        words = max(50, int(max_tokens * 0.6))  # ~0.6 words per token of the answer's budget
        summary = await self._summarizer.summarize(
            transcript,
            conversation=self._conversation,
            user_id=self._user_id,
            platform=self._platform,
            max_tokens=max_tokens,
            instructions=PART_INSTRUCTIONS.format(bot=BOT_NAME, words=words),
        )
        return summary.text

    def _log_failure(self, exc: Exception) -> None:
        if isinstance(exc, errors.KimiError):
            log.warning(
                "summarizing a long history in parts failed in conversation %d (%s: %s); "
                "summarizing the newest messages only",
                self._conversation.id,
                exc.kind,
                exc.detail,
            )
        else:
            log.exception(
                "summarizing a long history in parts crashed in conversation %d; "
                "summarizing the newest messages only",
                self._conversation.id,
            )


def _request(lang: str, lines: list[str]) -> str:
    return texts.text("summarize_request", lang, count=len(lines)) + "\n\n" + "\n".join(lines)


def _trimmed(lang: str, lines: list[str], budget: int) -> SummaryRequest:
    """The newest messages that fit, and a note that the older ones were left out."""
    kept = _newest_that_fit(lines, budget)
    say = texts.text("summarize_trimmed", lang, kept=len(kept), count=len(lines))
    return SummaryRequest(_request(lang, kept), say)


async def _last_said(db: Database, conversation_id: int, count: int) -> list[_Said]:
    """The newest ``count`` things people and the bot said, oldest first (earlier summary
    requests and empty rows are skipped, not counted)."""
    said: list[_Said] = []
    before: int | None = None
    while len(said) < count:
        page = await db.messages.page(conversation_id, before_id=before, limit=count)
        if not page:
            break
        before = page[-1].id
        said += [
            _Said(
                BOT_NAME if m.role == "assistant" else (m.author_name or "someone"),
                m.content.strip(),
            )
            for m in page  # newest first
            if m.role in ("user", "assistant")
            and m.content.strip()
            and not m.content.startswith(_REQUEST_STARTS)
        ]
    return said[:count][::-1]


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


def _parts(said: list[_Said], capacity: int) -> list[list[_Said]]:
    """Consecutive messages in parts of at most ``capacity`` tokens, oldest first; a message
    longer than a whole part is cut to fit one."""
    parts: list[list[_Said]] = []
    current: list[_Said] = []
    used = 0
    for message in said:
        cost = raw_estimate(message.plain) + 1
        if cost > capacity:
            keep = max(int(len(message.text) * capacity / cost) - 2, 1)
            message = _Said(message.name, message.text[:keep] + " …")
            cost = capacity
        if current and used + cost > capacity:
            parts.append(current)
            current, used = [], 0
        current.append(message)
        used += cost
    if current:
        parts.append(current)
    return parts
