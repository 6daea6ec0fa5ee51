"""Which Slack message events the bot answers, and which conversation each belongs to.

Rules (each message is owned by exactly one event):
- DM (``channel_type: im``): every message; the DM is one conversation, a threaded reply in
  the DM is its own conversation. ``app_mention`` in a DM is ignored (the message answers).
- Channels: ``app_mention`` starts or continues the thread's conversation; the ``message``
  twin of a mention is ignored. A thread reply without a mention is a *candidate*: answered
  only if the bot is engaged in that thread (its conversation exists).
- Never: bots (ourselves included), edits, deletions, joins and other subtypes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from bots.slack.target import ReplyTarget
from core.types import ConversationKey

PLATFORM = "slack"
ANSWERED_SUBTYPES = frozenset({"", "file_share", "thread_broadcast"})
GROUP_CHANNEL_TYPES = frozenset({"channel", "group", "mpim"})
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


@dataclass(frozen=True, slots=True)
class Addressed:
    """A message for the bot: its conversation, where to answer, and whether to check engagement."""

    key: ConversationKey
    target: ReplyTarget
    is_group: bool
    needs_engagement: bool
    user_id: str
    ts: str


def route(event: dict[str, Any], *, team_id: str, bot_user_id: str | None) -> Addressed | None:
    """The conversation a message event belongs to, or None when the bot must not answer it."""
    user = event.get("user")
    ts = str(event.get("ts") or "")
    if (
        not user
        or not ts
        or event.get("bot_id")
        or event.get("bot_profile")
        or user == bot_user_id
        or str(event.get("subtype") or "") not in ANSWERED_SUBTYPES
    ):
        return None
    channel = str(event.get("channel") or "")
    thread_ts = str(event.get("thread_ts") or "")
    in_thread = bool(thread_ts) and thread_ts != ts
    recipient_team = str(event.get("user_team") or event.get("team") or team_id)
    kind = event.get("type")

    def addressed(thread: str, reply_to: str | None, group: bool, engaged: bool) -> Addressed:
        key = ConversationKey(platform=PLATFORM, workspace=team_id, chat=channel, thread=thread)
        target = ReplyTarget(
            channel=channel,
            thread_ts=reply_to,
            status_ts=reply_to or ts,
            user_id=str(user),
            team_id=recipient_team,
        )
        return Addressed(key, target, group, engaged, str(user), ts)

    if kind == "app_mention":
        if is_dm_channel(channel):
            return None  # the DM's message event answers it
        thread = thread_ts or ts
        return addressed(thread, thread, group=True, engaged=False)
    if kind != "message":
        return None
    channel_type = event.get("channel_type")
    if channel_type == "im":
        if in_thread:
            return addressed(thread_ts, thread_ts, group=False, engaged=False)
        return addressed("", None, group=False, engaged=False)
    if channel_type in GROUP_CHANNEL_TYPES:
        if mentions(str(event.get("text") or ""), bot_user_id) or not in_thread:
            return None  # mentions are answered from app_mention; top level needs a mention
        return addressed(thread_ts, thread_ts, group=True, engaged=True)
    return None


def is_dm_channel(channel_id: str) -> bool:
    return channel_id.startswith("D")


def mentions(text: str, bot_user_id: str | None) -> bool:
    return bool(bot_user_id) and f"<@{bot_user_id}" in text


def question_text(text: str, bot_user_id: str | None) -> str:
    """What the person wrote, for the model: no bot mention, Slack's link and escape syntax undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _LINK.sub(_link_text, text)
    return html.unescape(text).strip()


def _link_text(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if not label or label in url:
        return url
    return f"{label} ({url})"
