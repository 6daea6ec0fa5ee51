"""The "thinking… N s" status: says something only when the shown seconds change."""

from __future__ import annotations

from bots.common.thinking import ThinkingClock


def test_status_changes_once_per_step() -> None:
    now = [100.0]
    clock = ThinkingClock("en", step=5.0, clock=lambda: now[0])
    assert clock.tick() == "thinking… 0 s"
    now[0] = 103.0
    assert clock.tick() is None
    now[0] = 105.2
    assert clock.tick() == "thinking… 5 s"
    assert clock.tick() is None
    now[0] = 117.0
    assert clock.tick() == "thinking… 15 s"


def test_status_in_chinese() -> None:
    now = [0.0]
    clock = ThinkingClock("zh", clock=lambda: now[0])
    assert clock.tick() == "思考中… 0 秒"
    now[0] = 12.4
    assert clock.tick() == "思考中… 12 秒"
