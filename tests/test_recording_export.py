"""Exports of a hearing recording: the composed MP4 (grid video, mixed audio, burned-in clock, pauses skipped), the
per-track remux, the refusal of a broken recording; then a real hearing recorded through the SFU, exported with
`hearing export` (audited), listed and played through the staff API's presigned URLs, which no DELETE reaches — on
the local directory and on S3 (moto on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import fractions
import hashlib
import io
import itertools
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import httpx
import numpy as np
import pytest

from docket.court import NewPerson
from docket.staff_sql import SqlStaffStore
from hearing.roles import Role
from hearing.staff_auth import StaffAuth, cheap_hasher
from recordings.depacketize import EncodedFrame
from recordings.export import ExportRefused, export_mp4, export_track, summarize, text_mask
from recordings.local_store import LocalObjectStore
from recordings.manifest import ManifestChain, entry_key, load, segment_key, to_json, verify_store
from recordings.segment_writer import SegmentWriter, TrackClock
from tests.conftest import free_port, until
from tests.court import Seated, seat_hearing
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient
from tests.test_cli import HEARING, cli_env
from tests.test_recording_live import ManifestWatch, flip_a_byte, s3_settings, store_env

pytestmark = pytest.mark.timeout(300)

TZ = "Asia/Shanghai"
PASSWORD = "correct horse battery"


def _vp8_frames(seconds: float, fps: int, w: int, h: int, shade: int) -> list[tuple[int, bytes, bool]]:
    """(RTP timestamp at 90 kHz, VP8 frame, keyframe) of a moving gradient, a keyframe every second."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    ctx.time_base = fractions.Fraction(1, fps)
    ctx.options = {"deadline": "realtime", "cpu-used": "8"}
    ctx.gop_size = fps
    out = []
    for i in range(round(seconds * fps)):
        img = np.full((h, w, 3), shade, dtype=np.uint8)
        img[:, :, 1] = (np.arange(w) + 4 * i) % 256
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for p in ctx.encode(frame):
            out.append((p.pts * 90000 // fps, bytes(p), p.is_keyframe))
    for p in ctx.encode(None):
        out.append((p.pts * 90000 // fps, bytes(p), p.is_keyframe))
    return out


def _opus_frames(seconds: float, hz: float) -> list[tuple[int, bytes, bool]]:
    """(RTP timestamp at 48 kHz, Opus packet, True) of a sine tone, 20 ms a packet."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    ctx.time_base = fractions.Fraction(1, 48000)
    out = []
    n = round(seconds * 50)
    for i in range(n):
        t = (np.arange(960) + 960 * i) / 48000
        tone = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, 960 * i
        for p in ctx.encode(frame):
            out.append((p.pts, bytes(p), True))
    return out


async def synthetic_recording(store: LocalObjectStore, hearing_id: str, work: Path, *,
                              start_us: int, pause: tuple[float, float] | None, stop: float) -> ManifestChain:
    """A recording as the recorder would leave it: two participants with video and audio, segments written by the
    real SegmentWriter (2 s), manifest entries chained; `pause` = (from, to) seconds, media stops during it."""
    chain = ManifestChain(hearing_id)
    entries = [chain.append("start", {"actor_id": "p-judge", "recording_start_us": start_us})]
    tracks = {
        "p-judge.video.0": ("vp8", 90000, _vp8_frames(stop, 15, 320, 240, 40)),
        "p-judge.audio.1": ("opus", 48000, _opus_frames(stop, 440)),
        "p-party.video.0": ("vp8", 90000, _vp8_frames(stop, 15, 240, 320, 200)),
        "p-party.audio.1": ("opus", 48000, _opus_frames(stop, 660)),
    }
    closed = []
    for track_id, (codec, rate, frames) in tracks.items():
        writer = SegmentWriter(work / track_id, track_id, codec, TrackClock(rate, 0, 0.0, 0.0), target_duration=2.0)
        seq = itertools.count()
        for ts, data, key in frames:
            t = ts / rate
            if pause and pause[0] <= t < pause[1]:
                if (c := writer.close()) is not None:
                    closed.append(c)
                continue
            closed += writer.write(EncodedFrame(data, ts, key, next(seq), next(seq)))
        if (c := writer.close()) is not None:
            closed.append(c)
    events: list[tuple[float, int, str, dict[str, object]]] = []
    for c in closed:
        events.append((c.end_time, 1, "segment", {"seg": c}))
    if pause:
        events.append((pause[0], 0, "pause", {}))
        events.append((pause[1], 0, "resume", {}))
    for at, _order, kind, extra in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == "segment":
            c = extra["seg"]
            key = segment_key(hearing_id, c.track_id, c.index, "webm")
            await store.put(key, c.path.read_bytes(), "video/webm" if c.kind == "video" else "audio/webm")
            entries.append(chain.segment(key=key, track_id=c.track_id, kind=c.kind, codec=c.codec, index=c.index,
                                         start_us=round(c.start_time * 1e6), end_us=round(c.end_time * 1e6),
                                         size=c.size, sha256=c.sha256))
        elif kind == "pause":
            entries.append(chain.pause(reason="recess", actor_id="p-judge", at_us=round(at * 1e6)))
        else:
            entries.append(chain.resume(reason="resumed", actor_id="p-judge", at_us=round(at * 1e6)))
    entries.append(chain.append("stop", {"actor_id": "p-judge", "at_us": round(stop * 1e6)}))
    for e in entries:
        await store.put(entry_key(hearing_id, e.seq), to_json(e), "application/json")
    return chain


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", url_base="http://testserver", signing_key=b"k" * 32)


def probe(path: Path | bytes) -> dict[str, object]:
    source = io.BytesIO(path) if isinstance(path, bytes) else str(path)
    with av.open(source) as c:
        info: dict[str, object] = {"duration": (c.duration or 0) / 1e6, "streams": [s.type for s in c.streams]}
        if c.streams.video:
            v = c.streams.video[0]
            info["size"] = (v.codec_context.width, v.codec_context.height)
            info["codec"] = v.codec_context.name
        frames = [f for f in c.decode(video=0)] if c.streams.video else []
        info["frames"] = len(frames)
        info["first_last"] = (frames[0], frames[-1]) if frames else None
    if isinstance(path, Path):
        with av.open(str(path)) as c:
            if c.streams.audio:
                samples = [f.to_ndarray() for f in c.decode(audio=0)]
                info["audio_rms"] = float(np.sqrt(np.mean(np.concatenate(samples, axis=1) ** 2))) if samples else 0.0
    return info


def read_clock(frame: av.VideoFrame) -> str:
    """The burned-in clock read back by matching the bitmap font (the encoder's noise stays far below 50%)."""
    y = frame.to_ndarray(format="gray")
    chars = "0123456789-: "
    masks = {ch: text_mask(ch) for ch in chars}
    sample = text_mask("2026-01-01 00:00:00")
    h, w = sample.shape
    # same geometry as recordings.export._burn
    bh, bw = h + 12, w + 12
    bh += bh % 2
    bw += bw % 2
    top, left = 720 - bh - 16 + 6, 1280 - bw - 16 + 6
    region = y[top:top + h, left:left + w] > 128
    out = []
    x = 0
    for _ in range(19):
        cell = region[:, x:x + 15]
        out.append(max(chars, key=lambda ch: int(np.sum(masks[ch] == cell))))
        x += 18
    return "".join(out)


async def test_export_composes_grid_audio_and_clock_skipping_the_recess(store: LocalObjectStore,
                                                                      tmp_path: Path) -> None:
    start = datetime(2026, 11, 25, 14, 3, 0, tzinfo=ZoneInfo(TZ))
    start_us = int(start.timestamp()) * 1_000_000
    await synthetic_recording(store, "h1", tmp_path / "work", start_us=start_us, pause=(4.0, 7.0), stop=10.0)
    summary = summarize("h1", await load(store, "h1"))
    assert summary.in_session_us == 7_000_000 and summary.stopped
    assert [(p.reason, p.actor_id) for p in summary.pauses] == [("recess", "p-judge")]
    assert sorted(summary.tracks) == ["p-judge.audio.1", "p-judge.video.0", "p-party.audio.1", "p-party.video.0"]

    out = tmp_path / "h1.mp4"
    seen: list[float] = []
    result = await export_mp4(store, "h1", out, court_timezone=TZ, fps=10, progress=seen.append)
    assert result.forced_over is None and seen[-1] == 1.0 and seen == sorted(seen)
    info = probe(out)
    assert info["streams"] == ["video", "audio"] and info["size"] == (1280, 720) and info["codec"] == "h264"
    assert abs(float(info["duration"]) - 7.0) < 0.3, info  # the recess is skipped
    assert info["frames"] == 70
    assert float(info["audio_rms"]) > 0.1  # two tones, mixed
    first, last = info["first_last"]  # type: ignore[misc]
    assert read_clock(first) == "2026-11-25 14:03:00"
    assert read_clock(last) == "2026-11-25 14:03:09"  # 6.9 s into the file = 9.9 s of wall time


async def test_per_track_download_is_a_remux_of_its_segments(store: LocalObjectStore, tmp_path: Path) -> None:
    await synthetic_recording(store, "h2", tmp_path / "work", start_us=1_700_000_000_000_000, pause=None, stop=6.0)
    video = await export_track(store, "h2", "p-party.video.0")
    info = probe(video)
    assert info["streams"] == ["video"] and info["size"] == (240, 320) and info["codec"] == "vp8"
    assert info["frames"] == 90  # every recorded frame, none re-encoded
    audio = await export_track(store, "h2", "p-judge.audio.1")
    with av.open(io.BytesIO(audio)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert abs(samples / 48000 - 6.0) < 0.1
    with pytest.raises(ExportRefused, match="no track 'nope'"):
        await export_track(store, "h2", "nope")


async def test_a_corrupted_segment_makes_export_refuse_naming_it(store: LocalObjectStore, tmp_path: Path) -> None:
    await synthetic_recording(store, "h3", tmp_path / "work", start_us=1_700_000_000_000_000, pause=None, stop=5.0)
    entries = await load(store, "h3")
    victim = next(e for e in entries if e.type == "segment" and e.data["track_id"] == "p-party.video.0")
    path = store.root / victim.data["key"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ExportRefused) as refused:
        await export_mp4(store, "h3", tmp_path / "x.mp4", court_timezone=TZ)
    assert victim.data["key"] in str(refused.value) and "segment_altered" in str(refused.value)
    assert "--force" in str(refused.value)
    with pytest.raises(ExportRefused, match=victim.data["key"]):
        await export_track(store, "h3", "p-party.video.0")
    # another track's download does not need the altered segment
    assert probe(await export_track(store, "h3", "p-judge.video.0"))["frames"] == 75
    forced = await export_mp4(store, "h3", tmp_path / "forced.mp4", court_timezone=TZ, fps=10, force=True)
    assert forced.forced_over is not None and forced.forced_over.seq == victim.seq
    assert probe(tmp_path / "forced.mp4")["frames"] == 50



# ---- a real hearing, recorded through the SFU ----------------------------------------------------------------------


async def _record_hearing(server: LiveServer) -> tuple[Seated, list[MediaClient]]:
    """The live recording test's setup, shorter: two participants publish; in session until every track has a
    segment stored, a recess, then in session again until every track has a segment stored after it.

    Waiting for segments rather than for seconds: on a slow machine the recording starts late or a keyframe takes
    its time, and a fixed sleep then left a stretch with nothing (or half a segment) recorded."""
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF})
    people = (seated["judge"].participant_id, seated["plaintiff"].participant_id)
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    ws = await server.client(seated.room, seated["plaintiff"].token)
    joined = await ws.expect("joined")
    await judge.ws.send({"type": "admit", "participant_id": people[1], "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    party = await MediaClient.attach(ws, joined)
    await party.wait_frames(people[0], "video", 5)
    await judge.wait_frames(people[1], "video", 5)
    recorder = server.services.recorder
    assert recorder is not None
    watch = ManifestWatch(server.services.objects, seated.hearing.id)
    tracks = [f"{who}.{kind}." for who in people for kind in ("audio", "video")]
    await judge.ws.send({"type": "procedure", "transition": "start_session"})
    await until(lambda: recorder.is_recording(seated.room), what="the recording to start")
    await until(lambda: watch.segments_since_last("start", tracks, 1), what="a stored segment of every track")
    await judge.ws.send({"type": "procedure", "transition": "recess"})
    await until(lambda: not recorder.is_recording(seated.room), what="the recording to pause")
    await judge.ws.send({"type": "procedure", "transition": "resume"})
    await until(lambda: recorder.is_recording(seated.room), what="the recording to resume")
    await until(lambda: watch.segments_since_last("resume", tracks, 1),
                what="a stored segment of every track after the recess")
    await judge.ws.send({"type": "procedure", "transition": "close"})
    await until(lambda: seated.room not in recorder.sessions, what="the recording to stop")
    await asyncio.wait_for(recorder.spool.drain(), 60)
    return seated, [party, judge]


async def _staff_login(server: LiveServer, http: httpx.AsyncClient, username: str, roles: str,
                       person: bool = True) -> dict[str, str]:
    services = server.services
    person_id = (await services.court.create_person(NewPerson(f"{username} 本人"))).id if person else None
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    auth.hasher = cheap_hasher()
    await auth.create_account(username, f"{username} 姓名", roles.split(","), PASSWORD, person_id=person_id)
    r = await http.post(f"{server.base}/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [HEARING, *args], env=env, capture_output=True, text=True,
                                   timeout=240)


@pytest.fixture(params=["local", "s3"])
def store_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return s3_settings(request, str(request.param))


async def test_a_recorded_hearing_exports_plays_and_cannot_be_deleted(tmp_path: Path,
                                                                      store_overrides: dict[str, Any]) -> None:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1", **store_overrides) as server:
        seated, clients = await _record_hearing(server)
        for c in clients:
            await c.close()
        hid = seated.hearing.id
        objects = server.services.objects
        entries, broken = await verify_store(objects, hid)
        assert broken is None, broken
        summary = summarize(hid, entries)
        segment_s = server.settings.recording_segment_seconds
        assert len(summary.pauses) == 1 and summary.pauses[0].reason == "recess"

        # `hearing export`: a progress bar on stderr, an MP4 of the time in session, audited with its SHA-256
        env = cli_env(server.settings.var_dir, free_port(), **store_env(server.settings))  # the same store
        out = tmp_path / "hearing.mp4"
        started = time.perf_counter()
        done = await _run(["export", hid, "--out", str(out)], env)
        elapsed = time.perf_counter() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert "100%" in done.stderr and "#" * 30 in done.stderr
        info = probe(out)
        print(f"export: {summary.in_session_us / 1e6:.1f} s in session in {elapsed:.1f} s (CLI, incl. start-up)")
        assert info["streams"] == ["video", "audio"] and info["size"] == (1280, 720) and info["codec"] == "h264"
        assert abs(float(info["duration"]) - summary.in_session_us / 1e6) <= segment_s, info
        assert int(info["frames"]) >= 25 * (summary.in_session_us / 1e6 - segment_s)
        assert float(info["audio_rms"]) > 0.001  # the participants' tones
        sha = hashlib.sha256(out.read_bytes()).hexdigest()
        assert sha in done.stdout

        judge_video = next(t for t in summary.tracks.values()
                           if t.participant_id == seated["judge"].participant_id and t.kind == "video")
        webm = tmp_path / "judge.webm"
        done = await _run(["export", hid, "--track", judge_video.track_id, "--out", str(webm)], env)
        assert done.returncode == 0, done.stdout + done.stderr
        track_info = probe(webm.read_bytes())
        assert track_info["codec"] == "vp8" and int(track_info["frames"]) >= 10 * len(judge_video.segments)

        audit = [e for e in await server.services.audit.entries(limit=1000) if e.action == "recording.exported"]
        assert [(e.subject, e.details["what"]) for e in audit] == [(f"hearing:{hid}", "composite"),
                                                                   (f"hearing:{hid}", "track")]
        assert audit[0].details["sha256"] == sha and audit[0].actor_id == "cli"
        assert audit[1].details["sha256"] == hashlib.sha256(webm.read_bytes()).hexdigest()

        # the staff API: the summary, then presigned URLs that fetch exactly the stored bytes
        async with httpx.AsyncClient(timeout=30) as http:
            clerk = await _staff_login(server, http, "clerk1", "clerk")
            outsider = await _staff_login(server, http, "judge9", "judge")
            base = f"{server.base}/api/hearings/{hid}/recording"
            r = await http.get(base, headers=clerk)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["verified"] is True and body["first_break"] is None and body["stopped"] is True
            assert {t["track_id"] for t in body["tracks"]} == set(summary.tracks)
            assert body["pauses"][0]["reason"] == "recess"
            assert body["pauses"][0]["actor_id"] == seated["judge"].participant_id
            assert (await http.get(base, headers=outsider)).status_code == 403
            r = await http.get(f"{base}/tracks/{judge_video.track_id}/segments", headers=clerk)
            assert r.status_code == 200, r.text
            listing = r.json()
            assert len(listing["segments"]) == len(judge_video.segments)
            for seg in listing["segments"]:
                got = await http.get(seg["url"])
                assert got.status_code == 200
                assert hashlib.sha256(got.content).hexdigest() == seg["sha256"]
                assert len(got.content) == seg["size"]
            viewed = [e for e in await server.services.audit.entries(limit=1000) if e.action == "recording.viewed"]
            assert viewed and viewed[-1].details["track_id"] == judge_video.track_id
            # retention: nothing deletes a recording
            for path in (base, f"{base}/tracks/{judge_video.track_id}/segments",
                         f"/api/hearings/{hid}", "/objects/" + judge_video.segments[0].key):
                url = path if path.startswith("http") else f"{server.base}{path}"
                r = await http.delete(url, headers=clerk)
                assert r.status_code in (404, 405), (path, r.status_code)
            assert await objects.stat(judge_video.segments[0].key)

            # a corrupted segment: export refuses naming it; the API says the recording no longer verifies
            victim = judge_video.segments[1]
            await flip_a_byte(objects, victim.key)
            bad = await _run(["export", hid, "--out", str(tmp_path / "bad.mp4")], env)
            assert bad.returncode == 1, bad.stdout + bad.stderr
            assert victim.key in bad.stderr and "segment_altered" in bad.stderr
            assert not (tmp_path / "bad.mp4").exists()
            r = await http.get(base, params={"full": "true"}, headers=clerk)
            assert r.json()["verified"] is False and r.json()["first_break"]["seq"] == victim.seq
