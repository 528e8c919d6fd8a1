"""The per-connection token bucket: pure, time passed in, so tested without sleeping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.ratelimit import TokenBucket


def allowed(bucket: TokenBucket, times: list[float]) -> int:
    return sum(bucket.allow(t) for t in times)


@pytest.mark.parametrize(("rate", "burst"), [(1.0, 1), (20.0, 60), (0.5, 3), (1000.0, 5)])
def test_burst_then_refuse(rate: float, burst: int) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    assert allowed(bucket, [100.0] * burst) == burst
    assert not bucket.allow(100.0)
    assert not bucket.allow(100.0)


def test_starts_full_whatever_the_first_timestamp() -> None:
    for start in (0.0, 1e-9, 12345.678, 1.7e9):
        bucket = TokenBucket(rate=2.0, burst=4)
        assert allowed(bucket, [start] * 10) == 4


def test_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=4)
    assert allowed(bucket, [0.0] * 4) == 4
    assert not bucket.allow(0.0)
    assert not bucket.allow(0.4)  # 0.8 of a token
    assert bucket.allow(0.5)  # one token back after 1/rate seconds
    assert not bucket.allow(0.5)
    assert allowed(bucket, [1.5] * 10) == 2  # 1 s later: rate × 1 s = 2 tokens


def test_steady_rate_is_sustained() -> None:
    # burst 2: with burst 1, float rounding (0.1 s × 10/s = 0.99999…) would refuse every third message
    bucket = TokenBucket(rate=10.0, burst=2)
    times = [i * 0.1 for i in range(1000)]
    assert allowed(bucket, times) == 1000


def test_faster_than_rate_is_throttled_to_rate() -> None:
    bucket = TokenBucket(rate=5.0, burst=10)
    times = [i * 0.01 for i in range(1000)]  # 100 per second for 10 s
    n = allowed(bucket, times)
    assert 10 + 5 * 9.99 - 1 <= n <= 10 + 5 * 9.99 + 1


def test_never_exceeds_burst_after_long_idle() -> None:
    bucket = TokenBucket(rate=100.0, burst=3)
    bucket.allow(0.0)
    assert allowed(bucket, [1e6] * 100) == 3
    assert bucket.tokens <= bucket.burst


def test_time_going_backwards_gives_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert allowed(bucket, [10.0, 10.0]) == 2
    assert not bucket.allow(5.0)  # earlier clock: no refill, not negative
    assert bucket.tokens >= 0.0
    assert bucket.allow(6.0)  # one second after the last seen time


def test_refused_calls_do_not_consume() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.allow(0.0)
    assert allowed(bucket, [0.1 * i for i in range(1, 10)]) == 0
    assert bucket.allow(1.0)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1000.0),
    burst=st.integers(min_value=1, max_value=200),
    start=st.floats(min_value=0.0, max_value=1e9),
    steps=st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=300),
)
def test_allowed_never_exceeds_burst_plus_rate_times_elapsed(
    rate: float, burst: int, start: float, steps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now = start
    count = 0
    for step in steps:
        now += step
        count += bucket.allow(now)
        elapsed = now - start
        assert count <= burst + rate * elapsed + 1e-6 * max(1.0, rate * elapsed)
        assert 0.0 <= bucket.tokens <= burst


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=100.0),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=200),
)
def test_in_any_window_no_more_than_burst_plus_rate_times_window(
    rate: float, burst: int, steps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now, times = 0.0, []
    for step in steps:
        now += step
        if bucket.allow(now):
            times.append(now)
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(min_value=0.1, max_value=100.0), burst=st.integers(min_value=1, max_value=50))
def test_a_full_bucket_allows_exactly_burst_at_one_instant(rate: float, burst: int) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    assert allowed(bucket, [42.0] * (burst + 5)) == burst
