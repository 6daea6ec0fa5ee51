"""How many tokens an answer may use: the catalog's ``max_output``, an optional operator cap
(``KIMI_MAX_OUTPUT``), and what the model's window leaves after the prompt.

Moonshot counts prompt + ``max_tokens`` against the window (400 "exceeded model token limit")
and, for TPM, against the minute; a thinking model's reasoning shares the same ``max_tokens``.
An answer that still reaches the limit is continued with Partial Mode (``core.tools.loop``).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog import ModelSpec

# Share of the window kept free for the error of our token estimate (Kimi's tokenizer is not
# available locally; usage calibrates the estimate, this covers what calibration has not).
ESTIMATE_SLACK = 0.02
# Never ask for less than this, even when the prompt nearly fills the window.
MIN_ANSWER_TOKENS = 256
# History is picked so this share of the window at most stays free for the answer.
MAX_RESERVE_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class OutputBudget:
    model: ModelSpec
    cap: int | None = None  # KIMI_MAX_OUTPUT: an operator's ceiling, None = the model's own

    @property
    def ceiling(self) -> int:
        """The most one call may ask for."""
        if self.cap is None:
            return self.model.max_output
        return min(self.cap, self.model.max_output)

    @property
    def reserve(self) -> int:
        """What context building leaves free for the answer. Capped at a quarter of the window
        so a small-window model still sees some history; an answer that needs more than this
        is continued, not cut."""
        return min(self.ceiling, int(self.model.context_window * MAX_RESERVE_SHARE))

    def for_prompt(self, prompt_tokens: int) -> int:
        """``max_tokens`` for a call whose prompt is about ``prompt_tokens`` long."""
        window = self.model.context_window
        room = window - prompt_tokens - int(window * ESTIMATE_SLACK)
        return max(min(self.ceiling, room), min(MIN_ANSWER_TOKENS, self.ceiling))
