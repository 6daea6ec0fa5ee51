"""The flood guard's arithmetic, on a fake clock."""

from __future__ import annotations

from bots.telegram.flood import DRAFT, FloodGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_message_per_second_per_chat():
    clock = Clock()
    guard = FloodGuard(clock=clock)
    assert guard.delay(1, group=False) == 0
    guard.take(1, group=False)
    assert guard.delay(1, group=False) == 1.0
    assert guard.delay(2, group=False) == 0, "other chats are independent"
    assert guard.delay(1, group=False, kind=DRAFT) == 0, "drafts are counted apart"
    clock.now += 1.0
    assert guard.delay(1, group=False) == 0


def test_twenty_per_minute_in_a_group_with_headroom_for_finals():
    clock = Clock()
    guard = FloodGuard(clock=clock)
    for _ in range(17):
        guard.take(-5, group=True)
        clock.now += 1.0
    assert guard.delay(-5, group=True) == 0
    assert guard.delay(-5, group=True, headroom=3) > 40, "previews stop before the last slots"
    for _ in range(3):
        guard.take(-5, group=True)
        clock.now += 1.0
    wait = guard.delay(-5, group=True)
    assert 40 < wait <= 61
    clock.now += wait
    assert guard.delay(-5, group=True) == 0


def test_retry_after_is_a_hard_floor():
    clock = Clock()
    guard = FloodGuard(clock=clock)
    guard.penalize(7, 5)
    assert guard.delay(7, group=False) == 5
    clock.now += 4.9
    assert guard.delay(7, group=False) > 0
    clock.now += 0.1
    assert guard.delay(7, group=False) == 0
