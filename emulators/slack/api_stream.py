"""chat.startStream / appendStream / stopStream: Slack's native streamed messages.

A stream is a bot message in ``stream_state="streaming"``: appends concatenate markdown
onto its text; stop (or server-side expiry, ~5 minutes after start) finalizes it, after
which append/stop answer ``message_not_in_streaming_state``.

Recipient rule: Slack documents recipient_user_id/recipient_team_id as required outside
DMs; live probes report ``missing_recipient_*`` errors in DMs too, so by default
(``strict_stream_recipients``) the emulator requires them everywhere.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .api_chat import channel_of
from .errors import ApiError
from .limits import MAX_MARKDOWN_TEXT, validate_blocks
from .params import opt_str, req_str
from .state import PostedMessage

if TYPE_CHECKING:
    from .web_api import Handler, WebApi

STREAMING_DISABLED_ERROR = "not_allowed"


def _stream_text(p: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The markdown a call adds (markdown_text, then markdown_text chunks) and its chunks."""
    pieces: list[str] = []
    markdown_text = p.get("markdown_text")
    if markdown_text is not None:
        if not isinstance(markdown_text, str):
            raise ApiError("invalid_arguments")
        if len(markdown_text) > MAX_MARKDOWN_TEXT:
            raise ApiError("msg_too_long")
        pieces.append(markdown_text)
    chunks = p.get("chunks")
    if chunks is None:
        chunks = []
    if not isinstance(chunks, list) or not all(isinstance(c, dict) and "type" in c for c in chunks):
        raise ApiError("invalid_chunks")
    for chunk in chunks:
        if chunk["type"] == "markdown_text":
            text = chunk.get("text")
            if not isinstance(text, str):
                raise ApiError("invalid_chunks")
            if len(text) > MAX_MARKDOWN_TEXT:
                raise ApiError("msg_too_long")
            pieces.append(text)
    return "".join(pieces), chunks


def _open_stream(api: WebApi, p: dict[str, Any]) -> PostedMessage:
    channel = channel_of(api, p)
    msg = api.ws.find_message(channel.id, req_str(p, "ts", "message_not_found"))
    if msg is None or msg.deleted:
        raise ApiError("message_not_found")
    if not msg.streamed or msg.stream_state != "streaming":
        raise ApiError("message_not_in_streaming_state")
    started = msg.stream_started_at or 0.0
    if msg.stream_expired or time.monotonic() - started > api.config.stream_lifetime:
        expire(msg)
        raise ApiError("message_not_in_streaming_state")
    return msg


def expire(msg: PostedMessage) -> None:
    """Slack finalizes an expired stream itself: it is stopped, with what it had."""
    msg.stream_expired = True
    msg.stream_state = "stopped"


def _add(msg: PostedMessage, text: str, chunks: list[dict[str, Any]]) -> None:
    if text:
        msg.text += text
        msg.appends.append(text)
    msg.chunks.extend(chunks)


def start_stream(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    if not api.config.streaming_enabled:
        raise ApiError(STREAMING_DISABLED_ERROR)
    channel = channel_of(api, p)
    user_id = opt_str(p, "recipient_user_id")
    team_id = opt_str(p, "recipient_team_id")
    if api.config.strict_stream_recipients or not channel.is_im:
        if user_id is None:
            raise ApiError("missing_recipient_user_id")
        if team_id is None:
            raise ApiError("missing_recipient_team_id")
    if team_id is not None and team_id != api.ws.team_id:
        raise ApiError("team_not_found")
    if user_id is not None and user_id not in api.ws.users:
        raise ApiError("user_not_found")
    text, chunks = _stream_text(p)
    ws = api.ws
    msg = PostedMessage(
        channel=channel.id,
        ts=api.clock.next(),
        text="",
        user=ws.bot_user_id,
        thread_ts=opt_str(p, "thread_ts"),
        is_bot=True,
        bot_id=ws.bot_id,
        streamed=True,
        stream_state="streaming",
        stream_started_at=time.monotonic(),
        recipient_user_id=user_id,
        recipient_team_id=team_id,
    )
    _add(msg, text, chunks)
    ws.messages.append(msg)
    return {"channel": channel.id, "ts": msg.ts}


def append_stream(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    msg = _open_stream(api, p)
    if p.get("markdown_text") is None and not p.get("chunks"):
        raise ApiError("invalid_arguments")
    text, chunks = _stream_text(p)
    _add(msg, text, chunks)
    return {"channel": msg.channel, "ts": msg.ts}


def stop_stream(api: WebApi, p: dict[str, Any]) -> dict[str, Any]:
    msg = _open_stream(api, p)
    text, chunks = _stream_text(p)
    blocks = p.get("blocks")
    if blocks is not None:
        validate_blocks(blocks)
        msg.blocks = blocks
    if p.get("metadata") is not None:
        msg.metadata = p["metadata"]
    _add(msg, text, chunks)
    msg.stream_state = "stopped"
    ws = api.ws
    return {"channel": msg.channel, "ts": msg.ts, "message": msg.to_api(ws.team_id, ws.app_id)}


HANDLERS: dict[str, Handler] = {
    "chat.startStream": start_stream,
    "chat.appendStream": append_stream,
    "chat.stopStream": stop_stream,
}
