"""The compacting memory's settings, and which catalog model writes summaries."""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog import Catalog, ModelSpec


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """``max_tokens`` (HISTORY_MAX_TOKENS): history since the last summary that starts a
    compaction (0: never compact; the history then fills the model's window as before).
    ``keep_tokens`` (HISTORY_KEEP_TOKENS): the newest history a compaction leaves verbatim; the
    gap between the two is the step, large so the prompt prefix stays the same (and cached) for
    many turns between compactions. ``summary_tokens``: the longest summary asked for.
    ``model``: SUMMARY_MODEL, or None for the cheapest suitable catalog model.
    ``concurrency`` (COMPACTION_CONCURRENCY): summaries this process writes at once; the rest
    wait their turn, so conversations that reach the budget together compact in a spread."""

    max_tokens: int = 8_000
    keep_tokens: int = 3_000
    summary_tokens: int = 1_200
    model: str | None = None
    concurrency: int = 8

    @property
    def enabled(self) -> bool:
        return self.max_tokens > 0

    def __post_init__(self) -> None:
        if self.max_tokens < 0 or self.keep_tokens < 0 or self.summary_tokens <= 0:
            raise ValueError("history budgets must not be negative")
        if self.concurrency < 1:
            raise ValueError("COMPACTION_CONCURRENCY must be at least 1")
        if self.enabled and self.keep_tokens >= self.max_tokens:
            raise ValueError(
                f"HISTORY_KEEP_TOKENS ({self.keep_tokens}) must be below "
                f"HISTORY_MAX_TOKENS ({self.max_tokens})"
            )


def summary_model(catalog: Catalog, wanted: str | None, *, needs_window: int) -> ModelSpec:
    """SUMMARY_MODEL when set (and known); else the cheapest catalog model that neither thinks
    (reasoning would eat the summary's tokens) nor is a vision preview, and whose window holds
    ``needs_window`` tokens; failing that, the largest window. Prices and windows are catalog
    data, so the choice follows the catalog."""
    if wanted:
        return catalog.get(wanted)
    plain = [m for m in catalog if not m.thinking and not m.vision] or list(catalog)
    fitting = [m for m in plain if m.context_window >= needs_window]
    if fitting:
        return min(fitting, key=lambda m: (m.input_price + m.output_price, m.context_window))
    return max(plain, key=lambda m: m.context_window)
