"""Builders for what Slack sends to a bot: events, event wrappers, commands, socket frames.

Shapes follow Slack's Events API / Socket Mode documentation and captured payloads; fields a
bot is unlikely to read (``event_context`` contents, ``blocks`` detail) are kept plausible
rather than exact.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any

from .ids import new_envelope_id, new_event_id, random_id
from .state import Channel, PostedMessage

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack's clients attach to a typed message (mentions as user elements)."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return [
        {
            "type": "rich_text",
            "block_id": secrets.token_hex(2),
            "elements": [{"type": "rich_text_section", "elements": elements}],
        }
    ]


def user_message_event(
    *,
    channel: Channel,
    user: str,
    text: str,
    ts: str,
    team_id: str,
    thread_ts: str | None = None,
    parent_user_id: str | None = None,
    files: list[dict[str, Any]] | None = None,
    client_msg_id: str | None = None,
) -> dict[str, Any]:
    """A ``message`` event as a human's message produces it (``file_share`` when files are attached)."""
    event: dict[str, Any] = {"type": "message"}
    if files:
        event["subtype"] = "file_share"
        event["files"] = files
        event["upload"] = False
        event["display_as_bot"] = False
    event.update(
        {
            "text": text,
            "user": user,
            "ts": ts,
            "blocks": rich_text_blocks(text) if text else [],
            "team": team_id,
            "client_msg_id": client_msg_id or str(uuid.uuid4()),
            "channel": channel.id,
            "event_ts": ts,
            "channel_type": channel.channel_type,
        }
    )
    if thread_ts:
        event["thread_ts"] = thread_ts
        if parent_user_id:
            event["parent_user_id"] = parent_user_id
    return event


def app_mention_event(message_event: dict[str, Any]) -> dict[str, Any]:
    """The ``app_mention`` twin of a message that mentions the bot (no channel_type/subtype)."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": message_event["user"],
        "text": message_event["text"],
        "ts": message_event["ts"],
        "client_msg_id": message_event["client_msg_id"],
        "blocks": message_event["blocks"],
        "team": message_event["team"],
        "channel": message_event["channel"],
        "event_ts": message_event["event_ts"],
    }
    if "thread_ts" in message_event:
        event["thread_ts"] = message_event["thread_ts"]
        if "parent_user_id" in message_event:
            event["parent_user_id"] = message_event["parent_user_id"]
    if "files" in message_event:
        event["files"] = message_event["files"]
    return event


def bot_message_event(
    msg: PostedMessage, channel: Channel, team_id: str, app_id: str
) -> dict[str, Any]:
    """What the bot's own chat.postMessage comes back as, when the app subscribes to it."""
    event = msg.to_api(team_id, app_id)
    event.update({"channel": msg.channel, "event_ts": msg.ts, "channel_type": channel.channel_type})
    event["bot_profile"] = {"id": msg.bot_id, "app_id": app_id, "name": "kimi", "team_id": team_id}
    return event


def message_changed_event(
    msg: PostedMessage, previous: dict[str, Any], channel: Channel, team_id: str, app_id: str
) -> dict[str, Any]:
    """``message`` with ``subtype: message_changed`` for a chat.update (hidden, like Slack's)."""
    now = f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": msg.to_api(team_id, app_id),
        "previous_message": previous,
        "channel": msg.channel,
        "hidden": True,
        "ts": now,
        "event_ts": now,
        "channel_type": channel.channel_type,
    }


def message_deleted_event(
    msg: PostedMessage, previous: dict[str, Any], channel: Channel
) -> dict[str, Any]:
    """``message`` with ``subtype: message_deleted`` for a chat.delete."""
    now = f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": previous,
        "channel": msg.channel,
        "hidden": True,
        "deleted_ts": msg.ts,
        "ts": now,
        "event_ts": now,
        "channel_type": channel.channel_type,
    }


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str,
    app_id: str,
    bot_user_id: str,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The outer Events API wrapper (what HTTP mode POSTs and Socket Mode puts in ``payload``)."""
    return {
        "token": "emulator-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }


def slash_command_payload(
    *,
    command: str,
    text: str,
    channel: Channel,
    user_id: str,
    user_name: str,
    team_id: str,
    app_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command invocation (all strings, as Slack sends them)."""
    return {
        "token": "emulator-verification-token",
        "team_id": team_id,
        "team_domain": "emulated",
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.is_im else channel.name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}",
    }


def url_verification_payload() -> dict[str, str]:
    """The handshake Slack sends when a Request URL is configured."""
    return {
        "token": "emulator-verification-token",
        "challenge": secrets.token_urlsafe(32),
        "type": "url_verification",
    }


def hello_frame(app_id: str, num_connections: int) -> dict[str, Any]:
    """The first frame on a fresh Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {
            "host": "applink-emulator",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": app_id},
    }


def disconnect_frame(reason: str) -> dict[str, Any]:
    """Slack's warning before it drops a connection (``warning``, ``refresh_requested``, ``link_disabled``)."""
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}


def socket_envelope(
    kind: str,
    payload: dict[str, Any],
    *,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> dict[str, Any]:
    """A Socket Mode envelope; the bot must ack it by echoing ``envelope_id``."""
    envelope: dict[str, Any] = {
        "envelope_id": new_envelope_id(),
        "payload": payload,
        "type": kind,
        "accepts_response_payload": kind != "events_api",
    }
    if kind == "events_api":
        envelope["retry_attempt"] = retry_attempt
        envelope["retry_reason"] = retry_reason
    return envelope


def new_file_id() -> str:
    return random_id("F")


def block_actions_payload(
    *,
    message: dict[str, Any],
    channel: Channel,
    ephemeral: bool = False,
    user_id: str,
    user_name: str,
    team_id: str,
    app_id: str,
    action: dict[str, Any],
    block_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A ``block_actions`` interaction: a user pressed a button in a message's blocks (an
    ephemeral message is named by the container only)."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel.id,
        "is_ephemeral": ephemeral,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": app_id,
        "token": "emulator-verification-token",
        "container": container,
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}",
        "team": {"id": team_id, "domain": "emulated"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action["action_id"],
                "block_id": block_id,
                "text": action.get("text"),
                "value": action.get("value", ""),
                "type": action.get("type", "button"),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if not ephemeral:  # Slack leaves an ephemeral message out of the payload
        payload["message"] = message
    return payload
