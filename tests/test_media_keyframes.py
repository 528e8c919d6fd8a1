"""PLI/FIR throttling per publisher: one per interval, suppressed requests sent later, unanswered ones retried."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from media.keyframes import KeyframeRequester


def test_first_request_goes_out_then_throttled() -> None:
    k = KeyframeRequester(0.3)
    assert k.request(10.0)
    assert not k.request(10.1)
    assert not k.request(10.29)
    assert k.pending


def test_suppressed_request_is_sent_by_the_tick_once_allowed() -> None:
    k = KeyframeRequester(0.3)
    assert k.request(0.0)
    assert not k.request(0.1)
    assert not k.due(0.2)
    assert k.due(0.3)
    assert not k.due(0.35)  # sent; now awaiting the keyframe


def test_keyframe_clears_everything() -> None:
    k = KeyframeRequester(0.3)
    k.request(0.0)
    k.request(0.1)
    k.keyframe_seen(0.15)
    assert not k.pending and k.last_keyframe == 0.15
    assert not k.due(0.5) and not k.due(5.0)
    assert not k.request(0.2)  # the throttle still counts from the last PLI sent
    assert k.request(0.31)


def test_unanswered_request_is_retried() -> None:
    k = KeyframeRequester(0.3, retry_interval=1.0)
    assert k.request(0.0)
    assert not k.due(0.9)
    assert k.due(1.0)
    assert not k.due(1.5)
    assert k.due(2.0)
    k.keyframe_seen(2.1)
    assert not k.due(3.5)


def test_retry_can_be_disabled() -> None:
    k = KeyframeRequester(0.3, retry_interval=None)
    k.request(0.0)
    assert not k.due(100.0)
    assert k.pending  # still waiting for an answer


def test_fir_sequence_numbers_wrap_at_8_bits() -> None:
    k = KeyframeRequester()
    seqs = [k.next_fir_seq() for _ in range(258)]
    assert seqs[:3] == [0, 1, 2] and seqs[255] == 255 and seqs[256:] == [0, 1]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["request", "tick", "keyframe"]), st.integers(0, 200)), max_size=120))
def test_property_throttled_and_nothing_lost(events: list[tuple[str, int]]) -> None:
    """Sends are ≥ min_interval apart; a suppressed request is sent at the first tick the interval allows (unless a
    keyframe answered it first)."""
    k = KeyframeRequester(0.3, retry_interval=None)
    ms = 0
    sent: list[int] = []
    owed = False  # a request was suppressed and no keyframe arrived since
    for kind, dt in events:
        ms += dt
        now = ms / 1000
        if kind == "request":
            if k.request(now):
                sent.append(ms)
                owed = False
            else:
                owed = True
        elif kind == "tick":
            may = not sent or ms - sent[-1] >= 300
            fired = k.due(now)
            assert fired == (owed and may)
            if fired:
                sent.append(ms)
                owed = False
        else:
            k.keyframe_seen(now)
            owed = False
    assert all(b - a >= 300 for a, b in itertools.pairwise(sent))


def test_interval_boundary_is_not_lost_to_float_rounding() -> None:
    k = KeyframeRequester(0.3)
    assert k.request(0.4)
    assert not k.request(0.5)
    assert k.due(0.7)  # 0.7 - 0.4 == 0.29999999999999993 in floats
