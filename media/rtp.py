"""RTP header codec for the SFU forwarding path (RFC 3550, RFC 8285 header extensions, RFC 4588 RTX).

Why this exists instead of `aiortc.rtp.RtpPacket`: the SFU never decodes media, it only rewrites a few header
fields per subscriber.  aiortc's parse+serialize builds Python objects for every field and re-packs everything
(~7 µs per packet); here a packet is parsed once into a small slotted record of *offsets* (`RtpHeader`), and
each subscriber's copy is produced from slices of the original bytes plus a freshly packed 12-byte fixed header
(well under a microsecond).  Everything is pure and I/O-free; nothing here imports aiortc, so its private
internals stay confined to the one module that taps decrypted RTP.

Errors: `parse_rtp` raises `ValueError` (only) on malformed packets, so the receive loop needs exactly one
`except ValueError`.  Extension elements are parsed leniently (a truncated element ends the walk) because a
bad extension must not cost the media itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "COPY_URIS",
    "URI_ABS_CAPTURE_TIME",
    "URI_ABS_SEND_TIME",
    "URI_AUDIO_LEVEL",
    "URI_COLOR_SPACE",
    "URI_MID",
    "URI_PLAYOUT_DELAY",
    "URI_REPAIRED_RID",
    "URI_RID",
    "URI_TOFFSET",
    "URI_TRANSPORT_CC",
    "URI_VIDEO_CONTENT_TYPE",
    "URI_VIDEO_ORIENTATION",
    "ExtensionRewriter",
    "RtpHeader",
    "abs_send_time",
    "get_extension",
    "is_rtcp",
    "iter_extensions",
    "parse_rtp",
    "rewrite_rtp",
    "rtx_unwrap",
    "rtx_wrap",
]

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_VIDEO_ORIENTATION = "urn:3gpp:video-orientation"
URI_TOFFSET = "urn:ietf:params:rtp-hdrext:toffset"
URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
URI_PLAYOUT_DELAY = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
URI_VIDEO_CONTENT_TYPE = "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type"
URI_COLOR_SPACE = "http://www.webrtc.org/experiments/rtp-hdrext/color-space"
URI_ABS_CAPTURE_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"

#: Extensions copied verbatim (id remapped) when *both* sides negotiated the URI.  They describe the media
#: itself (level, orientation, capture-relative timing, content type, colour), so they stay true after
#: forwarding.  Deliberately absent: transport-cc (a per-hop transport sequence; copying it would make the
#: subscriber's congestion controller report on the publisher's link), rid/repaired-rid (the subscriber sees
#: one plain stream, and Chromium would demux on a RID it never offered), abs-send-time and MID (rewritten,
#: see `ExtensionRewriter`), dependency-descriptor and video-timing (stateful / per-hop fields).
COPY_URIS: frozenset[str] = frozenset(
    {
        URI_AUDIO_LEVEL,
        URI_VIDEO_ORIENTATION,
        URI_TOFFSET,
        URI_PLAYOUT_DELAY,
        URI_VIDEO_CONTENT_TYPE,
        URI_COLOR_SPACE,
        URI_ABS_CAPTURE_TIME,
    }
)

_FIXED = struct.Struct("!BBHII")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
_ZERO_PAD = (b"", b"\x00", b"\x00\x00", b"\x00\x00\x00")


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 demultiplexing of RTP and RTCP sharing one transport.

    RTCP packet types 192..223 land on the RTP marker+payload-type byte; masking the marker bit means
    RTP payload types 64..95 would also be classified as RTCP, which is why RFC 5761 forbids them for RTP.
    """
    return len(data) >= 2 and 64 <= (data[1] & 0x7F) <= 95


@dataclass(slots=True)
class RtpHeader:
    """Where things are in one RTP packet; produced by `parse_rtp`, never mutated by this module.

    Offsets rather than copies: most packets are forwarded with only the fixed header replaced, so slicing
    from the original buffer at the end is the only copy we pay for.
    """

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    csrc_count: int
    #: first byte of the extension *elements* (after the 4-byte profile/length word), -1 if no X bit
    ext_offset: int
    #: length in bytes of the extension elements (a multiple of 4), -1 if no X bit
    ext_length: int
    #: 0xBEDE (one-byte form), 0x1000..0x100F (two-byte form), anything else (opaque), -1 if no X bit
    ext_profile: int
    #: index of the first payload byte
    payload_offset: int
    #: index one past the last payload byte (the start of padding, or len(data))
    payload_end: int
    #: number of padding bytes at the end including the count byte itself, 0 without the P bit
    padding: int


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpHeader:
    """Validate an RTP packet and locate its parts.  Raises only `ValueError`.

    Checks exactly what is needed to slice safely: version 2, CSRC list and extension block inside the
    packet, padding count 1..(bytes after the header).  Extension *elements* are not validated here.
    """
    n = len(data)
    if n < 12:
        raise ValueError("rtp: shorter than 12 bytes")
    b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
    if b0 & 0xC0 != 0x80:
        raise ValueError("rtp: version is not 2")
    cc = b0 & 0x0F
    pos = 12 + 4 * cc
    if pos > n:
        raise ValueError("rtp: CSRC list beyond packet")
    if b0 & 0x10:
        if pos + 4 > n:
            raise ValueError("rtp: extension header beyond packet")
        profile, words = _HH.unpack_from(data, pos)
        ext_offset = pos + 4
        ext_length = words * 4
        pos = ext_offset + ext_length
        if pos > n:
            raise ValueError("rtp: extension beyond packet")
    else:
        ext_offset = ext_length = profile = -1
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0 or pad > n - pos:
            raise ValueError("rtp: invalid padding length")
        return RtpHeader(b1 & 0x7F, b1 > 127, seq, ts, ssrc, cc, ext_offset, ext_length, profile, pos, n - pad, pad)
    return RtpHeader(b1 & 0x7F, b1 > 127, seq, ts, ssrc, cc, ext_offset, ext_length, profile, pos, n, 0)


def iter_extensions(data: bytes | bytearray | memoryview, h: RtpHeader) -> Iterator[tuple[int, bytes | memoryview]]:
    """Yield (id, value) for each RFC 8285 element; values are slices of `data` (memoryview in → memoryview out).

    Padding bytes (id 0) are skipped; id 15 ends the one-byte form (RFC 8285 §4.2); a truncated element ends
    the walk silently; an unknown profile yields nothing.
    """
    pos = h.ext_offset
    if pos < 0:
        return
    end = pos + h.ext_length
    profile = h.ext_profile
    if profile == 0xBEDE:
        while pos < end:
            b = data[pos]
            xid = b >> 4
            if xid == 0:  # padding (libwebrtc also ignores the length nibble here)
                pos += 1
                continue
            if xid == 15:
                return
            start = pos + 1
            pos = start + (b & 0x0F) + 1
            if pos > end:
                return
            yield xid, data[start:pos]
    elif profile & 0xFFF0 == 0x1000:
        while pos < end:
            xid = data[pos]
            if xid == 0:
                pos += 1
                continue
            if pos + 2 > end:
                return
            start = pos + 2
            pos = start + data[pos + 1]
            if pos > end:
                return
            yield xid, data[start:pos]


def get_extension(data: bytes | bytearray | memoryview, h: RtpHeader, ext_id: int) -> bytes | None:
    """The value of extension `ext_id` (first occurrence) as bytes, or None."""
    for xid, value in iter_extensions(data, h):
        if xid == ext_id:
            return bytes(value)
    return None


def abs_send_time(now_seconds: float) -> int:
    """abs-send-time value: seconds as 6.18 fixed point, 24 bits (wraps every 64 s), rounded like libwebrtc."""
    return int(now_seconds * 262144.0 + 0.5) & 0xFFFFFF


def _encode_block(elements: list[tuple[int, bytes | memoryview]]) -> bytes:
    """Encode elements as a complete extension block (profile word + elements + zero padding to 32 bits)."""
    if not elements:
        return b""
    one_byte = all(xid <= 14 and 1 <= len(v) <= 16 for xid, v in elements)
    body = bytearray()
    if one_byte:
        for xid, v in elements:
            body.append((xid << 4) | (len(v) - 1))
            body += v
    else:
        for xid, v in elements:
            body.append(xid)
            body.append(len(v))
            body += v
    body += _ZERO_PAD[-len(body) & 3]
    return _HH.pack(0xBEDE if one_byte else 0x1000, len(body) >> 2) + body


class ExtensionRewriter:
    """Per (publisher track, subscriber) translation of header extensions, built once at subscribe time.

    Policy (see docs in COPY_URIS): MID is replaced by the subscriber's own MID (Chromium demuxes on it
    before SSRC), abs-send-time is written fresh by the SFU (the subscriber's bandwidth estimator measures
    the SFU→subscriber path), extensions in the `copy` allow-list that both sides negotiated are copied with
    their id remapped, everything else is dropped.

    `build` has a fast path for the common case (all subscriber ids ≤ 14, publisher in one-byte form): one
    bytearray, no intermediate tuples.  Anything else goes through the generic encoder.
    """

    __slots__ = ("_abs_byte", "_abs_id", "_remap", "_static", "_static_elems", "_tcc_byte", "_tcc_id", "_two_byte")

    def __init__(
        self,
        pub_ids: Mapping[str, int],
        sub_ids: Mapping[str, int],
        *,
        mid: str | None,
        copy: Iterable[str] = COPY_URIS,
    ) -> None:
        for side in (pub_ids, sub_ids):
            for uri, xid in side.items():
                if not 1 <= xid <= 255:
                    raise ValueError(f"extension id {xid} for {uri} outside 1..255")
        copy = frozenset(copy)
        #: publisher id → subscriber id for copied extensions
        self._remap: dict[int, int] = {pub_ids[uri]: sub_ids[uri] for uri in copy if uri in pub_ids and uri in sub_ids}
        self._static_elems: list[tuple[int, bytes]] = []
        if mid is not None and URI_MID in sub_ids:
            self._static_elems.append((sub_ids[URI_MID], mid.encode()))
        self._abs_id: int = sub_ids.get(URI_ABS_SEND_TIME, 0)
        self._tcc_id: int = sub_ids.get(URI_TRANSPORT_CC, 0)  # written fresh per packet: this hop's sequence
        used = [xid for xid, _ in self._static_elems] + list(self._remap.values())
        if self._abs_id:
            used.append(self._abs_id)
        if self._tcc_id:
            used.append(self._tcc_id)
        self._two_byte: bool = any(xid > 14 for xid in used) or any(
            not 1 <= len(v) <= 16 for _, v in self._static_elems
        )
        # one-byte encodings, prefixed by a placeholder for the 4-byte profile/length word
        static = bytearray(4)
        if not self._two_byte:
            for xid, v in self._static_elems:
                static.append((xid << 4) | (len(v) - 1))
                static += v
        self._static: bytes = bytes(static)
        self._abs_byte: int = (self._abs_id << 4) | 2 if self._abs_id and not self._two_byte else 0
        self._tcc_byte: int = (self._tcc_id << 4) | 1 if self._tcc_id and not self._two_byte else 0

    def compiled_spec(self) -> tuple[bytes, int, int, bytes] | None:
        """What media/_fastpath.c needs to build `build`'s fast-path block itself: (static elements, abs-send-time
        byte, transport-cc byte, id table of 16: publisher one-byte id → subscriber id, 0 dropped); None when the
        block needs the generic (two-byte) encoder. Valid for packets `needs_generic` says False of."""
        if self._two_byte:
            return None
        table = bytearray(16)
        for pub, sub in self._remap.items():
            if 1 <= pub <= 14:
                table[pub] = sub
        return self._static, self._abs_byte, self._tcc_byte, bytes(table)

    def needs_generic(self, h: RtpHeader) -> bool:
        """Whether `build` takes the generic encoder for this packet (its one condition, in one place)."""
        return self._two_byte or (h.ext_offset >= 0 and h.ext_profile != 0xBEDE and bool(self._remap))

    @property
    def remapped(self) -> dict[int, int]:
        """Publisher id → subscriber id of the extensions that are copied (for introspection and tests)."""
        return dict(self._remap)

    def build(self, data: bytes | bytearray | memoryview, h: RtpHeader, abs_send_time: int | None = None,
              transport_seq: int | None = None) -> bytes:
        """The subscriber's extension block for this packet (profile word included, padded) or b"" if empty.

        `abs_send_time` is the 24-bit value to write (see `abs_send_time()`); None leaves the element out.
        `transport_seq` is this subscriber's transport-wide sequence number (transport-cc), when negotiated.
        """
        if self._two_byte or (h.ext_offset >= 0 and h.ext_profile != 0xBEDE and self._remap):  # = needs_generic
            return self._build_generic(data, h, abs_send_time, transport_seq)
        body = bytearray(self._static)
        if abs_send_time is not None and self._abs_byte:
            body.append(self._abs_byte)
            body += (abs_send_time & 0xFFFFFF).to_bytes(3, "big")
        if transport_seq is not None and self._tcc_byte:
            body.append(self._tcc_byte)
            body += (transport_seq & 0xFFFF).to_bytes(2, "big")
        remap = self._remap
        pos = h.ext_offset
        if remap and pos >= 0:
            end = pos + h.ext_length
            while pos < end:
                b = data[pos]
                xid = b >> 4
                if xid == 0:
                    pos += 1
                    continue
                if xid == 15:
                    break
                nxt = pos + (b & 0x0F) + 2
                if nxt > end:
                    break
                sid = remap.get(xid)
                if sid is not None:
                    body.append((sid << 4) | (b & 0x0F))
                    body += data[pos + 1 : nxt]
                pos = nxt
        n = len(body)
        if n == 4:
            return b""
        pad = -n & 3
        if pad:
            body += _ZERO_PAD[pad]
            n += pad
        _HH.pack_into(body, 0, 0xBEDE, (n - 4) >> 2)
        return bytes(body)

    def _build_generic(self, data: bytes | bytearray | memoryview, h: RtpHeader, abs_send_time: int | None,
                       transport_seq: int | None = None) -> bytes:
        elements: list[tuple[int, bytes | memoryview]] = list(self._static_elems)
        if abs_send_time is not None and self._abs_id:
            elements.append((self._abs_id, (abs_send_time & 0xFFFFFF).to_bytes(3, "big")))
        if transport_seq is not None and self._tcc_id:
            elements.append((self._tcc_id, (transport_seq & 0xFFFF).to_bytes(2, "big")))
        remap = self._remap
        if remap:
            for xid, value in iter_extensions(data, h):
                sid = remap.get(xid)
                if sid is not None:
                    elements.append((sid, value))
        return _encode_block(elements)


def _check_block(ext_block: bytes | bytearray | memoryview) -> None:
    if len(ext_block) < 4 or len(ext_block) & 3:
        raise ValueError("rtp: extension block must be a whole number of 32-bit words, header included")


def rewrite_rtp(
    data: bytes | bytearray | memoryview,
    h: RtpHeader,
    *,
    ssrc: int,
    sequence: int,
    timestamp: int,
    payload_type: int,
    ext_block: bytes | bytearray | memoryview | None,
) -> bytes:
    """A copy of the packet with new SSRC/sequence/timestamp/payload type; marker, CSRCs, payload, padding kept.

    `ext_block`: None keeps the original extension bytes (and X bit) untouched, b"" removes the extension
    block, anything else (from `ExtensionRewriter.build`) replaces it.  Values are masked to their field
    widths, so callers can add offsets without reducing modulo 2**16 / 2**32 themselves.
    """
    b0 = data[0]
    b1 = (data[1] & 0x80) | (payload_type & 0x7F)
    if ext_block is None:
        return _FIXED.pack(b0, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF) + data[12:]
    csrc_end = 12 + 4 * h.csrc_count
    if not ext_block:
        head = _FIXED.pack(b0 & 0xEF, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
        if csrc_end == 12:
            return head + data[h.payload_offset :]
        return b"".join((head, data[12:csrc_end], data[h.payload_offset :]))
    _check_block(ext_block)
    head = _FIXED.pack(b0 | 0x10, b1, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc & 0xFFFFFFFF)
    if csrc_end == 12:
        return head + ext_block + data[h.payload_offset :]
    return b"".join((head, data[12:csrc_end], ext_block, data[h.payload_offset :]))


def _original_ext(data: bytes | bytearray | memoryview, h: RtpHeader) -> bytes | bytearray | memoryview:
    return data[h.ext_offset - 4 : h.ext_offset + h.ext_length] if h.ext_offset >= 0 else b""


def rtx_wrap(
    data: bytes | bytearray | memoryview,
    h: RtpHeader,
    *,
    rtx_ssrc: int,
    rtx_sequence: int,
    rtx_payload_type: int,
    ext_block: bytes | bytearray | memoryview | None,
) -> bytes:
    """RFC 4588 retransmission packet: payload = original sequence number (2 bytes) + original payload.

    The original's padding is dropped (it is not payload).  Timestamp, marker and CSRCs are kept.  The OSN
    is `h.sequence`, so wrap the packet *as the subscriber saw it* (after `rewrite_rtp`).  `ext_block` as
    in `rewrite_rtp` (None keeps the original's extension block).
    """
    block = _original_ext(data, h) if ext_block is None else ext_block
    if block:
        _check_block(block)
    cc = h.csrc_count
    head = _FIXED.pack(
        0x80 | (0x10 if block else 0) | cc,
        (data[1] & 0x80) | (rtx_payload_type & 0x7F),
        rtx_sequence & 0xFFFF,
        h.timestamp,
        rtx_ssrc & 0xFFFFFFFF,
    )
    return b"".join((head, data[12 : 12 + 4 * cc], block, _H.pack(h.sequence), data[h.payload_offset : h.payload_end]))


def rtx_unwrap(data: bytes | bytearray | memoryview, h: RtpHeader, *, ssrc: int, payload_type: int) -> bytes:
    """Recover the original packet from an RTX packet (inverse of `rtx_wrap`, extension block kept)."""
    if h.payload_end - h.payload_offset < 2:
        raise ValueError("rtx: payload shorter than the original sequence number")
    cc = h.csrc_count
    block = _original_ext(data, h)
    osn = _H.unpack_from(data, h.payload_offset)[0]
    head = _FIXED.pack(
        0x80 | (0x10 if h.ext_offset >= 0 else 0) | cc,
        (data[1] & 0x80) | (payload_type & 0x7F),
        osn,
        h.timestamp,
        ssrc & 0xFFFFFFFF,
    )
    return b"".join((head, data[12 : 12 + 4 * cc], block, data[h.payload_offset + 2 : h.payload_end]))
