"""What one turn has produced so far: shared by streaming, checkpoints and the final save."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.kimi import Completion


@dataclass(slots=True)
class TurnProgress:
    """What the user has seen, what the model thought, and what has been billed so far in this
    turn."""

    shown: list[str] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    reasoning_rounds: int = 0  # the model call the last reasoning came from (1-based)

    @property
    def text(self) -> str:
        return "".join(self.shown)

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)
