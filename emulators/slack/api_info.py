"""Read-mostly Web API methods: identity, users, conversations, files, reactions, status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .params import req_str
from .state import Channel, StatusUpdate

if TYPE_CHECKING:
    from .web_api import Handler, WebApi


def auth_test(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """Bolt calls this to learn its own user/bot id (and so ignore its own events)."""
    ws = api.ws
    return {
        "url": f"{api.base_url}/",
        "team": api.config.team_name,
        "user": api.config.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def users_info(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    user = api.ws.users.get(req_str(p, "user", "user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    info = user.to_api()
    if str(p.get("include_locale") or "").lower() in ("1", "true"):
        info["locale"] = user.locale
    return {"user": info}


def conversations_info(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = api.ws.channels.get(req_str(p, "channel", "channel_not_found"))
    if channel is None:
        raise ApiError("channel_not_found")
    return {"channel": channel.to_api()}


def conversations_open(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """Open (or find) the DM with one user; multi-person DMs are not emulated."""
    users = [u for u in str(p.get("users") or "").split(",") if u]
    if len(users) != 1:
        raise ApiError("not_enough_users" if not users else "invalid_arguments")
    if users[0] not in api.ws.users:
        raise ApiError("user_not_found")
    for channel in api.ws.channels.values():
        if channel.is_im and channel.user == users[0]:
            return {"no_op": True, "already_open": True, "channel": {"id": channel.id}}
    channel = Channel("D" + users[0][1:], users[0], is_im=True, user=users[0])
    api.ws.channels[channel.id] = channel
    return {"channel": {"id": channel.id}}


def files_info(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    hosted = api.ws.files.get(req_str(p, "file", "file_not_found"))
    if hosted is None:
        raise ApiError("file_not_found")
    return {
        "file": hosted.to_api(api.base_url, api.ws.team_id),
        "comments": [],
        "response_metadata": {"next_cursor": ""},
    }


def reactions_add(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = req_str(p, "channel", "channel_not_found")
    if channel not in api.ws.channels:
        raise ApiError("channel_not_found")
    name = req_str(p, "name", "invalid_name").strip(":")
    msg = api.ws.find_message(channel, req_str(p, "timestamp", "no_item_specified"))
    if msg is None or msg.deleted:
        raise ApiError("message_not_found")
    if name in msg.reactions:
        raise ApiError("already_reacted")
    msg.reactions.append(name)
    api.ws.reactions.append((channel, msg.ts, name))
    return {}


def set_status(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """assistant.threads.setStatus: an empty status clears the indicator (still recorded)."""
    channel = req_str(p, "channel_id", "channel_not_found")
    if channel not in api.ws.channels:
        raise ApiError("channel_not_found")
    thread_ts = req_str(p, "thread_ts")
    status = p.get("status")
    if status is None:
        raise ApiError("invalid_arguments")
    loading = p.get("loading_messages")
    if loading is not None and not (
        isinstance(loading, list) and all(isinstance(x, str) for x in loading)
    ):
        raise ApiError("invalid_arguments")
    api.ws.statuses.append(StatusUpdate(channel, thread_ts, str(status), loading))
    return {}


def connections_open(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    """Socket Mode: a one-use WebSocket URL served by this emulator."""
    if api.open_socket_url is None:
        raise ApiError("internal_error")
    return {"url": api.open_socket_url()}


HANDLERS: dict[str, Handler] = {
    "auth.test": auth_test,
    "users.info": users_info,
    "conversations.info": conversations_info,
    "conversations.open": conversations_open,
    "files.info": files_info,
    "reactions.add": reactions_add,
    "assistant.threads.setStatus": set_status,
    "apps.connections.open": connections_open,
}
