"""Recorded segments concatenate: through the SFU, in a VP8 room and in an H264 room, each track's segments, fed in
order to ONE decoder (as a player playing them back to back does), decode every frame without a libav error, with
timestamps that only move forward and never jump by more than about a frame across a segment boundary; their decoded
media adds up to the manifest's time range. H264 is thereby recorded end to end (Matroska, issue 6: "fragmented MP4 or
Matroska for H264"), each video segment starting on a real keyframe. Offline, on real x264 output: an H264 segment
the writer must open on an unusual frame (cut on a delta frame, an IDR without SPS/PPS, an SPS that makes the header
unwritable) is written, waited for or dropped, never left to crash the process.

And private rooms stay off the record: a counsel room opened during a recorded trial publishes media the whole time,
yet no recorder taps its tracks and the hearing's manifest (and store) names none of its publishers' tracks.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import pytest

from docket.court import ParticipantStatus
from hearing.roles import Role
from recordings.depacketize import EncodedFrame
from recordings.manifest import ManifestEntry, verify_store
from recordings.segment_writer import CONTAINERS, ClosedSegment, SegmentWriter, TrackClock
from tests.conftest import until
from tests.court import seat_hearing
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient
from tests.test_recording_live import ManifestWatch, recorded_stretches
from tests.test_recording_segments import assemble, video_packets

pytestmark = pytest.mark.timeout(300)

#: nominal frame interval of what tests.media_client publishes: 30 fps video, 20 ms Opus frames
INTERVAL = {"video": 1 / 30, "audio": 0.020}
#: Matroska stores ms timestamps, so one interval may read up to a ms longer; anything more is a missing frame
SLACK = 0.002


# ---- one decoder across a track's segments ---------------------------------------------------------------------


@contextlib.contextmanager
def libav_errors() -> Iterator[list[tuple[int, str, str]]]:
    """Collect libav's error messages logged on this thread (a decoder conceals a broken reference with a logged
    error rather than an exception). PyAV drops libav's log by default, so the level is raised meanwhile."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=True) as logs:
            yield logs
    finally:
        av.logging.set_level(previous)


@dataclass
class DecodedTrack:
    """What one decoder made of a track's segments played back to back."""

    packets: int = 0
    frames: list[tuple[float, float]] = field(default_factory=list)  # (pts s, duration s) in decode order
    segment_pts: list[list[float]] = field(default_factory=list)  # demuxed packet pts (s), per segment
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def pts(self) -> list[float]:
        return [t for t, _ in self.frames]

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.frames)


def decode_concatenated(blobs: list[bytes], kind: str) -> DecodedTrack:
    """Feed the packets of every segment, in order, to a single decoder set up from the first segment's stream."""
    out = DecodedTrack()
    ctx: Any = None
    time_base: Fraction | None = None

    def take(frames: list[Any]) -> None:
        assert time_base is not None
        for f in frames:
            assert f.pts is not None
            dur = f.samples / f.sample_rate if kind == "audio" else INTERVAL["video"]
            out.frames.append((float(f.pts * time_base), dur))

    with libav_errors() as errors:
        for blob in blobs:
            with av.open(io.BytesIO(blob)) as container:
                stream = container.streams[0]
                assert stream.type == kind
                if ctx is None:
                    ctx = av.CodecContext.create(stream.codec_context.name, "r")
                    if stream.codec_context.extradata:
                        ctx.extradata = stream.codec_context.extradata
                    time_base = stream.time_base
                assert stream.time_base == time_base  # one timeline for all segments
                pts: list[float] = []
                for packet in container.demux(stream):
                    if not packet.size:  # the demuxer's end-of-file packet would drain the decoder
                        continue
                    out.packets += 1
                    pts.append(float(packet.pts * time_base))
                    take(ctx.decode(packet))
                out.segment_pts.append(pts)
        take(ctx.decode(None))
    out.errors = list(errors)
    return out


def first_frame_alone(blob: bytes) -> Any:
    """A segment's first packet decoded by a fresh decoder (decodable only if it really is a keyframe)."""
    with av.open(io.BytesIO(blob)) as container:
        stream = container.streams.video[0]
        packet = next(p for p in container.demux(stream) if p.size)
        assert packet.is_keyframe
        ctx = av.CodecContext.create(stream.codec_context.name, "r")
        if stream.codec_context.extradata:
            ctx.extradata = stream.codec_context.extradata
        with libav_errors() as errors:
            frames = [*ctx.decode(packet), *ctx.decode(None)]
        assert not errors, errors
        assert frames, "the first packet of the segment does not decode on its own"
        return frames[0]


def doc_type(blob: bytes) -> str:
    """The EBML DocType of a Matroska file ("webm" or "matroska")."""
    at = blob.index(b"\x42\x82", 0, 64)  # DocType element id, then a one-byte EBML size
    size = blob[at + 2] & 0x7F
    return blob[at + 3 : at + 3 + size].decode()


def assert_continuous(decoded: DecodedTrack, kind: str, segments: list[dict[str, Any]], track_id: str) -> None:
    """Every packet became a frame, without a libav error; pts increase by about one frame, boundaries included;
    each segment's packets lie within the time range its manifest entry gives."""
    assert not decoded.errors, (track_id, decoded.errors[:5])
    assert decoded.packets == len(decoded.frames) > 0, (track_id, decoded.packets, len(decoded.frames))
    pts = decoded.pts
    steps = [b - a for a, b in itertools.pairwise(pts)]
    assert min(steps) > 0, (track_id, "pts go back or repeat", min(steps))
    limit = INTERVAL[kind] + SLACK
    gaps = [(round(pts[i], 3), round(s, 3)) for i, s in enumerate(steps) if s > limit]
    assert not gaps, (track_id, f"{len(gaps)} gaps longer than {limit * 1000:.0f} ms", gaps[:5])
    assert len(decoded.segment_pts) == len(segments)
    for seg_pts, d in zip(decoded.segment_pts, segments, strict=True):
        lo, hi = d["start_us"] / 1e6, d["end_us"] / 1e6
        assert seg_pts, (track_id, d["key"], "an empty segment")
        # Matroska rounds to the ms; the segment ends where the next frame (the next segment's first) starts
        assert abs(seg_pts[0] - lo) <= 0.001 and seg_pts[-1] < hi, (track_id, d["key"], seg_pts[0], seg_pts[-1], lo, hi)
    # the segments of one stretch are contiguous: each starts where the one before ended
    for a, b in itertools.pairwise(segments):
        assert abs(b["start_us"] - a["end_us"]) <= 1 and b["index"] == a["index"] + 1, (track_id, a, b)


def track_segments(entries: list[ManifestEntry], track_id: str) -> list[dict[str, Any]]:
    return sorted((e.data for e in entries if e.type == "segment" and e.data["track_id"] == track_id),
                  key=lambda d: d["start_us"])


# ---- H264 segments the writer opens on an unusual frame (real x264 output, no server) -----------------------------


def as_manifest(segments: list[ClosedSegment]) -> list[dict[str, Any]]:
    return [{"key": s.path.name, "index": s.index, "start_us": round(s.start_time * 1e6),
             "end_us": round(s.end_time * 1e6)} for s in segments]


def h264_frames(n: int, **kw: Any) -> list[EncodedFrame]:
    _asm, frames = assemble("h264", video_packets("h264", n, **kw))
    assert len(frames) == n
    return frames


def without_nal_types(frame: EncodedFrame, types: set[int], replace: bytes | None = None) -> EncodedFrame:
    """The access unit with the NAL units of these types removed (or replaced by `replace`)."""
    nals = [nal for nal in frame.data.split(b"\x00\x00\x00\x01") if nal]
    kept = [(replace if replace is not None else b"") if nal[0] & 0x1F in types else nal for nal in nals]
    data = b"".join(b"\x00\x00\x00\x01" + nal for nal in kept if nal)
    return EncodedFrame(data, frame.rtp_timestamp, frame.keyframe, frame.first_sequence, frame.last_sequence)


def test_an_h264_segment_cut_on_a_delta_frame_gets_a_header_and_plays_on(tmp_path: Path) -> None:
    """A publisher ignoring keyframe requests: the writer cuts at max_duration on a delta frame. That segment has no
    SPS/PPS of its own; it used to get no CodecPrivate, its header failed to write, and PyAV then crashed the
    process (SIGSEGV) on the next packet. Now it takes the latest parameter sets and decodes after its predecessor."""
    frames = h264_frames(180, key_every=None, force=lambda i: i == 0)
    asked: list[int] = []
    clock = TrackClock(90000, frames[0].rtp_timestamp, wall_anchor=7.0, recording_start=7.0)
    writer = SegmentWriter(tmp_path, "t1", "h264", clock, target_duration=0.5, max_duration=2.0,
                           request_keyframe=lambda: asked.append(1))
    segs = [s for f in frames for s in writer.write(f)]
    last = writer.close()
    assert last is not None
    segs.append(last)
    assert [s.starts_with_keyframe for s in segs] == [True, False, False] and asked
    assert sum(s.frames for s in segs) == 180 and writer.dropped_frames == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"t1-00000{i}.mkv" for i in range(3)]
    blobs = [s.path.read_bytes() for s in segs]
    for blob in blobs:
        with av.open(io.BytesIO(blob)) as c:
            assert c.streams.video[0].codec_context.extradata  # CodecPrivate (avcC) in every segment
    decoded = decode_concatenated(blobs, "video")
    assert_continuous(decoded, "video", as_manifest(segs), "t1")
    assert len(decoded.frames) == 180


def test_h264_waits_for_parameter_sets_before_opening_a_segment(tmp_path: Path) -> None:
    """An IDR that comes without SPS/PPS (none seen before) cannot be given a Matroska header: it is dropped and a
    keyframe asked for, as for a delta frame; the next keyframe carrying them opens the first segment."""
    frames = h264_frames(60, key_every=30)
    frames[0] = without_nal_types(frames[0], {7, 8})
    assert frames[0].keyframe and b"\x00\x00\x00\x01\x67" not in frames[0].data
    asked: list[int] = []
    writer = SegmentWriter(tmp_path, "t1", "h264", TrackClock(90000, frames[0].rtp_timestamp, 0.0, 0.0),
                           request_keyframe=lambda: asked.append(1))
    assert [s for f in frames for s in writer.write(f)] == []
    seg = writer.close()
    assert seg is not None and seg.starts_with_keyframe and seg.frames == 30 and writer.dropped_frames == 30
    assert seg.start_time == pytest.approx(1.0) and asked == [1]
    decoded = decode_concatenated([seg.path.read_bytes()], "video")
    assert_continuous(decoded, "video", as_manifest([seg]), "t1")


def test_a_segment_whose_header_cannot_be_written_is_dropped_and_recording_goes_on(tmp_path: Path) -> None:
    """A publisher's malformed SPS makes the Matroska header unwritable. The segment is dropped (an error for the
    recorder to log) and never given another packet (PyAV segfaults on one); the next good keyframe starts over."""
    frames = h264_frames(60, key_every=30)
    frames[0] = without_nal_types(frames[0], {7}, replace=b"\x67")  # an SPS of one byte
    writer = SegmentWriter(tmp_path, "t1", "h264", TrackClock(90000, frames[0].rtp_timestamp, 0.0, 0.0))
    assert writer.write(frames[0]) == []  # held until the next frame gives its duration
    with pytest.raises(av.FFmpegError):
        writer.write(frames[1])  # the header is written with the first muxed packet
    assert list(tmp_path.iterdir()) == []  # the broken .part is gone
    assert [s for f in frames[2:] for s in writer.write(f)] == []  # deltas wait for the keyframe at frame 30
    seg = writer.close()
    assert seg is not None and seg.index == 0 and seg.frames == 30 and seg.starts_with_keyframe
    decoded = decode_concatenated([seg.path.read_bytes()], "video")
    assert_continuous(decoded, "video", as_manifest([seg]), "t1")


# ---- VP8 and H264 rooms, recorded through the SFU ---------------------------------------------------------------


@pytest.fixture(params=["VP8", "H264"])
async def codec_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1", video_codec=request.param) as s:
        yield s


async def test_each_tracks_segments_decode_back_to_back(codec_server: LiveServer) -> None:
    server = codec_server
    video_codec = server.settings.video_codec.lower()
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE})
    hid, judge_id = seated.hearing.id, seated["judge"].participant_id
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    sfu, recorder, objects = server.services.sfu, server.services.recorder, server.services.objects
    assert sfu is not None and recorder is not None
    await until(lambda: {t.kind for t in sfu.tracks_of(seated.room)} == {"audio", "video"},
                what="the judge's tracks to be published")
    assert all(t.codec.name.lower() == video_codec for t in sfu.tracks_of(seated.room) if t.kind == "video")

    await judge.ws.send({"type": "procedure", "transition": "start_session"})
    await until(lambda: recorder.is_recording(seated.room), what="the recording to start")
    watch = ManifestWatch(objects, hid)
    prefixes = [f"{judge_id}.video.", f"{judge_id}.audio."]
    await until(lambda: watch.segments_since_last("start", prefixes, 3), timeout=120,
                what="3 uploaded segments of each of the judge's tracks")  # so there are boundaries to cross
    recorders = {tid: rec for tid, (_track, rec) in recorder.sessions[seated.room].tracks.items()}
    await judge.ws.send({"type": "procedure", "transition": "close"})
    await until(lambda: seated.room not in recorder.sessions, what="the recording to stop")
    await asyncio.wait_for(recorder.spool.drain(), 60)
    await judge.close()

    entries, broken = await verify_store(objects, hid)
    assert broken is None, broken
    [(lo, hi)] = recorded_stretches(entries)
    segment_s = server.settings.recording_segment_seconds
    track_ids = sorted({e.data["track_id"] for e in entries if e.type == "segment"})
    assert [t.split(".")[1] for t in track_ids] == ["audio", "video"], track_ids
    assert set(recorders) == set(track_ids)
    for track_id in track_ids:
        rec = recorders[track_id]
        # what the recorder saw, to tell a network loss from a recording fault if an assertion below fails
        label = (f"{track_id} [lost packets {rec.assembler.lost_packets}, incomplete frames "
                 f"{rec.assembler.dropped_frames}, overflow {rec.overflow}, errors {rec.errors}]")
        assert rec.errors == 0, label  # no packet made the recorder fail
        segments = track_segments(entries, track_id)
        kind, codec = segments[0]["kind"], segments[0]["codec"]
        assert len(segments) >= 3 and all(d["kind"] == kind and d["codec"] == codec for d in segments)
        assert codec == (video_codec if kind == "video" else "opus")
        _name, fmt, ext, _kind = CONTAINERS[codec]
        blobs = [await objects.get(d["key"]) for d in segments]
        assert all(d["key"].endswith(f".{ext}") and doc_type(b) == fmt for d, b in zip(segments, blobs, strict=True))
        if kind == "video":
            assert all(d["starts_with_keyframe"] for d in segments)
            for blob in blobs:
                frame = first_frame_alone(blob)
                assert frame.key_frame and frame.pict_type == av.video.frame.PictureType.I
                assert (frame.width, frame.height) == (320, 240)

        decoded = await asyncio.to_thread(decode_concatenated, blobs, kind)
        assert_continuous(decoded, kind, segments, label)
        # Issue 6: the media decoded adds up to the manifest's time range (and to the time in session) within one
        # segment; with no frame missing it does to within a frame.
        span = (segments[-1]["end_us"] - segments[0]["start_us"]) / 1e6
        print(f"{track_id} ({codec}): {len(segments)} segments, {len(decoded.frames)} frames, decoded "
              f"{decoded.duration:.3f} s, manifest range {span:.3f} s, in session {(hi - lo) / 1e6:.3f} s")
        assert abs(decoded.duration - span) <= segment_s, (track_id, decoded.duration, span)
        assert abs(decoded.duration - (hi - lo) / 1e6) <= segment_s, (track_id, decoded.duration, (hi - lo) / 1e6)
        assert abs(decoded.duration - span) <= 2 * INTERVAL[kind] + SLACK, (track_id, decoded.duration, span)


# ---- private rooms are never recorded -----------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1") as s:
        yield s


async def test_a_counsel_room_during_a_recorded_trial_stays_off_the_record(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF,
                                                  "counsel": Role.COUNSEL})
    hid = seated.hearing.id
    members = [seated["plaintiff"].participant_id, seated["counsel"].participant_id]
    for pid in members:
        await server.services.court.set_participant_status(pid, ParticipantStatus.ADMITTED)
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    mains = {}
    for label in ("plaintiff", "counsel"):  # signalling only in the main room: they publish in the caucus alone
        mains[label] = await server.client(seated.room, seated[label].token)
        assert (await mains[label].expect("joined"))["participant"]["place"] == "room"
    sfu, recorder, objects = server.services.sfu, server.services.recorder, server.services.objects
    assert sfu is not None and recorder is not None
    await judge.ws.send({"type": "procedure", "transition": "start_session"})
    await until(lambda: recorder.is_recording(seated.room), what="the trial's recording to start")
    watch = ManifestWatch(objects, hid)

    await judge.ws.send({"type": "open-private-room", "participant_ids": members, "label": "律师会见"})
    moves = {label: await ws.expect("private-room", action="enter") for label, ws in mains.items()}
    private = moves["plaintiff"]["room_id"]
    assert private.startswith("private-") and moves["counsel"]["room_id"] == private
    caucus = {label: await MediaClient.join(server, private, move["token"]) for label, move in moves.items()}
    await until(lambda: len(sfu.tracks_of(private)) == 4, what="both members publishing in the private room")
    for label, other in (("plaintiff", "counsel"), ("counsel", "plaintiff")):
        await caucus[label].wait_frames(caucus[other].participant_id, "video", 30)
        await caucus[label].wait_frames(caucus[other].participant_id, "audio", 30)
    private_tracks = {t.track_id: t for t in sfu.tracks_of(private)}
    publishers = {t.publisher_id for t in private_tracks.values()}
    assert publishers == set(members)

    # The trial goes on being recorded while the caucus talks, and nothing taps the caucus.
    judge_video = [f"{judge.participant_id}.video."]

    async def segments() -> int:
        return sum(1 for e in await watch.entries() if e.type == "segment")

    async def segments_after(n: int) -> bool:
        return await segments() >= n

    stored = await segments()
    await until(lambda: watch.segments_since_last("start", judge_video, 2), what="the trial's video being recorded")
    await until(lambda: segments_after(stored + 2), what="segments recorded while the private room publishes")
    assert recorder.is_recording(seated.room) and private not in recorder.sessions
    assert all(track.taps == [] for track in sfu.tracks_of(private)), "a private room's track is tapped"
    assert set(private_tracks) == {t.track_id for t in sfu.tracks_of(private)}  # the same tracks all along
    session = recorder.sessions[seated.room]
    assert not [t for t in session.tracks if t in private_tracks or t.split(".")[0] in publishers]

    await judge.ws.send({"type": "procedure", "transition": "close"})
    await until(lambda: seated.room not in recorder.sessions, what="the recording to stop")
    await asyncio.wait_for(recorder.spool.drain(), 60)
    entries, broken = await verify_store(objects, hid)
    assert broken is None, broken
    recorded = {e.data["track_id"] for e in entries if e.type == "segment"}
    assert {t.split(".")[1] for t in recorded if t.startswith(f"{judge.participant_id}.")} == {"audio", "video"}
    # Track ids are "<publisher>.<kind>.<mid>": neither a caucus track nor anything its publishers sent is there.
    assert not recorded & set(private_tracks), recorded
    assert not [t for t in recorded if t.split(".")[0] in publishers], recorded
    keys = [info.key for info in await objects.list(f"recordings/{hid}/")]
    assert not [k for k in keys if any(f"/{pid}." in k for pid in publishers)], keys
    for c in (*caucus.values(), judge):
        await c.close()
    for ws in mains.values():
        await ws.close()
