"""👍/👎 on a finished answer, and the interaction that records a press.

The buttons are Slack's feedback buttons (a ``context_actions`` block) on the answer's last
message itself: passed to ``chat.stopStream`` when the answer streams, or added by its final
``chat.update`` when it is posted and edited. The answer's id, which each button's value
carries, exists only once the answer is stored, that is after the sink was told to complete:
:class:`AnswerFeedback` asks the sink to hold the answer's end until the id is known.

A small ephemeral message with thumbs buttons to the asker (:func:`post_buttons`) remains for
when the block cannot go on the answer: its last message was written with ``markdown_text``
(an expired stream continued by ``chat.update``, a later part whose stream Slack refused),
which Slack takes no blocks beside; Slack refused the block; or the sink cannot hold its end.
The core checks that the rated answer lives in the channel the press came from.
"""

from __future__ import annotations

import logging
import re
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

from bots.slack.target import ReplyTarget
from core import texts
from core.feedback import Feedback
from core.turn import TurnOutcome
from core.types import ReplySink

log = logging.getLogger(__name__)

UP = "kimi_feedback_up"  # the ephemeral message's thumbs buttons
DOWN = "kimi_feedback_down"
BUTTONS = "kimi_feedback"  # the feedback buttons element on the answer
ACTIONS = re.compile(rf"^({UP}|{DOWN}|{BUTTONS})$")
_RATINGS = {"up": 1, "down": -1}

Blocks = list[dict[str, Any]]


@runtime_checkable
class HoldingSink(Protocol):
    """A sink that can keep its answer's end until blocks for it are known (``SlackSink``)."""

    def hold_end(self) -> None: ...

    async def end_held(self, blocks: Blocks | None) -> bool: ...


def answer_blocks(answer_id: int, lang: str) -> Blocks:
    """The feedback buttons that go under the answer's last message (Block Kit)."""

    def button(rating: str, emoji: str, label: str) -> dict[str, Any]:
        return {
            "text": {"type": "plain_text", "text": emoji, "emoji": True},
            "accessibility_label": texts.text(label, lang),
            "value": f"{rating}:{answer_id}",
        }

    return [
        {
            "type": "context_actions",
            "block_id": f"kimi_feedback_{answer_id}",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": BUTTONS,
                    "positive_button": button("up", "👍", "feedback_good"),
                    "negative_button": button("down", "👎", "feedback_bad"),
                }
            ],
        }
    ]


def feedback_blocks(answer_id: int, lang: str) -> Blocks:
    """The ephemeral message's blocks: a context line and two buttons."""

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
    """Show the asker the buttons in an ephemeral message under the answer (when they could not
    go on the answer itself); a failure only costs the buttons (logged)."""
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


class AnswerFeedback:
    """Around one ``assistant.handle``: the sink holds the answer's end; on the way out the
    answer ends with the feedback block when it completed (``rate``), else without.

    Whatever happens inside (a refusal, an error, cancellation), the held end is released, so
    an answer is never left streaming.
    """

    def __init__(self, client: Any, target: ReplyTarget, sink: ReplySink, lang: str) -> None:
        self._client = client
        self._target = target
        self._sink = sink if isinstance(sink, HoldingSink) else None
        self._lang = lang
        self._answer_id: int | None = None

    def rate(self, outcome: TurnOutcome | None) -> None:
        """Only complete answers get buttons (not refusals, failures or cut answers)."""
        if outcome is not None and outcome.answer_id and outcome.status == "complete":
            self._answer_id = outcome.answer_id

    async def __aenter__(self) -> AnswerFeedback:
        if self._sink is not None and self._client is not None:
            self._sink.hold_end()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        answer_id = None if error is not None else self._answer_id
        attached = False
        if self._sink is not None:
            blocks = answer_blocks(answer_id, self._lang) if answer_id else None
            try:
                attached = await self._sink.end_held(blocks)
            except Exception:
                if error is None:
                    raise
                log.exception("Slack: could not end an answer after an error")
        if answer_id and not attached and self._client is not None:
            await post_buttons(self._client, self._target, answer_id, self._lang)


def pressed(action: dict[str, Any]) -> tuple[int, int] | None:
    """(rating, answer id) of a press: the feedback buttons' ``up:12``/``down:12`` value, or
    the ephemeral thumbs' action id and ``12``; None for anything else."""
    value = str(action.get("value") or "")
    if action.get("action_id") == BUTTONS:
        rating, _, answer = value.partition(":")
        if rating in _RATINGS and answer.isdigit():
            return _RATINGS[rating], int(answer)
        return None
    if value.isdigit():
        return (1 if action.get("action_id") == UP else -1), int(value)
    return None


async def on_press(feedback: Feedback, client: Any, body: dict[str, Any]) -> None:
    """Record a press and tell only the presser (ephemeral) that it counted."""
    action = (body.get("actions") or [{}])[0]
    user = str((body.get("user") or {}).get("id") or "")
    channel = str((body.get("channel") or {}).get("id") or "")
    rated = pressed(action)
    if not (user and channel and rated):
        log.warning("Slack feedback press without user, channel or answer id; ignored")
        return
    rating, answer_id = rated
    stored = await feedback.record("slack", channel, answer_id, f"slack:{user}", rating)
    thread = (body.get("container") or {}).get("thread_ts")
    if stored:
        reply = texts.text("feedback_thanks", "en", rating="👍" if rating > 0 else "👎")
    else:
        reply = texts.text("feedback_unknown", "en")
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=reply, thread_ts=thread)
    except Exception as exc:
        log.warning("could not confirm feedback in %s: %s", channel, exc)
