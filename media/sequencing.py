"""Per-subscriber RTP sequence number and timestamp rewriting on the SFU's forwarding path.

Every subscriber receives each forwarded track as its own RTP stream (its own SSRC, sequence and timestamp space).
That lets the SFU drop packets for one subscriber (paused, waiting for a keyframe) and survive a publisher restart
without the subscriber seeing a hole it would NACK for ever, or time running backwards. Pure integer state: no I/O,
time is passed in as `now` (seconds), and the steady-state path costs a few integer operations per packet.

16-bit sequence numbers and 32-bit timestamps wrap; internally inputs and outputs are tracked as unbounded
"extended" integers (last value plus the signed 16-bit distance), so nothing breaks at 65535 → 0 or 2^32 → 0.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = [
    "MAX_SEQ_JUMP",
    "MAX_TS_JUMP",
    "REORDER_WINDOW",
    "OutboundStream",
    "PictureIdStream",
    "seq_diff",
    "seq_newer",
    "ts_diff",
    "ts_newer",
]

SEQ_MASK = 0xFFFF
TS_MASK = 0xFFFF_FFFF
REORDER_WINDOW = 1000  # a packet this far behind the newest is still a reordered packet of the same stream
MAX_SEQ_JUMP = 3000  # a larger sequence jump (either way) means the publisher restarted: a new source
MAX_TS_JUMP = 10.0  # seconds of timestamp jump, beyond wall-clock time elapsed, that also means a restart
MAX_SEGMENTS = 512  # bound on remembered renumbering points (older ones: reordered packets dropped, NACKs unanswered)
_MAX_GAP_TICKS = 0x4000_0000  # cap the wall-clock gap added at a re-base so "newer" (mod 2^32) stays true


def seq_diff(a: int, b: int) -> int:
    """Signed distance a − b between 16-bit sequence numbers, in [-32768, 32767] (RFC 1982 style)."""
    return ((a - b + 0x8000) & SEQ_MASK) - 0x8000


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number a comes after b (modulo 2^16; exactly half-way apart counts as neither)."""
    return seq_diff(a, b) > 0


def ts_diff(a: int, b: int) -> int:
    """Signed distance a − b between 32-bit RTP timestamps, in [-2^31, 2^31)."""
    return ((a - b + 0x8000_0000) & TS_MASK) - 0x8000_0000


def ts_newer(a: int, b: int) -> bool:
    """True when RTP timestamp a comes after b (modulo 2^32)."""
    return ts_diff(a, b) > 0


class OutboundStream:
    """Rewriter state for one (subscriber, publisher track) pair.

    Between re-bases, ``seq_out = seq_in + offset`` and ``ts_out = ts_in + ts_offset``: a gap upstream stays a gap
    downstream (the subscriber NACKs it and we answer from the publisher's packet cache via `translate_nack`), and
    reordered packets land in their right place. A re-base happens at the first packet forwarded, at a publisher
    restart and (video) at the keyframe that opens a gate; it continues the *output* numbering from the last packet
    sent (+1) and the output clock from the last timestamp sent plus the wall-clock time since it, so the subscriber's
    decoder and jitter buffer see one continuous stream.

    When the SFU itself withholds a packet from this subscriber (`skip`, or `forward` while paused) the sequence
    offset drops by one from the next input on, so the subscriber sees no hole. The points where that happened are
    kept as "segments" (input start, offset): a reordered packet older than a renumbering point still gets the
    output slot it would have had, and a withheld packet arriving again is not forwarded into a slot given away.

    A publisher restart (new encoder: random sequence and timestamp origins) shows as a sequence jump beyond
    ±`MAX_SEQ_JUMP` or a timestamp jump more than `MAX_TS_JUMP` seconds away from the wall-clock time elapsed (so a
    long DTX silence, where both advance together, is not one); it re-bases, video at its next keyframe.
    """

    __slots__ = (
        "_base_in",
        "_base_out",
        "_based",
        "_hi_in",
        "_last_sent_at",
        "_last_ts_out",
        "_max_ts_jump",
        "_out_ext",
        "_pause_reasons",
        "_paused",
        "_ref_time",
        "_ref_ts",
        "_seg_in",
        "_seg_off",
        "_seg_out",
        "_ts_offset",
        "_waiting",
        "clock_rate",
        "initial_sequence",
        "initial_timestamp",
        "is_video",
        "octets_sent",
        "out_ssrc",
        "packets_sent",
    )

    def __init__(self, out_ssrc: int, clock_rate: int, *, is_video: bool, initial_sequence: int,
                 initial_timestamp: int) -> None:
        if clock_rate <= 0:
            raise ValueError("clock_rate must be positive")
        self.out_ssrc = out_ssrc
        self.clock_rate = clock_rate
        self.is_video = is_video
        self.initial_sequence = initial_sequence & SEQ_MASK
        self.initial_timestamp = initial_timestamp & TS_MASK
        self.packets_sent = 0
        self.octets_sent = 0
        self._max_ts_jump = MAX_TS_JUMP * clock_rate
        self._based = False  # offsets valid (a base exists); False before the first packet and while gated
        self._waiting = is_video  # video: hold everything back until a keyframe
        self._paused = False  # == bool(_pause_reasons), kept as a plain flag for the per-packet path
        self._pause_reasons: set[str] = set()
        # Renumbering segments, oldest first (extended input start, offset out−in, extended output start).
        self._seg_in: list[int] = []
        self._seg_off: list[int] = []
        self._seg_out: list[int] = []
        self._base_in = 0  # extended input seq of the re-base point: anything older is dropped
        self._base_out = 0  # its output seq: NACKs for anything older are not ours to answer
        self._hi_in = 0  # extended highest input seq seen (forwarded or withheld) since the base
        self._ts_offset = 0
        self._ref_ts = 0  # timestamp / arrival time of the newest input, for restart detection
        self._ref_time = 0.0
        self._out_ext = self.initial_sequence - 1  # extended highest seq_out sent
        self._last_ts_out = self.initial_timestamp
        self._last_sent_at: float | None = None

    # -- state -----------------------------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def waiting_for_keyframe(self) -> bool:
        """Video held back until a keyframe (the SFU should be asking the publisher for one)."""
        return self._waiting

    @property
    def last_seq_out(self) -> int | None:
        """Highest sequence number sent so far (None before the first packet)."""
        return None if self._last_sent_at is None else self._out_ext & SEQ_MASK

    @property
    def last_ts_out(self) -> int | None:
        """Timestamp of the newest packet sent (None before the first packet)."""
        return None if self._last_sent_at is None else self._last_ts_out

    def count(self, payload_bytes: int) -> None:
        """Count one packet actually sent (kept apart from `forward` because sending may fail): feeds Sender Reports."""
        self.packets_sent += 1
        self.octets_sent += payload_bytes

    # -- control ---------------------------------------------------------------------------------------------------

    def pause(self, reason: str = "subscriber") -> None:
        """Stop forwarding; packets passed to `forward` meanwhile are withheld and renumbered away.

        Pauses have reasons (the subscriber's own audio-only choice, the court's rule that a publisher may not
        speak now, ...): the stream forwards again only when every reason is lifted, so lifting one never
        overrides another.
        """
        self._pause_reasons.add(reason)
        self._paused = True

    def resume(self, reason: str = "subscriber") -> None:
        """Lift one pause reason. Video waits for a keyframe: deltas referring to frames never sent are junk."""
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if self._pause_reasons:
            return
        self._paused = False
        if self.is_video:
            self.request_keyframe_gate()

    def paused_for(self, reason: str) -> bool:
        return reason in self._pause_reasons

    def request_keyframe_gate(self) -> None:
        """Video: hold everything back until the next keyframe, then re-base there. A no-op for audio."""
        if self.is_video:
            self._waiting = True
            self._based = False

    def switch_source(self) -> None:
        """A simulcast layer switch: the next packet passed in (a keyframe of the new layer) starts a new input
        space (its own sequence and timestamp origins); the output continues from the last packet sent + 1, and
        its clock from the last timestamp plus the wall-clock time since. Same gate as a publisher restart."""
        self._based = False
        self._waiting = self.is_video

    # -- per packet ------------------------------------------------------------------------------------------------

    def forward(self, seq_in: int, ts_in: int, is_keyframe: bool, now: float) -> tuple[int, int] | None:
        """(seq_out, ts_out) to send this packet with, or None to drop it for this subscriber.

        `is_keyframe` opens a video gate: pass it for (at least) the first packet of a keyframe.
        """
        if self._based:
            hi = self._hi_in
            d = ((seq_in - hi + 0x8000) & SEQ_MASK) - 0x8000
            dt = ((ts_in - self._ref_ts + 0x8000_0000) & TS_MASK) - 0x8000_0000
            if -MAX_SEQ_JUMP <= d <= MAX_SEQ_JUMP and \
                    abs(dt - (now - self._ref_time) * self.clock_rate) <= self._max_ts_jump:
                ext = hi + d
                if d > 0:  # the newest packet so far: the hot path
                    self._advance(ext)
                    self._ref_ts = ts_in
                    self._ref_time = now
                    if self._paused:
                        self._withhold_newest(ext)
                        return None
                    out = ext + self._seg_off[-1]
                    ts_out = (ts_in + self._ts_offset) & TS_MASK
                    self._out_ext = out
                    self._last_ts_out = ts_out
                    self._last_sent_at = now
                    return out & SEQ_MASK, ts_out
                # Reordered or duplicate: same offsets as its neighbours; a paused subscriber's slot stays a hole.
                if self._paused or d < -REORDER_WINDOW or ext < self._base_in:
                    return None
                off = self._offset_at(ext)
                if off is None:
                    return None
                return (ext + off) & SEQ_MASK, (ts_in + self._ts_offset) & TS_MASK
            # A big jump in sequence or timestamp: the publisher restarted (new encoder, new random origins).
            self._based = False
            self._waiting = self.is_video
        if self._paused or (self._waiting and not is_keyframe):
            return None
        return self._rebase(seq_in, ts_in, now)

    def skip(self, seq_in: int) -> None:
        """The SFU withholds this packet from this subscriber: renumber so the subscriber sees no gap.

        Only a packet newer than all seen can be renumbered away; an older (reordered) one already has its slot
        between packets sent, which stays a hole (a NACK for it resends it from the cache, which is harmless).
        Nothing to do before a base exists: the next re-base continues from the last packet sent.
        """
        if not self._based:
            return
        d = seq_diff(seq_in, self._hi_in & SEQ_MASK)
        if 0 < d <= MAX_SEQ_JUMP:  # a bigger jump is left for `forward` to see as a restart
            ext = self._hi_in + d
            self._advance(ext)
            self._withhold_newest(ext)

    def translate_nack(self, seq_out: int) -> int | None:
        """The input sequence number a subscriber's NACK for `seq_out` refers to, for the publisher's packet cache.

        None when it was never sent, is from before the current base (another source or offsets: the cache may
        hold an unrelated packet under that number), or is older than the reorder window.
        """
        if not self._based or self._last_sent_at is None:
            return None
        last = self._out_ext
        ext = last + seq_diff(seq_out, last & SEQ_MASK)
        if ext > last or ext < self._base_out or ext < last - REORDER_WINDOW:
            return None
        i = bisect_right(self._seg_out, ext) - 1
        if i < 0:
            return None
        return (ext - self._seg_off[i]) & SEQ_MASK

    def translate_timestamp(self, ts_in: int) -> int:
        """A publisher timestamp (e.g. its Sender Report's RTP time) in this subscriber's timestamp space."""
        return (ts_in + self._ts_offset) & TS_MASK

    # -- internals -------------------------------------------------------------------------------------------------

    def _rebase(self, seq_in: int, ts_in: int, now: float) -> tuple[int, int]:
        out = self._out_ext + 1
        if self._last_sent_at is None:
            ts_out = self.initial_timestamp
        else:
            ticks = int((now - self._last_sent_at) * self.clock_rate)
            ts_out = (self._last_ts_out + min(max(ticks, 1), _MAX_GAP_TICKS)) & TS_MASK
        self._seg_in[:] = (seq_in,)
        self._seg_off[:] = (out - seq_in,)
        self._seg_out[:] = (out,)
        self._base_in = self._hi_in = seq_in
        self._base_out = out
        self._ts_offset = (ts_out - ts_in) & TS_MASK
        self._ref_ts = ts_in
        self._ref_time = now
        self._based = True
        self._waiting = False
        self._out_ext = out
        self._last_ts_out = ts_out
        self._last_sent_at = now
        return out & SEQ_MASK, ts_out

    def _advance(self, ext: int) -> None:
        """A new newest input: forget renumbering points no reordered packet or NACK can reach any more."""
        self._hi_in = ext
        seg_in = self._seg_in
        if len(seg_in) > 1 and ((seg_in[1] < ext - REORDER_WINDOW and self._seg_out[1] < self._out_ext - REORDER_WINDOW)
                                or len(seg_in) > MAX_SEGMENTS):
            del seg_in[0], self._seg_off[0], self._seg_out[0]

    def _withhold_newest(self, ext: int) -> None:
        """Give input `ext`'s output slot to the next input: a new segment from ext + 1 with offset − 1."""
        if self._seg_in[-1] == ext:  # the segment began at this very packet (previous one withheld too): extend it
            self._seg_in[-1] = ext + 1
            self._seg_off[-1] -= 1
        else:
            off = self._seg_off[-1] - 1
            self._seg_in.append(ext + 1)
            self._seg_off.append(off)
            self._seg_out.append(ext + 1 + off)

    def _offset_at(self, ext: int) -> int | None:
        """Offset for an older (reordered) input; None if it was withheld (its slot went to a later packet)."""
        seg_in = self._seg_in
        i = bisect_right(seg_in, ext) - 1
        if i < 0:
            return None
        off = self._seg_off[i]
        # Segment i's withheld packets are its last (off_i − off_{i+1}) inputs, just before segment i+1 starts.
        if i + 1 < len(seg_in) and ext >= seg_in[i + 1] - (off - self._seg_off[i + 1]):
            return None
        return off


PICTURE_ID_MASK = 0x7FFF
TL0_MASK = 0xFF


class PictureIdStream:
    """VP8 picture ids (15-bit) and TL0PICIDX (8-bit) continued across simulcast layer switches for one subscriber.

    Each layer numbers its pictures independently; a decoder that sees the picture id jump or run backwards at a
    switch may treat the keyframe as a duplicate or drop frames. Like `OutboundStream`, between re-bases output =
    input + offset; `rebase` (at the keyframe opening a new layer) continues from the last id sent + 1.
    """

    __slots__ = ("_last_out", "_last_tl0", "_pid_offset", "_tl0_offset")

    def __init__(self, initial_picture_id: int = 0, initial_tl0: int = 0) -> None:
        self._last_out = (initial_picture_id - 1) & PICTURE_ID_MASK
        self._last_tl0 = (initial_tl0 - 1) & TL0_MASK
        self._pid_offset: int | None = None
        self._tl0_offset = 0

    def rebase(self, picture_id: int, tl0: int | None = None) -> None:
        self._pid_offset = (self._last_out + 1 - picture_id) & PICTURE_ID_MASK
        if tl0 is not None:
            self._tl0_offset = (self._last_tl0 + 1 - tl0) & TL0_MASK

    def map(self, picture_id: int, tl0: int | None = None) -> tuple[int, int | None]:
        """(picture id, tl0picidx) to write into this subscriber's copy; the first call re-bases."""
        if self._pid_offset is None:
            self.rebase(picture_id, tl0)
        assert self._pid_offset is not None
        out = (picture_id + self._pid_offset) & PICTURE_ID_MASK
        if ((out - self._last_out) & PICTURE_ID_MASK) < 0x4000:  # newer (a reordered older one keeps last_out)
            self._last_out = out
        tl0_out = None
        if tl0 is not None:
            tl0_out = (tl0 + self._tl0_offset) & TL0_MASK
            if ((tl0_out - self._last_tl0) & TL0_MASK) < 0x80:
                self._last_tl0 = tl0_out
        return out, tl0_out
