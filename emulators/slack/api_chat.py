"""chat.postMessage / update / delete / postEphemeral: the non-streaming message methods."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .limits import validate_message_content
from .params import opt_str, req_str
from .payloads import bot_message_event, message_changed_event, message_deleted_event
from .state import Channel, PostedMessage

if TYPE_CHECKING:
    from .web_api import Handler, WebApi


def channel_of(api: WebApi, p: dict[str, Any], key: str = "channel") -> Channel:
    """The target conversation; a user id means that user's DM, as Slack allows."""
    channel_id = req_str(p, key, "channel_not_found")
    channel = api.ws.channels.get(channel_id)
    if channel is None:
        channel = next(
            (c for c in api.ws.channels.values() if c.is_im and c.user == channel_id), None
        )
    if channel is None:
        raise ApiError("channel_not_found")
    return channel


def bot_message(api: WebApi, channel: Channel, ts: str) -> PostedMessage:
    """A live message the bot may edit: unknown or deleted -> message_not_found."""
    msg = api.ws.find_message(channel.id, ts)
    if msg is None or msg.deleted:
        raise ApiError("message_not_found")
    return msg


def visible_text(p: dict[str, Any]) -> str:
    """What a message shows as ``text``: the text, else the markdown_text."""
    return str(p.get("text") or p.get("markdown_text") or "")


def post_message(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = channel_of(api, p)
    validate_message_content(p)
    ws = api.ws
    msg = PostedMessage(
        channel=channel.id,
        ts=api.clock.next(),
        text=visible_text(p),
        user=ws.bot_user_id,
        thread_ts=opt_str(p, "thread_ts"),
        is_bot=True,
        bot_id=ws.bot_id,
        blocks=p.get("blocks"),
        markdown_text=opt_str(p, "markdown_text"),
        metadata=p.get("metadata"),
    )
    ws.messages.append(msg)
    api.emit(bot_message_event(msg, channel, ws.team_id, ws.app_id))
    return {"channel": channel.id, "ts": msg.ts, "message": msg.to_api(ws.team_id, ws.app_id)}


def update(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """Edits keep blocks that the call does not replace, like Slack; open streams stay open."""
    channel = channel_of(api, p)
    msg = bot_message(api, channel, req_str(p, "ts", "message_not_found"))
    if not msg.is_bot:
        raise ApiError("cant_update_message")
    validate_message_content(p)
    ws = api.ws
    previous = msg.to_api(ws.team_id, ws.app_id)
    msg.text = visible_text(p)
    if "blocks" in p:
        msg.blocks = p["blocks"]
    if "markdown_text" in p:
        msg.markdown_text = opt_str(p, "markdown_text")
        msg.blocks = None
    if "metadata" in p:
        msg.metadata = p["metadata"]
    msg.updates.append(msg.text)
    msg.edited_at = time.time()
    api.emit(message_changed_event(msg, previous, channel, ws.team_id, ws.app_id))
    return {
        "channel": channel.id,
        "ts": msg.ts,
        "text": msg.text,
        "message": msg.to_api(ws.team_id, ws.app_id),
    }


def delete(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = channel_of(api, p)
    msg = bot_message(api, channel, req_str(p, "ts", "message_not_found"))
    if not msg.is_bot:
        raise ApiError("cant_delete_message")
    previous = copy.deepcopy(msg.to_api(api.ws.team_id, api.ws.app_id))
    msg.deleted = True
    api.emit(message_deleted_event(msg, previous, channel))
    return {"channel": channel.id, "ts": msg.ts}


def post_ephemeral(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """Ephemeral messages are not stored as channel messages: only in ``ephemerals``."""
    channel = channel_of(api, p)
    user = req_str(p, "user", "user_not_in_channel")
    if user not in api.ws.users:
        raise ApiError("user_not_in_channel")
    validate_message_content(p)
    ts = api.clock.next()
    api.ws.ephemerals.append(
        {
            "channel": channel.id,
            "user": user,
            "text": visible_text(p),
            "blocks": p.get("blocks"),
            "thread_ts": opt_str(p, "thread_ts"),
            "message_ts": ts,
        }
    )
    return {"message_ts": ts}


HANDLERS: dict[str, Handler] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.delete": delete,
    "chat.postEphemeral": post_ephemeral,
}
