"""Which model and how much of the documents go into one turn.

Like ``moonshot-v1-auto``: the conversation's model when everything fits, else the smallest
catalog model whose window fits the documents, else the largest model with only the sections
that best match the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.catalog import Catalog, ModelSpec
from core.output_budget import OutputBudget

# History the switch-up keeps room for, so a follow-up still sees the last few turns.
MIN_HISTORY_TOKENS = 1500
# Share of the prompt budget given to retrieved sections; the rest is history and question.
SECTION_SHARE = 0.6


class Mode(Enum):
    FULL = "full"
    RETRIEVAL = "retrieval"


@dataclass(frozen=True, slots=True)
class DocumentPlan:
    model: ModelSpec
    mode: Mode
    section_budget: int = 0

    def switched_from(self, original: ModelSpec) -> bool:
        return self.model.id != original.id


def plan_documents(
    catalog: Catalog,
    model: ModelSpec,
    document_tokens: int,
    base_tokens: int,
    max_output: int | None,
) -> DocumentPlan:
    """``base_tokens``: system prompt and the current question (calibrated estimate);
    ``max_output``: the operator's cap on answers (None: each model's own)."""

    def fits(candidate: ModelSpec) -> bool:
        budget = candidate.context_window - OutputBudget(candidate, max_output).reserve
        return document_tokens + base_tokens + MIN_HISTORY_TOKENS <= budget

    if fits(model):
        return DocumentPlan(model, Mode.FULL)
    larger = _larger_of_a_kind(catalog, model)
    for candidate in larger:
        if fits(candidate):
            return DocumentPlan(candidate, Mode.FULL)
    biggest = max([model, *larger], key=lambda m: m.context_window)
    budget = biggest.context_window - OutputBudget(biggest, max_output).reserve - base_tokens
    return DocumentPlan(biggest, Mode.RETRIEVAL, section_budget=int(budget * SECTION_SHARE))


def _larger_of_a_kind(catalog: Catalog, model: ModelSpec) -> list[ModelSpec]:
    """Models with a larger window, smallest first; of the same kind when there are any (a
    thinking model switches to a thinking one, a text model never to a vision preview), so a
    switch changes the window, not how the model answers."""
    larger = [m for m in catalog.by_window() if m.context_window > model.context_window]
    alike = [m for m in larger if m.thinking == model.thinking and m.vision <= model.vision]
    return alike or larger
