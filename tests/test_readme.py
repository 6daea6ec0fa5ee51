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


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_and_docs_link_only_to_files_that_exist() -> None:
    broken = []
    for page in _markdown_pages():
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to missing files: {broken}"


def test_env_example_lists_every_setting_commented_out() -> None:
    from core.config import Settings

    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    active = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    assert not active, f".env.example must change nothing until edited: {active}"
    listed = set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", text, flags=re.M))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - listed == set(), "settings missing from .env.example"
    assert listed - settings == set(), ".env.example names settings that do not exist"
