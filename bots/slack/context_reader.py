"""Reading what people already said as context: a thread (``conversations.replies``) or a
channel (``conversations.history``), newest kept within a token budget, speakers named.

Slack returns a thread oldest first, so the whole thread is paged through (bounded by
:data:`MAX_PAGES`) before the newest are kept; a channel comes newest first, so reading stops
as soon as the budget is full.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.api import call, error_code
from bots.slack.people import People
from bots.slack.routing import question_text
from core import texts
from core.tokens import MESSAGE_OVERHEAD, raw_estimate

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # Slack's recommended maximum per page
MAX_PAGES = 50  # 10,000 messages: far beyond any budget, and a bound on the calls
READ_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "bot_message", "me_message"})


@dataclass(frozen=True, slots=True)
class Said:
    """One earlier message: who (Slack user id, display name), what, and its ``ts``."""

    user_id: str
    name: str
    text: str
    ts: str


class ContextReader:
    """Reads with the bot token; a failure (no scope, not in channel) reads nothing."""

    def __init__(self, client: AsyncWebClient, people: People, budget: int) -> None:
        self._client = client
        self._people = people
        self._budget = budget

    async def thread(
        self, channel: str, thread_ts: str, *, before: str, bot_user_id: str | None
    ) -> list[Said]:
        """The thread's messages older than ``before`` (the addressing message), oldest first."""
        if self._budget <= 0:
            return []
        raw: list[dict[str, Any]] = []
        async for message in self._pages(
            lambda cursor: self._client.conversations_replies(
                channel=channel, ts=thread_ts, cursor=cursor, limit=PAGE_SIZE
            )
        ):
            raw.append(message)
        raw = [m for m in raw if _earlier(m, before)]
        kept = await self._newest(_each(reversed(raw)), bot_user_id)
        return list(reversed(kept))

    async def channel(
        self, channel: str, *, after: str | None, bot_user_id: str | None
    ) -> list[Said]:
        """The channel's newest top-level messages newer than ``after``, oldest first."""
        if self._budget <= 0:
            return []
        pages = self._pages(
            lambda cursor: self._client.conversations_history(
                channel=channel, cursor=cursor, limit=PAGE_SIZE, oldest=after or None
            )
        )
        return list(reversed(await self._newest(pages, bot_user_id)))

    async def _newest(
        self, newest_first: AsyncIterator[dict[str, Any]], bot_user_id: str | None
    ) -> list[Said]:
        """Readable messages, newest first, until the budget is full (reading stops there)."""
        kept: list[Said] = []
        used = 0
        async for message in newest_first:
            said = await self._said(message, bot_user_id)
            if said is None:
                continue
            used += _cost(said)
            if used > self._budget:
                break
            kept.append(said)
        return kept

    async def _pages(
        self, fetch: Callable[[str | None], Awaitable[Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                response = await call(lambda _, c=cursor: fetch(c), attempts=3)
            except SlackApiError as error:
                # missing_scope, not_in_channel, not_allowed…: answer without the context
                log.info("Slack: could not read earlier messages: %s", error_code(error))
                return
            for message in response.get("messages") or []:
                if isinstance(message, dict):
                    yield message
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return
        log.warning("Slack: stopped reading after %d pages", MAX_PAGES)

    async def _said(self, message: dict[str, Any], bot_user_id: str | None) -> Said | None:
        """A readable person's (or another bot's) message; None for ours and for system lines."""
        user = str(message.get("user") or "")
        if str(message.get("subtype") or "") not in READ_SUBTYPES or not message.get("ts"):
            return None
        if bot_user_id and (
            user == bot_user_id or (message.get("bot_profile") or {}).get("user_id") == bot_user_id
        ):
            return None
        text = question_text(str(message.get("text") or ""), bot_user_id)
        names = [str(f.get("name")) for f in message.get("files") or [] if f.get("name")]
        if names:
            shared = texts.text(
                "slack_shared_files", texts.language_of(text), names=", ".join(names)
            )
            text = f"{text}\n{shared}".strip()
        if not text:
            return None
        if user:
            name = (await self._people.get(user)).name
        else:  # another app's message
            name = str(
                message.get("username") or (message.get("bot_profile") or {}).get("name") or "bot"
            )
        return Said(user or str(message.get("bot_id") or ""), name, text, str(message["ts"]))


def _earlier(message: dict[str, Any], before: str) -> bool:
    try:
        return float(str(message.get("ts"))) < float(before)
    except ValueError:
        return False


def _cost(said: Said) -> int:
    return raw_estimate(said.text) + raw_estimate(said.name) + MESSAGE_OVERHEAD


async def _each(messages: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for message in messages:
        yield message
