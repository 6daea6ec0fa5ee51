"""The layering the architecture page promises, checked on the source: adapters speak only to
the core, the core knows no platform, and SQL stays in ``storage``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    """file -> top-level modules it imports (``from a.b import c`` counts as ``a.b``)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{file}: {name}"
        for file, names in _imports(package).items()
        for name in names
        if name == forbidden or name.split(".")[0] in forbidden
    )


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("bots", ("storage",)),
        ("core", ("bots", "telegram", "slack_sdk", "slack_bolt", "aiohttp")),
        ("storage", ("bots",)),
    ],
)
def test_layers_import_only_what_they_may(package: str, forbidden: tuple[str, ...]) -> None:
    assert _offenders(package, forbidden) == []


def test_storage_uses_only_the_cores_vocabulary() -> None:
    """``storage`` may name the core's shared words, not its machinery (no import cycles)."""
    core_modules = {
        name
        for names in _imports("storage").values()
        for name in names
        if name.split(".")[0] == "core"
    }
    assert core_modules <= {"core.vocabulary"}, core_modules
