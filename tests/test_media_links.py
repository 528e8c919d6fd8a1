"""The link policy: the bitrate asked of a publisher and the per-subscriber split of an estimate (audio first)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from media.bwe import MIN_BPS, BandwidthEstimator, PacketResult
from media.layers import Layer
from media.links import AUDIO_LOSS_HINT_MAX, SubscriberLink, VideoWant, audio_loss_upstream, publisher_target

rates = st.floats(0, 5_000_000)


@settings(deadline=None)
@given(st.one_of(st.none(), rates), st.lists(rates, max_size=6), rates)
def test_adding_a_weaker_subscriber_never_lowers_the_publisher_target(uplink: float | None, needs: list[float],
                                                                      weak: float) -> None:
    before = publisher_target(uplink, needs, 2_000_000)
    after = publisher_target(uplink, [*needs, weak], 2_000_000)
    if before is not None and needs:
        assert after is not None and after >= before
    if after is not None:
        assert MIN_BPS <= after <= 2_000_000


def test_nothing_known_means_no_remb_and_the_uplink_bounds_everything() -> None:
    assert publisher_target(None, [], 2_000_000) is None  # no invented 2 Mbit/s
    assert publisher_target(400_000, [], 2_000_000) == 400_000
    assert publisher_target(400_000, [1_000_000, 100_000], 2_000_000) == 400_000
    assert publisher_target(3_000_000, [900_000, 100_000], 2_000_000) == 900_000
    assert publisher_target(None, [10_000], 2_000_000) == MIN_BPS


def test_audio_first_then_the_speaker_then_the_others() -> None:
    link = SubscriberLink()
    link.estimator.on_remb(250_000)  # a receiver's REMB covers its video only (abs-send-time): audio not taken off
    layers = [Layer(0, 150_000)]
    wants = [VideoWant("judge", layers, speaking=False), VideoWant("party", layers, speaking=True)]
    assert link.allocate(40_000, wants, 0.0) == {"party": 0, "judge": 0}  # a REMB alone never stops video...
    link.estimator.on_loss_report(int(0.05 * 256), 0.0)  # ... its reports showing loss too does
    targets = link.allocate(40_000, wants, 0.0)
    assert targets == {"party": 0, "judge": None}  # 250k carries one 150k video: the speaker's
    link.estimator.on_remb(100_000)
    assert link.allocate(40_000, wants, 1.0) == {"party": None, "judge": None}
    assert link.allocate(40_000, wants[:1], 2.0) == {"judge": None} and list(link.selectors) == ["judge"]


def test_with_transport_cc_the_estimate_covers_audio_and_audio_comes_off_first() -> None:
    link = SubscriberLink()
    link.estimator = BandwidthEstimator(start_bps=170_000)
    link.estimator.on_feedback([PacketResult(0.0, 1200, 0.02), PacketResult(0.01, 1200, 0.03)], 0.05)
    assert link.estimator.covers_audio(0.05)
    link.estimator.loss.on_loss(0.05, 0.05)  # and the feedback shows some loss: the link is the limit
    layers = [Layer(0, 150_000)]
    # 170k − 40k audio = 130k < 0.8 × 150k? No: 120k fits; with 60k of audio it does not.
    assert link.allocate(40_000, [VideoWant("judge", layers)], 0.05) == {"judge": 0}
    assert link.allocate(60_000, [VideoWant("judge", layers)], 0.1) == {"judge": None}


def test_a_probe_lets_delay_and_loss_judge_resumed_video() -> None:
    link = SubscriberLink()
    link.estimator = BandwidthEstimator(start_bps=60_000)
    t = 0.0
    layers = [Layer(0, 300_000)]
    link.estimator.loss.on_loss(0.3, 0.0)  # a lossy link
    for _ in range(5):  # transport-cc feedback of a thin audio-only flow
        link.estimator.on_feedback([PacketResult(t, 200, t + 0.02), PacketResult(t + 0.02, 200, t + 0.04)], t + 0.1)
        assert link.allocate(40_000, [VideoWant("judge", layers)], t + 0.1) == {"judge": None}
        t += 0.5
    now = 11.0  # past the first probe wait (10 s)
    link.estimator.on_feedback([PacketResult(now - 0.05, 200, now - 0.03)], now)
    assert link.allocate(40_000, [VideoWant("judge", layers)], now) == {"judge": 0}
    estimate = link.estimator.estimate(now)
    assert estimate is not None and estimate >= 340_000  # room for audio and the layer, until signals say otherwise


@given(st.integers(0, 255), st.lists(st.integers(0, 255), max_size=20), st.integers(0, 500))
def test_a_publisher_hears_of_its_subscribers_audio_loss_only_as_a_hint(own: int, subscribers: list[int],
                                                                        interval: int) -> None:
    out, extra = audio_loss_upstream(own, subscribers, interval)
    assert 0 <= extra <= interval * AUDIO_LOSS_HINT_MAX // 256 + 1  # the cumulative count follows the same hint
    assert (extra == 0) or out > own
    assert 0 <= out <= 255
    assert out >= own  # its own uplink's loss is never hidden
    assert out <= max(own, AUDIO_LOSS_HINT_MAX)  # a weak subscriber cannot make it report more than the hint
    if own == 0 and any(subscribers):
        assert out > 0  # any subscriber loss turns its Opus FEC on
    if not any(subscribers):
        assert (out, extra) == (own, 0)
