"""TrackRecorder end to end (real VP8 and Opus RTP → spool → local store → verified manifest); RoomRecorder stopping.

The per-packet cost of the recorder tap is measured by `python -m bench.rtp_micro`, not here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av

from media.sfu import MediaConfig, Sfu
from media.tracks import CodecInfo, PublishedTrack
from recordings.local_store import LocalObjectStore
from recordings.manifest import verify_store
from recordings.recorder import HearingRecording, TrackRecorder
from recordings.room_recorder import RoomRecorder
from recordings.spool import Spool
from tests.test_recording_segments import opus_packets, video_packets


async def test_two_tracks_record_pause_and_verify(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")
    spool = Spool(tmp_path / "spool", store)
    spool.start()
    t0 = 1_000_000.0
    rec = HearingRecording("h1", spool, recording_start=t0)
    rec.start("judge-1")
    keyframes: list[int] = []
    video = TrackRecorder(rec, "cam", "VP8", 90000, tmp_path / "work", request_keyframe=lambda: keyframes.append(1))
    audio = TrackRecorder(rec, "mic", "opus", 48000, tmp_path / "work")
    vp = video_packets("vp8", 150)  # 5 s, keyframe every second
    ap = opus_packets(5.0)
    for i, p in enumerate(vp):
        video.on_rtp(p, t0 + 0.2 + i * 0.001)
    for i, p in enumerate(ap):
        audio.on_rtp(p, t0 + 0.2 + i * 0.001)
    rec.pause("recess", "judge-1")
    rec.resume("recess over", "judge-1")
    await rec.stop("judge-1")
    await asyncio.wait_for(spool.drain(), 20)
    await spool.stop()
    entries, broken = await verify_store(store, "h1")
    assert broken is None, broken
    types = [e.type for e in entries]
    assert types[0] == "start" and types[-1] == "stop" and "pause" in types and "resume" in types
    segs = [e for e in entries if e.type == "segment"]
    assert {e.data["track_id"] for e in segs} == {"cam", "mic"}
    cam = sorted((e.data for e in segs if e.data["track_id"] == "cam"), key=lambda d: d["index"])
    assert cam[0]["start_us"] == 200_000 and len(cam) == 3  # 2 s + 2 s + 1 s, aligned to the recording start
    frames = 0
    for d in cam:
        path = tmp_path / "dl.webm"
        path.write_bytes(await store.get(d["key"]))
        with av.open(str(path)) as c:
            frames += sum(1 for _ in c.decode(video=0))
    assert frames == 150
    assert video.overflow == audio.overflow == video.errors == audio.errors == 0
    assert list((tmp_path / "spool").iterdir()) == [] and list((tmp_path / "work").iterdir()) == []


class _NoSignals:
    async def send_to(self, room_id: str, participant_id: str, msg: object) -> None:
        pass

    async def broadcast(self, room_id: str, msg: object, exclude: str | None = None) -> None:
        pass


async def test_a_start_during_a_stop_continues_the_chain_instead_of_forking_it(tmp_path: Path) -> None:
    """A room stays in `sessions` until its segments and stop entry are spooled; a start meanwhile waits for that.

    Before, the session left `sessions` at once: a start in that window continued from the same chain head as the
    segments still closing, and two manifest entries took one seq.
    """
    store = LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")
    spool = Spool(tmp_path / "spool", store)
    spool.start()
    sfu = Sfu(MediaConfig(), _NoSignals())  # type: ignore[arg-type]
    rooms = RoomRecorder(sfu, spool, tmp_path / "work", segment_seconds=1.0)
    track = PublishedTrack("judge", "cam", "video", 1234, CodecInfo("VP8", 90000, 96), {},
                           request_keyframe=lambda t: None)
    await rooms.start("room", "h1", "judge")
    rooms.track_added("room", track)
    for p in video_packets("vp8", 90):  # 3 s of frames: the stop has an open segment to close
        for tap in track.taps:
            tap(p)
    stopping = asyncio.create_task(rooms.stop("room", "judge"))
    await asyncio.sleep(0)
    assert "room" in rooms.sessions and not rooms.is_recording("room")  # stopping: still there, not recording
    rooms.track_added("room", track)  # a track arriving while stopping is not attached to the ending recording
    assert len(track.taps) == 0
    restart = asyncio.create_task(rooms.start("room", "h1", "judge"))
    await asyncio.wait_for(stopping, 30)
    await asyncio.wait_for(restart, 30)
    assert rooms.is_recording("room")
    await rooms.stop("room", "judge")
    assert "room" not in rooms.sessions
    await asyncio.wait_for(spool.drain(), 30)
    await spool.stop()
    entries, broken = await verify_store(store, "h1")
    assert broken is None, broken
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    types = [e.type for e in entries]
    assert types[0] == "start" and types[-2:] == ["start", "stop"] and types[-3] == "stop"
    assert types.count("segment") >= 2


async def test_two_starts_at_once_open_one_recording(tmp_path: Path) -> None:
    """After a restart mid-session, two participants reconnecting together both ask for the recording
    (RecordingControl.ensure). Before, both passed the `not in sessions` check while the first awaited its chain:
    two sessions, the first one's taps left on the tracks, and a manifest with two start entries."""
    store = LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")
    spool = Spool(tmp_path / "spool", store)
    spool.start()
    sfu = Sfu(MediaConfig(), _NoSignals())  # type: ignore[arg-type]
    rooms = RoomRecorder(sfu, spool, tmp_path / "work", segment_seconds=1.0)
    track = PublishedTrack("judge", "cam", "video", 1234, CodecInfo("VP8", 90000, 96), {},
                           request_keyframe=lambda t: None)
    await asyncio.gather(rooms.start("room", "h1", "system"), rooms.start("room", "h1", "system"))
    rooms.track_added("room", track)
    assert len(track.taps) == 1
    for p in video_packets("vp8", 60):
        for tap in track.taps:
            tap(p)
    await rooms.stop("room", "judge")
    await asyncio.wait_for(spool.drain(), 30)
    await spool.stop()
    entries, broken = await verify_store(store, "h1")
    assert broken is None, broken
    assert [e.type for e in entries].count("start") == 1
