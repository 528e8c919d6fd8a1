"""A per-subscriber bandwidth estimate, in the spirit of Google Congestion Control (draft-ietf-rmcat-gcc-02).

Why the SFU needs its own: a village station's downlink (150–500 kbit/s) is not what the publisher sends. What that
subscriber can take decides which layer it gets and whether its video pauses (media/layers.py). The browser's REMB
tells us its own estimate only when transport-cc is off, and says nothing about loss; with transport-cc feedback the
SFU, as the sender, sees each packet's send and arrival time and can estimate itself, as libwebrtc does.

Three parts, pure integer/float state with time passed in (seconds):
- delay-based: packets are grouped into bursts (5 ms of send time), the change of one-way delay between groups is
  smoothed and accumulated, a trendline (least squares over the last 20 groups) gives its slope; an overuse
  detector with an adaptive threshold says overusing / normal / underusing; an AIMD controller cuts to 85 % of the
  acknowledged rate on overuse and grows (8 %/s multiplicative far from the last cut, additive near it) otherwise;
- loss-based: loss fraction < 2 % grows 5 % per report, > 10 % cuts by half the loss, between holds;
- the estimate is the minimum of both, and falls back to the subscriber's REMB when no feedback has come lately.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BandwidthEstimator",
    "BandwidthUsage",
    "DelayBasedEstimator",
    "LossBasedEstimator",
    "OveruseDetector",
    "PacketResult",
    "TrendlineEstimator",
]

BURST_SECONDS = 0.005  # packets sent within this of a group's first belong to one group (a frame's packets)
MIN_BPS = 30_000  # below this nothing useful flows; never estimate less (audio alone needs ~40 kbit/s with headers)
MAX_BPS = 10_000_000
START_BPS = 300_000  # a village link should not be flooded before the first feedback says otherwise
FEEDBACK_TIMEOUT = 2.0  # seconds without transport-cc feedback after which the subscriber's REMB is used


class BandwidthUsage(Enum):
    NORMAL = "normal"
    OVERUSING = "overusing"
    UNDERUSING = "underusing"


@dataclass(frozen=True, slots=True)
class PacketResult:
    """One packet we sent to the subscriber and what its transport-cc feedback said: arrival None when lost."""

    send_time: float
    size: int  # bytes on the wire (as counted for the rate)
    arrival_time: float | None


class TrendlineEstimator:
    """Slope of the accumulated one-way delay change over the last `window` packet groups (libwebrtc's trendline)."""

    __slots__ = ("_accumulated", "_first_arrival", "_history", "_num_deltas", "_smoothed", "gain", "smoothing",
                 "window")

    def __init__(self, window: int = 20, smoothing: float = 0.9, gain: float = 4.0) -> None:
        self.window = window
        self.smoothing = smoothing
        self.gain = gain
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._num_deltas = 0
        self._first_arrival: float | None = None
        self._history: deque[tuple[float, float]] = deque(maxlen=window)  # (arrival ms since first, smoothed ms)

    def update(self, delay_delta_ms: float, arrival_ms: float) -> float | None:
        """Add one group's delay change; returns the modified trend (slope × min(deltas, 60) × gain) when known."""
        if self._first_arrival is None:
            self._first_arrival = arrival_ms
        self._num_deltas = min(self._num_deltas + 1, 1000)
        self._accumulated += delay_delta_ms
        self._smoothed = self.smoothing * self._smoothed + (1 - self.smoothing) * self._accumulated
        self._history.append((arrival_ms - self._first_arrival, self._smoothed))
        if len(self._history) < self.window:
            return None
        slope = _slope(self._history)
        if slope is None:
            return None
        return slope * min(self._num_deltas, 60) * self.gain


def _slope(points: deque[tuple[float, float]]) -> float | None:
    n = len(points)
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return None if den == 0 else num / den


class OveruseDetector:
    """Compares the trend with an adaptive threshold (gcc-02 §5.4): overuse only when sustained and still growing."""

    __slots__ = ("_last_trend", "_last_update", "_overuse_count", "_overuse_since", "state", "threshold")

    K_UP = 0.0087
    K_DOWN = 0.039
    OVERUSE_TIME = 0.010  # seconds the trend must stay above the threshold
    MAX_ADAPT_OFFSET = 15.0

    def __init__(self, threshold: float = 12.5) -> None:
        self.threshold = threshold
        self.state = BandwidthUsage.NORMAL
        self._last_trend = 0.0
        self._last_update: float | None = None
        self._overuse_since: float | None = None
        self._overuse_count = 0

    def detect(self, trend: float, now: float) -> BandwidthUsage:
        if trend > self.threshold:
            if self._overuse_since is None:
                self._overuse_since = now
            self._overuse_count += 1
            if (now - self._overuse_since >= self.OVERUSE_TIME and self._overuse_count > 1
                    and trend >= self._last_trend):
                self.state = BandwidthUsage.OVERUSING
                self._overuse_since = None
                self._overuse_count = 0
        elif trend < -self.threshold:
            self._overuse_since = None
            self._overuse_count = 0
            self.state = BandwidthUsage.UNDERUSING
        else:
            self._overuse_since = None
            self._overuse_count = 0
            self.state = BandwidthUsage.NORMAL
        self._last_trend = trend
        self._adapt(trend, now)
        return self.state

    def _adapt(self, trend: float, now: float) -> None:
        """The threshold follows the trend slowly (fast down, slower up) so competing TCP flows do not starve us."""
        if self._last_update is None:
            self._last_update = now
        if abs(trend) > self.threshold + self.MAX_ADAPT_OFFSET:  # a spike: do not adapt to it
            self._last_update = now
            return
        k = self.K_DOWN if abs(trend) < self.threshold else self.K_UP
        dt_ms = min((now - self._last_update) * 1000.0, 100.0)
        self.threshold = min(max(self.threshold + k * (abs(trend) - self.threshold) * dt_ms, 6.0), 600.0)
        self._last_update = now


class AimdRateController:
    """Additive-increase / multiplicative-decrease on the delay signal (gcc-02 §5.5)."""

    __slots__ = ("_last_change", "_near_max", "rate")

    BETA = 0.85

    def __init__(self, start_bps: float = START_BPS) -> None:
        self.rate = float(start_bps)
        self._last_change: float | None = None
        self._near_max: float | None = None  # the acknowledged rate at the last cut: grow carefully near it

    def update(self, usage: BandwidthUsage, acked_bps: float | None, now: float, rtt: float = 0.1) -> float:
        dt = 0.0 if self._last_change is None else min(now - self._last_change, 1.0)
        self._last_change = now
        if usage is BandwidthUsage.OVERUSING:
            base = acked_bps if acked_bps else self.rate
            self.rate = min(self.rate, self.BETA * base)
            self._near_max = base
        elif usage is BandwidthUsage.NORMAL:
            if self._near_max is not None and acked_bps and acked_bps > 1.5 * self._near_max:
                self._near_max = None  # the link has grown well past the last cut: probe multiplicatively again
            if self._near_max is not None:
                # Additive: about one packet (1200 B) per response time (RTT + 100 ms).
                self.rate += dt * 1200 * 8 / max(rtt + 0.1, 0.05)
            else:
                self.rate *= 1.08 ** dt
            if acked_bps:  # never run far ahead of what actually gets through
                self.rate = min(self.rate, 1.5 * acked_bps + 10_000)
        # UNDERUSING: hold (queues are draining; increasing now would overshoot).
        self.rate = min(max(self.rate, MIN_BPS), MAX_BPS)
        return self.rate


class DelayBasedEstimator:
    """Packet groups → delay deltas → trendline → overuse → AIMD. Also measures the acknowledged (received) rate."""

    __slots__ = ("_acked", "_group", "_prev_group", "_seeded", "aimd", "detector", "trendline", "usage")

    def __init__(self, start_bps: float = START_BPS) -> None:
        self.trendline = TrendlineEstimator()
        self.detector = OveruseDetector()
        self.aimd = AimdRateController(start_bps)
        self.usage = BandwidthUsage.NORMAL
        self._group: list[float] | None = None  # [first send, last send, last arrival]
        self._prev_group: list[float] | None = None
        self._acked: deque[tuple[float, int]] = deque()  # (arrival, bytes) over the last second
        self._seeded = False

    @property
    def rate(self) -> float:
        return self.aimd.rate

    def acked_bps(self) -> float | None:
        if len(self._acked) < 2:
            return None
        span = self._acked[-1][0] - self._acked[0][0]
        if span < 0.25:
            return None
        return sum(b for _, b in self._acked) * 8 / span

    def on_packets(self, packets: list[PacketResult], now: float, rtt: float = 0.1) -> float:
        """Feed one feedback message's packets (in send order); returns the delay-based rate."""
        for p in packets:
            if p.arrival_time is None:
                continue
            self._acked.append((p.arrival_time, p.size))
            while self._acked and self._acked[0][0] < p.arrival_time - 1.0:
                self._acked.popleft()
            g = self._group
            if g is None or p.send_time - g[0] > BURST_SECONDS:
                if g is not None:
                    self._close(g, now)
                self._group = [p.send_time, p.send_time, p.arrival_time]
            else:
                g[1] = max(g[1], p.send_time)
                g[2] = max(g[2], p.arrival_time)
        acked = self.acked_bps()
        if not self._seeded and acked:
            # Without a congestion signal yet, never claim less than already gets through (a subscriber joining a
            # 1 Mbit/s video must not start at 300 kbit/s and have it paused).
            self._seeded = True
            self.aimd.rate = min(max(self.aimd.rate, acked), MAX_BPS)
        return self.aimd.update(self.usage, acked, now, rtt)

    def _close(self, g: list[float], now: float) -> None:
        prev = self._prev_group
        self._prev_group = g
        if prev is None:
            return
        send_delta = g[1] - prev[1]
        arrival_delta = g[2] - prev[2]
        if send_delta <= 0 or arrival_delta < 0:  # reordered groups carry no delay signal
            return
        trend = self.trendline.update((arrival_delta - send_delta) * 1000.0, g[2] * 1000.0)
        if trend is not None:
            self.usage = self.detector.detect(trend, now)


class LossBasedEstimator:
    """Loss fraction (transport-cc or receiver reports) → rate, gcc-02 §6 and libwebrtc's classic loss controller.

    Loss is judged over at least `MIN_PACKETS` packets and `WINDOW` seconds (a 100 ms feedback of 15 packets is
    too noisy: 10 % random loss would read 20 % one time in five); at most one cut per `DECREASE_INTERVAL` + RTT
    (the cut's effect must show before the next) and one 8 % step up per `INCREASE_INTERVAL`.
    """

    __slots__ = ("_last_decrease", "_last_increase", "_lost", "_started", "_total", "_window_start", "last_fraction",
                 "rate")

    MIN_PACKETS = 40
    WINDOW = 0.5
    DECREASE_INTERVAL = 0.3
    INCREASE_INTERVAL = 1.0

    def __init__(self, start_bps: float = START_BPS) -> None:
        self.rate = float(start_bps)
        self.last_fraction: float | None = None
        self._started = False
        self._last_decrease: float | None = None
        self._last_increase: float | None = None
        self._lost = 0
        self._total = 0
        self._window_start: float | None = None

    @property
    def started(self) -> bool:
        return self._started

    def on_packets(self, lost: int, total: int, now: float, acked_bps: float | None = None,
                   rtt: float = 0.1) -> float:
        """Count packets (transport-cc); judges the fraction once the window holds enough of them."""
        if self._window_start is None:
            self._window_start = now
        self._lost += lost
        self._total += total
        if self._total >= self.MIN_PACKETS and now - self._window_start >= self.WINDOW:
            fraction = self._lost / self._total
            self._lost = self._total = 0
            self._window_start = now
            return self.on_loss(fraction, now, acked_bps, rtt)
        return self.rate

    def on_loss(self, fraction: float, now: float, acked_bps: float | None = None, rtt: float = 0.1) -> float:
        """Apply one already-aggregated loss fraction (0..1), e.g. from a receiver report."""
        fraction = min(max(fraction, 0.0), 1.0)
        self._started = True
        self.last_fraction = fraction
        if fraction > 0.10:
            if self._last_decrease is None or now - self._last_decrease >= self.DECREASE_INTERVAL + rtt:
                self.rate *= 1 - 0.5 * fraction
                self._last_decrease = now
        elif fraction < 0.02 and (self._last_increase is None or now - self._last_increase >= self.INCREASE_INTERVAL):
            self.rate = self.rate * 1.08 + 1000
            self._last_increase = now
        if acked_bps:
            self.rate = min(self.rate, 1.5 * acked_bps + 10_000)
        self.rate = min(max(self.rate, MIN_BPS), MAX_BPS)
        return self.rate


class BandwidthEstimator:
    """One subscriber's estimate: min(delay-based, loss-based), or its REMB when transport-cc feedback is absent."""

    __slots__ = ("_last_feedback", "_remb", "delay", "loss", "max_bps")

    def __init__(self, start_bps: float = START_BPS, max_bps: float = MAX_BPS) -> None:
        self.delay = DelayBasedEstimator(start_bps)
        self.loss = LossBasedEstimator(start_bps)
        self.max_bps = max_bps
        self._last_feedback: float | None = None
        self._remb: float | None = None

    def on_feedback(self, packets: list[PacketResult], now: float, rtt: float = 0.1) -> None:
        """A transport-cc feedback message resolved against what we sent (media/rtcp.py parses it)."""
        if not packets:
            return
        self._last_feedback = now
        self.delay.on_packets(packets, now, rtt)
        if not self.loss.started:  # no loss judged yet: the delay side's (seeded) rate stands
            self.loss.rate = max(self.loss.rate, self.delay.rate)
        lost = sum(1 for p in packets if p.arrival_time is None)
        self.loss.on_packets(lost, len(packets), now, self.delay.acked_bps(), rtt)

    def probe(self, bps: float) -> None:
        """Video resumes on trial (media/layers.py): assume `bps` fits until delay or loss says otherwise. While
        video was paused the estimate could only follow the little that flowed (audio), so it cannot say by itself
        that the link recovered."""
        bps = min(max(float(bps), MIN_BPS), self.max_bps)
        self.delay.aimd.rate = max(self.delay.aimd.rate, bps)
        self.loss.rate = max(self.loss.rate, bps)

    def on_loss_report(self, fraction_lost: int, now: float) -> None:
        """A receiver report's fraction lost (0..255) — used when transport-cc is not negotiated."""
        if self._last_feedback is None or now - self._last_feedback > FEEDBACK_TIMEOUT:
            if self._remb is not None and (self.loss.last_fraction is None or self.loss.last_fraction < 0.02):
                self.loss.rate = self._remb  # no loss lately: the receiver's own (delay-based) estimate stands
            self.loss.on_loss(fraction_lost / 256.0, now)

    def on_remb(self, bps: float) -> None:
        """The subscriber's own estimate (REMB). Without loss history yet, the loss-based rate starts from it."""
        self._remb = float(bps)
        if not self.loss.started or (self.loss.last_fraction is not None and self.loss.last_fraction < 0.02):
            self.loss.rate = min(max(float(bps), MIN_BPS), MAX_BPS)

    @property
    def remb(self) -> float | None:
        """The subscriber's last REMB, if any."""
        return self._remb

    def covers_audio(self, now: float) -> bool:
        """Whether the estimate counts audio too (transport-cc covers every packet; the REMB of a receiver only the
        streams with abs-send-time, which the SFU negotiates for video alone)."""
        return self._last_feedback is not None and now - self._last_feedback <= FEEDBACK_TIMEOUT

    def estimate(self, now: float) -> float | None:
        """Bits per second this subscriber can take now; None when nothing at all is known yet."""
        if self._last_feedback is not None and now - self._last_feedback <= FEEDBACK_TIMEOUT:
            value = min(self.delay.rate, self.loss.rate)
        elif self._remb is not None:
            value = min(self._remb, self.loss.rate)
        elif self.loss.started:
            value = self.loss.rate
        else:
            return None
        if not math.isfinite(value):
            return None
        return min(max(value, MIN_BPS), self.max_bps)


ABS_SEND_TIME_WRAP = 1 << 24  # 6.18 fixed-point seconds: wraps every 64 s


class ReceiveSideEstimator:
    """A publisher's uplink, estimated where the SFU receives it (what REMB upstream should say).

    The publisher stamps each packet with abs-send-time (24 bits, 6.18 fixed-point seconds); the same delay-based
    core as above runs on (send, arrival) pairs, the loss-based one on our receiver reports' fraction lost. The hot
    path only appends a tuple (`add`); the work happens once per report interval in `update`.
    """

    __slots__ = ("_ext", "_last_raw", "_pending", "delay", "loss", "max_bps")

    def __init__(self, start_bps: float = START_BPS, max_bps: float = MAX_BPS) -> None:
        self.delay = DelayBasedEstimator(start_bps)
        self.loss = LossBasedEstimator(start_bps)
        self.max_bps = max_bps
        self._pending: list[tuple[int, float, int]] = []
        self._last_raw: int | None = None
        self._ext = 0

    def add(self, abs_send_time: bytes, arrival: float, size: int) -> None:
        if len(abs_send_time) == 3 and len(self._pending) < 20_000:
            self._pending.append((int.from_bytes(abs_send_time, "big"), arrival, size))

    def update(self, now: float, fraction_lost: float | None = None) -> float | None:
        """Digest what arrived since the last call; the uplink estimate (None before any packet)."""
        pending, self._pending = self._pending, []
        packets = []
        for raw, arrival, size in pending:
            if self._last_raw is None:
                self._ext = raw
            else:
                d = (raw - self._last_raw) % ABS_SEND_TIME_WRAP
                if d >= ABS_SEND_TIME_WRAP // 2:
                    d -= ABS_SEND_TIME_WRAP
                self._ext += d
            self._last_raw = raw
            packets.append(PacketResult(self._ext / 262144.0, size, arrival))
        packets.sort(key=lambda p: p.send_time)
        if packets:
            self.delay.on_packets(packets, now)
        acked = self.delay.acked_bps()
        if fraction_lost is not None:
            if not self.loss.started:
                self.loss.rate = self.delay.rate
            self.loss.on_loss(fraction_lost, now, acked)
        if self._last_raw is None:
            return None
        value = self.delay.rate if not self.loss.started else min(self.delay.rate, self.loss.rate)
        return min(max(value, MIN_BPS), self.max_bps)


class SendHistory:
    """What the SFU sent to one subscriber under each transport-wide sequence number, to resolve its transport-cc
    feedback into `PacketResult`s (arrival times there are on the receiver's clock: only their deltas are used)."""

    __slots__ = ("_next", "_sent", "_size")

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._sent: dict[int, tuple[float, int]] = {}
        self._next = 0

    def next_sequence(self) -> int:
        """The next transport-wide sequence number to stamp (one counter per subscriber transport)."""
        seq = self._next
        self._next = (seq + 1) & 0xFFFF
        return seq

    def sent(self, transport_seq: int, send_time: float, size: int) -> None:
        self._sent[transport_seq & 0xFFFF] = (send_time, size)
        if len(self._sent) > self._size:
            del self._sent[next(iter(self._sent))]

    def resolve(self, arrivals: list[tuple[int, float | None]]) -> list[PacketResult]:
        """Feedback (sequence, arrival or None) → packets in send order; sequence numbers we never sent are skipped."""
        out = []
        for seq, arrival in arrivals:
            sent = self._sent.pop(seq, None)
            if sent is not None:
                out.append(PacketResult(sent[0], sent[1], arrival))
        out.sort(key=lambda p: p.send_time)
        return out
