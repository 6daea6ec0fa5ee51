"""The shipped app manifest asks for what the adapter uses."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


def test_manifest_has_scopes_events_command_and_socket_mode() -> None:
    lines = {line.strip() for line in MANIFEST.read_text(encoding="utf-8").splitlines()}
    scopes = (
        "app_mentions:read chat:write im:history im:read im:write channels:history "
        "groups:history users:read files:read commands assistant:write"
    ).split()
    events = "app_mention message.im message.channels message.groups".split()
    assert {f"- {name}" for name in scopes + events} <= lines
    assert "- command: /kimi" in lines
    assert "socket_mode_enabled: true" in lines
    assert "# request_url: https://bot.example.com/slack/events" in lines
