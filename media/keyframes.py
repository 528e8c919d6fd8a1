"""Throttling of keyframe requests (PLI/FIR) sent upstream to one publisher.

Every subscriber waiting at a keyframe gate wants one, on every packet: unthrottled, a room of late joiners would
make the publisher send keyframe after keyframe (each several times a delta frame's size). One request per
`min_interval` (300 ms) is enough while a request is unanswered: a keyframe answers everybody waiting. Once a
keyframe has answered it, the next request may go `answered_interval` (100 ms) after that keyframe, so subscribers
joining one after another (whose gates opened just after the last keyframe passed) do not each wait 300 ms.
A request suppressed by the throttle is remembered and sent from the periodic tick as soon as allowed; one sent but
not answered by a keyframe (lost PLI, or a publisher slow to react) is repeated every `retry_interval`.
"""

from __future__ import annotations

__all__ = ["KeyframeRequester"]

_EPS = 1e-6  # timer tolerance: a tick exactly one interval later must not miss by a float rounding


class KeyframeRequester:
    """Per-publisher PLI/FIR throttle. Time is passed in (seconds)."""

    __slots__ = ("_awaiting", "_fir_seq", "_last_keyframe", "_last_sent", "_pending", "answered_interval",
                 "min_interval", "retry_interval")

    def __init__(self, min_interval: float = 0.3, retry_interval: float | None = 1.0,
                 answered_interval: float = 0.1) -> None:
        self.min_interval = min_interval
        self.answered_interval = min(answered_interval, min_interval)
        self.retry_interval = retry_interval  # None: never repeat an unanswered request by itself
        self._last_sent: float | None = None
        self._pending = False  # wanted, not yet sent (throttled)
        self._awaiting = False  # sent, no keyframe seen since
        self._last_keyframe: float | None = None
        self._fir_seq = 0

    @property
    def pending(self) -> bool:
        """A request waits to be sent or to be answered by a keyframe."""
        return self._pending or self._awaiting

    @property
    def last_keyframe(self) -> float | None:
        return self._last_keyframe

    def _allowed(self, now: float) -> bool:
        if self._last_sent is None:
            return True
        if not self._awaiting and self._last_keyframe is not None:  # a keyframe came after the last request
            return now - self._last_keyframe + _EPS >= self.answered_interval
        return now - self._last_sent + _EPS >= self.min_interval

    def _send(self, now: float) -> bool:
        self._last_sent = now
        self._pending = False
        self._awaiting = True
        return True

    def request(self, now: float) -> bool:
        """Someone needs a keyframe: True if a PLI/FIR should be sent now, else it is remembered for `due`."""
        if self._allowed(now):
            return self._send(now)
        self._pending = True
        return False

    def due(self, now: float) -> bool:
        """Periodic tick: True if a remembered (or unanswered) request should be sent now."""
        if self._pending and self._allowed(now):
            return self._send(now)
        if (self._awaiting and self.retry_interval is not None and self._last_sent is not None
                and now - self._last_sent + _EPS >= max(self.retry_interval, self.min_interval)):
            return self._send(now)
        return False

    def keyframe_seen(self, now: float) -> None:
        """A keyframe arrived from the publisher: every gate opens on it, so nothing is pending any more."""
        self._pending = False
        self._awaiting = False
        self._last_keyframe = now

    def next_fir_seq(self) -> int:
        """Command sequence number for the next FIR (RFC 5104 4.3.1: 8 bits, +1 per new request)."""
        seq = self._fir_seq
        self._fir_seq = (seq + 1) & 0xFF
        return seq
