"""RTCP builders and a compound-packet parser for the SFU (RFC 3550, RFC 4585, RFC 5104, REMB draft).

Why not aiortc's RtcpPacket: the SFU speaks RTCP on its own behalf on both sides (receiver reports, REMB
and PLI/FIR/NACK upstream; sender reports derived from the publisher's downstream), outside aiortc's sender
and receiver objects.  It needs builders for exactly those packets and a parser that reports everything
else opaquely instead of dropping it (aiortc ignores XR/APP and transport-cc feedback).  Pure and I/O-free.

Builders return one RTCP packet each; concatenate them for a compound packet.  `parse_rtcp` raises only
`ValueError`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "PT_APP",
    "PT_BYE",
    "PT_PSFB",
    "PT_RR",
    "PT_RTPFB",
    "PT_SDES",
    "PT_SR",
    "PT_XR",
    "Bye",
    "Fir",
    "Nack",
    "OtherRtcp",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpItem",
    "SenderReport",
    "TransportFeedback",
    "bye",
    "fir",
    "generic_nack",
    "ntp_middle32",
    "ntp_now",
    "ntp_to_seconds",
    "parse_rtcp",
    "parse_transport_feedback",
    "pli",
    "receiver_report",
    "remb",
    "seconds_to_ntp",
    "sender_report",
    "transport_feedback",
]

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
PT_RTPFB = 205
PT_PSFB = 206
PT_XR = 207

FMT_NACK = 1
FMT_TRANSPORT_CC = 15
FMT_PLI = 1
FMT_FIR = 4
FMT_AFB = 15

_HEADER = struct.Struct("!BBH")
_I = struct.Struct("!I")
_II = struct.Struct("!II")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC of sender + NTP + RTP ts + packet count + octet count
_BLOCK = struct.Struct("!IIIIII")
_HH = struct.Struct("!HH")

#: seconds between the NTP epoch (1900) and the Unix epoch (1970)
NTP_UNIX_OFFSET = 2208988800


def _header(packet_type: int, count: int, body_len: int) -> bytes:
    """Common header: V=2, P=0, count/format, length in 32-bit words minus one (body excludes the header)."""
    return _HEADER.pack(0x80 | count, packet_type, body_len >> 2)


@dataclass(slots=True, frozen=True)
class ReportBlock:
    """One reception report (RFC 3550 §6.4.1).  `cumulative_lost` is signed 24-bit (clamped when packing)."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    def pack(self) -> bytes:
        lost = max(-0x800000, min(self.cumulative_lost, 0x7FFFFF)) & 0xFFFFFF
        return _BLOCK.pack(
            self.ssrc,
            ((self.fraction_lost & 0xFF) << 24) | lost,
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )

    @classmethod
    def unpack_from(cls, data: bytes | memoryview, pos: int) -> ReportBlock:
        ssrc, w, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        lost = w & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, w >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(slots=True)
class Nack:
    """Generic NACK (RTPFB fmt 1); `lost` in wrap-aware order as packed, each 0..65535."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int]


@dataclass(slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(slots=True)
class Fir:
    """Full Intra Request (PSFB fmt 4); entries are (media SSRC, command sequence number)."""

    sender_ssrc: int
    entries: list[tuple[int, int]]


@dataclass(slots=True)
class Remb:
    sender_ssrc: int
    bitrate: int
    ssrcs: list[int]


@dataclass(slots=True)
class Bye:
    ssrcs: list[int]


@dataclass(slots=True)
class OtherRtcp:
    """Any packet not decoded above (SDES, XR, APP, transport-cc feedback, other PSFB...): the raw packet."""

    packet_type: int
    fmt: int
    raw: bytes


RtcpItem = SenderReport | ReceiverReport | Nack | Pli | Fir | Remb | Bye | OtherRtcp


# --- builders --------------------------------------------------------------------------------------------


def _reports(reports: Sequence[ReportBlock]) -> bytes:
    if len(reports) > 31:
        raise ValueError("rtcp: at most 31 report blocks per packet")
    return b"".join(r.pack() for r in reports)


def sender_report(
    ssrc: int,
    ntp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    reports: Sequence[ReportBlock] = (),
) -> bytes:
    """SR (PT 200): the NTP↔RTP mapping a subscriber needs for lip sync, plus optional report blocks."""
    blocks = _reports(reports)
    body = _SENDER_INFO.pack(
        ssrc,
        ntp & 0xFFFFFFFFFFFFFFFF,
        rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )
    return _header(PT_SR, len(reports), len(body) + len(blocks)) + body + blocks


def receiver_report(ssrc: int, reports: Sequence[ReportBlock] = ()) -> bytes:
    """RR (PT 201): what the SFU tells a publisher about reception (it stops probing down without these)."""
    blocks = _reports(reports)
    return _header(PT_RR, len(reports), 4 + len(blocks)) + _I.pack(ssrc) + blocks


def pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """Picture Loss Indication (PSFB fmt 1, RFC 4585 §6.3.1): ask the publisher for a keyframe."""
    return _header(PT_PSFB, FMT_PLI, 8) + _II.pack(sender_ssrc, media_ssrc)


def fir(sender_ssrc: int, media_ssrc: int, seq_nr: int) -> bytes:
    """Full Intra Request (PSFB fmt 4, RFC 5104 §4.3.1).  The header's media SSRC is 0; the target is in the FCI.

    Increment `seq_nr` per new request (not per repetition) so the publisher can tell repeats from new ones.
    """
    return _header(PT_PSFB, FMT_FIR, 16) + struct.pack("!IIIB3x", sender_ssrc, 0, media_ssrc, seq_nr & 0xFF)


def _wrap_order(seqs: Iterable[int]) -> list[int]:
    """Sort 16-bit sequence numbers in wrap-aware order: start just after the largest circular gap."""
    s = sorted({q & 0xFFFF for q in seqs})
    if len(s) < 2:
        return s
    best_gap = s[0] + 0x10000 - s[-1]
    start = 0
    for i in range(1, len(s)):
        gap = s[i] - s[i - 1]
        if gap > best_gap:
            best_gap = gap
            start = i
    return s[start:] + s[:start]


def generic_nack(sender_ssrc: int, media_ssrc: int, lost: Iterable[int]) -> bytes:
    """Generic NACK (RTPFB fmt 1, RFC 4585 §6.2.1) packing lost sequence numbers into PID/BLP pairs.

    Wrap-aware: ...65534, 65535, 0, 1... pack together.  Duplicates are ignored.  Raises ValueError on an
    empty set (an FCI-less NACK is invalid).
    """
    order = _wrap_order(lost)
    if not order:
        raise ValueError("rtcp: NACK needs at least one sequence number")
    fci = bytearray()
    pid = order[0]
    blp = 0
    for q in order[1:]:
        d = (q - pid - 1) & 0xFFFF
        if d < 16:
            blp |= 1 << d
        else:
            fci += _HH.pack(pid, blp)
            pid = q
            blp = 0
    fci += _HH.pack(pid, blp)
    return _header(PT_RTPFB, FMT_NACK, 8 + len(fci)) + _II.pack(sender_ssrc, media_ssrc) + fci


def remb(sender_ssrc: int, bitrate_bps: int, ssrcs: Sequence[int]) -> bytes:
    """Receiver Estimated Max Bitrate (PSFB fmt 15, draft-alvestrand-rmcat-remb): what keeps a browser
    publisher from sitting at its start bitrate.  The bitrate is rounded down to an 18-bit mantissa."""
    if len(ssrcs) > 255:
        raise ValueError("rtcp: REMB carries at most 255 SSRCs")
    mantissa = max(0, int(bitrate_bps))
    exp = 0
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exp += 1
    if exp > 63:
        exp, mantissa = 63, 0x3FFFF
    fci = b"REMB" + struct.pack("!BBH", len(ssrcs), (exp << 2) | (mantissa >> 16), mantissa & 0xFFFF)
    fci += b"".join(_I.pack(s) for s in ssrcs)
    return _header(PT_PSFB, FMT_AFB, 8 + len(fci)) + _II.pack(sender_ssrc, 0) + fci


def bye(ssrcs: Sequence[int]) -> bytes:
    """BYE (PT 203) without a reason string."""
    if len(ssrcs) > 31:
        raise ValueError("rtcp: at most 31 SSRCs per BYE")
    return _header(PT_BYE, len(ssrcs), 4 * len(ssrcs)) + b"".join(_I.pack(s) for s in ssrcs)


# --- parser ----------------------------------------------------------------------------------------------


def _parse_one(pt: int, count: int, data: bytes, start: int, end: int, packet_end: int) -> RtcpItem:
    """Decode the body data[start:end] (padding already removed) of the packet data[start - 4:packet_end]."""
    size = end - start
    if pt == PT_SR:
        if size < 24 + 24 * count:
            raise ValueError("rtcp: sender report shorter than its report count")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(data, start)
        blocks = [ReportBlock.unpack_from(data, start + 24 + 24 * i) for i in range(count)]
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)
    if pt == PT_RR:
        if size < 4 + 24 * count:
            raise ValueError("rtcp: receiver report shorter than its report count")
        return ReceiverReport(
            _I.unpack_from(data, start)[0], [ReportBlock.unpack_from(data, start + 4 + 24 * i) for i in range(count)]
        )
    if pt == PT_BYE:
        if size < 4 * count:
            raise ValueError("rtcp: BYE shorter than its source count")
        return Bye(list(struct.unpack_from(f"!{count}I", data, start)))
    if pt == PT_RTPFB and count == FMT_NACK:
        if size < 12:
            raise ValueError("rtcp: NACK without FCI")
        sender, media = _II.unpack_from(data, start)
        lost: list[int] = []
        for pos in range(start + 8, end - 3, 4):
            pid, blp = _HH.unpack_from(data, pos)
            lost.append(pid)
            d = 1
            while blp:
                if blp & 1:
                    lost.append((pid + d) & 0xFFFF)
                blp >>= 1
                d += 1
        return Nack(sender, media, lost)
    if pt == PT_PSFB:
        if count == FMT_PLI:
            if size < 8:
                raise ValueError("rtcp: PLI shorter than 8 bytes")
            return Pli(*_II.unpack_from(data, start))
        if count == FMT_FIR:
            if size < 8:
                raise ValueError("rtcp: FIR shorter than 8 bytes")
            entries = [(_I.unpack_from(data, pos)[0], data[pos + 4]) for pos in range(start + 8, end - 7, 8)]
            return Fir(_I.unpack_from(data, start)[0], entries)
        if count == FMT_AFB and size >= 16 and data[start + 8 : start + 12] == b"REMB":
            num, b1, lo = struct.unpack_from("!BBH", data, start + 12)
            if size < 16 + 4 * num:
                raise ValueError("rtcp: REMB shorter than its SSRC count")
            bitrate = (((b1 & 0x03) << 16) | lo) << (b1 >> 2)
            ssrcs = list(struct.unpack_from(f"!{num}I", data, start + 16))
            return Remb(_I.unpack_from(data, start)[0], bitrate, ssrcs)
    return OtherRtcp(pt, count, data[start - 4 : packet_end])


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpItem]:
    """Parse a compound RTCP packet.  Raises only `ValueError` (bad version, lengths beyond the buffer,
    padding or counts inconsistent with lengths).  Unknown packet types come back as `OtherRtcp`."""
    data = bytes(data)
    n = len(data)
    if n == 0:
        raise ValueError("rtcp: empty")
    items: list[RtcpItem] = []
    pos = 0
    while pos < n:
        if pos + 4 > n:
            raise ValueError("rtcp: truncated header")
        b0, pt, words = _HEADER.unpack_from(data, pos)
        if b0 & 0xC0 != 0x80:
            raise ValueError("rtcp: version is not 2")
        start = pos + 4
        end = start + 4 * words
        if end > n:
            raise ValueError("rtcp: length beyond buffer")
        body_end = end
        if b0 & 0x20:
            pad = data[end - 1] if end > start else 0
            if pad == 0 or pad > end - start:
                raise ValueError("rtcp: invalid padding")
            body_end = end - pad
        items.append(_parse_one(pt, b0 & 0x1F, data, start, body_end, end))
        pos = end
    return items


# --- NTP time ----------------------------------------------------------------------------------------------


def seconds_to_ntp(seconds: float) -> int:
    """Unix seconds → 64-bit NTP timestamp (32.32 fixed point since 1900, modulo the era)."""
    whole = int(seconds // 1)
    frac = int((seconds - whole) * 4294967296.0)
    return (((whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | (frac & 0xFFFFFFFF)


def ntp_to_seconds(ntp: int) -> float:
    """64-bit NTP timestamp → Unix seconds.  Era-aware per RFC 4330 §3: a seconds field with the top bit
    clear is taken to be in era 1 (after 7 Feb 2036), so this is right from 1968 to 2104."""
    sec = (ntp >> 32) & 0xFFFFFFFF
    if not sec & 0x80000000:
        sec += 0x100000000
    return sec - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 4294967296.0


def ntp_now() -> int:
    """The current wall-clock time as a 64-bit NTP timestamp (what goes into a Sender Report)."""
    return seconds_to_ntp(time.time())


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR field of a report block that answers an SR."""
    return (ntp >> 16) & 0xFFFFFFFF


# --- transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01) ---------------
# parse_rtcp leaves these as OtherRtcp (RTPFB fmt 15): they are decoded only where transport-cc was negotiated.

TCC_DELTA_UNIT = 0.000250  # seconds per receive-delta tick
TCC_REFERENCE_UNIT = 0.064  # seconds per reference-time tick


@dataclass(slots=True)
class TransportFeedback:
    """One transport-cc feedback: per transport-wide sequence number from `base_sequence`, the receive delta in
    250 µs ticks (None: not received). The first delta is relative to `reference_time` (signed 24-bit, 64 ms ticks),
    each later one to the previous received packet; small deltas are 0..255, large ones signed 16-bit."""

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    reference_time: int
    feedback_count: int
    deltas: list[int | None]

    def arrivals(self) -> list[tuple[int, float | None]]:
        """(transport sequence number, arrival time in seconds on the receiver's clock, or None when lost)."""
        t = self.reference_time * TCC_REFERENCE_UNIT
        out: list[tuple[int, float | None]] = []
        for i, d in enumerate(self.deltas):
            seq = (self.base_sequence + i) & 0xFFFF
            if d is None:
                out.append((seq, None))
            else:
                t += d * TCC_DELTA_UNIT
                out.append((seq, t))
        return out


def _tcc_symbol(delta: int | None) -> int:
    if delta is None:
        return 0
    if 0 <= delta <= 0xFF:
        return 1
    if -0x8000 <= delta <= 0x7FFF:
        return 2
    raise ValueError("rtcp: transport-cc delta beyond 16 bits")


def transport_feedback(sender_ssrc: int, media_ssrc: int, base_sequence: int, reference_time: int,
                       feedback_count: int, deltas: Sequence[int | None]) -> bytes:
    """Build a transport-cc feedback (RTPFB fmt 15). Chunks: run length where 7+ symbols repeat, else status
    vectors (14 one-bit symbols when all are 0/1, else 7 two-bit ones)."""
    if not deltas or len(deltas) > 0xFFFF:
        raise ValueError("rtcp: transport-cc feedback needs 1..65535 packets")
    symbols = [_tcc_symbol(d) for d in deltas]
    chunks = bytearray()
    i, n = 0, len(symbols)
    while i < n:
        run = 1
        while i + run < n and symbols[i + run] == symbols[i] and run < 0x1FFF:
            run += 1
        if run >= 7:
            chunks += struct.pack("!H", (symbols[i] << 13) | run)
            i += run
        elif all(x < 2 for x in symbols[i : i + 14]):
            bits = symbols[i : i + 14] + [0] * (14 - len(symbols[i : i + 14]))
            word = 0x8000
            for k, b in enumerate(bits):
                word |= b << (13 - k)
            chunks += struct.pack("!H", word)
            i += 14
        else:
            two = symbols[i : i + 7] + [0] * (7 - len(symbols[i : i + 7]))
            word = 0xC000
            for k, b in enumerate(two):
                word |= b << (12 - 2 * k)
            chunks += struct.pack("!H", word)
            i += 7
    recv = bytearray()
    for d, sym in zip(deltas, symbols, strict=True):
        if sym == 1:
            recv.append(d)  # type: ignore[arg-type]
        elif sym == 2:
            recv += struct.pack("!h", d)
    body = _II.pack(sender_ssrc, media_ssrc) + struct.pack(
        "!HHI", base_sequence & 0xFFFF, len(deltas), ((reference_time & 0xFFFFFF) << 8) | (feedback_count & 0xFF))
    body += chunks + recv
    pad = (-len(body)) % 4
    if pad:
        body += b"\x00" * (pad - 1) + bytes([pad])
        return struct.pack("!BBH", 0xA0 | FMT_TRANSPORT_CC, PT_RTPFB, len(body) >> 2) + body
    return _header(PT_RTPFB, FMT_TRANSPORT_CC, len(body)) + body


def parse_transport_feedback(item: OtherRtcp | bytes) -> TransportFeedback:
    """Decode a transport-cc feedback (an `OtherRtcp` of type 205 fmt 15, or its raw bytes). Raises ValueError."""
    raw = item.raw if isinstance(item, OtherRtcp) else bytes(item)
    if len(raw) < 20:
        raise ValueError("rtcp: transport-cc feedback shorter than 20 bytes")
    b0, pt, words = _HEADER.unpack_from(raw, 0)
    if pt != PT_RTPFB or b0 & 0x1F != FMT_TRANSPORT_CC:
        raise ValueError("rtcp: not a transport-cc feedback")
    end = min(len(raw), 4 + 4 * words)
    if b0 & 0x20:
        end -= raw[end - 1]
    sender, media = _II.unpack_from(raw, 4)
    base, count, ref = struct.unpack_from("!HHI", raw, 12)
    reference = ref >> 8
    if reference & 0x800000:
        reference -= 0x1000000
    symbols: list[int] = []
    pos = 20
    while len(symbols) < count:
        if pos + 2 > end:
            raise ValueError("rtcp: transport-cc chunks truncated")
        (word,) = struct.unpack_from("!H", raw, pos)
        pos += 2
        if not word & 0x8000:
            symbols += [(word >> 13) & 0x3] * (word & 0x1FFF)
        elif not word & 0x4000:
            symbols += [(word >> (13 - k)) & 1 for k in range(14)]
        else:
            symbols += [(word >> (12 - 2 * k)) & 3 for k in range(7)]
    del symbols[count:]
    deltas: list[int | None] = []
    for sym in symbols:
        if sym == 0:
            deltas.append(None)
        elif sym == 1:
            if pos + 1 > end:
                raise ValueError("rtcp: transport-cc deltas truncated")
            deltas.append(raw[pos])
            pos += 1
        elif sym == 2:
            if pos + 2 > end:
                raise ValueError("rtcp: transport-cc deltas truncated")
            deltas.append(struct.unpack_from("!h", raw, pos)[0])
            pos += 2
        else:
            raise ValueError("rtcp: transport-cc reserved status symbol")
    return TransportFeedback(sender, media, base, reference, ref & 0xFF, deltas)
