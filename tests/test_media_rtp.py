"""media.rtp against an independent packet builder in this file and against aiortc.rtp as a reference parser."""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unpack_header_extensions, unwrap_rtx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.rtp import (
    COPY_URIS,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_MID,
    URI_PLAYOUT_DELAY,
    URI_REPAIRED_RID,
    URI_RID,
    URI_TOFFSET,
    URI_TRANSPORT_CC,
    URI_VIDEO_ORIENTATION,
    ExtensionRewriter,
    RtpHeader,
    abs_send_time,
    get_extension,
    is_rtcp,
    iter_extensions,
    parse_rtp,
    rewrite_rtp,
    rtx_unwrap,
    rtx_wrap,
)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])

# --- an independent builder ---------------------------------------------------------------------------------


@dataclass
class Spec:
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    csrcs: list[int]
    ext_profile: int | None  # None: no X bit
    ext_body: bytes  # elements + padding, multiple of 4
    ext_elements: list[tuple[int, bytes]]  # what a correct parser must report
    payload: bytes
    padding: int  # 0: no P bit

    def build(self) -> bytes:
        b0 = 0x80 | (0x20 if self.padding else 0) | (0x10 if self.ext_profile is not None else 0) | len(self.csrcs)
        out = struct.pack("!BBHII", b0, (0x80 if self.marker else 0) | self.pt, self.seq, self.ts, self.ssrc)
        out += b"".join(struct.pack("!I", c) for c in self.csrcs)
        if self.ext_profile is not None:
            out += struct.pack("!HH", self.ext_profile, len(self.ext_body) // 4) + self.ext_body
        out += self.payload
        if self.padding:
            out += b"\xaa" * (self.padding - 1) + bytes([self.padding])
        return out


def encode_elements(elements: list[tuple[int, bytes]], two_byte: bool, pads: list[int] | None = None) -> bytes:
    body = b""
    for i, (xid, value) in enumerate(elements):
        body += b"\x00" * (pads[i] if pads else 0)
        body += bytes([xid, len(value)]) if two_byte else bytes([(xid << 4) | (len(value) - 1)])
        body += value
    return body + b"\x00" * (-len(body) & 3)


@st.composite
def extension_blocks(draw: st.DrawFn) -> tuple[int, bytes, list[tuple[int, bytes]]]:
    kind = draw(st.sampled_from(["one", "two", "opaque"]))
    n = draw(st.integers(0, 5))
    pads = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    if kind == "one":
        elements = draw(
            st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), min_size=n, max_size=n)
        )
        return 0xBEDE, encode_elements(elements, False, pads), elements
    if kind == "two":
        elements = draw(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=40)), min_size=n, max_size=n))
        return 0x1000, encode_elements(elements, True, pads), elements
    body = draw(st.binary(max_size=40))
    return (
        draw(st.integers(0, 0xFFFF).filter(lambda p: p != 0xBEDE and p & 0xFFF0 != 0x1000)),
        body + b"\x00" * (-len(body) & 3),
        [],
    )


@st.composite
def specs(draw: st.DrawFn, with_ext: bool | None = None) -> Spec:
    has_ext = draw(st.booleans()) if with_ext is None else with_ext
    profile, body, elements = draw(extension_blocks()) if has_ext else (None, b"", [])
    return Spec(
        pt=draw(st.integers(0, 127)),
        marker=draw(st.booleans()),
        seq=draw(st.integers(0, 0xFFFF)),
        ts=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        csrcs=draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15)),
        ext_profile=profile,
        ext_body=body,
        ext_elements=elements,
        payload=draw(st.binary(max_size=300)),
        padding=draw(st.sampled_from([0, 0, 1, 2, 3, 4, 17, 255])),
    )


def assert_matches(h: RtpHeader, data: bytes, spec: Spec) -> None:
    assert (h.payload_type, h.marker, h.sequence, h.timestamp, h.ssrc) == (
        spec.pt,
        spec.marker,
        spec.seq,
        spec.ts,
        spec.ssrc,
    )
    assert h.csrc_count == len(spec.csrcs)
    assert data[h.payload_offset : h.payload_end] == spec.payload
    assert h.padding == spec.padding
    assert h.payload_end + h.padding == len(data)
    if spec.ext_profile is None:
        assert (h.ext_offset, h.ext_length, h.ext_profile) == (-1, -1, -1)
    else:
        assert h.ext_profile == spec.ext_profile
        assert data[h.ext_offset : h.ext_offset + h.ext_length] == spec.ext_body
    assert [(i, bytes(v)) for i, v in iter_extensions(data, h)] == spec.ext_elements


# --- parse --------------------------------------------------------------------------------------------------


@SETTINGS
@given(specs())
def test_parse_agrees_with_builder_and_aiortc(spec: Spec) -> None:
    data = spec.build()
    h = parse_rtp(data)
    assert_matches(h, data, spec)
    ref = RtpPacket.parse(data)
    assert (ref.payload_type, bool(ref.marker), ref.sequence_number, ref.timestamp, ref.ssrc) == (
        h.payload_type,
        h.marker,
        h.sequence,
        h.timestamp,
        h.ssrc,
    )
    assert ref.csrc == spec.csrcs
    assert ref.payload == data[h.payload_offset : h.payload_end]
    assert ref.padding_size == h.padding
    if spec.ext_profile in (0xBEDE, 0x1000):
        assert unpack_header_extensions(spec.ext_profile, spec.ext_body) == [
            (i, bytes(v)) for i, v in iter_extensions(data, h)
        ]
    # memoryview input gives the same answers
    mv = memoryview(data)
    assert parse_rtp(mv) == h
    assert [(i, bytes(v)) for i, v in iter_extensions(mv, h)] == spec.ext_elements


def _exercise(data: bytes) -> None:
    """Everything downstream of a successful parse must work on whatever bytes got through."""
    h = parse_rtp(data)
    assert 12 <= h.payload_offset <= h.payload_end <= len(data)
    for xid, value in iter_extensions(data, h):
        assert 1 <= xid <= 255 and get_extension(data, h, xid) is not None
        assert isinstance(value, bytes)
    rw = ExtensionRewriter(
        {URI_AUDIO_LEVEL: 1, URI_VIDEO_ORIENTATION: 3, URI_TOFFSET: 2},
        {URI_AUDIO_LEVEL: 5, URI_VIDEO_ORIENTATION: 4, URI_TOFFSET: 14, URI_MID: 1, URI_ABS_SEND_TIME: 3},
        mid="a",
    )
    wide = ExtensionRewriter({URI_AUDIO_LEVEL: 1, URI_TOFFSET: 2}, {URI_AUDIO_LEVEL: 200, URI_TOFFSET: 20}, mid=None)
    for block in (None, b"", rw.build(data, h, 5), wide.build(data, h, None)):
        out = rewrite_rtp(data, h, ssrc=1, sequence=2, timestamp=3, payload_type=4, ext_block=block)
        h2 = parse_rtp(out)
        assert out[h2.payload_offset : h2.payload_end + h2.padding] == data[h.payload_offset :]


@SETTINGS
@given(st.binary(max_size=120), st.booleans())
def test_arbitrary_bytes_only_value_error(data: bytes, force_v2: bool) -> None:
    if force_v2 and data:
        data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]
    try:
        h = parse_rtp(data)
    except ValueError:
        # everything we reject, aiortc rejects too (it is stricter: it also rejects bad extension elements)
        with pytest.raises(ValueError):
            RtpPacket.parse(data)
        return
    _exercise(data)
    try:
        ref = RtpPacket.parse(data)
    except ValueError:
        return
    assert ref.sequence_number == h.sequence and ref.payload == data[h.payload_offset : h.payload_end]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80" * 11, "shorter"),
        (b"\x40" + b"\x00" * 11, "version"),
        (b"\x82" + b"\x00" * 15, "CSRC"),
        (b"\x90" + b"\x00" * 11 + b"\xbe\xde", "extension header"),
        (b"\x90" + b"\x00" * 11 + b"\xbe\xde\x00\x01", "extension beyond"),
        (b"\xa0" + b"\x00" * 12, "padding"),
        (b"\xa0" + b"\x00" * 11 + b"\x02", "padding"),
    ],
)
def test_parse_rejections(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtp(data)


def test_one_byte_form_stops_at_id_15_and_skips_padding() -> None:
    body = b"\x00\x10\xaa\x00\x00\xf0\x20\xbb\x00\x00\x00\x00"  # pad, id1, pad pad, id15 (stop), id2 never seen
    data = struct.pack("!BBHII", 0x90, 96, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 3) + body + b"payload"
    h = parse_rtp(data)
    assert list(iter_extensions(data, h)) == [(1, b"\xaa")]
    assert get_extension(data, h, 2) is None and get_extension(data, h, 1) == b"\xaa"


def test_truncated_element_ends_walk() -> None:
    data = struct.pack("!BBHII", 0x90, 96, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x2f\x00" + b"p"
    h = parse_rtp(data)
    assert list(iter_extensions(data, h)) == [(1, b"\xaa")]


def test_is_rtcp() -> None:
    assert is_rtcp(bytes([0x80, 200])) and is_rtcp(bytes([0x81, 206, 0, 2]))
    assert is_rtcp(bytes([0x80, 223])) and is_rtcp(bytes([0x80, 192]))
    assert not is_rtcp(bytes([0x80, 96])) and not is_rtcp(bytes([0x80, 0xE0]))  # PT 96, with and without marker
    assert not is_rtcp(bytes([0x80, 191])) and not is_rtcp(bytes([0x80, 224])) and not is_rtcp(b"\x80")


# --- rewrite ------------------------------------------------------------------------------------------------


@SETTINGS
@given(
    specs(),
    st.integers(0, 0xFFFFFFFF),
    st.integers(-5, 0x1FFFF),
    st.integers(0, 0x1FFFFFFFF),
    st.integers(0, 127),
    st.sampled_from(["keep", "drop", "replace-one", "replace-two"]),
)
def test_rewrite_rtp(spec: Spec, ssrc: int, seq: int, ts: int, pt: int, ext_mode: str) -> None:
    data = spec.build()
    h = parse_rtp(data)
    new_elements = {"replace-one": [(3, b"abc"), (7, b"\x01")], "replace-two": [(20, b""), (1, b"x" * 30)]}
    if ext_mode == "keep":
        block, expected = None, spec.ext_elements
    elif ext_mode == "drop":
        block, expected = b"", []
    else:
        elements = new_elements[ext_mode]
        body = encode_elements(elements, ext_mode == "replace-two")
        block = struct.pack("!HH", 0x1000 if ext_mode == "replace-two" else 0xBEDE, len(body) // 4) + body
        expected = elements
    out = rewrite_rtp(data, h, ssrc=ssrc, sequence=seq, timestamp=ts, payload_type=pt, ext_block=block)
    h2 = parse_rtp(out)
    assert (h2.ssrc, h2.sequence, h2.timestamp, h2.payload_type) == (ssrc, seq & 0xFFFF, ts & 0xFFFFFFFF, pt)
    assert h2.marker == spec.marker and h2.padding == spec.padding and h2.csrc_count == len(spec.csrcs)
    assert out[h2.payload_offset : h2.payload_end] == spec.payload
    assert out[h2.payload_end :] == data[h.payload_end :]  # padding bytes verbatim
    assert [(i, bytes(v)) for i, v in iter_extensions(out, h2)] == expected
    if ext_mode == "keep":
        assert out[12:] == data[12:]
    if ext_mode == "drop":
        assert h2.ext_offset == -1
    ref = RtpPacket.parse(out)
    assert (ref.ssrc, ref.sequence_number, ref.timestamp, ref.payload_type, bool(ref.marker)) == (
        ssrc,
        seq & 0xFFFF,
        ts & 0xFFFFFFFF,
        pt,
        spec.marker,
    )
    assert ref.csrc == spec.csrcs and ref.payload == spec.payload and ref.padding_size == spec.padding


def test_rewrite_rejects_unaligned_block() -> None:
    data = struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + b"payload"
    with pytest.raises(ValueError):
        rewrite_rtp(data, parse_rtp(data), ssrc=1, sequence=1, timestamp=1, payload_type=96, ext_block=b"\xbe\xde\x00")


# --- ExtensionRewriter --------------------------------------------------------------------------------------

PUB = {URI_MID: 4, URI_ABS_SEND_TIME: 2, URI_TRANSPORT_CC: 3, URI_AUDIO_LEVEL: 1, URI_RID: 10}
SUB = {URI_MID: 9, URI_ABS_SEND_TIME: 3, URI_TRANSPORT_CC: 3, URI_AUDIO_LEVEL: 5}


def publisher_packet(elements: list[tuple[int, bytes]], payload: bytes = b"\x10" * 40) -> bytes:
    two = any(i > 14 or not 1 <= len(v) <= 16 for i, v in elements)
    body = encode_elements(elements, two)
    return Spec(111, True, 7, 8, 9, [], 0x1000 if two else 0xBEDE, body, elements, payload, 0).build()


def aiortc_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()])
    )
    return m


def test_rewriter_mid_abs_audio_kept_unknown_dropped() -> None:
    data = publisher_packet([(4, b"0"), (2, b"\x00\x00\x01"), (3, b"\x12\x34"), (1, b"\x9e"), (10, b"hi")])
    h = parse_rtp(data)
    rw = ExtensionRewriter(PUB, SUB, mid="sub-mid")
    assert rw.remapped == {1: 5}
    ast_value = abs_send_time(12.5)
    block = rw.build(data, h, ast_value)
    assert block[:2] == b"\xbe\xde" and len(block) % 4 == 0
    out = rewrite_rtp(data, h, ssrc=42, sequence=1, timestamp=2, payload_type=96, ext_block=block)
    h2 = parse_rtp(out)
    assert list(iter_extensions(out, h2)) == [(9, b"sub-mid"), (3, ast_value.to_bytes(3, "big")), (5, b"\x9e")]
    # aiortc, configured with the subscriber's ids, reads the same thing
    ref = RtpPacket.parse(out, aiortc_map(SUB))
    assert ref.extensions.mid == "sub-mid"
    assert ref.extensions.abs_send_time == ast_value
    assert ref.extensions.audio_level == (True, 0x1E)
    assert ref.extensions.transport_sequence_number is None  # same URI on both sides, but not copyable
    assert ref.payload == data[h.payload_offset :]


def test_rewriter_stamps_this_hops_transport_sequence() -> None:
    """transport-cc is written fresh per subscriber (never copied from the publisher's hop), one-byte and two-byte."""
    sub = {URI_MID: 9, URI_ABS_SEND_TIME: 2, URI_TRANSPORT_CC: 7}
    data = publisher_packet([(4, b"0"), (3, b"\x12\x34")])
    h = parse_rtp(data)
    for ids in (sub, {**sub, URI_TRANSPORT_CC: 100}):
        block = ExtensionRewriter(PUB, ids, mid="m").build(data, h, abs_send_time(1.0), 0xBEEF)
        out = rewrite_rtp(data, h, ssrc=1, sequence=1, timestamp=1, payload_type=96, ext_block=block)
        assert (ids[URI_TRANSPORT_CC], b"\xbe\xef") in list(iter_extensions(out, parse_rtp(out)))
        if ids[URI_TRANSPORT_CC] <= 14:
            assert RtpPacket.parse(out, aiortc_map(ids)).extensions.transport_sequence_number == 0xBEEF
    assert b"\xbe\xef" not in ExtensionRewriter(PUB, {URI_MID: 9}, mid="m").build(data, h, None, 0xBEEF)


def test_rewriter_omissions_and_empty() -> None:
    data = publisher_packet([(3, b"\x12\x34")])
    h = parse_rtp(data)
    assert ExtensionRewriter(PUB, SUB, mid=None).build(data, h, None) == b""
    assert ExtensionRewriter(PUB, {URI_AUDIO_LEVEL: 5}, mid="m").build(data, h, 123) == b""  # no MID/abs on sub
    plain = Spec(96, False, 1, 2, 3, [], None, b"", [], b"x", 0).build()
    block = ExtensionRewriter(PUB, SUB, mid=None).build(plain, parse_rtp(plain), 0xABCDEF)
    assert block == b"\xbe\xde\x00\x01" + b"\x32\xab\xcd\xef"


def test_rewriter_two_byte_forms() -> None:
    data = publisher_packet([(1, b"\x85"), (4, b"0")])
    h = parse_rtp(data)
    # subscriber id above 14 forces the two-byte form
    block = ExtensionRewriter(PUB, {**SUB, URI_AUDIO_LEVEL: 200}, mid="m").build(data, h, 1)
    assert block[:2] == b"\x10\x00"
    out = rewrite_rtp(data, h, ssrc=1, sequence=1, timestamp=1, payload_type=96, ext_block=block)
    assert list(iter_extensions(out, parse_rtp(out))) == [(9, b"m"), (3, b"\x00\x00\x01"), (200, b"\x85")]
    # a MID longer than 16 bytes also needs it
    block = ExtensionRewriter(PUB, SUB, mid="m" * 17).build(data, h, None)
    assert block[:2] == b"\x10\x00"
    assert ExtensionRewriter(PUB, SUB, mid="m" * 17).build(data, h, None)[4:6] == bytes([9, 17])
    # a two-byte publisher with an empty copyable value → two-byte output; one-byte-able values → one-byte
    pub = {URI_AUDIO_LEVEL: 1, URI_PLAYOUT_DELAY: 30}
    sub = {URI_AUDIO_LEVEL: 2, URI_PLAYOUT_DELAY: 6}
    two = publisher_packet([(30, b""), (1, b"\x05")])
    h2 = parse_rtp(two)
    assert h2.ext_profile == 0x1000
    block = ExtensionRewriter(pub, sub, mid=None).build(two, h2, None)
    assert block == b"\x10\x00\x00\x02" + bytes([6, 0, 2, 1, 5]) + b"\x00\x00\x00"
    two = publisher_packet([(30, b"\x01\x02\x03"), (1, b"\x05"), (40, b"")])
    block = ExtensionRewriter(pub, sub, mid=None).build(two, parse_rtp(two), None)
    assert block == b"\xbe\xde\x00\x02" + bytes([0x62, 1, 2, 3, 0x20, 5]) + b"\x00\x00"


def test_rewriter_rejects_bad_ids() -> None:
    with pytest.raises(ValueError):
        ExtensionRewriter({URI_MID: 0}, {}, mid=None)
    with pytest.raises(ValueError):
        ExtensionRewriter({}, {URI_MID: 256}, mid=None)


URIS = [
    URI_MID,
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    URI_VIDEO_ORIENTATION,
    URI_TOFFSET,
    URI_TRANSPORT_CC,
    URI_RID,
    URI_REPAIRED_RID,
    URI_PLAYOUT_DELAY,
]


@st.composite
def id_maps(draw: st.DrawFn) -> dict[str, int]:
    uris = draw(st.lists(st.sampled_from(URIS), unique=True))
    big = draw(st.booleans())
    ids = draw(st.lists(st.integers(1, 255 if big else 14), unique=True, min_size=len(uris), max_size=len(uris)))
    return dict(zip(uris, ids, strict=True))


@SETTINGS
@given(
    id_maps(), id_maps(), st.none() | st.text(min_size=0, max_size=20), st.none() | st.integers(0, 0xFFFFFF), st.data()
)
def test_rewriter_model(
    pub: dict[str, int], sub: dict[str, int], mid: str | None, ast_value: int | None, data: st.DataObject
) -> None:
    by_id = {i: u for u, i in pub.items()}
    present = data.draw(st.lists(st.sampled_from(sorted(by_id)), unique=True)) if by_id else []
    two_form = any(i > 14 for i in present)
    values = [data.draw(st.binary(min_size=0 if two_form else 1, max_size=16 if not two_form else 20)) for _ in present]
    pkt = publisher_packet(list(zip(present, values, strict=True)))
    h = parse_rtp(pkt)
    expected: list[tuple[int, bytes]] = []
    if mid is not None and URI_MID in sub:
        expected.append((sub[URI_MID], mid.encode()))
    if ast_value is not None and URI_ABS_SEND_TIME in sub:
        expected.append((sub[URI_ABS_SEND_TIME], ast_value.to_bytes(3, "big")))
    for i, v in zip(present, values, strict=True):
        if by_id[i] in COPY_URIS and by_id[i] in sub:
            expected.append((sub[by_id[i]], v))
    block = ExtensionRewriter(pub, sub, mid=mid).build(pkt, h, ast_value)
    if not expected:
        assert block == b""
        return
    one = all(i <= 14 and 1 <= len(v) <= 16 for i, v in expected)
    assert block[:2] == (b"\xbe\xde" if one else b"\x10\x00") and len(block) % 4 == 0
    out = rewrite_rtp(pkt, h, ssrc=1, sequence=2, timestamp=3, payload_type=96, ext_block=block)
    h2 = parse_rtp(out)
    assert [(i, bytes(v)) for i, v in iter_extensions(out, h2)] == expected
    assert unpack_header_extensions(h2.ext_profile, out[h2.ext_offset : h2.ext_offset + h2.ext_length]) == expected


def test_abs_send_time() -> None:
    assert abs_send_time(0.0) == 0
    assert abs_send_time(1.0) == 1 << 18
    assert abs_send_time(1.5) == 3 << 17
    assert abs_send_time(64.0) == 0  # 6 bits of seconds: wraps every 64 s
    assert abs_send_time(63.999999) == 0  # rounds up to 64 s
    assert abs_send_time(63.999) == round(63.999 * 2**18)
    assert abs_send_time(1_700_000_000.25) == ((1_700_000_000 % 64) << 18) | (1 << 16)


# --- RTX ----------------------------------------------------------------------------------------------------


@SETTINGS
@given(specs(), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.booleans())
def test_rtx_round_trip(spec: Spec, rtx_seq: int, rtx_ssrc: int, keep_ext: bool) -> None:
    data = spec.build()
    h = parse_rtp(data)
    rtx = rtx_wrap(
        data, h, rtx_ssrc=rtx_ssrc, rtx_sequence=rtx_seq, rtx_payload_type=97, ext_block=None if keep_ext else b""
    )
    hr = parse_rtp(rtx)
    assert (hr.ssrc, hr.sequence, hr.payload_type, hr.timestamp, hr.marker) == (
        rtx_ssrc,
        rtx_seq,
        97,
        spec.ts,
        spec.marker,
    )
    assert rtx[hr.payload_offset : hr.payload_end] == struct.pack("!H", spec.seq) + spec.payload
    back = rtx_unwrap(rtx, hr, ssrc=spec.ssrc, payload_type=spec.pt)
    hb = parse_rtp(back)
    assert (hb.ssrc, hb.sequence, hb.payload_type, hb.timestamp, hb.marker, hb.padding) == (
        spec.ssrc,
        spec.seq,
        spec.pt,
        spec.ts,
        spec.marker,
        0,
    )
    assert back[hb.payload_offset :] == spec.payload
    assert [(i, bytes(v)) for i, v in iter_extensions(back, hb)] == (spec.ext_elements if keep_ext else [])
    # aiortc's own unwrap agrees
    ref = unwrap_rtx(RtpPacket.parse(rtx), payload_type=spec.pt, ssrc=spec.ssrc)
    assert (ref.sequence_number, ref.payload, ref.csrc) == (spec.seq, spec.payload, spec.csrcs)


def test_rtx_unwrap_too_short() -> None:
    data = struct.pack("!BBHII", 0x80, 97, 1, 2, 3) + b"\x01"
    with pytest.raises(ValueError):
        rtx_unwrap(data, parse_rtp(data), ssrc=1, payload_type=96)


# --- hygiene ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["rtp", "rtcp", "payloads"])
def test_hot_path_modules_do_not_import_aiortc(module: str) -> None:
    tree = ast.parse((ROOT / "media" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "aiortc" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "aiortc"
