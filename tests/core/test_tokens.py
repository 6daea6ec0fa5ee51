"""Token estimates: script-aware counts and calibration against the API's real usage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.tokens import MESSAGE_OVERHEAD, TokenEstimator, raw_estimate

ENGLISH_100 = ("The quick brown fox jumps over the lazy dog. " * 3)[:100]
CHINESE_100 = ("月之暗面的大模型可以阅读很长的文档并回答问题" * 5)[:100]


def test_sample_lengths() -> None:
    assert len(ENGLISH_100) == 100
    assert len(CHINESE_100) == 100


def test_empty_text_is_zero() -> None:
    assert raw_estimate("") == 0
    assert TokenEstimator().text("") == 0
    assert TokenEstimator(factor=2.0).text("") == 0


def test_any_non_empty_text_is_at_least_one_token() -> None:
    assert raw_estimate("a") == 1
    assert TokenEstimator().text("a") == 1
    assert TokenEstimator(factor=0.5).text("a") == 1


@pytest.mark.parametrize("length", [4, 40, 400, 4000])
def test_english_is_about_four_characters_per_token(length: int) -> None:
    text = ("abcd" * length)[:length]
    assert raw_estimate(text) == length // 4
    assert TokenEstimator().text(text) == length // 4


def test_english_sentence_is_roughly_chars_over_four() -> None:
    assert raw_estimate(ENGLISH_100) == 25


def test_chinese_is_denser_than_english() -> None:
    chinese = raw_estimate(CHINESE_100)
    english = raw_estimate(ENGLISH_100)
    assert chinese > english
    # Reference: ~1.5-2 Chinese characters per token, so 100 characters are 50-70 tokens.
    assert 45 <= chinese <= 75


def test_mixed_text_lies_between() -> None:
    mixed = CHINESE_100[:50] + ENGLISH_100[:50]
    assert raw_estimate(ENGLISH_100) < raw_estimate(mixed) < raw_estimate(CHINESE_100)


def test_japanese_and_korean_count_as_dense() -> None:
    assert raw_estimate("こんにちは" * 20) > raw_estimate("hello" * 20)
    assert raw_estimate("안녕하세요" * 20) > raw_estimate("hello" * 20)


def test_message_adds_the_framing_overhead() -> None:
    estimator = TokenEstimator()
    message = {"role": "user", "content": ENGLISH_100}
    assert estimator.message(message) == 25 + MESSAGE_OVERHEAD
    assert estimator.message({"role": "assistant", "content": None}) == MESSAGE_OVERHEAD
    assert estimator.message({"role": "assistant"}) == MESSAGE_OVERHEAD
    assert estimator.messages([message, message]) == 2 * (25 + MESSAGE_OVERHEAD)
    assert estimator.raw_messages([message]) == 25 + MESSAGE_OVERHEAD


def test_factor_scales_the_estimate_but_not_the_raw_count() -> None:
    estimator = TokenEstimator(factor=2.0)
    message = {"role": "user", "content": ENGLISH_100}
    assert estimator.text(ENGLISH_100) == 50
    assert estimator.message(message) == 50 + MESSAGE_OVERHEAD
    assert estimator.raw_messages([message]) == 25 + MESSAGE_OVERHEAD


# --- calibration ---------------------------------------------------------------------------------


def test_calibration_moves_towards_actual_over_raw() -> None:
    estimator = TokenEstimator()
    estimator.calibrate(100, 150)  # observed ratio 1.5
    assert 1.0 < estimator.factor < 1.5
    assert estimator.factor == pytest.approx(1.1)
    before = estimator.factor
    estimator.calibrate(100, 150)
    assert before < estimator.factor < 1.5


def test_calibration_downwards() -> None:
    estimator = TokenEstimator()
    estimator.calibrate(100, 80)
    assert 0.8 < estimator.factor < 1.0


def test_calibration_converges() -> None:
    estimator = TokenEstimator()
    for _ in range(100):
        estimator.calibrate(1000, 1300)
    assert estimator.factor == pytest.approx(1.3, abs=1e-3)
    assert estimator.text("abcd" * 1000) == pytest.approx(1300, abs=2)


def test_calibration_is_bounded() -> None:
    high = TokenEstimator()
    for _ in range(50):
        high.calibrate(10, 10_000)
    assert high.factor == 2.0
    low = TokenEstimator()
    for _ in range(50):
        low.calibrate(10_000, 1)
    assert low.factor == 0.5


@pytest.mark.parametrize(("raw", "actual"), [(0, 100), (100, 0), (-5, 10), (10, -5)])
def test_calibration_ignores_meaningless_samples(raw: int, actual: int) -> None:
    estimator = TokenEstimator(factor=1.2)
    estimator.calibrate(raw, actual)
    assert estimator.factor == 1.2


@given(
    st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)), max_size=30),
    st.floats(0.5, 2.0),
)
def test_calibrated_factor_stays_within_bounds(
    samples: list[tuple[int, int]], start: float
) -> None:
    estimator = TokenEstimator(factor=start)
    for raw, actual in samples:
        estimator.calibrate(raw, actual)
        assert 0.5 <= estimator.factor <= 2.0


# --- properties ----------------------------------------------------------------------------------


@given(st.text(), st.text(), st.floats(0.5, 2.0))
def test_estimate_is_monotone_when_appending(head: str, tail: str, factor: float) -> None:
    estimator = TokenEstimator(factor=factor)
    assert raw_estimate(head + tail) >= raw_estimate(head)
    assert estimator.text(head + tail) >= estimator.text(head)


@given(st.text(min_size=1))
def test_non_empty_text_never_estimates_zero(text: str) -> None:
    assert raw_estimate(text) >= 1
    assert TokenEstimator().text(text) >= 1
