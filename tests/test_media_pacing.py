"""NACK answers within a share of the subscriber's estimate, each packet resent at most once per interval."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from media.pacing import RetransmitBudget


@settings(deadline=None)
@given(st.floats(30_000, 5_000_000), st.lists(st.tuples(st.floats(0, 0.05), st.integers(60, 1400)), max_size=400))
def test_retransmissions_never_exceed_their_share_plus_one_burst(estimate: float,
                                                                 requests: list[tuple[float, int]]) -> None:
    budget = RetransmitBudget(share=0.2, burst=0.25)
    budget.set_estimate(estimate)
    now, sent = 0.0, 0
    for i, (gap, size) in enumerate(requests):
        now += gap
        if budget.allow(1, i, size, now):
            sent += size
    allowed = estimate * 0.2 / 8 * (now + 0.25)
    assert sent <= allowed + 1e-6


def test_the_same_packet_is_not_resent_twice_within_the_interval_and_no_estimate_means_no_limit() -> None:
    budget = RetransmitBudget(min_resend_interval=0.1)
    assert all(budget.allow(1, i, 1200, 0.0) for i in range(1000))  # no estimate: the old behaviour
    assert not budget.allow(1, 5, 1200, 0.05) and budget.allow(1, 5, 1200, 0.2)
    budget.set_estimate(150_000)  # 30 kbit/s for repairs: 0.25 s of it is ~940 bytes
    assert not budget.allow(2, 1, 1200, 1.0)
    assert budget.allow(2, 2, 900, 1.0)
    assert budget.dropped == 2
