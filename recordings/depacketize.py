"""RTP payloads → whole encoded frames, without decoding (VP8 RFC 7741, H.264 RFC 6184, Opus RFC 7587).

Why: the recorder remuxes what the SFU already forwards; it must rebuild the encoder's frames from packets
(strip payload descriptors, reassemble fragments) but never decode or re-encode them.  Everything here is pure:
`FrameAssembler.push(rtp_bytes)` returns the frames completed by that packet, so it can be tested (and run on
a worker thread) without sockets.

Loss policy: a frame with a missing packet is dropped, never written half (a half frame is a corrupt frame in
evidence).  The next frame that *is* written carries `discontinuity=True`, so the recorder can ask the
publisher for a keyframe (the frames after a loss reference a picture the recording lacks).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from media.rtp import parse_rtp

__all__ = [
    "EncodedFrame",
    "FrameAssembler",
    "Unwrapper",
    "vp8_dimensions",
]

_START = b"\x00\x00\x00\x01"


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame (VP8 frame, H.264 Annex-B access unit, Opus packet) with its extended RTP timestamp."""

    data: bytes
    rtp_timestamp: int  # extended to 64 bits: never wraps during a hearing
    keyframe: bool
    first_sequence: int  # extended sequence numbers of the packets that carried it
    last_sequence: int
    discontinuity: bool = False  # a frame (or packets) before this one was lost


class Unwrapper:
    """Extend a wrapping counter (16-bit sequence, 32-bit timestamp) to 64 bits.

    The value nearest to the last one is chosen, so reordering by less than half the range goes either way.
    """

    __slots__ = ("_half", "_last", "_mod")

    def __init__(self, bits: int) -> None:
        self._mod = 1 << bits
        self._half = 1 << (bits - 1)
        self._last: int | None = None

    def unwrap(self, value: int) -> int:
        last = self._last
        if last is None:
            self._last = value
            return value
        delta = (value - last) & (self._mod - 1)
        if delta >= self._half:
            delta -= self._mod
        ext = last + delta
        if delta > 0:
            self._last = ext
        return ext


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe header (RFC 6386 §9.1), or None for delta frames / short input."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    w, h = struct.unpack_from("<HH", frame, 6)
    return w & 0x3FFF, h & 0x3FFF


class _Depacketizer:
    """Codec-specific part: packets of one frame in sequence order in, frame bytes out."""

    def begin(self, payload: bytes) -> bool:
        """Start a frame with its first packet; False if that packet cannot start a frame."""
        raise NotImplementedError

    def add(self, payload: bytes) -> bool:
        """Append a following packet; False if it is malformed (the frame is then dropped)."""
        raise NotImplementedError

    def finish(self) -> tuple[bytes, bool] | None:
        """(frame bytes, keyframe) or None when the frame turned out incomplete."""
        raise NotImplementedError

    def starts_frame(self, payload: bytes) -> bool:
        """Whether this packet provably is a frame's first one (asked only for the first frame after a loss)."""
        return True


def _vp8_descriptor_len(p: bytes) -> int:
    n = len(p)
    if n < 1:
        return -1
    if not p[0] & 0x80:
        return 1
    if n < 2:
        return -1
    ext, pos = p[1], 2
    if ext & 0x80:
        if pos >= n:
            return -1
        pos += 2 if p[pos] & 0x80 else 1
    if ext & 0x40:
        pos += 1
    if ext & 0x30:
        pos += 1
    return pos if pos < n else -1


class _Vp8(_Depacketizer):
    """RFC 7741: a frame starts with S=1 and PID=0; the descriptor is stripped from every packet."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def begin(self, payload: bytes) -> bool:
        self._parts = []
        if len(payload) < 1 or payload[0] & 0x17 != 0x10:  # S set, PID 0
            return False
        return self.add(payload)

    def add(self, payload: bytes) -> bool:
        pos = _vp8_descriptor_len(payload)
        if pos < 0:
            return False
        self._parts.append(payload[pos:])
        return True

    def finish(self) -> tuple[bytes, bool] | None:
        data = b"".join(self._parts)
        self._parts = []
        if not data:
            return None
        return data, not data[0] & 1  # frame tag P bit: 0 = keyframe


class _Opus(_Depacketizer):
    """RFC 7587: one RTP packet is one Opus packet."""

    def __init__(self) -> None:
        self._data = b""

    def begin(self, payload: bytes) -> bool:
        self._data = payload
        return bool(payload)

    def add(self, payload: bytes) -> bool:
        return False  # two packets with one timestamp: not a valid Opus stream

    def finish(self) -> tuple[bytes, bool] | None:
        data, self._data = self._data, b""
        return (data, True) if data else None


class _H264(_Depacketizer):
    """RFC 6184 packetization-mode 0/1: single NAL, STAP-A, FU-A → one Annex-B access unit.

    The latest SPS and PPS are remembered and put in front of an IDR access unit that lacks them, so every
    segment starting on a keyframe is decodable on its own; `parameter_sets` exposes them for the container
    header.
    """

    def __init__(self) -> None:
        self._nals: list[bytes] = []
        self._fu: bytearray | None = None
        self.sps: bytes | None = None
        self.pps: bytes | None = None

    def begin(self, payload: bytes) -> bool:
        self._nals = []
        self._fu = None
        return self.add(payload)

    def _nal(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == 7:
            self.sps = nal
        elif t == 8:
            self.pps = nal
        self._nals.append(nal)

    def add(self, payload: bytes) -> bool:
        n = len(payload)
        if n < 1 or payload[0] & 0x80:
            return False
        t = payload[0] & 0x1F
        if t == 28:  # FU-A
            if n < 3:
                return False
            fu = payload[1]
            if fu & 0x80:
                if self._fu is not None:
                    return False  # previous fragmented NAL never ended
                self._fu = bytearray([(payload[0] & 0xE0) | (fu & 0x1F)])
            elif self._fu is None:
                return False  # middle/end fragment without its start
            self._fu += payload[2:]
            if fu & 0x40:
                self._nal(bytes(self._fu))
                self._fu = None
            return True
        if self._fu is not None:
            return False
        if t == 24:  # STAP-A
            pos = 1
            while pos < n:
                if pos + 2 > n:
                    return False
                size = (payload[pos] << 8) | payload[pos + 1]
                pos += 2
                if size == 0 or pos + size > n:
                    return False
                self._nal(payload[pos : pos + size])
                pos += size
            return True
        if 1 <= t <= 23:
            self._nal(payload)
            return True
        return False  # STAP-B, MTAP, FU-B: interleaved mode, never negotiated

    def starts_frame(self, payload: bytes) -> bool:
        """Parameter sets / AUD / SEI come first in an access unit; a slice starts one if first_mb_in_slice is 0.

        first_mb_in_slice is the slice header's first ue(v) field, and ue(v) 0 is the single bit 1, so the top
        bit of the byte after the NAL header tells.  (One picture per access unit: WebRTC never sends more.)
        """
        n = len(payload)
        if n < 2:
            return False
        t = payload[0] & 0x1F
        if t == 28:
            if n < 3 or not payload[1] & 0x80:
                return False
            t, first = payload[1] & 0x1F, payload[2]
        elif t == 24:
            if n < 5:
                return False
            t, first = payload[3] & 0x1F, payload[4]
        else:
            first = payload[1]
        if t in (6, 7, 8, 9):
            return True
        return t in (1, 5) and bool(first & 0x80)

    def finish(self) -> tuple[bytes, bool] | None:
        nals, fu = self._nals, self._fu
        self._nals, self._fu = [], None
        if fu is not None or not nals:
            return None
        types = {nal[0] & 0x1F for nal in nals}
        key = 5 in types
        if key:
            prefix = []
            if 7 not in types and self.sps is not None:
                prefix.append(self.sps)
            if 8 not in types and self.pps is not None:
                prefix.append(self.pps)
            nals = prefix + nals
        return b"".join(_START + nal for nal in nals), key

    def parameter_sets(self) -> bytes | None:
        """Annex-B SPS+PPS (for the container's codec private data), once both were seen."""
        if self.sps is None or self.pps is None:
            return None
        return _START + self.sps + _START + self.pps


_CODECS: dict[str, Callable[[], _Depacketizer]] = {"vp8": _Vp8, "opus": _Opus, "h264": _H264}


class FrameAssembler:
    """Per-track RTP → `EncodedFrame`s, fed in arrival order, tolerating reordering within `reorder_window`.

    Packets wait in a small buffer keyed by extended sequence number and are released in order.  A missing
    packet is declared lost once `reorder_window` later packets have arrived (no timers: the decision is a pure
    function of the packet stream), then the frame it belonged to is dropped.  A frame ends at its marker bit,
    or when a packet with another timestamp follows without any loss.  Packets older than what was already
    released (late or duplicate) are counted and ignored.
    """

    def __init__(self, codec: str, *, reorder_window: int = 8) -> None:
        factory = _CODECS.get(codec.lower())
        if factory is None:
            raise ValueError(f"cannot record codec {codec!r}: supported are VP8, H264 and opus")
        if reorder_window < 1:
            raise ValueError(f"reorder_window must be at least 1 packet, got {reorder_window}")
        self.codec = codec.lower()
        self.window = reorder_window
        self._depak = factory()
        self._seq = Unwrapper(16)
        self._ts = Unwrapper(32)
        self._pending: dict[int, tuple[int, bool, bytes]] = {}
        self._next: int | None = None  # next extended sequence number to release
        self._primed = False  # the first `window` packets are held so that the true first one is known
        # the frame being assembled
        self._cur_ts: int | None = None
        self._cur_first = 0
        self._cur_last = 0
        self._cur_ok = False
        self._discontinuity = False
        self._after_hole = False
        # counters for metrics / tests
        self.packets = 0
        self.late_packets = 0
        self.lost_packets = 0
        self.malformed_packets = 0
        self.frames = 0
        self.dropped_frames = 0

    @property
    def parameter_sets(self) -> bytes | None:
        """H.264 only: the latest Annex-B SPS+PPS, else None."""
        return self._depak.parameter_sets() if isinstance(self._depak, _H264) else None

    def push(self, packet: bytes) -> list[EncodedFrame]:
        """Feed one decrypted RTP packet; returns the frames it completed (usually zero or one)."""
        try:
            h = parse_rtp(packet)
        except ValueError:
            self.malformed_packets += 1
            return []
        self.packets += 1
        seq = self._seq.unwrap(h.sequence)
        out: list[EncodedFrame] = []
        if not self._primed:
            if seq in self._pending:
                self.late_packets += 1
                return out
            self._next = seq if self._next is None else min(self._next, seq)
        elif seq < self._next or seq in self._pending:  # type: ignore[operator]
            self.late_packets += 1
            return out
        ts = self._ts.unwrap(h.timestamp)
        self._pending[seq] = (ts, h.marker, bytes(packet[h.payload_offset : h.payload_end]))
        if not self._primed:
            if len(self._pending) < self.window:
                return out
            self._primed = True
        self._release(out)
        if self._pending and max(self._pending) - self._next >= self.window:
            # give up on the hole(s) before the oldest waiting packet
            oldest = min(self._pending)
            self.lost_packets += oldest - self._next
            self._next = oldest
            self._loss()
            self._release(out)
        return out

    def flush(self) -> list[EncodedFrame]:
        """End of stream: release what is buffered (holes count as loss) and close the current frame."""
        out: list[EncodedFrame] = []
        self._primed = True
        while self._pending:
            oldest = min(self._pending)
            if self._next is not None and oldest > self._next:
                self.lost_packets += oldest - self._next
                self._loss()
            self._next = oldest
            self._release(out)
        self._close(out)
        return out

    # -- in-order processing ---------------------------------------------------------------------------

    def _release(self, out: list[EncodedFrame]) -> None:
        pending = self._pending
        nxt = self._next
        assert nxt is not None
        while nxt in pending:
            ts, marker, payload = pending.pop(nxt)
            self._in_order(nxt, ts, marker, payload, out)
            nxt += 1
        self._next = nxt

    def _loss(self) -> None:
        if self._cur_ts is not None:
            self._cur_ok = False
        self._discontinuity = True
        self._after_hole = True

    def _in_order(self, seq: int, ts: int, marker: bool, payload: bytes, out: list[EncodedFrame]) -> None:
        suspect, self._after_hole = self._after_hole, False
        if self._cur_ts is not None and ts != self._cur_ts:
            self._close(out)
        if self._cur_ts is None:
            self._cur_ts, self._cur_first = ts, seq
            # after a hole the frame's first packet may be the lost one: accept only a provable start
            self._cur_ok = self._depak.begin(payload) and (not suspect or self._depak.starts_frame(payload))
        elif self._cur_ok:
            self._cur_ok = self._depak.add(payload)
        self._cur_last = seq
        if marker:
            self._close(out)

    def _close(self, out: list[EncodedFrame]) -> None:
        if self._cur_ts is None:
            return
        result = self._depak.finish() if self._cur_ok else None
        if result is None:
            self.dropped_frames += 1
            self._discontinuity = True
            if not self._cur_ok:
                self._depak.finish()  # reset its state
        else:
            data, key = result
            out.append(EncodedFrame(data, self._cur_ts, key, self._cur_first, self._cur_last, self._discontinuity))
            self.frames += 1
            self._discontinuity = False
        self._cur_ts = None
        self._cur_ok = False
