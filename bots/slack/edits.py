"""A ``message_changed`` event as the message event it edits, so the usual routing decides
whether the bot would answer it (and where)."""

from __future__ import annotations

from typing import Any

from bots.slack.routing import is_dm_channel, mentions


def edited_message(event: dict[str, Any], bot_user_id: str | None) -> dict[str, Any] | None:
    """The edited message, routable; None when it is not a person's text edit.

    Slack also sends ``message_changed`` when a link preview is attached or a thread gets a
    reply (same text): those are not edits. A channel message that mentions the bot becomes an
    ``app_mention``, since Slack sends no ``app_mention`` for an edit.
    """
    message = event.get("message")
    previous = event.get("previous_message") or {}
    if not isinstance(message, dict) or not message.get("edited"):
        return None
    text = str(message.get("text") or "")
    if text == str(previous.get("text") or ""):
        return None
    channel = str(event.get("channel") or "")
    routable = {**message, "channel": channel, "channel_type": event.get("channel_type")}
    routable["type"] = "message"
    if not is_dm_channel(channel) and mentions(text, bot_user_id):
        routable["type"] = "app_mention"
    return routable
