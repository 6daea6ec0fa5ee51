"""The workspace the emulator holds: users, channels, messages, files and what the bot did."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

StreamState = Literal["streaming", "stopped"]

# File types Slack derives from the name; anything else is "binary".
_FILETYPES = {
    "pdf": ("pdf", "PDF"),
    "txt": ("text", "Plain Text"),
    "md": ("markdown", "Markdown (raw)"),
    "csv": ("csv", "CSV"),
    "json": ("json", "JSON"),
    "py": ("python", "Python"),
    "png": ("png", "PNG"),
    "jpg": ("jpg", "JPEG"),
    "jpeg": ("jpg", "JPEG"),
    "gif": ("gif", "GIF"),
    "docx": ("docx", "Word Document"),
    "xlsx": ("xlsx", "Excel Spreadsheet"),
    "pptx": ("pptx", "PowerPoint Presentation"),
}


@dataclass
class User:
    """A workspace member as ``users.info`` describes one."""

    id: str
    name: str
    real_name: str
    display_name: str
    team_id: str
    is_bot: bool = False
    bot_id: str | None = None
    tz: str = "Europe/Berlin"
    locale: str = "en-US"  # users.info returns it only with include_locale=true

    def to_api(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "first_name": self.real_name.split(" ")[0] if self.real_name else "",
            "team": self.team_id,
            "image_48": f"https://avatars.example/{self.id}_48.png",
        }
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }


@dataclass
class Channel:
    """A public channel or a DM (``is_im``, with the other member in ``user``)."""

    id: str
    name: str
    is_im: bool = False
    user: str | None = None
    is_private: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def channel_type(self) -> str:
        """The ``channel_type`` a message event carries for this conversation."""
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"

    def to_api(self) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": False,
            "is_general": self.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": True,
            "created": self.created,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


@dataclass
class PostedMessage:
    """One message in a channel, from a user or the bot, with its edit/stream history.

    ``text`` is always the final visible text: for a streamed message, the concatenated
    markdown of start/append/stop (or the last ``chat.update`` over it).
    """

    channel: str
    ts: str
    text: str
    user: str
    thread_ts: str | None = None
    is_bot: bool = False
    bot_id: str | None = None
    blocks: list[dict[str, Any]] | None = None
    markdown_text: str | None = None
    updates: list[str] = field(default_factory=list)
    streamed: bool = False
    stream_state: StreamState | None = None
    appends: list[str] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    reactions: list[str] = field(default_factory=list)
    deleted: bool = False
    edited_at: float | None = None
    stream_started_at: float | None = None
    stream_expired: bool = False
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None

    def to_api(self, team_id: str, app_id: str) -> dict[str, Any]:
        """The message object Slack returns from chat.* methods and puts in events."""
        msg: dict[str, Any] = {"type": "message", "text": self.text, "user": self.user}
        msg["ts"] = self.ts
        msg["team"] = team_id
        if self.is_bot:
            msg["bot_id"] = self.bot_id
            msg["app_id"] = app_id
        if self.thread_ts:
            msg["thread_ts"] = self.thread_ts
        if self.blocks is not None:
            msg["blocks"] = self.blocks
        if self.metadata is not None:
            msg["metadata"] = self.metadata
        if self.files:
            msg["files"] = self.files
        if self.edited_at is not None:
            msg["edited"] = {"user": self.user, "ts": f"{self.edited_at:.6f}"}
        return msg


@dataclass
class HostedFile:
    """A file uploaded by a user; the emulator serves its bytes behind the bot token."""

    id: str
    name: str
    mimetype: str
    data: bytes
    size: int
    user: str
    created: int = field(default_factory=lambda: int(time.time()))

    def to_api(self, base_url: str, team_id: str) -> dict[str, Any]:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else ""
        filetype, pretty = _FILETYPES.get(ext, ("binary", "Binary"))
        private = f"{base_url}/files-pri/{team_id}-{self.id}/{self.name}"
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.name,
            "mimetype": self.mimetype,
            "filetype": filetype,
            "pretty_type": pretty,
            "user": self.user,
            "user_team": team_id,
            "editable": False,
            "size": self.size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private,
            "url_private_download": f"{base_url}/files-pri/{team_id}-{self.id}/download/{self.name}",
            "permalink": f"{base_url}/files/{self.user}/{self.id}/{self.name}",
            "permalink_public": f"{base_url}/T-{self.id}-public",
            "has_rich_preview": False,
            "file_access": "visible",
        }


@dataclass
class ApiCall:
    """One Web API request as the emulator saw it (after merging query, form and JSON)."""

    method: str
    params: dict[str, Any]
    timestamp: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")


class StatusUpdate(NamedTuple):
    """One ``assistant.threads.setStatus`` call; compares equal to a plain tuple."""

    channel: str
    thread_ts: str
    status: str
    loading_messages: list[str] | None


@dataclass
class Workspace:
    """All mutable state; the Web API handlers and the event sender both work on it."""

    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str
    app_id: str
    users: dict[str, User] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    messages: list[PostedMessage] = field(default_factory=list)
    files: dict[str, HostedFile] = field(default_factory=dict)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[tuple[str, str, str]] = field(default_factory=list)
    suggested_prompts: list[dict[str, Any]] = field(default_factory=list)
    titles: list[tuple[str, str, str]] = field(default_factory=list)  # channel, thread_ts, title

    def find_message(self, channel: str, ts: str) -> PostedMessage | None:
        for msg in self.messages:
            if msg.channel == channel and msg.ts == ts:
                return msg
        return None
