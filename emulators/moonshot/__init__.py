"""A Moonshot (Kimi) API emulator: the real endpoints, SSE format, errors, limits and files API.

Used by tests in-process (``MoonshotEmulator``) and by ``kimi-bot emulator`` via :func:`main`.
"""

from emulators.moonshot.scripts import Fault, ScriptedReply
from emulators.moonshot.server import MoonshotEmulator
from emulators.moonshot.tokens import estimate_tokens

__all__ = ["Fault", "MoonshotEmulator", "ScriptedReply", "estimate_tokens"]
