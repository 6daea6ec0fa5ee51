"""👍/👎 buttons under a finished answer, and the interaction that records a press.

The buttons go in a small ephemeral message to the asker, posted after the answer completes: the
answer may be a native stream (no blocks until it stops), and in a shared channel a pair of
buttons under every answer would be noise for everyone else. Each button's value is the
answer's id; the core checks the answer lives in the channel the press came from.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bots.slack.target import ReplyTarget
from core import texts
from core.feedback import Feedback

log = logging.getLogger(__name__)

UP = "kimi_feedback_up"
DOWN = "kimi_feedback_down"
ACTIONS = re.compile(rf"^({UP}|{DOWN})$")


def feedback_blocks(answer_id: int, lang: str) -> list[dict[str, Any]]:
    """A context line and the two buttons (Block Kit)."""

    def button(action_id: str, emoji: str) -> dict[str, Any]:
        return {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": emoji, "emoji": True},
            "value": str(answer_id),
        }

    return [
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": texts.text("feedback_prompt", lang)}],
        },
        {
            "type": "actions",
            "block_id": f"kimi_feedback_{answer_id}",
            "elements": [button(UP, "👍"), button(DOWN, "👎")],
        },
    ]


async def post_buttons(client: Any, target: ReplyTarget, answer_id: int, lang: str) -> None:
    """Show the asker the buttons under the answer; a failure only costs the buttons (logged)."""
    try:
        await client.chat_postEphemeral(
            channel=target.channel,
            user=target.user_id,
            thread_ts=target.thread_ts,
            text=texts.text("feedback_prompt", lang),
            blocks=feedback_blocks(answer_id, lang),
        )
    except Exception as exc:
        log.warning("could not add feedback buttons in %s: %s", target.channel, exc)


async def on_press(feedback: Feedback, client: Any, body: dict[str, Any]) -> None:
    """Record a press and tell only the presser (ephemeral) that it counted."""
    action = (body.get("actions") or [{}])[0]
    user = str((body.get("user") or {}).get("id") or "")
    channel = str((body.get("channel") or {}).get("id") or "")
    value = str(action.get("value") or "")
    if not (user and channel and value.isdigit()):
        log.warning("Slack feedback press without user, channel or answer id; ignored")
        return
    rating = 1 if action.get("action_id") == UP else -1
    stored = await feedback.record("slack", channel, int(value), f"slack:{user}", rating)
    thread = (body.get("container") or {}).get("thread_ts")
    if stored:
        reply = texts.text("feedback_thanks", "en", rating="👍" if rating > 0 else "👎")
    else:
        reply = texts.text("feedback_unknown", "en")
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=reply, thread_ts=thread)
    except Exception as exc:
        log.warning("could not confirm feedback in %s: %s", channel, exc)
