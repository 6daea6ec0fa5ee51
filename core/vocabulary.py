"""Words every layer shares: where a conversation lives, and the states of a stored message.

A leaf module (it imports nothing of ours), so ``storage`` can use the core's vocabulary
without the core's machinery, and adapters can speak it without importing ``storage``.
"""

from __future__ import annotations

from dataclasses import dataclass

IN_PROGRESS = "in_progress"  # an answer still streaming (saved every few seconds)
COMPLETE = "complete"
INCOMPLETE = "incomplete"  # stopped early: /cancel, a crash, a shutdown; what was said is kept
FAILED = "failed"  # never answered (a refusal, an error); kept, but out of the context


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Where a conversation lives: platform, workspace (Slack team), chat, thread (or topic)."""

    platform: str
    chat: str
    workspace: str = ""
    thread: str = ""

    def label(self) -> str:
        parts = [self.platform, self.workspace, self.chat, self.thread]
        return ":".join(p for p in parts if p)
