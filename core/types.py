"""The platform-neutral shapes adapters hand to the core and the sink they get answers through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from core.vocabulary import ConversationKey

__all__ = ["Attachment", "Author", "ConversationKey", "Incoming", "ReplySink"]


@dataclass(frozen=True, slots=True)
class Author:
    """A speaker. ``id`` is platform-qualified (``telegram:123``, ``slack:U42``, ``cli:alice``)."""

    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the user sent; ``fetch`` downloads it only when the core decides to ingest it."""

    name: str
    mime_type: str
    size: int
    fetch: Callable[[], Awaitable[bytes]]
    # What the platform says it is, when it says more than the MIME type: "image" (a photo),
    # "audio" (a voice note, an audio file, a video note); "" = decide by type and name
    # (core.attachment_kinds).
    kind: str = ""
    duration: float | None = None  # seconds, for audio the platform measured


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message addressed to the bot, already deduplicated and stripped of the mention."""

    key: ConversationKey
    author: Author
    text: str
    is_group: bool = False
    attachments: tuple[Attachment, ...] = ()
    platform_message_id: str | None = None
    author_is_chat_admin: bool = False
    # The user's language as the platform reports it ("zh", "en"; "" when unknown): Telegram's
    # language_code, the browser's Accept-Language. Only for replies to words that are syntax
    # (a bare /command); what the user wrote decides everywhere else.
    language: str = ""

    @property
    def platform(self) -> str:
        return self.key.platform


class ReplySink(Protocol):
    """Where one answer goes. Adapters implement it; they own pacing, splitting and formatting.

    The core calls ``begin`` once, then any number of ``append``/``thinking``/``notice``, and ends
    with exactly one of ``complete`` (the full final text) or ``abort`` (what arrived plus a
    reason to show). ``thinking`` carries a thinking model's reasoning as it streams: never part
    of the answer; platforms show that the model thinks (a status) or the reasoning set apart.

    ``reply`` sends a standalone message (command output, refusals, a document acknowledgement)
    at once, as a message of its own. It may come at any time in a turn and never ends or
    pauses the answer: on every platform the answer keeps streaming after it (previews go on,
    in the answer's own messages) and ends only with ``complete`` or ``abort``.
    """

    async def begin(self) -> None: ...

    async def append(self, delta: str) -> None: ...

    async def thinking(self, delta: str) -> None: ...

    async def notice(self, text: str) -> None: ...

    async def complete(self, text: str) -> None: ...

    async def abort(self, partial_text: str, reason: str) -> None: ...

    async def reply(self, text: str) -> None: ...


@dataclass(slots=True)
class CollectingSink:
    """A sink that only records what it is told (tests hand it to the assistant)."""

    deltas: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    final: str | None = None
    aborted: tuple[str, str] | None = None
    began: bool = False

    async def begin(self) -> None:
        self.began = True

    async def append(self, delta: str) -> None:
        self.deltas.append(delta)

    async def thinking(self, delta: str) -> None:
        self.reasoning.append(delta)

    async def notice(self, text: str) -> None:
        self.notices.append(text)

    async def complete(self, text: str) -> None:
        self.final = text

    async def abort(self, partial_text: str, reason: str) -> None:
        self.aborted = (partial_text, reason)

    async def reply(self, text: str) -> None:
        self.replies.append(text)
