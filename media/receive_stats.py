"""What the SFU's receiving side keeps per publisher SSRC: RTCP receiver-report fields, upstream NACKs, bitrate.

Sequence tracking, loss and jitter follow RFC 3550 appendices A.1, A.3 and A.8. The publisher only adapts (and
retransmits) if the SFU itself reports upstream: a browser that never gets receiver reports, NACKs or REMB keeps its
start bitrate and never repairs losses. Pure state, time passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from media.sequencing import ts_diff

__all__ = ["BitrateEstimate", "ReceiveStats", "ReportFields"]

SEQ_MOD = 0x10000
MAX_DROPOUT = 3000  # RFC 3550 A.1: a forward jump up to this is loss, not a restart
MAX_MISORDER = 512  # ... and a packet up to this far behind is late, not a restart (RFC suggests 100; NACK repairs
#                     arrive later than plain reordering, and we keep NACKing up to 512 behind)
_EPS = 1e-6  # tolerance on timer comparisons: a tick exactly one RTT later must not miss by a float rounding


def _clamp_signed24(value: int) -> int:
    """Cumulative lost is a signed 24-bit field (negative with duplicates)."""
    return max(-0x800000, min(0x7FFFFF, value))


@dataclass(frozen=True, slots=True)
class ReportFields:
    """One RTCP report block's variable fields (RFC 3550 6.4.1) for one source."""

    fraction_lost: int  # 0..255, fixed point /256, since the previous report
    cumulative_lost: int  # signed 24-bit
    extended_highest: int  # cycles << 16 | highest seq, 32-bit
    jitter: int  # timestamp units
    lsr: int  # middle 32 bits of the last Sender Report's NTP time, 0 if none
    dlsr: int  # delay since that SR, 1/65536 s


class ReceiveStats:
    """Receive statistics and NACK generation for one publisher SSRC.

    NACKs: a gap below the highest sequence number marks the missing packets with the arrival time that revealed
    them. `missing()` reports a packet only once it has been missing `reorder_delay` (10 ms by default: ordinary
    network reordering resolves within a few ms, and a NACK for a packet that was merely late costs the publisher a
    needless retransmission), then again at most every `rtt`, `max_retries` times in all. A packet is forgotten when
    it arrives, after `max_age` (1 s: a retransmission later than that is useless to a real-time decoder) or when it
    falls more than `max_behind` (512) behind the highest sequence number.

    No RFC 3550 probation: the source is already authenticated by SRTP, so its first packet is trusted.
    """

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_ts",
        "_lsr",
        "_lsr_at",
        "_max_seq",
        "_missing",
        "_received",
        "_received_prior",
        "_started",
        "clock_rate",
        "max_age",
        "max_behind",
        "max_retries",
        "reorder_delay",
    )

    def __init__(self, clock_rate: int, *, max_retries: int = 3, reorder_delay: float = 0.01, max_age: float = 1.0,
                 max_behind: int = 512) -> None:
        self.clock_rate = clock_rate
        self.max_retries = max_retries
        self.reorder_delay = reorder_delay
        self.max_age = max_age
        self.max_behind = max_behind
        self._started = False
        self._max_seq = 0
        self._cycles = 0
        self._base_seq = 0
        self._bad_seq = SEQ_MOD + 1  # "so seq == bad_seq is false"
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_arrival = 0.0
        self._last_ts = 0
        self._lsr = 0
        self._lsr_at: float | None = None
        # extended seq -> [detected_at, times_nacked, last_nacked_at]; insertion order is ascending seq
        self._missing: dict[int, list[float]] = {}

    @property
    def received(self) -> int:
        return self._received

    @property
    def extended_highest(self) -> int:
        return self._cycles + self._max_seq

    @property
    def jitter(self) -> float:
        return self._jitter

    def _init_seq(self, seq: int, ts: int, arrival: float) -> None:
        self._started = True
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._last_arrival = arrival
        self._last_ts = ts
        self._missing.clear()

    def add(self, seq: int, ts: int, arrival: float) -> None:
        """One packet from the publisher (after SRTP), `arrival` in seconds."""
        seq &= 0xFFFF
        if not self._started:
            self._init_seq(seq, ts, arrival)
            self._received = 1
            return
        max_seq = self._max_seq
        udelta = (seq - max_seq) & 0xFFFF
        if 0 < udelta < MAX_DROPOUT:  # in order, possibly after a gap
            old_ext = self._cycles + max_seq
            if seq < max_seq:
                self._cycles += SEQ_MOD
            self._max_seq = seq
            new_ext = self._cycles + seq
            if udelta > 1:
                self._gap(old_ext + 1, new_ext, arrival)
            d = (arrival - self._last_arrival) * self.clock_rate - ts_diff(ts, self._last_ts)
            self._jitter += (abs(d) - self._jitter) / 16.0
            self._last_arrival = arrival
            self._last_ts = ts
        elif udelta == 0 or udelta > SEQ_MOD - MAX_MISORDER:  # duplicate or late
            if self._missing:
                self._missing.pop(self._cycles + max_seq - ((SEQ_MOD - udelta) & 0xFFFF), None)
        elif seq == self._bad_seq:  # two packets in sequence after a big jump: the source restarted
            self._init_seq(seq, ts, arrival)
        else:  # a big jump: believe it only if the next packet follows it
            self._bad_seq = (seq + 1) & 0xFFFF
            return
        self._received += 1

    def _gap(self, first: int, end: int, arrival: float) -> None:
        missing = self._missing
        first = max(first, end - self.max_behind)
        for ext in range(first, end):
            missing[ext] = [arrival, 0, 0.0]
        low = end - self.max_behind
        while missing:
            oldest = next(iter(missing))
            if oldest >= low:
                break
            del missing[oldest]

    def missing(self, now: float, rtt: float = 0.1) -> list[int]:
        """Sequence numbers to NACK upstream now, oldest first (each counted as one more attempt)."""
        if not self._missing:
            return []
        out: list[int] = []
        dead: list[int] = []
        low = self._cycles + self._max_seq - self.max_behind
        for ext, entry in self._missing.items():
            detected, tries, last = entry
            if ext < low or now - detected > self.max_age:
                dead.append(ext)
            elif now - detected + _EPS >= self.reorder_delay and (tries == 0 or now - last + _EPS >= rtt):
                out.append(ext & 0xFFFF)
                entry[1] = tries + 1
                entry[2] = now
                if tries + 1 >= self.max_retries:
                    dead.append(ext)
        for ext in dead:
            del self._missing[ext]
        return out

    def on_sender_report(self, ntp_middle32: int, now: float) -> None:
        """The publisher's Sender Report arrived: echo it in LSR/DLSR so the publisher can measure the RTT."""
        self._lsr = ntp_middle32 & 0xFFFF_FFFF
        self._lsr_at = now

    def report(self, now: float) -> ReportFields:
        """Receiver-report fields now; starts a new interval for `fraction_lost` (RFC 3550 A.3)."""
        dlsr = 0
        if self._lsr_at is not None:
            dlsr = max(0, min(0xFFFF_FFFF, int((now - self._lsr_at) * 65536)))
        if not self._started:
            return ReportFields(0, 0, 0, 0, self._lsr, dlsr)
        extended = self._cycles + self._max_seq
        expected = extended - self._base_seq + 1
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return ReportFields(fraction, _clamp_signed24(expected - self._received), extended & 0xFFFF_FFFF,
                            int(self._jitter), self._lsr, dlsr)


class BitrateEstimate:
    """Incoming bitrate over a sliding window (1 s), for REMB upstream.

    Bytes go into `buckets` time slots per window plus one; the oldest slot, partly outside the window, is weighted
    by the fraction still inside, so a steady rate reads steady rather than sawing by a slot's worth. O(1) per
    packet, no allocation. Until one window has passed since the first packet the rate is over the time so far.
    """

    __slots__ = ("_cur", "_first", "_n", "_slots", "_width", "window")

    def __init__(self, window: float = 1.0, buckets: int = 20) -> None:
        if window <= 0 or buckets <= 0:
            raise ValueError("window and buckets must be positive")
        self.window = window
        self._n = buckets
        self._width = window / buckets
        self._slots = [0] * (buckets + 1)
        self._cur: int | None = None  # absolute index of the newest slot
        self._first: float | None = None

    def _roll(self, b: int) -> int:
        """Make slot `b` the newest (clearing the slots it reuses); returns the newest slot index."""
        cur = self._cur
        if cur is None:
            self._cur = b
            return b
        if b <= cur:
            return cur
        size = self._n + 1
        if b - cur >= size:
            for i in range(size):
                self._slots[i] = 0
        else:
            for k in range(cur + 1, b + 1):
                self._slots[k % size] = 0
        self._cur = b
        return b

    def add(self, nbytes: int, now: float) -> None:
        if self._first is None:
            self._first = now
        b = math.floor(now / self._width)
        slots = self._slots
        if b > self._roll(b) - len(slots):  # else: older than every slot
            slots[b % len(slots)] += nbytes

    def bps(self, now: float) -> float:
        """Bits per second received over the last `window` seconds."""
        if self._first is None:
            return 0.0
        pos = now / self._width
        b = math.floor(pos)
        self._roll(b)
        total = float(sum(self._slots))
        elapsed = now - self._first
        if elapsed < self.window:
            return total * 8.0 / max(elapsed, self._width)
        total -= self._slots[(b - self._n) % len(self._slots)] * (pos - b)
        return total * 8.0 / self.window
