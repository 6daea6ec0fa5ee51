"""The README's two commands are the contract; CI must run exactly the documented test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = _bash_blocks(readme)
    run_command, test_command = blocks[0], blocks[1]
    assert run_command.endswith("kimi-bot run")
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_procfile_declares_release_and_web() -> None:
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    assert "release: kimi-bot migrate" in procfile
    assert "web: kimi-bot run" in procfile
