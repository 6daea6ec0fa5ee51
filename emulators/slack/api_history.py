"""Reading conversations and the assistant panel: ``conversations.replies``/``history`` with
cursor pagination, ``assistant.threads.setSuggestedPrompts`` and ``setTitle``.

Shapes follow Slack's reference: replies are oldest first with the parent on the first page,
history is newest first and holds top-level messages only (plus thread broadcasts); both page
with an opaque ``response_metadata.next_cursor`` (empty on the last page) and ``has_more``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .params import opt_str, req_str
from .state import PostedMessage

if TYPE_CHECKING:
    from .web_api import Handler, WebApi

MAX_LIMIT = 999  # Slack caps `limit` at 999 (and recommends 200 or fewer)
MAX_PROMPTS = 4  # setSuggestedPrompts accepts up to four prompts


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, value = base64.b64decode(cursor).decode().split(":", 1)
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc


def _limit(p: dict[str, Any], default: int) -> int:
    raw = opt_str(p, "limit")
    try:
        return max(1, min(int(raw), MAX_LIMIT)) if raw else default
    except ValueError as exc:
        raise ApiError("invalid_limit") from exc


def _page(api: WebApi, found: list[PostedMessage], p: dict[str, Any], default: int) -> dict:
    start, limit = _offset(opt_str(p, "cursor")), _limit(p, default)
    page = found[start : start + limit]
    more = start + limit < len(found)
    return {
        "messages": [_api_message(api, m) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
    }


def _api_message(api: WebApi, msg: PostedMessage) -> dict[str, Any]:
    return msg.to_api(api.ws.team_id, api.ws.app_id)


def _readable(api: WebApi, p: dict[str, Any]) -> str:
    channel = req_str(p, "channel", "channel_not_found")
    if channel not in api.ws.channels:
        raise ApiError("channel_not_found")
    return channel


def _in_window(msg: PostedMessage, p: dict[str, Any]) -> bool:
    """``oldest``/``latest`` bounds, exclusive unless ``inclusive`` is true (as Slack does)."""
    inclusive = str(p.get("inclusive") or "").lower() in ("1", "true")
    ts = float(msg.ts)
    oldest, latest = opt_str(p, "oldest"), opt_str(p, "latest")
    if oldest is not None and (ts < float(oldest) or (ts == float(oldest) and not inclusive)):
        return False
    return latest is None or ts < float(latest) or (ts == float(latest) and inclusive)


def conversations_replies(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = _readable(api, p)
    ts = req_str(p, "ts", "thread_not_found")
    parent = api.ws.find_message(channel, ts)
    if parent is None or parent.deleted:
        raise ApiError("thread_not_found")
    thread = [
        m
        for m in api.ws.messages
        if m.channel == channel
        and not m.deleted
        and (m.ts == ts or m.thread_ts == ts)
        and _in_window(m, p)
    ]
    thread.sort(key=lambda m: float(m.ts))
    return _page(api, thread, p, default=1000)


def conversations_history(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel = _readable(api, p)
    top = [
        m
        for m in api.ws.messages
        if m.channel == channel
        and not m.deleted
        and (not m.thread_ts or m.thread_ts == m.ts)
        and _in_window(m, p)
    ]
    top.sort(key=lambda m: float(m.ts), reverse=True)
    result = _page(api, top, p, default=100)
    result["pin_count"] = 0
    return result


def _assistant_thread(api: WebApi, p: dict[str, Any]) -> tuple[str, str]:
    channel = req_str(p, "channel_id", "channel_not_found")
    chan = api.ws.channels.get(channel)
    if chan is None:
        raise ApiError("channel_not_found")
    if not chan.is_im:
        raise ApiError("not_allowed")  # assistant threads live in the app's DM
    return channel, str(p.get("thread_ts") or "")


def set_suggested_prompts(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel, thread_ts = _assistant_thread(api, p)
    prompts = p.get("prompts")
    if (
        not isinstance(prompts, list)
        or not prompts
        or len(prompts) > MAX_PROMPTS
        or not all(isinstance(x, dict) and x.get("title") and x.get("message") for x in prompts)
    ):
        raise ApiError("invalid_arguments")
    api.ws.suggested_prompts.append(
        {"channel": channel, "thread_ts": thread_ts, "title": p.get("title"), "prompts": prompts}
    )
    return {}


def set_title(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    channel, _ = _assistant_thread(api, p)
    thread_ts = req_str(p, "thread_ts", "invalid_arguments")
    title = req_str(p, "title", "invalid_arguments")
    api.ws.titles.append((channel, thread_ts, title))
    return {}


HANDLERS: dict[str, Handler] = {
    "conversations.replies": conversations_replies,
    "conversations.history": conversations_history,
    "assistant.threads.setSuggestedPrompts": set_suggested_prompts,
    "assistant.threads.setTitle": set_title,
}
