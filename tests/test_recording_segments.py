"""Depacketizing real encoder output (aiortc's VP8 / H.264 / Opus encoders) and remuxing it into segments.

The segments are decoded with PyAV at the end: the only proof that "remux without transcoding" produced files a
player can use, with the timestamps the RTP stream had.
"""

from __future__ import annotations

import fractions
import itertools
import random
import struct
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from recordings.depacketize import EncodedFrame, FrameAssembler, Unwrapper
from recordings.segment_writer import ClosedSegment, SegmentWriter, TrackClock

VIDEO_TB = fractions.Fraction(1, 90000)


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, pt: int = 96, ssrc: int = 1234) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def video_frame(i: int, w: int = 160, h: int = 120, noise: bool = False) -> av.VideoFrame:
    if noise:
        img = np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts, f.time_base = i * 3000, VIDEO_TB
        return f
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:, :, 0] = (np.arange(w) + i * 3) % 256
    img[:, :, 1] = (np.arange(h)[:, None] + i) % 256
    f = av.VideoFrame.from_ndarray(img, format="rgb24")
    f.pts, f.time_base = i * 3000, VIDEO_TB
    return f


Encoder = Callable[[av.VideoFrame, bool], tuple[list[bytes], int]]


def video_packets(codec: str, n: int, *, key_every: int | None = 30, seq0: int = 65500, ts0: int = 4294967295 - 30000,
                  force: Callable[[int], bool] | None = None, noise: bool = False) -> list[bytes]:
    """n frames at 30 fps as RTP packets; sequence and timestamp start near their wrap points on purpose."""
    enc = Vp8Encoder() if codec == "vp8" else H264Encoder()
    packets: list[bytes] = []
    seq = seq0
    for i in range(n):
        key = (key_every is not None and i % key_every == 0) or (force is not None and force(i))
        payloads, ts = enc.encode(video_frame(i, 320 if noise else 160, 240 if noise else 120, noise), key)
        for j, p in enumerate(payloads):
            packets.append(rtp(seq, ts0 + ts, p, marker=j == len(payloads) - 1))
            seq += 1
    return packets


def opus_packets(seconds: float, seq0: int = 100, ts0: int = 1000) -> list[bytes]:
    enc = OpusEncoder()
    out: list[bytes] = []
    for i in range(int(seconds * 50)):
        t = (np.arange(960) + i * 960) / 48000
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, fractions.Fraction(1, 48000)
        payloads, ts = enc.encode(frame)
        for p in payloads:
            out.append(rtp(seq0 + len(out), ts0 + ts, p, marker=False, pt=111))
    return out


def assemble(codec: str, packets: list[bytes], window: int = 8) -> tuple[FrameAssembler, list[EncodedFrame]]:
    asm = FrameAssembler(codec, reorder_window=window)
    frames = [f for p in packets for f in asm.push(p)]
    frames += asm.flush()
    return asm, frames


def decode_all(segments: list[ClosedSegment]) -> list[tuple[int, float]]:
    """(segment index, frame time) of every decoded video frame / audio frame, segment by segment."""
    out = []
    for seg in segments:
        with av.open(str(seg.path)) as c:
            for frame in c.decode(c.streams[0]):
                out.append((seg.index, float(frame.time)))
    return out


# ---- depacketizer ------------------------------------------------------------------------------------------


def test_unwrapper_extends_across_wrap_and_tolerates_reordering() -> None:
    u = Unwrapper(16)
    assert [u.unwrap(v) for v in (65534, 65535, 0, 65535, 1)] == [65534, 65535, 65536, 65535, 65537]
    t = Unwrapper(32)
    assert t.unwrap(0xFFFFFF00) == 0xFFFFFF00 and t.unwrap(0x100) == 0x1_0000_0100


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_assembles_every_frame_across_wraps(codec: str) -> None:
    packets = video_packets(codec, 40)
    asm, frames = assemble(codec, packets)
    assert len(frames) == 40 and asm.dropped_frames == 0 and asm.lost_packets == 0
    assert [f.keyframe for f in frames] == [i % 30 == 0 for i in range(40)]
    ts = [f.rtp_timestamp for f in frames]
    assert all(abs(b - a - 3000) <= 1 for a, b in itertools.pairwise(ts))  # the 32-bit wrap is gone
    assert ts[-1] > 1 << 32
    if codec == "h264":
        assert frames[0].data.startswith(b"\x00\x00\x00\x01") and asm.parameter_sets is not None


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_reordering_within_window_loses_nothing(codec: str) -> None:
    packets = video_packets(codec, 20)
    rng = random.Random(7)
    shuffled = list(packets)
    for i in range(0, len(shuffled) - 4, 4):  # swap neighbours within blocks of 4
        block = shuffled[i : i + 4]
        rng.shuffle(block)
        shuffled[i : i + 4] = block
    _, expected = assemble(codec, packets)
    asm, frames = assemble(codec, shuffled)
    assert [f.data for f in frames] == [f.data for f in expected]
    assert asm.late_packets == 0


def test_loss_drops_the_incomplete_frame_only() -> None:
    packets = video_packets("vp8", 10, noise=True)
    # frame 0 (keyframe) spans several packets: lose its second packet
    ts0 = struct.unpack_from("!I", packets[0], 4)[0]
    assert len([p for p in packets if struct.unpack_from("!I", p, 4)[0] == ts0]) > 1
    asm, frames = assemble("vp8", packets[:1] + packets[2:])
    assert asm.lost_packets == 1 and asm.dropped_frames == 1
    assert len(frames) == 9 and frames[0].discontinuity and not frames[1].discontinuity


def test_h264_loss_of_a_frames_first_packet_drops_that_frame() -> None:
    packets = video_packets("h264", 6)
    _, full = assemble("h264", packets)
    first_of_frame3 = next(i for i, p in enumerate(packets) if struct.unpack_from("!I", p, 4)[0] ==
                           full[3].rtp_timestamp & 0xFFFFFFFF)
    lossy = packets[:first_of_frame3] + packets[first_of_frame3 + 1 :]
    _asm, frames = assemble("h264", lossy)
    # frame 3 is gone whether it had one packet or more; nothing half is emitted
    assert [f.rtp_timestamp for f in frames] == [f.rtp_timestamp for f in full if f is not full[3]]
    assert all(f.data in {g.data for g in full} for f in frames)


def test_duplicates_and_garbage_are_ignored() -> None:
    packets = video_packets("vp8", 3)
    asm = FrameAssembler("vp8")
    out = []
    for p in packets:
        out += asm.push(p)
        out += asm.push(p)
        out += asm.push(b"\x00garbage")
    out += asm.flush()
    assert len(out) == 3 and asm.malformed_packets == len(packets)


def test_unknown_codec_is_refused_with_a_useful_message() -> None:
    with pytest.raises(ValueError, match="supported are VP8, H264 and opus"):
        FrameAssembler("AV1")


# ---- segment writer ----------------------------------------------------------------------------------------


def write(tmp_path: Path, codec: str, frames: list[EncodedFrame], clock: TrackClock,
          **kw: object) -> list[ClosedSegment]:
    writer = SegmentWriter(tmp_path, "t1", codec, clock, **kw)  # type: ignore[arg-type]
    segs = [s for f in frames for s in writer.write(f)]
    last = writer.close()
    assert last is not None
    return [*segs, last]


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_six_seconds_of_video_make_three_decodable_segments(tmp_path: Path, codec: str) -> None:
    _, frames = assemble(codec, video_packets(codec, 180))
    # the recording started 0.5 s before this track's first packet arrived
    clock = TrackClock(90000, frames[0].rtp_timestamp, wall_anchor=1000.5, recording_start=1000.0)
    segs = write(tmp_path, codec, frames, clock)
    assert [s.index for s in segs] == [0, 1, 2]
    assert [round(s.start_time, 3) for s in segs] == [0.5, 2.5, 4.5]
    assert [round(s.end_time, 3) for s in segs] == [2.5, 4.5, 6.5]
    assert all(s.starts_with_keyframe and s.frames == 60 for s in segs)
    assert all(s.path.stat().st_size == s.size and not s.path.name.endswith(".part") for s in segs)
    decoded = decode_all(segs)
    assert len(decoded) == 180
    times = [t for _, t in decoded]
    assert times[0] == pytest.approx(0.5, abs=0.001) and times[-1] == pytest.approx(0.5 + 179 / 30, abs=0.001)
    with av.open(str(segs[0].path)) as c:
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (160, 120)


def test_opus_segments_keep_every_sample_and_timestamp(tmp_path: Path) -> None:
    _, frames = assemble("opus", opus_packets(5.0))
    assert len(frames) >= 248
    clock = TrackClock(48000, frames[0].rtp_timestamp, wall_anchor=10.0, recording_start=10.0)
    segs = write(tmp_path, "opus", frames, clock)
    assert [round(s.end_time - s.start_time, 2) for s in segs][:2] == [2.0, 2.0]
    samples = 0
    first_pts = []
    for seg in segs:
        with av.open(str(seg.path)) as c:
            got = list(c.decode(audio=0))
            first_pts.append(float(got[0].time))
            samples += sum(f.samples for f in got)
    assert samples == len(frames) * 960  # no codec delay trimmed, nothing lost
    assert first_pts == pytest.approx([s.start_time for s in segs], abs=0.001)


def test_long_gop_asks_for_a_keyframe_then_cuts_anyway(tmp_path: Path) -> None:
    asked: list[int] = []
    _, frames = assemble("vp8", video_packets("vp8", 360, key_every=None, force=lambda i: i == 0))
    clock = TrackClock(90000, frames[0].rtp_timestamp, 0.0, 0.0)
    writer = SegmentWriter(tmp_path, "t1", "vp8", clock, target_duration=2.0, max_duration=5.0,
                           request_keyframe=lambda: asked.append(1))
    segs = [s for f in frames for s in writer.write(f)]
    segs.append(writer.close())  # type: ignore[arg-type]
    assert len(asked) >= 1  # at 2 × target
    assert [round(s.end_time - s.start_time, 2) for s in segs] == [5.0, 5.0, 2.0]
    assert [s.starts_with_keyframe for s in segs] == [True, False, False]
    decoder = av.CodecContext.create("vp8", "r")  # one decoder across segments, as a player concatenating them
    decoded = 0
    for seg in segs:
        with av.open(str(seg.path)) as c:
            for packet in c.demux(video=0):
                if packet.size:  # demux ends each file with an empty packet, which would drain the decoder
                    decoded += len(decoder.decode(packet))
    for packet in [None]:  # drain the decoder
        decoded += len(decoder.decode(packet))
    assert decoded == 360


def test_waits_for_a_keyframe_and_drops_late_or_early_frames(tmp_path: Path) -> None:
    asked: list[int] = []
    _, frames = assemble("vp8", video_packets("vp8", 40, key_every=20))
    clock = TrackClock(90000, frames[0].rtp_timestamp, 5.0, 5.0)
    writer = SegmentWriter(tmp_path, "t1", "vp8", clock, request_keyframe=lambda: asked.append(1))
    early = EncodedFrame(b"x", frames[0].rtp_timestamp - 90000, True, 0, 0)  # before the recording start
    assert writer.write(early) == []
    for f in frames[1:]:
        writer.write(f)
    writer.write(frames[5])  # not after the previous frame
    seg = writer.close()
    assert seg is not None and seg.frames == 20 and seg.start_time == pytest.approx(20 / 30)
    assert asked == [1] and writer.dropped_frames == 1 + 19 + 1
