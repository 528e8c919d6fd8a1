"""The per-subscriber bandwidth estimator, driven through a simulated bottleneck (capacity, queue, random loss)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.bwe_sim import run_link as sim_link
from media import rtcp
from media.bwe import (
    MIN_BPS,
    BandwidthEstimator,
    BandwidthUsage,
    LossBasedEstimator,
    OveruseDetector,
    PacketResult,
    SendHistory,
)

SIZE = 1200


def run_link(capacity: float, seconds: float, *, loss: float = 0.0, seed: int = 0) -> list[tuple[float, float]]:
    """(time, estimate) of a sender pacing at the estimate into a drop-tail bottleneck (bench/bwe_sim.py)."""
    return sim_link(capacity, seconds, loss=loss, seed=seed).history


def mean_after(history: list[tuple[float, float]], after: float) -> float:
    late = [v for t, v in history if t > after]
    return sum(late) / len(late)


@settings(deadline=None, max_examples=25)
@given(st.floats(100_000, 1_000_000), st.integers(0, 1000))
def test_a_clean_bottleneck_is_found_from_the_start_rate(capacity: float, seed: int) -> None:
    history = run_link(capacity, 40, seed=seed)
    assert 0.5 * capacity <= mean_after(history, 25) <= 1.25 * capacity


@settings(deadline=None, max_examples=10)
@given(st.floats(120_000, 600_000), st.integers(0, 1000))
def test_heavy_loss_lowers_the_estimate(capacity: float, seed: int) -> None:
    clean = mean_after(run_link(capacity, 30, seed=seed), 20)
    lossy = mean_after(run_link(capacity, 30, loss=0.25, seed=seed), 20)
    assert lossy < 0.75 * clean


@settings(deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.2), st.integers(0, 1500), st.one_of(st.none(), st.floats(0, 0.5))),
                max_size=60), st.floats(10_000, 5_000_000))
def test_estimate_stays_in_bounds_on_any_feedback(raw: list[tuple[float, int, float | None]], start: float) -> None:
    bwe = BandwidthEstimator(start, max_bps=2_000_000)
    now = 0.0
    for i in range(0, len(raw), 7):
        chunk = raw[i : i + 7]
        packets = [PacketResult(now + s, n, None if a is None else now + s + a) for s, n, a in chunk]
        now += 0.1
        bwe.on_feedback(packets, now)
        value = bwe.estimate(now)
        assert value is not None and MIN_BPS <= value <= 2_000_000


def test_without_feedback_the_subscribers_remb_is_used_and_loss_reports_lower_it() -> None:
    bwe = BandwidthEstimator()
    assert bwe.estimate(0.0) is None  # nothing known: the caller decides (never a 2 Mbit/s default)
    bwe.on_remb(180_000)
    assert bwe.estimate(0.0) == 180_000
    bwe.on_loss_report(int(0.3 * 256), 1.0)  # 30 % loss in a receiver report
    assert bwe.estimate(1.0) is not None and bwe.estimate(1.0) < 180_000  # type: ignore[operator]


def test_transport_cc_feedback_takes_over_from_remb_and_lapses_back() -> None:
    bwe = BandwidthEstimator(start_bps=400_000)
    bwe.on_remb(1_000_000)
    bwe.on_feedback([PacketResult(0.0, SIZE, 0.05), PacketResult(0.01, SIZE, 0.06)], 0.1)
    assert bwe.estimate(0.1) == 400_000
    assert bwe.estimate(5.0) == 1_000_000  # feedback stopped (renegotiated away): back to the REMB


def test_loss_between_two_and_ten_percent_holds() -> None:
    loss = LossBasedEstimator(200_000)
    for i in range(10):
        loss.on_loss(0.05, float(i))
    assert loss.rate == 200_000
    loss.on_loss(0.0, 11.0)
    assert loss.rate > 200_000
    loss.on_loss(0.5, 12.0)
    assert loss.rate < 200_000


def test_overuse_needs_a_sustained_growing_trend() -> None:
    det = OveruseDetector()
    assert det.detect(50.0, 0.0) is BandwidthUsage.NORMAL  # one sample is not yet overuse
    assert det.detect(60.0, 0.02) is BandwidthUsage.OVERUSING
    det = OveruseDetector()
    assert det.detect(-50.0, 0.0) is BandwidthUsage.UNDERUSING
    assert det.detect(0.0, 0.02) is BandwidthUsage.NORMAL


def test_transport_feedback_resolves_against_what_was_sent() -> None:
    history = SendHistory()
    for i in range(5):
        history.sent(65534 + i, 10.0 + i * 0.01, 1000 + i)  # wraps past 65535
    fb = rtcp.parse_transport_feedback(rtcp.transport_feedback(1, 2, 65534, 100, 0, [40, None, 40, 40, 40]))
    packets = history.resolve(fb.arrivals())
    assert [p.size for p in packets] == [1000, 1001, 1002, 1003, 1004]
    assert packets[1].arrival_time is None and packets[2].arrival_time == pytest.approx(100 * 0.064 + 0.02)
    assert history.resolve(fb.arrivals()) == []  # each packet is resolved once


def test_a_new_subscriber_starts_from_what_already_gets_through() -> None:
    """Joining a 1 Mbit/s video: the first feedback shows 1 Mbit/s arriving, so the estimate does not start at 300k."""
    bwe = BandwidthEstimator(start_bps=300_000)
    packets = [PacketResult(i * 0.0096, SIZE, i * 0.0096 + 0.02) for i in range(60)]  # 1200 B every 9.6 ms
    bwe.on_feedback(packets, 0.6)
    value = bwe.estimate(0.6)
    assert value is not None and value >= 900_000
