"""👍/👎 reactions on the bot's answers are their feedback (``message_reaction`` updates).

Telegram sends a user's whole set of reactions, old and new; the newest thumbs decides: 👍 is
+1, 👎 is -1, neither (a removed or other reaction) takes the rating back. Telegram only sends
these updates to bots that ask (``allowed_updates``) and, in groups, that are administrators.
"""

from __future__ import annotations

import logging

from telegram import MessageReactionUpdated, ReactionTypeEmoji

from core.feedback import Feedback

log = logging.getLogger(__name__)

THUMBS = {"👍": 1, "👎": -1}


def rating_of(reaction: MessageReactionUpdated) -> int:
    """+1, -1, or 0 when the user's reactions hold no thumbs (the last one listed wins)."""
    rating = 0
    for kind in reaction.new_reaction:
        if isinstance(kind, ReactionTypeEmoji) and kind.emoji in THUMBS:
            rating = THUMBS[kind.emoji]
    return rating


async def record_reaction(feedback: Feedback, reaction: MessageReactionUpdated) -> bool:
    """Store the reaction as feedback when it is on one of the bot's answers (and by a user)."""
    user = reaction.user
    if user is None or user.is_bot:
        return False  # anonymous (a channel's) reactions carry no user to rate as
    had = any(isinstance(k, ReactionTypeEmoji) and k.emoji in THUMBS for k in reaction.old_reaction)
    rating = rating_of(reaction)
    if rating == 0 and not had:
        return False  # some other emoji: not feedback
    return await feedback.record_post(
        "telegram", str(reaction.chat.id), str(reaction.message_id), f"telegram:{user.id}", rating
    )
