"""A memory that compacts: a conversation's older part becomes a stored summary written by Kimi,
so a turn sends system + documents + summary + recent exchanges, not the whole history.

- :mod:`core.memory.policy`: the settings (history budget, what is kept verbatim, the model).
- :mod:`core.memory.summarizer`: one summary call through the limiter and the ledger (also used
  by ``/summarize`` for long histories).
- :mod:`core.memory.compaction`: when and what to compact, in the background after an answer.
- :mod:`core.memory.prompt`: the words: instructions, transcript lines, the summary message.
"""

from core.memory.policy import MemoryPolicy
from core.memory.summarizer import Summarizer, SummaryText

__all__ = ["MemoryPolicy", "Summarizer", "SummaryText"]
