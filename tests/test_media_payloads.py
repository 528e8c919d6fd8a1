"""media.payloads on real encoder output (aiortc's VP8/H264 encoders over PyAV) and on synthetic/garbage payloads.

Ground truth for "is this a keyframe" comes from decoding the frames with PyAV (`frame.key_frame`), and for
H264 per packet from aiortc's own depayloader, so the detectors are never checked against themselves.
"""

from __future__ import annotations

import fractions
import random
import struct
from collections.abc import Iterator

import av
import pytest
from aiortc.codecs import get_encoder
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.payloads import (
    audio_level,
    h264_is_keyframe,
    is_keyframe,
    vp8_is_keyframe,
    vp8_picture_id,
    vp8_rewrite_picture_id,
)

SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
KEYFRAME_AT = (0, 5)  # the first frame, and one forced with force_keyframe=True
H264_PARAMS: dict[str, int | str | None] = {
    "packetization-mode": "1",
    "level-asymmetry-allowed": "1",
    "profile-level-id": "42e01f",
}


def synthetic_frames(n: int, width: int = 320, height: int = 240) -> Iterator[av.VideoFrame]:
    """Noise that shifts a little each frame: big keyframes (many packets), non-trivial delta frames."""
    rnd = random.Random(1)
    base = rnd.randbytes(width * height * 3 // 2)
    for i in range(n):
        frame = av.VideoFrame(width, height, "yuv420p")
        data = base[i * 7 :] + base[: i * 7]
        off = 0
        for plane in frame.planes:
            size = plane.line_size * plane.height
            plane.update(data[off : off + size])
            off += size
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        yield frame


def encode(mime: str, parameters: dict[str, int | str | None]) -> list[list[bytes]]:
    encoder = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=90000, payloadType=96, parameters=parameters))
    return [encoder.encode(f, force_keyframe=i in KEYFRAME_AT[1:])[0] for i, f in enumerate(synthetic_frames(8))]


def decoded_key_flags(codec: str, frames: list[bytes]) -> list[bool]:
    ctx = av.CodecContext.create(codec, "r")
    flags = []
    for data in frames:
        out = ctx.decode(av.Packet(data))
        assert len(out) == 1
        flags.append(bool(out[0].key_frame))
    return flags


@pytest.fixture(scope="module")
def vp8_frames() -> list[list[bytes]]:
    return encode("video/VP8", {})


@pytest.fixture(scope="module")
def h264_frames() -> list[list[bytes]]:
    if "libx264" not in av.codecs_available:
        pytest.skip("libx264 not available in this PyAV build")
    return encode("video/H264", H264_PARAMS)


def test_vp8_real_keyframes_and_deltas(vp8_frames: list[list[bytes]]) -> None:
    bitstreams = [b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads) for payloads in vp8_frames]
    truth = decoded_key_flags("vp8", bitstreams)
    assert [i for i, k in enumerate(truth) if k] == list(KEYFRAME_AT)
    assert all(len(payloads) > 1 for payloads in vp8_frames)  # non-first packets exist for every frame
    for payloads, key in zip(vp8_frames, truth, strict=True):
        assert vp8_is_keyframe(payloads[0]) is key
        assert is_keyframe("VP8", payloads[0]) is key
        assert is_keyframe("video/vp8", memoryview(payloads[0])) is key
        assert not any(vp8_is_keyframe(p) for p in payloads[1:])


def test_vp8_real_picture_ids_and_rewrite(vp8_frames: list[list[bytes]]) -> None:
    ids = [vp8_picture_id(payloads[0]) for payloads in vp8_frames]
    assert all(i is not None for i in ids)
    assert [(ids[0] + k) % 0x8000 for k in range(len(ids))] == ids  # aiortc counts 15-bit PictureIDs
    for payloads in vp8_frames:
        for p in payloads:
            ref, rest = VpxPayloadDescriptor.parse(p)
            assert vp8_picture_id(p) == ref.picture_id
            new = vp8_rewrite_picture_id(p, 0x1234)
            assert len(new) == len(p)
            ref2, rest2 = VpxPayloadDescriptor.parse(new)
            assert ref2.picture_id == 0x1234 and rest2 == rest and ref2.partition_start == ref.partition_start
    # rewritten PictureIDs still decode, and keyframe detection is unaffected
    rewritten = [[vp8_rewrite_picture_id(p, 7000 + i) for p in payloads] for i, payloads in enumerate(vp8_frames)]
    bitstreams = [b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads) for payloads in rewritten]
    assert [i for i, k in enumerate(decoded_key_flags("vp8", bitstreams)) if k] == list(KEYFRAME_AT)
    assert [vp8_is_keyframe(payloads[0]) for payloads in rewritten] == [i in KEYFRAME_AT for i in range(8)]


def nal_starts(payload: bytes) -> list[int]:
    """NAL types that *start* in this packet, per aiortc's depayloader (independent of media.payloads)."""
    descriptor, annexb = H264PayloadDescriptor.parse(payload)
    return (
        [annexb[i + 4] & 0x1F for i in range(len(annexb) - 4) if annexb[i : i + 4] == b"\x00\x00\x00\x01"]
        if descriptor.first_fragment
        else []
    )


def test_h264_real_keyframes_and_deltas(h264_frames: list[list[bytes]]) -> None:
    bitstreams = [b"".join(H264PayloadDescriptor.parse(p)[1] for p in payloads) for payloads in h264_frames]
    truth = decoded_key_flags("h264", bitstreams)
    assert [i for i, k in enumerate(truth) if k] == list(KEYFRAME_AT)
    seen = {"stap-a": 0, "fu-a-start": 0, "fu-a-rest": 0}
    for payloads, key in zip(h264_frames, truth, strict=True):
        flags = [h264_is_keyframe(p) for p in payloads]
        assert flags == [any(t in (5, 7) for t in nal_starts(p)) for p in payloads]
        assert flags == [is_keyframe("H264", p) for p in payloads]
        assert flags[0] is key  # SPS (in a STAP-A with PPS) leads every keyframe from x264
        if not key:
            assert not any(flags)
        for p, flag in zip(payloads, flags, strict=True):
            t = p[0] & 0x1F
            if t == 24:
                seen["stap-a"] += 1
            elif t == 28 and p[1] & 0x80:
                seen["fu-a-start"] += 1
            elif t == 28:
                seen["fu-a-rest"] += 1
                assert not flag
    assert all(seen.values()), seen  # the encoder output exercised every packetization path


# --- synthetic VP8 ------------------------------------------------------------------------------------------

VP8_KEY_HEADER = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])  # P=0, start code, 320x240
VP8_DELTA_HEADER = bytes([0x31, 0x42, 0x00]) + b"\x11" * 7


@st.composite
def vp8_descriptors(draw: st.DrawFn) -> tuple[bytes, int | None, bool, int | None]:
    """(descriptor bytes, picture id, long form, tl0picidx) built field by field."""
    s = draw(st.booleans())
    pid = draw(st.integers(0, 7))
    n = draw(st.booleans())
    i, l_, t, k = (draw(st.booleans()) for _ in range(4))
    if not (i or l_ or t or k) and draw(st.booleans()):
        return bytes([(0x20 if n else 0) | (0x10 if s else 0) | pid]), None, False, None
    out = bytes(
        [
            0x80 | (0x20 if n else 0) | (0x10 if s else 0) | pid,
            (0x80 if i else 0) | (0x40 if l_ else 0) | (0x20 if t else 0) | (0x10 if k else 0),
        ]
    )
    picture_id, long_form, tl0 = None, False, None
    if i:
        long_form = draw(st.booleans())
        picture_id = draw(st.integers(0, 0x7FFF if long_form else 0x7F))
        out += struct.pack("!H", 0x8000 | picture_id) if long_form else bytes([picture_id])
    if l_:
        tl0 = draw(st.integers(0, 255))
        out += bytes([tl0])
    if t or k:
        out += bytes([draw(st.integers(0, 255))])
    return out, picture_id, long_form, tl0


@SETTINGS
@given(vp8_descriptors(), st.booleans(), st.binary(max_size=20))
def test_vp8_synthetic(descriptor: tuple[bytes, int | None, bool, int | None], key: bool, tail: bytes) -> None:
    desc, picture_id, _, _ = descriptor
    payload = desc + (VP8_KEY_HEADER if key else VP8_DELTA_HEADER) + tail
    start_of_partition_0 = desc[0] & 0x17 == 0x10
    assert vp8_is_keyframe(payload) is (key and start_of_partition_0)
    assert vp8_picture_id(payload) == picture_id == VpxPayloadDescriptor.parse(payload)[0].picture_id
    # too short to hold the 10-byte key frame header: not a (usable) keyframe start
    assert not vp8_is_keyframe(desc + VP8_KEY_HEADER[:9])
    # every truncation of the descriptor is tolerated
    for cut in range(len(desc)):
        assert not vp8_is_keyframe(desc[:cut])
        vp8_picture_id(desc[:cut])
        assert vp8_rewrite_picture_id(desc[:cut], 5) == desc[:cut]


@SETTINGS
@given(vp8_descriptors(), st.integers(0, 1 << 20), st.none() | st.integers(0, 1000), st.binary(max_size=10))
def test_vp8_rewrite_picture_id(
    descriptor: tuple[bytes, int | None, bool, int | None], new_id: int, new_tl0: int | None, tail: bytes
) -> None:
    desc, picture_id, long_form, tl0 = descriptor
    payload = desc + tail
    out = vp8_rewrite_picture_id(payload, new_id, new_tl0)
    assert len(out) == len(payload) and out[len(desc) :] == tail
    if picture_id is None:
        assert out == payload
        return
    assert vp8_picture_id(out) == new_id & (0x7FFF if long_form else 0x7F)
    ref, _ = VpxPayloadDescriptor.parse(out)
    assert ref.tl0picidx == (tl0 if new_tl0 is None or tl0 is None else new_tl0 & 0xFF)
    assert out[:2] == payload[:2] and out[2] & 0x80 == payload[2] & 0x80


# --- synthetic H264 -----------------------------------------------------------------------------------------


def nal(t: int, size: int = 5) -> bytes:
    return bytes([0x60 | t]) + b"\x88" * (size - 1)


def stap_a(*nals: bytes) -> bytes:
    return b"\x78" + b"".join(struct.pack("!H", len(n)) + n for n in nals)


def fu_a(t: int, start: bool, end: bool = False) -> bytes:
    return bytes([0x7C, (0x80 if start else 0) | (0x40 if end else 0) | t]) + b"\x99" * 10


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (nal(5), True),
        (nal(7), True),
        (nal(8), False),  # PPS alone
        (nal(1), False),
        (nal(6), False),  # SEI
        (stap_a(nal(7), nal(8)), True),
        (stap_a(nal(6), nal(8), nal(5)), True),
        (stap_a(nal(6), nal(1)), False),
        (stap_a(nal(6), nal(5))[:-1], False),  # truncated IDR: malformed aggregate
        (stap_a(nal(6)) + b"\x00\x00" + nal(5), False),  # zero-length NAL ends the walk
        (fu_a(5, True), True),
        (fu_a(5, False), False),
        (fu_a(5, False, True), False),
        (fu_a(1, True), False),
        (b"\xe5\x00", False),  # forbidden_zero_bit set
        (b"", False),
        (b"\x7c", False),
        (b"\x78", False),
    ],
)
def test_h264_synthetic(payload: bytes, expected: bool) -> None:
    assert h264_is_keyframe(payload) is expected
    assert h264_is_keyframe(memoryview(payload)) is expected


# --- robustness, dispatch, audio level ----------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=40), st.integers(-(1 << 20), 1 << 20), st.none() | st.integers(0, 300))
def test_arbitrary_payloads_never_raise(data: bytes, picture_id: int, tl0: int | None) -> None:
    for payload in (data, memoryview(data), bytearray(data)):
        assert isinstance(vp8_is_keyframe(payload), bool)
        assert isinstance(h264_is_keyframe(payload), bool)
        pid = vp8_picture_id(payload)
        assert pid is None or 0 <= pid <= 0x7FFF
        out = vp8_rewrite_picture_id(payload, picture_id, tl0)
        assert isinstance(out, bytes) and len(out) == len(data)
        for codec in ("VP8", "H264", "opus", "VP9"):
            assert isinstance(is_keyframe(codec, payload), bool)
        flag, level = audio_level(payload)
        assert isinstance(flag, bool) and 0 <= level <= 127


def test_is_keyframe_dispatch() -> None:
    for audio in ("opus", "PCMU", "PCMA", "audio/opus", "G722"):
        assert is_keyframe(audio, b"")
    assert not is_keyframe("VP9", nal(5)) and not is_keyframe("AV1", b"\x10")
    assert is_keyframe("h264", nal(5)) and not is_keyframe("VP8", nal(5))


def test_audio_level() -> None:
    assert audio_level(b"\x80") == (True, 0)
    assert audio_level(b"\xff") == (True, 127)
    assert audio_level(b"\x1e") == (False, 30)
    assert audio_level(b"") == (False, 127)
    assert audio_level(memoryview(b"\x9e\x00")) == (True, 30)
