"""The flood guard's arithmetic, on a fake clock, and the guard as PTB's rate limiter."""

from __future__ import annotations

import itertools
import time

import pytest
from telegram.error import RetryAfter

from bots.telegram.flood import (
    ACTION,
    BOT,
    DRAFT,
    MESSAGE,
    OTHER,
    FloodGuard,
    FloodLimits,
    FloodRateLimiter,
    kind_of,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


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


# -- the guard as python-telegram-bot's rate limiter ------------------------------------------


class Calls:
    """A stand-in for PTB's request callback: records when it ran, may answer 429 once."""

    def __init__(self, retry_after: int | None = None) -> None:
        self.at: list[float] = []
        self.retry_after = retry_after

    async def __call__(self) -> bool:
        self.at.append(time.monotonic())
        if self.retry_after is not None:
            seconds, self.retry_after = self.retry_after, None
            raise RetryAfter(seconds)
        return True


async def _send(limiter: FloodRateLimiter, calls: Calls, endpoint: str, chat: int | None) -> object:
    data = {} if chat is None else {"chat_id": chat, "text": "hi"}
    return await limiter.process_request(calls, (), {}, endpoint, data, None)


SPACED = FloodLimits(chat_spacing=0.3)


async def test_every_call_to_a_chat_is_paced_not_only_the_answers():
    limiter = FloodRateLimiter(FloodGuard(SPACED))
    calls = Calls()
    for _ in range(3):  # e.g. notices: nobody took a slot for them
        await _send(limiter, calls, "sendMessage", 7)
    gaps = [b - a for a, b in itertools.pairwise(calls.at)]
    assert all(gap >= 0.29 for gap in gaps), gaps
    started = time.monotonic()
    await _send(limiter, calls, "sendMessage", 8)
    assert time.monotonic() - started < 0.1, "other chats are independent"


async def test_a_slot_the_writer_took_lets_its_own_call_through_once():
    guard = FloodGuard(SPACED)
    limiter = FloodRateLimiter(guard)
    calls = Calls()
    assert await guard.acquire(7, group=False)  # what MessageWriter does before each call
    started = time.monotonic()
    await _send(limiter, calls, "editMessageText", 7)
    assert time.monotonic() - started < 0.1, "no second slot for the same call"
    await _send(limiter, calls, "sendMessage", 7)
    assert calls.at[1] - calls.at[0] >= 0.29, "the next call waits for a slot of its own"


async def test_a_429_is_recorded_for_everyone_and_raised_to_the_caller():
    guard = FloodGuard(SPACED)
    limiter = FloodRateLimiter(guard)
    with pytest.raises(RetryAfter):
        await _send(limiter, Calls(retry_after=5), "sendMessage", 7)
    assert guard.delay(7, group=False) > 4.5, "no message to that chat before retry_after"
    with pytest.raises(RetryAfter):
        await _send(limiter, Calls(retry_after=5), "setMyCommands", None)
    assert guard.delay(BOT, group=False, kind=OTHER) > 4.5
    assert guard.delay(8, group=False) == 0, "a call about no chat holds no chat back"


async def test_typing_and_other_calls_wait_out_a_429_but_take_no_slot():
    guard = FloodGuard(SPACED)
    limiter = FloodRateLimiter(guard)
    calls = Calls()
    for _ in range(3):
        await _send(limiter, calls, "sendChatAction", 7)
        await _send(limiter, calls, "deleteMessage", 7)
        await _send(limiter, calls, "setMyCommands", None)
    assert calls.at[-1] - calls.at[0] < 0.1
    assert guard.delay(7, group=False) == 0, "they leave the chat's message slots alone"
    guard.penalize(7, 0.3, ACTION)
    started = time.monotonic()
    await _send(limiter, calls, "sendChatAction", 7)
    assert time.monotonic() - started >= 0.25


def test_methods_count_against_the_right_limit():
    assert kind_of("sendMessage") == kind_of("editMessageText") == MESSAGE
    assert kind_of("sendDocument") == kind_of("copyMessage") == MESSAGE
    assert kind_of("sendMessageDraft") == DRAFT
    assert kind_of("sendChatAction") == ACTION
    assert kind_of("getChatMember") == kind_of("setMyCommands") == OTHER
