"""Where one answer goes in Slack: the channel, the thread, and who it is for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """``thread_ts`` None means the top level of a DM; ``status_ts`` anchors the status line.

    ``user_id``/``team_id`` are the asker: native streams need them as recipients.
    """

    channel: str
    thread_ts: str | None
    status_ts: str | None
    user_id: str
    team_id: str
