"""Context building: the system prompt plus as many recent turns as fit the model's budget.

History is read newest-first in keyset pages, so the cost depends on how much fits the window,
not on how much the conversation has stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import texts
from core.images.budget import ImageSelection, select_images
from core.images.parts import ImagePart, data_url
from core.memory.prompt import summary_message
from core.tokens import MESSAGE_OVERHEAD, TokenEstimator, raw_estimate
from storage import COMPLETE, INCOMPLETE, StoredMessage
from storage.images import ImageRepository, LinkedImage
from storage.messages import MessageRepository
from storage.summaries import SummaryRecord

GROUP_NOTE = (
    "This is a group conversation. Each user message starts with the speaker's name and a colon; "
    "people may refer to what others said earlier."
)
_USABLE = {COMPLETE, INCOMPLETE}
# Messages read per query while picking history, newest first. A compacted conversation's
# uncovered history (HISTORY_MAX_TOKENS, ~60 messages at the default) fits one page, so a turn
# reads it in one query; pages of 32 took two or three, each a round trip under load.
HISTORY_PAGE = 128


class MessageOverBudget(Exception):
    """The current user message alone does not fit the token budget left for it (the model's
    window minus the answer, the system prompt and the documents)."""

    def __init__(self, tokens: int, limit: int) -> None:
        super().__init__(f"message needs ~{tokens} tokens, budget is {limit}")
        self.tokens = tokens
        self.limit = limit


@dataclass(slots=True)
class BuiltContext:
    messages: list[dict[str, Any]]
    estimate: int
    raw_estimate: int
    history_messages: int
    images_shown: int = 0
    images_left_out: int = 0
    # Tokens (scaled estimate) of the verbatim history sent, the current message included:
    # what the compacting memory weighs against HISTORY_MAX_TOKENS.
    history_tokens: int = 0
    summary_id: int | None = None


class ContextBuilder:
    def __init__(
        self,
        messages: MessageRepository,
        estimator: TokenEstimator,
        page_size: int = HISTORY_PAGE,
        images: ImageRepository | None = None,
    ) -> None:
        self._messages = messages
        self._images = images
        self._estimator = estimator
        self._page_size = page_size

    async def build(
        self,
        *,
        conversation_id: int,
        current_message_id: int,
        system_prompt: str,
        budget: int,
        is_group: bool,
        extra_system: list[str] | None = None,
        current: StoredMessage | None = None,
        image_budget: int | None = None,
        summary: SummaryRecord | None = None,
        question_system: list[str] | None = None,
    ) -> BuiltContext:
        """Messages for the model, oldest first, ending with the current user message.

        ``image_budget`` (a vision model): user messages that carried images become content
        parts, the current message's images always, earlier ones newest first within the
        budget; None shows no images (the model cannot see them).

        ``summary`` (the compacting memory): sent after the documents in place of the messages
        it covers; the history then starts after them. Nothing here depends on the time of the
        turn, so the prompt's prefix stays byte-identical from turn to turn until the summary
        changes (Moonshot caches it). ``question_system`` (document sections retrieved for this
        question) differs from turn to turn, so it goes right before the question, after the
        part that repeats."""
        system_text = f"{system_prompt}\n\n{GROUP_NOTE}" if is_group else system_prompt
        head = [{"role": "system", "content": system_text}]
        head += [{"role": "system", "content": text} for text in extra_system or [] if text]
        if summary is not None:
            head.append({"role": "system", "content": _summary_text(summary)})
        through = summary.through_id if summary is not None else 0
        late = [{"role": "system", "content": text} for text in question_system or [] if text]
        used = self._estimator.messages(head) + self._estimator.messages(late)
        if current is None:  # callers that just stored it pass it in and save a query
            current = await self._messages.get(current_message_id)
        if current is None:
            raise LookupError(f"message {current_message_id} is not stored")
        selection = await self._select_images(conversation_id, current_message_id, image_budget)
        if selection.left_out:  # room for the note, whether or not it ends up said
            used += self._estimator.text(_dropped_note(len(selection.left_out))) + MESSAGE_OVERHEAD
        used += selection.tokens  # Moonshot's own counts: not scaled by the learnt factor
        current_cost = self._estimator.scaled(_raw_tokens(current, is_group))
        if used + current_cost > budget:
            raise MessageOverBudget(current_cost, max(budget - used, 0))
        used += current_cost
        history_tokens = current_cost
        picked: list[StoredMessage] = [current]
        async for stored in self._candidates(conversation_id, current_message_id, through):
            if stored.id == current_message_id:
                continue
            cost = self._estimator.scaled(_raw_tokens(stored, is_group))
            if used + cost > budget:
                break
            used += cost
            history_tokens += cost
            picked.append(stored)
        picked.sort(key=lambda m: m.turn_order)
        user_ids = {m.id for m in picked if m.role == "user"}
        shown = await self._image_parts(selection, user_ids)
        body = [_as_api(m, is_group, shown.get(m.id)) for m in picked]
        body[-1:-1] = late  # just before the current message (the last, in turn order)
        # Left out by the budget, from messages still in the history (older ones went anyway).
        left_out = sum(1 for i in selection.left_out if i.message_id in user_ids)
        if left_out:
            head.append({"role": "system", "content": _dropped_note(left_out)})
        image_tokens = sum(p.tokens for parts in shown.values() for p in parts)
        raw = (
            self._estimator.raw_messages(head)
            + self._estimator.raw_messages(late)
            + image_tokens
            + sum(_raw_tokens(m, is_group) + MESSAGE_OVERHEAD for m in picked)
        )
        return BuiltContext(
            messages=head + body,
            estimate=used,
            raw_estimate=raw,
            history_messages=len(body),
            images_shown=sum(len(parts) for parts in shown.values()),
            images_left_out=left_out,
            history_tokens=history_tokens,
            summary_id=summary.id if summary is not None else None,
        )

    async def _select_images(
        self, conversation_id: int, current_id: int, image_budget: int | None
    ) -> ImageSelection:
        if image_budget is None or self._images is None:
            return ImageSelection()
        linked = await self._images.linked(conversation_id, current_id)
        return select_images(linked, current_id, image_budget)

    async def _image_parts(
        self, selection: ImageSelection, message_ids: set[int]
    ) -> dict[int, list[ImagePart]]:
        """message id -> its image parts, for the shown images of messages in the history."""
        wanted: dict[int, list[LinkedImage]] = {
            message_id: images
            for message_id, images in selection.by_message().items()
            if message_id in message_ids
        }
        if not wanted or self._images is None:
            return {}
        data = await self._images.data([i.image_id for images in wanted.values() for i in images])
        return {
            message_id: [
                ImagePart(data_url(i.format, data[i.image_id]), i.token_count)
                for i in images
                if i.image_id in data
            ]
            for message_id, images in wanted.items()
        }

    async def _candidates(self, conversation_id: int, current_id: int, through: int = 0):  # type: ignore[no-untyped-def]
        """Usable messages newest first, up to the current turn (later messages wait their turn)
        and down to the summary's end (``through``: what it covers is not sent again)."""
        before: int | None = None
        while True:
            page = await self._messages.page(
                conversation_id, before_id=before, limit=self._page_size, after_id=through
            )
            for stored in page:
                if stored.id <= through:  # older ids are all covered by the summary
                    return
                if _belongs(stored, current_id) and stored.turn_order[0] > through:
                    yield stored
            if len(page) < self._page_size:
                return
            before = page[-1].id


def _belongs(stored: StoredMessage, current_id: int) -> bool:
    if stored.status not in _USABLE or not stored.content.strip():
        return False
    if stored.role == "assistant" and stored.reply_to_id is not None:
        return stored.reply_to_id < current_id
    return stored.id <= current_id


def _raw_tokens(stored: StoredMessage, is_group: bool) -> int:
    """The stored uncalibrated estimate (computed once at insert), plus the speaker prefix."""
    raw = stored.token_estimate or raw_estimate(stored.content)
    if is_group and stored.role == "user" and stored.author_name:
        raw += raw_estimate(stored.author_name) + 1
    return raw


def _as_api(
    stored: StoredMessage, is_group: bool, images: list[ImagePart] | None = None
) -> dict[str, Any]:
    content = stored.content
    if is_group and stored.role == "user" and stored.author_name:
        content = f"{stored.author_name}: {content}"
    if images:  # Moonshot's vision shape: the text part, then the images
        return {"role": stored.role, "content": [{"type": "text", "text": content}, *images]}
    return {"role": stored.role, "content": content}


def _summary_text(summary: SummaryRecord) -> str:
    return summary_message(
        summary.content, summary.covered_messages, summary.first_at, summary.last_at
    )


def _dropped_note(count: int) -> str:
    """For the model (whose instructions are English), so it does not claim to see them."""
    return texts.text("images_dropped", "en", count=count)
