"""PLI/FIR throttling per publisher: one per interval, suppressed requests sent later, unanswered ones retried."""

from __future__ import annotations

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
    """Unanswered requests are ≥ min_interval apart, answered ones ≥ answered_interval after their keyframe; a
    suppressed request is sent at the first tick the rule allows (unless a keyframe answered it first)."""
    k = KeyframeRequester(0.3, retry_interval=None, answered_interval=0.1)
    ms = 0
    sent: list[int] = []
    answered_at: int | None = None  # keyframe time after the last send
    owed = False  # a request was suppressed and no keyframe arrived since

    def may(at: int) -> bool:
        if not sent:
            return True
        if answered_at is not None:
            return at - answered_at >= 100
        return at - sent[-1] >= 300

    for kind, dt in events:
        ms += dt
        now = ms / 1000
        if kind == "request":
            allowed = may(ms)
            fired = k.request(now)
            assert fired == allowed
            if fired:
                sent.append(ms)
                answered_at = None
                owed = False
            else:
                owed = True
        elif kind == "tick":
            allowed = may(ms)
            fired = k.due(now)
            assert fired == (owed and allowed)
            if fired:
                sent.append(ms)
                answered_at = None
                owed = False
        else:
            k.keyframe_seen(now)
            if sent:
                answered_at = ms
            owed = False


def test_a_keyframe_before_the_request_does_not_count_as_its_answer() -> None:
    k = KeyframeRequester(0.3, answered_interval=0.1)
    k.keyframe_seen(0.0)
    assert k.request(0.0)
    assert not k.request(0.1)  # unanswered: the 300 ms throttle applies
    k.keyframe_seen(0.15)
    assert not k.request(0.2)
    assert k.request(0.25)  # answered at 0.15: 100 ms later is enough


def test_interval_boundary_is_not_lost_to_float_rounding() -> None:
    k = KeyframeRequester(0.3)
    assert k.request(0.4)
    assert not k.request(0.5)
    assert k.due(0.7)  # 0.7 - 0.4 == 0.29999999999999993 in floats
