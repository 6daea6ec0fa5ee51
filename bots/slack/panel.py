"""Slack's assistant panel (Agents & AI Apps): suggested prompts when a thread starts, the
thread's title from its first question, and which channel the user is looking at.

Handled as plain events beside the message routing rather than with bolt's ``Assistant``
middleware: that middleware claims every DM thread message for itself, while ours are
answered (exactly once, with engagement rules) by :mod:`bots.slack.messages`. Where the
workspace has the feature off, Slack refuses these calls (``not_allowed``, ``missing_scope``…):
logged at debug, nothing else happens.
"""

from __future__ import annotations

import logging
from typing import Any

from cachetools import LRUCache
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.api import call, error_code
from bots.slack.people import People
from core import texts

log = logging.getLogger(__name__)

MAX_THREADS = 10_000  # assistant threads whose viewed channel is remembered (LRU beyond)
MAX_PROMPTS = 4  # Slack shows up to four suggested prompts
TITLE_CHARS = 60


class AssistantPanel:
    """Per assistant thread (DM channel, thread ts): the channel in view, and how far it was read."""

    def __init__(self, client: AsyncWebClient, people: People, prompts: list[str]) -> None:
        self._client = client
        self._people = people
        self._prompts = prompts
        self._viewing: LRUCache[tuple[str, str], str] = LRUCache(MAX_THREADS)
        self._read_up_to: LRUCache[tuple[str, str, str], str] = LRUCache(MAX_THREADS)

    async def started(self, event: dict[str, Any]) -> None:
        """``assistant_thread_started``: note the channel in view, offer the prompts."""
        thread = _thread(event)
        if thread is None:
            return
        channel, thread_ts, user = thread
        self._note_context(event, channel, thread_ts)
        lang = texts.language_tag((await self._people.get(user)).locale) if user else ""
        lang = lang or "en"
        prompts = self._prompts or texts.text("slack_suggested_prompts", lang).split("|")
        payload = [{"title": p[:TITLE_CHARS], "message": p} for p in prompts[:MAX_PROMPTS]]
        await self._quietly(
            "assistant.threads.setSuggestedPrompts",
            lambda _: self._client.assistant_threads_setSuggestedPrompts(
                channel_id=channel,
                thread_ts=thread_ts,
                prompts=payload,
                title=texts.text("slack_prompts_title", lang),
            ),
        )

    def context_changed(self, event: dict[str, Any]) -> None:
        """``assistant_thread_context_changed``: the user now looks at another channel."""
        thread = _thread(event)
        if thread is not None:
            self._note_context(event, thread[0], thread[1])

    def viewing(self, channel: str, thread_ts: str) -> str | None:
        """The channel the user looks at beside this assistant thread, if Slack said."""
        return self._viewing.get((channel, thread_ts))

    def read_up_to(self, channel: str, thread_ts: str, viewed: str) -> str | None:
        """The newest ``ts`` of ``viewed`` already stored in this thread's conversation."""
        return self._read_up_to.get((channel, thread_ts, viewed))

    def mark_read(self, channel: str, thread_ts: str, viewed: str, ts: str) -> None:
        self._read_up_to[(channel, thread_ts, viewed)] = ts

    async def set_title(self, channel: str, thread_ts: str, question: str) -> None:
        """The thread's title: the first line of its first question, shortened."""
        title = " ".join(question.split())
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        if not title:
            return
        await self._quietly(
            "assistant.threads.setTitle",
            lambda _: self._client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread_ts, title=title
            ),
        )

    def _note_context(self, event: dict[str, Any], channel: str, thread_ts: str) -> None:
        context = (event.get("assistant_thread") or {}).get("context") or {}
        viewed = str(context.get("channel_id") or "")
        if viewed:
            self._viewing[(channel, thread_ts)] = viewed
        else:
            self._viewing.pop((channel, thread_ts), None)

    @staticmethod
    async def _quietly(method: str, attempt: Any) -> None:
        try:
            await call(attempt, attempts=2)
        except SlackApiError as error:
            log.debug("Slack: %s refused: %s", method, error_code(error))


def _thread(event: dict[str, Any]) -> tuple[str, str, str] | None:
    thread = event.get("assistant_thread") or {}
    channel, thread_ts = str(thread.get("channel_id") or ""), str(thread.get("thread_ts") or "")
    if not channel or not thread_ts:
        return None
    return channel, thread_ts, str(thread.get("user_id") or "")
