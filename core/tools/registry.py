"""The tool registry: plugins discovered from the ``kimi_bot.tools`` entry-point group.

A third-party package adds a tool by declaring, in its own ``pyproject.toml``::

    [project.entry-points."kimi_bot.tools"]
    weather = "my_package.tools:weather"

where ``weather`` is a :class:`Tool`. Arguments are validated against the tool's JSON schema
before the call; a failing or slow tool gives the model an error result instead of breaking
the turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import jsonschema

from core import texts
from core.kimi import ToolCall

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kimi_bot.tools"
WEB_SEARCH = "$web_search"
MAX_FUNCTIONS = 128  # Moonshot's limit per request


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call. ``run`` gets the validated arguments as keywords."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[..., Awaitable[Any]]
    timeout: float = 10.0
    # Shown while it runs, e.g. "checking the time…"; a mapping gives it per language (en, zh).
    status: str | Mapping[str, str] = ""

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> ToolRegistry:
        """Every installed tool; a plugin that fails to load is logged and skipped."""
        registry = cls()
        for entry in entry_points(group=group):
            try:
                loaded = entry.load()
                tool = loaded() if callable(loaded) and not isinstance(loaded, Tool) else loaded
                if not isinstance(tool, Tool):
                    raise TypeError(f"{entry.value} is not a core.tools.registry.Tool")
                registry.add(tool)
            except Exception as exc:
                log.error("tool plugin %s could not be loaded: %s", entry.name, exc)
        return registry

    def add(self, tool: Tool) -> None:
        jsonschema.Draft202012Validator.check_schema(dict(tool.parameters))
        if tool.name in self._tools:
            log.warning("tool %s registered twice; keeping the first", tool.name)
            return
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def specs(self, *, web_search: bool) -> list[dict[str, Any]]:
        specs = [tool.spec() for tool in list(self._tools.values())[:MAX_FUNCTIONS]]
        if web_search:
            specs.append({"type": "builtin_function", "function": {"name": WEB_SEARCH}})
        return specs

    def status_for(self, call: ToolCall, lang: str = "en") -> str:
        """The status line while ``call`` runs, in the user's language where we know it."""
        if call.name == WEB_SEARCH:
            return texts.text("tool_web_search", lang)
        tool = self._tools.get(call.name)
        status = tool.status if tool else ""
        if isinstance(status, Mapping):
            status = status.get(lang) or status.get("en", "")
        return status or texts.text("tool_using", lang, name=call.name)

    async def execute(self, call: ToolCall) -> str:
        """The tool message content for one call; never raises."""
        if call.name == WEB_SEARCH:
            return call.arguments  # Moonshot runs the search; it wants its arguments back
        tool = self._tools.get(call.name)
        if tool is None:
            return _error(f"unknown tool {call.name!r}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return _error(f"arguments are not valid JSON: {exc.msg}")
        try:
            jsonschema.validate(arguments, dict(tool.parameters))
        except jsonschema.ValidationError as exc:
            return _error(f"invalid arguments: {exc.message}")
        try:
            async with asyncio.timeout(tool.timeout):
                result = await tool.run(**arguments)
        except TimeoutError:
            log.warning("tool %s timed out after %.1fs", tool.name, tool.timeout)
            return _error(f"the tool did not answer within {tool.timeout:g} seconds")
        except Exception as exc:
            log.warning("tool %s failed: %s: %s", tool.name, type(exc).__name__, exc)
            return _error(f"the tool failed: {type(exc).__name__}: {exc}")
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
