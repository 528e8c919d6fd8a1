"""Per-subscriber link policy and the bitrate asked of a publisher. Pure: the SFU feeds it numbers, applies results.

Downstream, each subscriber has one estimate (media/bwe.py) shared by everything it receives: audio is counted
first, then video tracks take what is left, the active speaker's first, each through its own `LayerSelector`
(media/layers.py, which pauses a track's video when even its lowest layer no longer fits). Upstream, the bitrate
asked of a publisher (REMB) is what its *own uplink* can carry, capped by what its best-placed subscriber can use:
a weak subscriber never lowers what the others receive (it gets a lower layer or paused video instead).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from media.bwe import MIN_BPS, BandwidthEstimator, SendHistory
from media.layers import Layer, LayerSelector
from media.pacing import RetransmitBudget

__all__ = ["AUDIO_LOSS_HINT_MAX", "DEFAULT_AUDIO_BPS", "SubscriberLink", "VideoWant", "audio_loss_upstream",
           "publisher_target"]

DEFAULT_AUDIO_BPS = 40_000  # Opus at ~32 kbit/s plus RTP/UDP/IP headers at 50 packets/s
CONGESTED_LOSS = 0.02  # receiver-report loss from which a REMB-only estimate may pause video
# 10 % of 256. libwebrtc bins the loss it is told with hysteresis (1, 5, 10, 20 %, +1 % to go up a bin): 5 % reads as
# 1 %, too little for Opus to spend bits on FEC at 32 kbit/s; 10 % reads as 5 %. A publisher's loss-based estimate
# averages over all its report blocks (video's more numerous packets too): it holds, it does not cut.
AUDIO_LOSS_HINT_MAX = 26
DOWN_MARGIN = 0.8  # a receiver's estimate sits near what it receives: leave a layer only when clearly short of it


@dataclass(frozen=True, slots=True)
class VideoWant:
    """One video track this subscriber receives: the layers its publisher sends now, and whether they speak."""

    key: Hashable
    layers: Sequence[Layer]
    speaking: bool = False


@dataclass
class SubscriberLink:
    """One subscriber's estimate and its per-track layer selectors."""

    estimator: BandwidthEstimator = field(default_factory=BandwidthEstimator)
    selectors: dict[Hashable, LayerSelector] = field(default_factory=dict)
    video_paused: bool = False  # what the subscriber was last told (signalling `link-quality`)
    retransmits: RetransmitBudget = field(default_factory=RetransmitBudget)  # NACK answers' share of the estimate
    history: SendHistory = field(default_factory=SendHistory)  # transport-cc: what was sent under which sequence

    def allocate(self, audio_bps: float, videos: Sequence[VideoWant], now: float) -> dict[Hashable, int | None]:
        """The target layer per video track (None: paused), audio's share taken off first (when the estimate
        counts audio at all)."""
        estimate = self.estimator.estimate(now)
        self.retransmits.set_estimate(estimate)
        if not self.estimator.covers_audio(now):
            audio_bps = 0.0  # a receiver's REMB covers its video only
        # An estimate alone may read low (a REMB ramping up behind a new subscriber or a keyframe burst, a delay
        # signal from a busy CPU): video stops only when the link also loses packets — a village link that cannot
        # carry it does, at once.
        lost = self.estimator.loss.last_fraction
        may_pause = lost is not None and lost >= CONGESTED_LOSS
        for key in [k for k in self.selectors if k not in {v.key for v in videos}]:
            del self.selectors[key]
        left = None if estimate is None else estimate - audio_bps
        targets: dict[Hashable, int | None] = {}
        for want in sorted(videos, key=lambda v: (not v.speaking, min((x.bitrate_bps for x in v.layers),
                                                                            default=0.0))):
            sel = self.selectors.setdefault(want.key, LayerSelector(audio_bps=0.0, down_margin=DOWN_MARGIN))
            was_paused = sel.paused
            # A REMB without loss says what is received, not what would fit: let the selector try the next layer.
            unconstrained = not self.estimator.covers_audio(now) and (lost is None or lost < CONGESTED_LOSS)
            target = sel.update(want.layers, left, now, may_pause=may_pause, unconstrained=unconstrained)
            targets[want.key] = target
            if was_paused and target is not None and estimate is not None:
                # A probe: the estimate followed the audio alone while paused; let delay and loss judge the video.
                chosen = next((x.bitrate_bps for x in want.layers if x.index == target), 0.0)
                self.estimator.probe(max(estimate, audio_bps + chosen) / DOWN_MARGIN)
            if left is not None and target is not None:
                chosen = next((x.bitrate_bps for x in want.layers if x.index == target), 0.0)
                left -= chosen
        return targets


def publisher_target(uplink_bps: float | None, subscriber_needs: Sequence[float], max_bps: float) -> int | None:
    """The REMB for a publisher's video: its uplink estimate, capped by the most any subscriber can take.

    `subscriber_needs` are the known subscriber estimates (minus their audio share); unknown ones are left out
    rather than guessed (no default jump to the maximum), and with none known only the uplink counts (so too when
    a recorder taps the track: it takes the top layer whatever the subscribers). None when nothing is known at all:
    better no REMB than an invented one. Never below `MIN_BPS` (an encoder asked for 0 stops).
    """
    values = [min(uplink_bps, max_bps)] if uplink_bps is not None else []
    if subscriber_needs:
        values.append(max(subscriber_needs))
    if not values:
        return None
    return int(max(min(min(values), max_bps), MIN_BPS))


def audio_loss_upstream(own: int, subscribers: Sequence[int], interval: int = 0) -> tuple[int, int]:
    """The fraction lost (0..255) the SFU reports to a publisher for its audio, and how many of the `interval`
    packets since the last report to add to the cumulative loss so that both fields agree.

    The SFU ends RTCP, so a publisher hears only of loss on its own uplink; its Opus encoder adds in-band FEC only
    when told of loss, and so a subscriber on a lossy village downlink got none (P2P on the same path: hundreds of
    FEC packets a minute). The worst subscriber's loss is passed on, capped at `AUDIO_LOSS_HINT_MAX` (10 %): that
    turns FEC on, while a publisher's loss-based estimate (which averages over all its report blocks, video's too)
    stays below its 10 % cut line, so one weak subscriber does not lower what the others receive.
    """
    hint = min(max(subscribers, default=0), AUDIO_LOSS_HINT_MAX)
    fraction = max(own, hint)
    return fraction, max(0, interval) * (fraction - own) // 256
