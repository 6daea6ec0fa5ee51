"""Which model and how much of the documents go into one turn.

Like ``moonshot-v1-auto``: the conversation's model when everything fits, else the smallest
catalog model whose window fits the documents, else the largest model with only the sections
that best match the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.catalog import Catalog, ModelSpec

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


def max_tokens_for(model: ModelSpec, max_output: int) -> int:
    return min(max_output, model.max_output, model.context_window // 4)


def plan_documents(
    catalog: Catalog, model: ModelSpec, document_tokens: int, base_tokens: int, max_output: int
) -> DocumentPlan:
    """``base_tokens``: system prompt and the current question (calibrated estimate)."""

    def fits(candidate: ModelSpec) -> bool:
        budget = candidate.context_window - max_tokens_for(candidate, max_output)
        return document_tokens + base_tokens + MIN_HISTORY_TOKENS <= budget

    if fits(model):
        return DocumentPlan(model, Mode.FULL)
    larger = [m for m in catalog.by_window() if m.context_window > model.context_window]
    for candidate in larger:
        if fits(candidate):
            return DocumentPlan(candidate, Mode.FULL)
    biggest = max([model, *larger], key=lambda m: m.context_window)
    budget = biggest.context_window - max_tokens_for(biggest, max_output) - base_tokens
    return DocumentPlan(biggest, Mode.RETRIEVAL, section_budget=int(budget * SECTION_SHARE))
