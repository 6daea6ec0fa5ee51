"""Albums: photos sent together arrive as separate updates sharing a ``media_group_id``.

Telegram gives no "last item" marker, so the first update of an album waits until no new item
came for ``wait`` seconds (TELEGRAM_ALBUM_WAIT), then carries the whole album as one turn; the
other updates hand their message over and finish. Each update is still claimed once before it
gets here (the processed-events claim), so a redelivered item is never added twice.

The buffer lives in this worker's memory: with polling, or one webhook worker, every item of an
album meets here. Several webhook workers behind a load balancer may split an album; each part
is then answered on its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from telegram import Message

MAX_ITEMS = 10  # Telegram's album limit: the album is complete, no need to wait
MAX_WAITS = 10  # an album trickling in is closed after this many windows


@dataclass
class _Album:
    messages: list[Message]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class Albums:
    """Collects the messages of each open album, keyed by (chat, media_group_id)."""

    def __init__(self, wait: float) -> None:
        self._wait = wait
        self._open: dict[tuple[int, str], _Album] = {}

    async def collect(self, message: Message) -> list[Message] | None:
        """The whole album, in message order, for its first update; None for the others."""
        key = (message.chat.id, str(message.media_group_id))
        album = self._open.get(key)
        if album is not None:
            album.messages.append(message)
            album.arrived.set()
            return None
        album = _Album([message])
        self._open[key] = album
        try:
            for _ in range(MAX_WAITS):
                if len(album.messages) >= MAX_ITEMS:
                    break
                album.arrived.clear()
                try:
                    await asyncio.wait_for(album.arrived.wait(), self._wait)
                except TimeoutError:
                    break
        finally:
            del self._open[key]
        return sorted(album.messages, key=lambda m: m.message_id)
