"""Dominant speaker from RFC 6464 audio levels, without decoding any audio.

Levels are in −dBov: 0 is the loudest, 127 silence. Per participant the samples (one per audio packet) are kept in
`BUCKETS` time slots over `window` seconds, so adding one costs a few integer operations and no allocation.

A participant is *speaking* when, over the window,
- the mean level of the samples received is at or below (louder than) `threshold_dbov` (mean of packets received,
  like mediasoup's AudioLevelObserver: with DTX a silent sender sends few packets, so gaps are not counted), and
- samples at or below the threshold fell in at least half of the window's slots: a click or a short cough is loud
  but brief, and must not take the floor.
If a participant has ever sent the voice-activity flag (V=1), its V=0 samples count as silence; some senders never
set V (no VAD), so V=0 from them means nothing.

The dominant speaker is the loudest speaking participant, with hysteresis: a challenger must stay the loudest for
`hold`/2 s before it takes over (the current speaker wins ties), and a current speaker silent for `hold` s loses the
floor (to the loudest speaker if any, else to nobody). With nobody dominant the first speaker takes over at once:
the half-window-of-speech rule already keeps coughs out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BUCKETS", "SILENCE", "SpeakerChange", "SpeakerDetector"]

SILENCE = 127
BUCKETS = 10


@dataclass(frozen=True, slots=True)
class SpeakerChange:
    """The dominant speaker changed to `participant_id` (None: nobody is speaking)."""

    participant_id: str | None


class _Levels:
    """One participant's samples over the window, in `BUCKETS` slots."""

    __slots__ = ("active", "counts", "newest", "sums", "trust_voice")

    def __init__(self) -> None:
        self.sums = [0] * BUCKETS
        self.counts = [0] * BUCKETS
        self.active = [0] * BUCKETS  # samples at or below the threshold
        self.newest: int | None = None  # absolute index of the newest slot
        self.trust_voice = False

    def roll(self, b: int) -> int:
        newest = self.newest
        if newest is None or b - newest >= BUCKETS:
            for i in range(BUCKETS):
                self.sums[i] = self.counts[i] = self.active[i] = 0
        elif b > newest:
            for k in range(newest + 1, b + 1):
                i = k % BUCKETS
                self.sums[i] = self.counts[i] = self.active[i] = 0
        else:
            return newest
        self.newest = b
        return b


class SpeakerDetector:
    """Active-speaker detection for one room. Call `add` per audio packet, `update` periodically (e.g. 4×/s)."""

    __slots__ = ("_announce", "_candidate", "_candidate_since", "_current", "_silent_since", "_tracks", "_width",
                 "hold", "threshold_dbov", "window")

    def __init__(self, window: float = 0.5, threshold_dbov: int = 50, hold: float = 1.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self.threshold_dbov = threshold_dbov
        self.hold = hold
        self._width = window / BUCKETS
        self._tracks: dict[str, _Levels] = {}
        self._current: str | None = None
        self._candidate: str | None = None
        self._candidate_since = 0.0
        self._silent_since: float | None = None
        self._announce = False  # the current speaker was forgotten: report None even without another change

    @property
    def current(self) -> str | None:
        """The dominant speaker as last reported by `update`."""
        return self._current

    def add(self, participant_id: str, level: int, voice: bool, now: float) -> None:
        """One audio packet's RFC 6464 level (0..127 −dBov) and voice-activity flag."""
        tr = self._tracks.get(participant_id)
        if tr is None:
            tr = self._tracks[participant_id] = _Levels()
        if voice:
            tr.trust_voice = True
        elif tr.trust_voice:
            level = SILENCE
        level = 0 if level < 0 else SILENCE if level > SILENCE else level
        b = math.floor(now / self._width)
        if b <= tr.roll(b) - BUCKETS:
            return  # older than the window
        i = b % BUCKETS
        tr.sums[i] += level
        tr.counts[i] += 1
        if level <= self.threshold_dbov:
            tr.active[i] += 1

    def forget(self, participant_id: str) -> None:
        """The participant left (or stopped publishing audio)."""
        self._tracks.pop(participant_id, None)
        if self._candidate == participant_id:
            self._candidate = None
        if self._current == participant_id:
            self._current = None
            self._silent_since = None
            self._announce = True

    def levels(self, now: float) -> dict[str, int]:
        """Per participant: mean level over the window (0 loudest .. 127 silent), for UI meters."""
        b = math.floor(now / self._width)
        out: dict[str, int] = {}
        for pid, tr in self._tracks.items():
            tr.roll(b)
            n = sum(tr.counts)
            out[pid] = round(sum(tr.sums) / n) if n else SILENCE
        return out

    def _speaking(self, now: float) -> dict[str, float]:
        b = math.floor(now / self._width)
        out: dict[str, float] = {}
        for pid, tr in self._tracks.items():
            tr.roll(b)
            n = sum(tr.counts)
            if not n or 2 * sum(1 for a in tr.active if a) < BUCKETS:
                continue
            mean = sum(tr.sums) / n
            if mean <= self.threshold_dbov:
                out[pid] = mean
        return out

    def update(self, now: float) -> SpeakerChange | None:
        """Re-evaluate; returns a `SpeakerChange` only when the dominant speaker changes."""
        speaking = self._speaking(now)
        current = self._current
        best: str | None = None
        if speaking:
            best = min(speaking, key=lambda p: (speaking[p], p))
            if current in speaking and speaking[current] <= speaking[best]:
                best = current
        if current is not None:
            if current in speaking:
                self._silent_since = None
            elif self._silent_since is None:
                self._silent_since = now
        if best is None or best == current:
            self._candidate = None
            if current is not None and self._silent_since is not None and now - self._silent_since >= self.hold:
                return self._change(None)
            return self._change(None) if self._announce else None
        if current is not None and (self._silent_since is None or now - self._silent_since < self.hold):
            if self._candidate != best:
                self._candidate = best
                self._candidate_since = now
            if now - self._candidate_since < self.hold / 2:
                return None
        return self._change(best)

    def _change(self, participant_id: str | None) -> SpeakerChange:
        self._current = participant_id
        self._candidate = None
        self._silent_since = None
        self._announce = False
        return SpeakerChange(participant_id)
