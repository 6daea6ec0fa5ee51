"""The project needs nothing beside its clone: the reference folder next to it (``shared``) is
read only by the optional real-document corpus layer, which skips without it. (CI used to prove
this by running the whole suite a second time in a fresh clone; these checks say it directly.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import find_corpus

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bots", "core", "storage", "emulators", "bench", "tests")
# A path into the sibling folder: up one level into it, or "shared" as a path part by the root.
SIBLING = re.compile(r"""\.\./shared|parent\s*/\s*["']shared["']|["']shared["']\s*/""")


def test_only_the_corpus_layer_looks_beside_the_clone() -> None:
    readers = sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path != Path(__file__).resolve()
        and any(
            SIBLING.search(line) and not line.lstrip().startswith("#")
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    )
    assert readers == ["tests/conftest.py"], readers
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    lines = [line for line in conftest.splitlines() if SIBLING.search(line)]
    assert lines and all("corpus" in line for line in lines), "read for the corpus only"


def test_without_a_corpus_the_layer_has_nothing_to_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_TEST_CORPUS", str(tmp_path / "absent"))
    assert find_corpus() is None
    monkeypatch.setenv("KIMI_TEST_CORPUS", str(tmp_path))
    assert find_corpus() == tmp_path
