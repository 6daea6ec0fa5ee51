"""The words of the compacting memory: what the summary model is asked, how a transcript reads,
and how a stored summary sits in a turn's prompt.

The summary message is built only from stored facts (its text, how many messages it covers and
the dates they span), never from the time of the turn, so it is byte-identical on every turn
until the next compaction and Moonshot's prefix cache keeps serving it.
"""

from __future__ import annotations

from datetime import datetime

from storage import StoredMessage

BOT_NAME = "Kimi"

INSTRUCTIONS = (
    f"You write the running summary of a chat between people and {BOT_NAME}, an AI assistant. "
    "The summary replaces the older messages, which will not be shown again, so the summary "
    "keeps every fact the chat may need later: names, numbers, dates, decisions, preferences, "
    f"open questions, what each person asked and what {BOT_NAME} answered, and who said what in a "
    "group. Drop greetings and repetition. When an earlier summary is given, merge it with the "
    "new messages into one summary. The summary is plain sentences in the chat's language, "
    "{words} words at most, and nothing else."
)


def instructions(max_tokens: int) -> str:
    """The system message of a summary call (about 0.6 words per token of budget)."""
    return INSTRUCTIONS.format(words=max(50, int(max_tokens * 0.6)))


def transcript_line(message: StoredMessage) -> str:
    """``Alice: text`` for people (their stored name), ``Kimi: text`` for the bot."""
    if message.role == "assistant":
        name = BOT_NAME
    else:
        name = message.author_name or "User"
    return f"{name}: {message.content.strip()}"


def transcript(previous: str | None, messages: list[StoredMessage]) -> str:
    """The summary call's user message: the earlier summary (if any), then the messages."""
    lines = [transcript_line(m) for m in messages]
    body = "\n\n".join(lines)
    if previous:
        return f"Earlier summary:\n{previous}\n\nNew messages:\n{body}"
    return f"Messages:\n{body}"


def summary_message(
    content: str, covered: int, first: datetime | None, last: datetime | None
) -> str:
    """The system message a turn carries in place of the messages the summary covers."""
    span = ""
    if first is not None and last is not None:
        start, end = first.date().isoformat(), last.date().isoformat()
        span = f", {start}" if start == end else f", {start} to {end}"
    return (
        f"Summary of the earlier part of this conversation ({covered} messages{span}; "
        f"the newest messages follow it verbatim):\n{content}"
    )
