"""Which simulcast layer one subscriber gets, and when the switch happens. Pure state, time passed in (seconds).

Why hysteresis and keyframes: a subscriber's estimate (media/bwe.py) wobbles by tens of percent; a layer choice
that followed it would switch every second, each switch costing a keyframe (5–10 delta frames' worth of bits) on a
link that is already short. So going down is immediate (the link is short *now*), going up needs `up_margin` of
headroom held for `up_hold` seconds. A switch only happens at a keyframe of the target layer (a delta frame of a
layer the decoder has never seen is garbage); until then the current layer keeps flowing, and a keyframe of the
target is asked for (throttled by `keyframe_interval`).

Audio first: `audio_bps` is taken off the estimate before any video layer is considered. When even the lowest layer
does not fit in what is left, video pauses (target None) and audio keeps the link; it resumes (at the lowest layer)
once that fits with headroom again. A paused subscriber's own estimate may never recover by itself (a receiver's
REMB follows what it receives, and audio alone says little), so after `probe_after` seconds paused the lowest layer
is tried again for `probe_grace` seconds; each failed probe doubles the wait, up to `max_probe_after`.

Why raise an unconstrained estimate: a receiver's REMB follows what it receives (libwebrtc caps it near 1.5x the
incoming rate), so a subscriber on the lowest layer would never show the headroom the next layer needs. When the
estimate is `unconstrained` (REMB without loss: media/links.py), the current layer is kept whatever it says and the
next layer up is tried after `up_hold`; falling back within `raise_grace` seconds (the link lost packets) is a
failed try of that layer: it waits `raise_wait` seconds, doubled after each further failure, up to
`max_raise_wait`, so a link between two layers settles on the lower one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Layer", "LayerSelector"]


@dataclass(frozen=True, slots=True)
class Layer:
    """One encoding the publisher sends: its index (0 = lowest), measured bitrate and resolution."""

    index: int
    bitrate_bps: float
    width: int = 0
    height: int = 0


class LayerSelector:
    """One subscriber × one simulcast track: the target layer, the layer being forwarded, keyframe requests."""

    __slots__ = (
        "_better_since",
        "_last_request",
        "_paused_since",
        "_probe_until",
        "_raise_blocked",
        "_raised",
        "audio_bps",
        "current",
        "down_margin",
        "keyframe_interval",
        "max_probe_after",
        "max_raise_wait",
        "probe_after",
        "probe_grace",
        "raise_grace",
        "raise_wait",
        "target",
        "up_hold",
        "up_margin",
    )

    def __init__(self, *, audio_bps: float = 40_000, up_margin: float = 1.2, down_margin: float = 1.0,
                 up_hold: float = 3.0,
                 keyframe_interval: float = 0.5, probe_after: float | None = 10.0, probe_grace: float = 3.0,
                 max_probe_after: float = 60.0, raise_grace: float = 10.0, raise_wait: float = 30.0,
                 max_raise_wait: float = 240.0) -> None:
        self.audio_bps = audio_bps
        self.up_margin = up_margin
        self.down_margin = down_margin  # < 1: tolerate an estimate this much below a layer's bitrate before leaving it
        self.up_hold = up_hold
        self.keyframe_interval = keyframe_interval
        self.target: int | None = 0  # None: video paused for this subscriber
        self.current: int | None = None  # the layer forwarded now (None: nothing yet, or paused)
        self._better_since: float | None = None
        self._last_request: float | None = None
        self.probe_after = probe_after
        self.probe_grace = probe_grace
        self.max_probe_after = max_probe_after
        self._paused_since: float | None = None
        self._probe_until: float | None = None
        self.raise_grace = raise_grace
        self.raise_wait = raise_wait
        self.max_raise_wait = max_raise_wait
        self._raised: tuple[int, float] | None = None  # (layer, when) an unconstrained estimate last took us up to
        self._raise_blocked: dict[int, tuple[float, float]] = {}  # layer -> (wait, not before): failed tries

    @property
    def paused(self) -> bool:
        return self.target is None

    def update(self, layers: Sequence[Layer], estimate_bps: float | None, now: float, *,
               may_pause: bool = True, unconstrained: bool = False) -> int | None:
        """Re-choose the target from the layers being received now and the subscriber's estimate.

        `may_pause=False` keeps at least the lowest layer (the estimate alone is not trusted enough to stop video).
        """
        before = self.target
        target = self._choose(layers, estimate_bps, now, unconstrained)
        if target is None and not may_pause and layers:
            self.target = target = min(layer.index for layer in layers)
        if target is None and before is not None and self._probe_until is not None:
            if now < self._probe_until:  # a probe gets its grace: the estimate needs time to see the new rate
                self.target = target = before
            else:  # the probe failed: wait longer before the next
                self._probe_until = None
                if self.probe_after is not None:
                    self.probe_after = min(self.probe_after * 2, self.max_probe_after)
        if target is not None and self._probe_until is not None and now >= self._probe_until:
            self._probe_until = None  # the probe held
        if target is None:
            if self._paused_since is None:
                self._paused_since = now
            elif (self.probe_after is not None and layers and now - self._paused_since >= self.probe_after):
                self.target = target = min(layer.index for layer in layers)
                self._probe_until = now + self.probe_grace
                self._paused_since = None
        else:
            self._paused_since = None
        return target

    def _choose(self, layers: Sequence[Layer], estimate_bps: float | None, now: float,
                unconstrained: bool = False) -> int | None:
        present = sorted(layers, key=lambda layer: layer.index)
        if not present:
            self._better_since = None
            return self.target
        indexes = [layer.index for layer in present]
        if estimate_bps is None:  # nothing known yet: the lowest layer is safe on any link
            if self.target is None or self.target not in indexes:
                self.target = indexes[0]
            self._better_since = None
            return self.target
        room = estimate_bps - self.audio_bps
        raised = False
        if unconstrained and self.target is not None:
            # Nor is such an estimate below the current layer a reason to leave it: it ramps up behind the layer.
            current = next((layer for layer in present if layer.index == self.target), None)
            if current is not None:
                room = max(room, current.bitrate_bps * self.down_margin)
            above = [layer for layer in present if layer.index > self.target]
            blocked = self._raise_blocked.get(above[0].index) if above else None
            if above and above[0].bitrate_bps * self.up_margin > room and (blocked is None or now >= blocked[1]):
                room = above[0].bitrate_bps * self.up_margin
                raised = True
        fitting = [layer.index for layer in present if layer.bitrate_bps * self.down_margin <= room]
        best = fitting[-1] if fitting else None
        if self.target is not None and self.target not in indexes:  # the target layer stopped arriving
            lower = [i for i in indexes if i < self.target]
            self.target = lower[-1] if lower else indexes[0]
        if best is None or (self.target is not None and best < self.target):
            if self._raised is not None and now - self._raised[1] < self.raise_grace:  # that layer did not fit
                previous = self._raise_blocked.get(self._raised[0])
                wait = min(previous[0] * 2, self.max_raise_wait) if previous is not None else self.raise_wait
                self._raise_blocked[self._raised[0]] = (wait, now + wait)
            self._raised = None
            self.target = best  # down (or pause) at once
            self._better_since = None
            return self.target
        # Up only with headroom, held for up_hold seconds.
        up = [layer.index for layer in present if layer.bitrate_bps * self.up_margin <= room
              and (self.target is None or layer.index > self.target)]
        if not up:
            self._better_since = None
            return self.target
        if self._better_since is None:
            self._better_since = now
        if now - self._better_since >= self.up_hold:
            self.target = up[0] if self.target is None else up[-1]
            self._better_since = None
            self._raised = (self.target, now) if raised else None
        return self.target

    def accept(self, layer: int, keyframe: bool) -> bool:
        """Forward this packet (of `layer`) to the subscriber? Switches to the target at its keyframe."""
        if self.target is None:
            self.current = None
            return False
        if layer == self.target and layer != self.current:
            if not keyframe:
                return False
            self.current = layer
            return True
        return layer == self.current

    def switching(self) -> bool:
        """A switch (or the start) waits for a keyframe of the target."""
        return self.target is not None and self.target != self.current

    def keyframe_request(self, now: float) -> int | None:
        """The layer to send a PLI for now (throttled), or None."""
        if not self.switching():
            return None
        if self._last_request is not None and now - self._last_request < self.keyframe_interval:
            return None
        self._last_request = now
        return self.target
