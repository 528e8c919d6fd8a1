"""TrackRecorder end to end (real VP8 and Opus RTP → spool → local store → verified manifest) and its hot-path cost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av

from recordings.local_store import LocalObjectStore
from recordings.manifest import verify_store
from recordings.recorder import HearingRecording, TrackRecorder
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


async def test_on_rtp_cost(tmp_path: Path) -> None:
    """Micro benchmark of the per-packet enqueue (printed; the assertion is a loose regression bound)."""
    spool = Spool(tmp_path / "spool", LocalObjectStore(tmp_path / "s", url_base="http://x", signing_key=b"k"))
    rec = HearingRecording("h1", spool, recording_start=0.0)
    track = TrackRecorder(rec, "cam", "vp8", 90000, tmp_path / "work", max_queue=1 << 30)
    track._wake.set()  # measure the steady state of a busy worker (no Event.set per packet)
    packet = video_packets("vp8", 1)[0]
    n = 200_000
    start = time.perf_counter()
    for _ in range(n):
        track.on_rtp(packet, 1.0)
    per = (time.perf_counter() - start) / n * 1e6
    print(f"TrackRecorder.on_rtp: {per:.3f} µs per packet")
    assert per < 5
    await track.stop()
