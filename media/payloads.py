"""Codec payload inspection without decoding: keyframe detection, VP8 PictureID continuity, RFC 6464 levels.

Why: the SFU must hold a new subscriber's video until a keyframe starts (decoders cannot start on a delta
frame) and must know where a keyframe begins when re-basing sequence/timestamp offsets.  Reading the first
few bytes of the RTP payload answers that for VP8 (RFC 7741) and H.264 (RFC 6184, packetization-mode 1)
at per-packet cost.  Every function here is total: malformed or short input gives False/None (or the input
unchanged), never an exception, because one garbage packet must not kill the forwarding task.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "audio_level",
    "h264_is_keyframe",
    "is_keyframe",
    "vp8_is_keyframe",
    "vp8_picture_id",
    "vp8_rewrite_picture_id",
    "vp8_tl0picidx",
]

Payload = bytes | bytearray | memoryview

_VP8_START_CODE = b"\x9d\x01\x2a"


def _vp8_header_len(payload: Payload) -> int:
    """Length of the VP8 payload descriptor (RFC 7741 §4.2), or -1 if it runs past the payload."""
    n = len(payload)
    if n < 1:
        return -1
    if not payload[0] & 0x80:  # X: no extension byte
        return 1
    if n < 2:
        return -1
    ext = payload[1]
    pos = 2
    if ext & 0x80:  # I: PictureID, 7 bits or (M bit set) 15 bits
        if pos >= n:
            return -1
        pos += 2 if payload[pos] & 0x80 else 1
    if ext & 0x40:  # L: TL0PICIDX
        pos += 1
    if ext & 0x30:  # T and/or K: one TID/Y/KEYIDX byte
        pos += 1
    return pos if pos <= n else -1


def vp8_is_keyframe(payload: Payload) -> bool:
    """True only on the first packet of a VP8 keyframe.

    Needs S=1 and PID=0 in the descriptor (start of partition 0), then the VP8 frame tag's P bit == 0
    (key frame, RFC 6386 §9.1).  The key frame start code 9d 01 2a must also be present: a single bit is too
    weak evidence on its own (half of all garbage would pass), and libwebrtc likewise rejects a keyframe
    whose first packet is too short to hold the 10-byte key frame header.
    """
    if len(payload) < 1 or payload[0] & 0x17 != 0x10:  # S set, 3-bit PID zero (bit 0x08 is reserved)
        return False
    pos = _vp8_header_len(payload)
    if pos < 0 or len(payload) < pos + 10:
        return False
    return not payload[pos] & 0x01 and payload[pos + 3 : pos + 6] == _VP8_START_CODE


def _vp8_picture_id_pos(payload: Payload) -> int:
    n = len(payload)
    if n < 3 or not payload[0] & 0x80 or not payload[1] & 0x80:
        return -1
    if payload[2] & 0x80 and n < 4:
        return -1
    return 2


def vp8_picture_id(payload: Payload) -> int | None:
    """The descriptor's PictureID (7 or 15 bits), or None if absent or truncated."""
    if _vp8_picture_id_pos(payload) < 0:
        return None
    b = payload[2]
    if b & 0x80:
        return ((b & 0x7F) << 8) | payload[3]
    return b


def vp8_tl0picidx(payload: Payload) -> int | None:
    """The descriptor's TL0PICIDX (temporal layer 0 picture index), or None if absent or truncated."""
    if len(payload) < 2 or not payload[0] & 0x80 or not payload[1] & 0x40:
        return None
    pos = 2
    if payload[1] & 0x80:
        if len(payload) < 3:
            return None
        pos += 2 if payload[2] & 0x80 else 1
    return payload[pos] if pos < len(payload) else None


def vp8_rewrite_picture_id(payload: Payload, picture_id: int, tl0picidx: int | None = None) -> bytes:
    """Copy of `payload` with PictureID (and TL0PICIDX if given and present) replaced, same length.

    Used when a publisher restarts: the subscriber's decoder must keep seeing a continuous PictureID.  The
    field keeps its width (15 bits when the M bit is set, else 7), so the value is taken modulo that width.
    Without a PictureID, or when malformed, the payload is returned unchanged.
    """
    if _vp8_picture_id_pos(payload) < 0 or _vp8_header_len(payload) < 0:
        return bytes(payload)
    out = bytearray(payload)
    if out[2] & 0x80:
        out[2] = 0x80 | ((picture_id >> 8) & 0x7F)
        out[3] = picture_id & 0xFF
        pos = 4
    else:
        out[2] = picture_id & 0x7F
        pos = 3
    if tl0picidx is not None and out[1] & 0x40:
        out[pos] = tl0picidx & 0xFF
    return bytes(out)


_H264_KEY_NALS = (5, 7)  # IDR slice, SPS


def h264_is_keyframe(payload: Payload) -> bool:
    """True if the packet carries an IDR slice or SPS start (RFC 6184, packetization-mode 1).

    Single NAL unit (types 1-23), STAP-A (24) aggregates (any contained NAL), FU-A (28) start fragments.
    STAP-B/MTAP/FU-B only exist in interleaved mode 2, which the SFU does not negotiate.  A NAL header with
    the forbidden bit set is treated as not-a-keyframe.
    """
    n = len(payload)
    if n < 1:
        return False
    b = payload[0]
    if b & 0x80:
        return False
    t = b & 0x1F
    if t == 5 or t == 7:
        return True
    if t == 28:
        return n >= 2 and payload[1] & 0x80 != 0 and payload[1] & 0x1F in _H264_KEY_NALS
    if t == 24:
        pos = 1
        while pos + 2 < n:
            size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if size == 0 or pos + size > n:
                return False
            if payload[pos] & 0x1F in _H264_KEY_NALS:
                return True
            pos += size
    return False


def _always(_payload: Payload) -> bool:
    return True


_KEYFRAME: dict[str, Callable[[Payload], bool]] = {}
for _name, _fn in (
    ("vp8", vp8_is_keyframe),
    ("h264", h264_is_keyframe),
    ("opus", _always),
    ("pcmu", _always),
    ("pcma", _always),
    ("g722", _always),
):
    _KEYFRAME[_name] = _fn
    _KEYFRAME[("audio/" if _fn is _always else "video/") + _name] = _fn


def is_keyframe(codec_name: str, payload: Payload) -> bool:
    """Whether a subscriber may start on this packet.  Audio packets are always independent.

    `codec_name` is the SDP encoding name ("VP8", "H264", "opus"...) or a MIME type ("video/VP8"), any case.
    Unknown codecs give False: the SFU only negotiates the codecs above, and forwarding an unknown video
    codec's delta frames to a fresh decoder would show garbage.
    """
    fn = _KEYFRAME.get(codec_name.lower())
    return fn(payload) if fn is not None else False


def audio_level(value: Payload) -> tuple[bool, int]:
    """RFC 6464 client-to-mixer audio level: (voice activity flag, level 0..127 meaning -level dBov).

    An empty value reads as (False, 127): no voice, silence.
    """
    if len(value) < 1:
        return False, 127
    b = value[0]
    return b > 127, b & 0x7F
