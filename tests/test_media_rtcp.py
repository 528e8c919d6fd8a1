"""media.rtcp builders parsed back by media.rtcp.parse_rtcp and by aiortc.rtp.RtcpPacket as a reference."""

from __future__ import annotations

import struct
import time

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.rtcp import (
    Bye,
    Fir,
    Nack,
    OtherRtcp,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    TransportFeedback,
    bye,
    fir,
    generic_nack,
    ntp_middle32,
    ntp_now,
    ntp_to_seconds,
    parse_rtcp,
    parse_transport_feedback,
    pli,
    receiver_report,
    remb,
    seconds_to_ntp,
    sender_report,
    transport_feedback,
)

SETTINGS = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
U32 = st.integers(0, 0xFFFFFFFF)

report_blocks = st.builds(
    ReportBlock,
    ssrc=U32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=U32,
    jitter=U32,
    lsr=U32,
    dlsr=U32,
)


def assert_blocks_match_aiortc(ours: list[ReportBlock], theirs: list) -> None:
    assert [
        (b.ssrc, b.fraction_lost, b.cumulative_lost, b.highest_sequence, b.jitter, b.lsr, b.dlsr) for b in ours
    ] == [(r.ssrc, r.fraction_lost, r.packets_lost, r.highest_sequence, r.jitter, r.lsr, r.dlsr) for r in theirs]


@SETTINGS
@given(U32, st.integers(0, (1 << 64) - 1), U32, U32, U32, st.lists(report_blocks, max_size=31))
def test_sender_report(ssrc: int, ntp: int, rtp_ts: int, packets: int, octets: int, blocks: list[ReportBlock]) -> None:
    data = sender_report(ssrc, ntp, rtp_ts, packets, octets, blocks)
    assert len(data) == 28 + 24 * len(blocks)
    assert parse_rtcp(data) == [SenderReport(ssrc, ntp, rtp_ts, packets, octets, blocks)]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpSrPacket) and ref.ssrc == ssrc
    si = ref.sender_info
    assert (si.ntp_timestamp, si.rtp_timestamp, si.packet_count, si.octet_count) == (ntp, rtp_ts, packets, octets)
    assert_blocks_match_aiortc(blocks, ref.reports)


@SETTINGS
@given(U32, st.lists(report_blocks, max_size=31))
def test_receiver_report(ssrc: int, blocks: list[ReportBlock]) -> None:
    data = receiver_report(ssrc, blocks)
    assert parse_rtcp(data) == [ReceiverReport(ssrc, blocks)]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpRrPacket) and ref.ssrc == ssrc
    assert_blocks_match_aiortc(blocks, ref.reports)


def test_report_block_clamps_cumulative_lost_and_limits_count() -> None:
    big = ReportBlock(1, 0, 1 << 30, 0, 0, 0, 0)
    small = ReportBlock(1, 0, -(1 << 30), 0, 0, 0, 0)
    [rr] = parse_rtcp(receiver_report(5, [big, small]))
    assert isinstance(rr, ReceiverReport)
    assert [b.cumulative_lost for b in rr.reports] == [(1 << 23) - 1, -(1 << 23)]
    with pytest.raises(ValueError):
        receiver_report(1, [big] * 32)


@SETTINGS
@given(U32, U32)
def test_pli(sender: int, media: int) -> None:
    data = pli(sender, media)
    assert len(data) == 12 and parse_rtcp(data) == [Pli(sender, media)]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpPsfbPacket) and (ref.fmt, ref.ssrc, ref.media_ssrc, ref.fci) == (1, sender, media, b"")


@SETTINGS
@given(U32, U32, st.integers(0, 1000))
def test_fir(sender: int, media: int, seq_nr: int) -> None:
    data = fir(sender, media, seq_nr)
    assert len(data) == 20 and parse_rtcp(data) == [Fir(sender, [(media, seq_nr & 0xFF)])]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpPsfbPacket) and (ref.fmt, ref.ssrc, ref.media_ssrc) == (4, sender, 0)
    assert ref.fci == struct.pack("!IB3x", media, seq_nr & 0xFF)


def wrap_sorted(base: int, offsets: set[int]) -> list[int]:
    return [(base + o) & 0xFFFF for o in sorted(offsets)]


@SETTINGS
@given(U32, U32, st.integers(0, 0xFFFF), st.sets(st.integers(0, 0x7FFF), min_size=1, max_size=100))
def test_nack_round_trip_across_wrap(sender: int, media: int, base: int, offsets: set[int]) -> None:
    """Any ≤100 sequence numbers spanning less than half the 16-bit space come back, in wrap-aware order."""
    expected = wrap_sorted(base, offsets)
    shuffled = sorted(expected, key=lambda q: (q * 7919) % 65537)
    data = generic_nack(sender, media, shuffled + shuffled[:3])  # duplicates are ignored
    assert parse_rtcp(data) == [Nack(sender, media, expected)]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpRtpfbPacket) and (ref.fmt, ref.ssrc, ref.media_ssrc) == (1, sender, media)
    assert [q & 0xFFFF for q in ref.lost] == expected  # aiortc does not wrap the BLP offsets itself


def test_nack_packing_is_compact() -> None:
    data = generic_nack(1, 2, [65534, 65535, 0, 1, 16, 17])
    assert len(data) == 12 + 8  # PID 65534 covers up to 65534+16 = 14 (wrapped); 16 needs a second pair
    assert struct.unpack_from("!HHHH", data, 12) == (65534, 0b111, 16, 0b1)
    with pytest.raises(ValueError):
        generic_nack(1, 2, [])


@SETTINGS
@given(U32, st.integers(0, 10**12), st.lists(U32, max_size=20))
def test_remb(sender: int, bitrate: int, ssrcs: list[int]) -> None:
    data = remb(sender, bitrate, ssrcs)
    [item] = parse_rtcp(data)
    assert isinstance(item, Remb) and item.sender_ssrc == sender and item.ssrcs == ssrcs
    assert item.bitrate <= bitrate and bitrate - item.bitrate <= bitrate >> 17  # 18-bit mantissa, rounded down
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpPsfbPacket) and (ref.fmt, ref.ssrc, ref.media_ssrc) == (15, sender, 0)
    assert unpack_remb_fci(ref.fci) == (item.bitrate, ssrcs)
    assert ref.fci == pack_remb_fci(bitrate, ssrcs)


def test_remb_exact_small_values() -> None:
    [item] = parse_rtcp(remb(7, 0x3FFFF, [1]))
    assert item == Remb(7, 0x3FFFF, [1])
    [item] = parse_rtcp(remb(7, 2_500_000, [1, 2]))
    assert item == Remb(7, 2_500_000 >> 4 << 4, [1, 2])


@SETTINGS
@given(st.lists(U32, max_size=31))
def test_bye(ssrcs: list[int]) -> None:
    data = bye(ssrcs)
    assert parse_rtcp(data) == [Bye(ssrcs)]
    [ref] = RtcpPacket.parse(data)
    assert isinstance(ref, RtcpByePacket) and ref.sources == ssrcs


def test_compound_and_other_packets() -> None:
    sdes = bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=5, items=[(1, b"cname")])]))
    tcc = struct.pack("!BBH", 0x8F, 205, 4) + struct.pack("!IIHHI", 1, 2, 0, 1, 0)  # RTPFB fmt 15 (transport-cc)
    app = struct.pack("!BBH", 0x80, 204, 2) + struct.pack("!I", 9) + b"NAME"
    afb = struct.pack("!BBH", 0x8F, 206, 3) + struct.pack("!II", 1, 0) + b"GOOG"  # PSFB AFB that is not REMB
    blocks = [ReportBlock(5, 12, -3, 70000, 10, 20, 30)]
    compound = b"".join(
        [
            receiver_report(1, blocks),
            sdes,
            tcc,
            app,
            afb,
            pli(1, 5),
            generic_nack(1, 5, [9, 10]),
            remb(1, 1000, [5]),
            fir(1, 5, 3),
            bye([1]),
        ]
    )
    assert parse_rtcp(compound) == [
        ReceiverReport(1, blocks),
        OtherRtcp(202, 1, sdes),
        OtherRtcp(205, 15, tcc),
        OtherRtcp(204, 0, app),
        OtherRtcp(206, 15, afb),
        Pli(1, 5),
        Nack(1, 5, [9, 10]),
        Remb(1, 1000, [5]),
        Fir(1, [(5, 3)]),
        Bye([1]),
    ]
    assert parse_rtcp(memoryview(compound)) == parse_rtcp(compound)


def test_padding_honoured() -> None:
    # an RR with the P bit and 4 bytes of padding, then a PLI
    rr = struct.pack("!BBH", 0xA0, 201, 2) + struct.pack("!I", 77) + b"\x00\x00\x00\x04"
    assert parse_rtcp(rr + pli(1, 2)) == [ReceiverReport(77, []), Pli(1, 2)]
    assert RtcpPacket.parse(rr)[0].ssrc == 77


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x80\xc9\x00", "truncated"),
        (b"\x40\xc9\x00\x01\x00\x00\x00\x00", "version"),
        (b"\x80\xc9\x00\x02\x00\x00\x00\x00", "beyond"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "padding"),
        (b"\xa0\xc9\x00\x01\x00\x00\x00\x05", "padding"),
        (b"\x81\xc9\x00\x01\x00\x00\x00\x00", "report count"),
        (b"\x81\xc8\x00\x01\x00\x00\x00\x00", "report count"),
        (b"\x82\xcb\x00\x01\x00\x00\x00\x00", "source count"),
        (b"\x81\xcd\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00", "NACK"),
        (b"\x81\xce\x00\x01\x00\x00\x00\x00", "PLI"),
        (b"\x84\xce\x00\x01\x00\x00\x00\x00", "FIR"),
        (b"\x8f\xce\x00\x04" + b"\x00" * 8 + b"REMB\x02\x00\x00\x00", "REMB"),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtcp(data)


@SETTINGS
@given(st.binary(max_size=120), st.booleans())
def test_arbitrary_bytes_only_value_error(data: bytes, force_header: bool) -> None:
    if force_header and len(data) >= 4:
        # a plausible first header whose length fits, so the per-type decoders get exercised
        words = min((len(data) - 4) // 4, data[3])
        data = bytes([0x80 | (data[0] & 0x3F), 200 + data[1] % 8]) + struct.pack("!H", words) + data[4:]
    try:
        items = parse_rtcp(data)
    except ValueError:
        return
    assert items and all(
        isinstance(i, SenderReport | ReceiverReport | Nack | Pli | Fir | Remb | Bye | OtherRtcp) for i in items
    )


def test_ntp_helpers() -> None:
    t = 1_700_000_000.5
    ntp = seconds_to_ntp(t)
    assert ntp >> 32 == 1_700_000_000 + 2208988800 and ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_to_seconds(ntp) == t
    assert ntp_middle32(ntp) == (((1_700_000_000 + 2208988800) & 0xFFFF) << 16) | 0x8000
    # era 1: after 2036-02-07 the seconds field wraps; still decoded to the right Unix time
    later = 2_200_000_000.25
    assert seconds_to_ntp(later) >> 32 < 1 << 31
    assert ntp_to_seconds(seconds_to_ntp(later)) == later
    assert abs(ntp_to_seconds(ntp_now()) - time.time()) < 1.0


@SETTINGS
@given(st.floats(0, 4_000_000_000, allow_nan=False))
def test_ntp_round_trip(seconds: float) -> None:
    assert abs(ntp_to_seconds(seconds_to_ntp(seconds)) - seconds) < 1e-6


# -- transport-cc feedback ----------------------------------------------------------------------------------------

tcc_deltas = st.lists(st.one_of(st.none(), st.integers(0, 255), st.integers(-0x8000, 0x7FFF)), min_size=1,
                      max_size=400)


@SETTINGS
@given(U32, U32, st.integers(0, 0xFFFF), st.integers(-(1 << 23), (1 << 23) - 1), st.integers(0, 255), tcc_deltas)
def test_transport_feedback_round_trips(sender: int, media: int, base: int, ref: int, count: int,
                                        deltas: list[int | None]) -> None:
    data = transport_feedback(sender, media, base, ref, count, deltas)
    assert len(data) % 4 == 0
    [item] = parse_rtcp(data)  # a valid compound packet, left opaque by the generic parser
    assert isinstance(item, OtherRtcp) and (item.packet_type, item.fmt) == (205, 15)
    assert parse_transport_feedback(item) == TransportFeedback(sender, media, base, ref, count, deltas)


def test_transport_feedback_known_bytes_and_arrivals() -> None:
    # base 10: received 1 ms after the reference, lost, received 2 ms *earlier* (a large/negative delta).
    data = transport_feedback(1, 2, 10, 3, 7, [4, None, -8])
    assert data == bytes.fromhex("af cd 00 06 00000001 00000002 000a 0003 00000307 d200 04 fff8 000003")
    fb = parse_transport_feedback(data)
    assert fb.arrivals() == [(10, pytest.approx(0.193)), (11, None), (12, pytest.approx(0.191))]
    # Long runs use run-length chunks: 1000 lost then 1000 received with a small delta.
    fb = parse_transport_feedback(transport_feedback(1, 2, 65000, 0, 0, [None] * 1000 + [1] * 1000))
    assert fb.deltas == [None] * 1000 + [1] * 1000 and fb.arrivals()[-1][0] == (65000 + 1999) & 0xFFFF


@SETTINGS
@given(st.binary(min_size=0, max_size=80))
def test_transport_feedback_parser_raises_only_value_error(tail: bytes) -> None:
    data = struct.pack("!BBH", 0x8F, 205, (16 + len(tail)) // 4) + b"\x00" * 16 + tail
    try:
        parse_transport_feedback(data)
    except ValueError:
        pass
