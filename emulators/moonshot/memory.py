"""Deterministic stand-ins for what a model does with memory: summarizing and recalling.

Compaction tests (and ``bench/longconv.py``) need a summarizer whose output they can predict and
a way to ask "do you still know X?" whose answer depends only on what the prompt carries:

- **Summarize**: a request whose system messages say "summar…" (any case) and that declares no
  tools is answered ``Summary: <fact> <fact> …``: the sentences of the transcript that state facts
  (a digit, `` is ``, `` are ``, "my name" or "remember" in them), deduplicated, oldest first,
  whole sentences only, as many as fit the request's ``max_tokens``. Sentences that talk about
  summarizing (the instructions) and the emulator's own ``[[len:N]]`` filler lines are no facts;
  ``[[…]]`` markers are dropped from the sentences; an earlier ``Summary:`` label is dropped too,
  so a summary of a summary keeps its facts.
- **Recall**: a newest user message with ``[[recall:KEY]]`` is answered with every sentence of the
  whole prompt (system messages too, so a stored summary counts) that contains KEY (any case),
  deduplicated, in prompt order; ``I don't know KEY.`` when there is none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from emulators.moonshot.answers import last_user_text
from emulators.moonshot.tokens import content_text, estimate_tokens

RECALL_MARKER = re.compile(r"\[\[recall:([^\]]+)\]\]", re.IGNORECASE)
SUMMARY_LABEL = "Summary:"
_MARKER = re.compile(r"\[\[[^\]]*\]\]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_FILLER = re.compile(r"^([^:]{1,40}:\s+)?P\d+\.\d+:")  # a line of answers.long_text
_FACT_WORDS = (" is ", " are ", "my name", "remember")
_LABEL = re.compile(r"^\s*summary\s*:\s*", re.IGNORECASE)
_SPEAKER = re.compile(r"^[^\s:][^:.!?]{0,40}:\s+")


def memory_answer(messages: list[dict[str, Any]], has_tools: bool, max_tokens: int) -> str | None:
    """The recall or summary answer this request gets, or None for the ordinary answers."""
    key = recall_key(messages)
    if key is not None:
        return recall(messages, key)
    if not has_tools and asks_for_summary(messages):
        return summarize(messages, max_tokens)
    return None


def recall_key(messages: list[dict[str, Any]]) -> str | None:
    found = RECALL_MARKER.search(last_user_text(messages))
    return found.group(1).strip() if found else None


def asks_for_summary(messages: list[dict[str, Any]]) -> bool:
    return any(
        isinstance(m, dict)
        and m.get("role") == "system"
        and "summar" in content_text(m.get("content")).lower()
        for m in messages
    )


def sentences(text: str) -> Iterator[str]:
    """Sentences of ``text`` line by line, markers and ``Summary:`` labels removed; a line that
    starts with a speaker (``Alice: …``) gives each of its sentences that speaker."""
    for line in text.splitlines():
        line = _LABEL.sub("", _MARKER.sub("", line)).strip()
        speaker = _SPEAKER.match(line)
        prefix = speaker.group(0) if speaker and not _FILLER.match(line) else ""
        for piece in _SENTENCE_END.split(line[len(prefix) :]):
            sentence = _LABEL.sub("", piece).strip()
            if sentence:
                yield prefix + sentence


def _prompt_sentences(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        if isinstance(message, dict):
            yield from sentences(content_text(message.get("content")))


def is_fact(sentence: str) -> bool:
    lowered = f" {sentence.lower()} "
    if "summar" in lowered or _FILLER.match(sentence):
        return False
    return any(ch.isdigit() for ch in sentence) or any(w in lowered for w in _FACT_WORDS)


def summarize(messages: list[dict[str, Any]], max_tokens: int) -> str:
    """``Summary:`` and the facts, oldest first, whole sentences within ``max_tokens``."""
    text = SUMMARY_LABEL
    seen: set[str] = set()
    for sentence in _prompt_sentences(messages):
        if sentence in seen or not is_fact(sentence):
            continue
        seen.add(sentence)
        longer = f"{text} {sentence}"
        if estimate_tokens(longer) > max_tokens:
            break
        text = longer
    return text


def recall(messages: list[dict[str, Any]], key: str) -> str:
    """Every sentence of the prompt naming ``key``, or that the model does not know it."""
    wanted = key.lower()
    found: list[str] = []
    asking = _asking_index(messages)
    for index, message in enumerate(messages):
        if index == asking or not isinstance(message, dict):
            continue  # the question itself
        for sentence in sentences(content_text(message.get("content"))):
            if wanted in sentence.lower() and sentence not in found:
                found.append(sentence)
    return " ".join(found) if found else f"I don't know {key}."


def _asking_index(messages: list[dict[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            return index
    return -1
