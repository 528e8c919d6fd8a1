"""Receiving side per publisher SSRC: RFC 3550 report fields, upstream NACK scheduling, incoming bitrate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.receive_stats import BitrateEstimate, ReceiveStats, ReportFields, _clamp_signed24

# -- RFC 3550 report fields -----------------------------------------------------------------------------------------


def feed(stats: ReceiveStats, seqs: list[int], start: float = 0.0, step: float = 0.02, ts_step: int = 960) -> float:
    t = start
    for s in seqs:
        stats.add(s & 0xFFFF, (s * ts_step) & 0xFFFF_FFFF, t)
        t += step
    return t


def test_nothing_received_reports_zeros() -> None:
    assert ReceiveStats(48000).report(1.0) == ReportFields(0, 0, 0, 0, 0, 0)


def test_no_loss_and_extended_highest_across_wrap() -> None:
    st_ = ReceiveStats(48000)
    feed(st_, list(range(65530, 65546)))
    r = st_.report(1.0)
    assert r.fraction_lost == 0 and r.cumulative_lost == 0
    assert r.extended_highest == 65536 + 9
    assert st_.received == 16


def test_loss_fraction_per_interval_and_cumulative() -> None:
    s = ReceiveStats(48000)
    feed(s, [i for i in range(10) if i != 4])  # 1 of 10 lost
    r = s.report(1.0)
    assert r.fraction_lost == 256 // 10 and r.cumulative_lost == 1
    feed(s, list(range(10, 20)), start=1.0)
    r = s.report(2.0)
    assert r.fraction_lost == 0 and r.cumulative_lost == 1  # new interval: nothing lost in it
    assert s.report(3.0).fraction_lost == 0  # empty interval


def test_late_packet_reduces_loss_and_duplicates_go_negative() -> None:
    s = ReceiveStats(48000)
    feed(s, [0, 1, 3, 2, 3, 3])
    r = s.report(1.0)
    assert r.extended_highest == 3 and r.cumulative_lost == -2 and r.fraction_lost == 0


def test_packet_300_behind_is_late_not_a_stray() -> None:
    s = ReceiveStats(90000)
    feed(s, [i for i in range(400) if i != 50])
    s.add(50, 0, 9.0)  # a retransmission, long after
    assert s.report(9.0).cumulative_lost == 0 and s.received == 400


def test_clamp_signed24() -> None:
    assert _clamp_signed24(10**9) == 0x7FFFFF
    assert _clamp_signed24(-(10**9)) == -0x800000
    assert _clamp_signed24(-5) == -5


def test_source_restart_needs_two_packets_in_sequence() -> None:
    s = ReceiveStats(48000)
    feed(s, list(range(100, 110)))
    s.add(40_000, 0, 1.0)  # a stray packet: ignored
    assert s.extended_highest == 109 and s.received == 10
    s.add(40_001, 960, 1.02)  # ... followed by its successor: a new source
    s.add(40_002, 1920, 1.04)
    r = s.report(2.0)
    assert r.extended_highest == 40_002 and r.cumulative_lost == 0 and s.received == 2


def test_jitter_zero_for_steady_arrival_and_grows_with_variation() -> None:
    s = ReceiveStats(48000)
    feed(s, list(range(100)))
    assert s.report(5.0).jitter == 0
    v = ReceiveStats(48000)
    t = 0.0
    for i in range(200):
        v.add(i, i * 960, t + (0.005 if i % 2 else 0.0))  # ±5 ms alternately = 240 ticks transit changes
        t += 0.02
    assert 200 <= v.report(5.0).jitter <= 240


def test_jitter_survives_timestamp_wrap() -> None:
    s = ReceiveStats(90000)
    for i in range(100):
        s.add(i, (2**32 - 50 * 3000 + i * 3000) & 0xFFFF_FFFF, i / 30)
    assert s.report(5.0).jitter < 2


def test_lsr_dlsr() -> None:
    s = ReceiveStats(48000)
    s.add(1, 0, 0.0)
    assert (s.report(1.0).lsr, s.report(1.0).dlsr) == (0, 0)
    s.on_sender_report(0x1234_5678, 10.0)
    r = s.report(10.5)
    assert r.lsr == 0x1234_5678 and r.dlsr == 32768


# -- NACK scheduling ------------------------------------------------------------------------------------------------


def test_gap_is_nacked_after_reorder_delay_then_every_rtt_three_times() -> None:
    s = ReceiveStats(90000)
    s.add(10, 0, 0.0)
    s.add(13, 0, 0.0)
    assert s.missing(0.0) == []  # same instant: might be reordering
    assert s.missing(0.005) == []
    assert s.missing(0.01) == [11, 12]
    assert s.missing(0.05, rtt=0.1) == []  # not again within an RTT
    assert s.missing(0.11, rtt=0.1) == [11, 12]
    assert s.missing(0.21, rtt=0.1) == [11, 12]
    assert s.missing(0.5, rtt=0.1) == []  # three times is enough


def test_reordered_packet_is_never_nacked() -> None:
    s = ReceiveStats(90000)
    s.add(10, 0, 0.0)
    s.add(12, 0, 0.0)
    s.add(11, 0, 0.001)
    assert s.missing(0.02) == []


def test_received_retransmission_stops_nacks() -> None:
    s = ReceiveStats(90000)
    s.add(10, 0, 0.0)
    s.add(12, 0, 0.0)
    assert s.missing(0.02) == [11]
    s.add(11, 0, 0.05)
    assert s.missing(0.2) == []


def test_old_gaps_are_forgotten() -> None:
    s = ReceiveStats(90000)
    s.add(10, 0, 0.0)
    s.add(12, 0, 0.0)
    assert s.missing(1.001) == []  # older than 1 s: too late to be useful
    s2 = ReceiveStats(90000)
    s2.add(10, 0, 0.0)
    s2.add(12, 0, 0.0)
    for i in range(13, 13 + 520):
        s2.add(i, 0, 0.001)
    assert s2.missing(0.02) == []  # 11 is now more than 512 behind


def test_huge_gap_only_nacks_the_last_512() -> None:
    s = ReceiveStats(90000)
    s.add(0, 0, 0.0)
    s.add(2000, 0, 0.0)
    lost = s.missing(0.02)
    assert lost == list(range(2000 - 512, 2000))


def test_nack_across_wrap() -> None:
    s = ReceiveStats(90000)
    s.add(65534, 0, 0.0)
    s.add(1, 0, 0.0)
    assert s.missing(0.02) == [65535, 0]


KINDS = ["pkt"] * 10 + ["swap"] * 2 + ["dup", "late", "late", "tick", "tick", "tick"]
GAPS = [0, 0, 0, 1, 2, 5, 40]
PKT_DT = [0.0, 0.002, 0.02]
TICK_DT = [0.0, 0.005, 0.01, 0.03, 0.1, 0.4, 0.7]
# (kind, argument): drawn as two small integers each, which keeps generation cheap
receive_ops = st.lists(st.tuples(st.integers(0, len(KINDS) - 1), st.integers(0, 600)), min_size=5, max_size=150)


@settings(deadline=None, max_examples=200)
@given(st.one_of(st.integers(65000, 65535), st.integers(0, 65535)), receive_ops)
def test_property_counts_and_nack_schedule(start: int, ops: list[tuple[int, int]]) -> None:
    """Loss accounting matches expected − received, and NACKs go out exactly when the documented schedule says."""
    s = ReceiveStats(90000)
    t = 0.0
    nxt = start  # next unwrapped seq the sender will send
    delivered: set[int] = set()
    received = 0
    top = start - 1
    base: int | None = None
    revealed: dict[int, float] = {}  # unwrapped seq -> when a later packet revealed it missing
    nacks: dict[int, list[float]] = {}  # unwrapped seq -> times NACKed
    lost: list[int] = []

    def deliver(u: int) -> None:
        nonlocal received, top, base
        if base is None:
            base = top = u
        s.add(u & 0xFFFF, (u * 3000) & 0xFFFF_FFFF, t)
        received += 1
        delivered.add(u)
        if u > top:
            for x in range(max(top + 1, u - 512), u):
                if x not in delivered:
                    revealed.setdefault(x, t)
            top = u

    for k, arg in ops:
        kind = KINDS[k]
        if kind == "pkt":
            gap, dt = GAPS[arg % len(GAPS)], PKT_DT[arg // len(GAPS) % len(PKT_DT)]
            t += dt
            lost.extend(range(nxt, nxt + gap))
            nxt += gap
            deliver(nxt)
            nxt += 1
        elif kind == "swap":
            deliver(nxt + 1)
            deliver(nxt)
            nxt += 2
        elif kind == "dup" and delivered:
            u = top - arg % 500  # older ones would count as a stray, not a duplicate
            if u in delivered:
                deliver(u)
        elif kind == "late" and lost:
            u = lost.pop(arg % len(lost))
            if top - u < 500:  # still within the late-packet window
                deliver(u)
        elif kind == "tick":
            dt, rtt = TICK_DT[arg % len(TICK_DT)], (0.02, 0.1, 0.45)[arg // len(TICK_DT) % 3]
            t += dt
            got = s.missing(t, rtt)
            want = []
            for x in sorted(revealed):
                sent = nacks.get(x, [])
                if x in delivered or top - x > 512 or t - revealed[x] > 1.0 or len(sent) >= 3:
                    del revealed[x]  # forgotten for good
                    continue
                if t - revealed[x] + 1e-6 >= 0.01 and (not sent or t - sent[-1] + 1e-6 >= rtt):
                    want.append(x)
            assert got == [x & 0xFFFF for x in want]
            for x in want:
                nacks.setdefault(x, []).append(t)
    if delivered:
        r = s.report(t)
        assert base is not None
        assert r.extended_highest == top - (base - (base & 0xFFFF))  # cycles counted from the first packet
        assert r.cumulative_lost == (top - base + 1) - received
        assert 0 <= r.fraction_lost <= 255


# -- incoming bitrate -----------------------------------------------------------------------------------------------


def test_bitrate_steady_stream() -> None:
    b = BitrateEstimate()
    assert b.bps(0.0) == 0.0
    t = 0.0
    while t < 3.0:
        b.add(1000, t)
        t = round(t + 0.01, 6)
    assert b.bps(3.0) == pytest.approx(800_000, rel=0.02)
    assert b.bps(3.005) == pytest.approx(800_000, rel=0.02)
    assert b.bps(3.025) == pytest.approx(776_000, rel=0.01)  # 97 packets in (2.025, 3.025]: slides, not steps
    assert b.bps(3.6) == pytest.approx(320_000, rel=0.05)  # 0.6 s of the window silent
    assert b.bps(5.0) == 0.0


def test_bitrate_startup_uses_time_so_far() -> None:
    b = BitrateEstimate()
    for i in range(50):
        b.add(1000, i * 0.01)
    assert b.bps(0.5) == pytest.approx(800_000, rel=0.05)


def test_bitrate_invalid() -> None:
    with pytest.raises(ValueError):
        BitrateEstimate(window=0)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 1500)), min_size=1, max_size=200),
       st.integers(0, 3000))
def test_property_bitrate_brackets_the_exact_window(steps: list[tuple[int, int]], extra_ms: int) -> None:
    """The estimate lies between the bytes of the window shortened and lengthened by one slot (50 ms)."""
    b = BitrateEstimate(window=1.0, buckets=20)
    ms = 10_000
    log: list[tuple[int, int]] = []
    for dt, n in steps:
        ms += dt
        b.add(n, ms / 1000)
        log.append((ms, n))
    now = ms + extra_ms
    est_bytes = b.bps(now / 1000) / 8
    if now - log[0][0] < 1000:
        span = max(now - log[0][0], 50) / 1000
        assert est_bytes * span == pytest.approx(sum(n for _, n in log))
        return
    low = sum(n for t, n in log if t > now - 1000 + 50)
    high = sum(n for t, n in log if t >= now - 1000 - 50)
    assert low - 1e-6 <= est_bytes <= high + 1e-6
