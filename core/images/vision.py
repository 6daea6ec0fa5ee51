"""The vision switch-up: a turn whose context carries images needs a model that sees.

Like the documents' switch-up (core.documents.in_turn): the conversation keeps its model; this
turn uses the smallest-window vision model of the (served) catalog that fits what the turn
needs, of the same kind (thinking or not) when there is one, and says so once per conversation.
"""

from __future__ import annotations

from core import texts
from core.catalog import Catalog, ModelSpec
from core.documents.planning import MIN_HISTORY_TOKENS
from core.output_budget import OutputBudget
from core.types import ReplySink
from storage import ConversationRecord, Database

ANNOUNCED = "announced_vision_model"


def pick_vision_model(
    catalog: Catalog, model: ModelSpec, needed_tokens: int, max_output: int | None
) -> ModelSpec | None:
    """The smallest vision model whose prompt budget holds ``needed_tokens`` (same ``thinking``
    as ``model`` preferred), else the largest such; None when the catalog has none."""
    vision = [m for m in catalog.by_window() if m.vision]
    alike = [m for m in vision if m.thinking == model.thinking] or vision
    for candidate in alike:
        if needed_tokens <= candidate.context_window - OutputBudget(candidate, max_output).reserve:
            return candidate
    return alike[-1] if alike else None


def has_vision(catalog: Catalog) -> bool:
    return any(m.vision for m in catalog)


class VisionSwitch:
    def __init__(self, db: Database, catalog: Catalog, max_output: int | None) -> None:
        self._db = db
        self._catalog = catalog
        self._max_output = max_output

    async def prepare(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        current_message_id: int,
        *,
        base_tokens: int,
        image_budget: int,
        sink: ReplySink,
        lang: str,
    ) -> ModelSpec:
        """The model for a turn: ``model`` unless images are in play and it cannot see them.
        ``base_tokens``: system prompt, documents and question (calibrated estimate)."""
        if model.vision or conversation.known_without_images:
            return model
        linked = await self._db.images.linked(conversation.id, current_message_id)
        if not linked:
            return model
        current = sum(i.token_count for i in linked if i.message_id == current_message_id)
        earlier = sum(i.token_count for i in linked) - current
        needed = base_tokens + current + min(earlier, image_budget) + MIN_HISTORY_TOKENS
        chosen = pick_vision_model(self._catalog, model, needed, self._max_output)
        if chosen is None:  # images were linked while a vision model was served
            return model
        await self._announce(conversation, model, chosen, sink, lang)
        return chosen

    async def _announce(
        self,
        conversation: ConversationRecord,
        model: ModelSpec,
        chosen: ModelSpec,
        sink: ReplySink,
        lang: str,
    ) -> None:
        if conversation.options.get(ANNOUNCED) == chosen.id:
            return
        await sink.reply(texts.text("image_model_switch", lang, model=model.id, vision=chosen.id))
        # Read again: the documents' switch-up may have just written its own note.
        fresh = await self._db.conversations.get(conversation.id) or conversation
        options = {**fresh.options, ANNOUNCED: chosen.id}
        await self._db.conversations.update_settings(conversation.id, options=options)
        conversation.options.update(options)
