"""Audio and video of one publisher stay in sync in the recording (issue 6: within 100 ms).

One aiortc client publishes a video track and an audio track generated on a shared wall clock: every 2 s a white
frame and a loud beep start at the same instant, dark frames and silence otherwise.  The hearing is recorded
through the SFU; the publisher's video and audio segments are decoded in order, the flash times and the beep onsets
found on the recording's timeline (the segments' pts), and each flash is matched with its beep.
"""

from __future__ import annotations

import asyncio
import fractions
import io
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from hearing.roles import Role
from recordings.manifest import ManifestEntry, verify_store
from tests.conftest import until
from tests.court import seat_hearing
from tests.live import Client, LiveServer, live_server
from tests.media_client import MediaClient

pytestmark = pytest.mark.timeout(300)

PERIOD = 2.0  # a flash + beep every PERIOD seconds of the shared clock
MARK = 0.1  # each lasts this long
TOLERANCE = 0.100
RATE = 48000
PTIME = 0.02


def _marked(t: float, origin: float) -> bool:
    return (t - origin) % PERIOD < MARK


class BeepTrack(MediaStreamTrack):
    """48 kHz mono, 20 ms frames paced on the wall clock; a 1 kHz beep while the shared clock is marked."""

    kind = "audio"

    def __init__(self, origin: float) -> None:
        super().__init__()
        self.origin = origin
        self._start: float | None = None
        self._ts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = int(RATE * PTIME)
        if self._start is None:
            self._start = time.time()
        else:
            self._ts += n
            await asyncio.sleep(self._start + self._ts / RATE - time.time())
        t = self._start + (self._ts + np.arange(n)) / RATE  # each sample's instant on the shared clock
        on = ((t - self.origin) % PERIOD) < MARK
        samples = np.where(on, np.sin(2 * math.pi * 1000 * t) * 20000, 0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._ts, fractions.Fraction(1, RATE)
        return frame


class FlashTrack(MediaStreamTrack):
    """30 fps 320x240, dark; white while the shared clock is marked."""

    kind = "video"

    def __init__(self, origin: float) -> None:
        super().__init__()
        self.origin = origin
        self._start: float | None = None
        self._ts = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._ts += 3000
            await asyncio.sleep(self._start + self._ts / 90000 - time.time())
        value = 235 if _marked(self._start + self._ts / 90000, self.origin) else 16
        frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), value, dtype=np.uint8), format="rgb24")
        frame.pts, frame.time_base = self._ts, fractions.Fraction(1, 90000)
        return frame


class SyncPublisher(MediaClient):
    def __init__(self, ws: Client, **_kw: Any) -> None:
        super().__init__(ws, publish_audio=False, publish_video=False)
        origin = time.time()
        self.local_tracks = [BeepTrack(origin), FlashTrack(origin)]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1", recording_segment_seconds=1.0) as s:
        yield s


def flash_times(blobs: list[bytes]) -> list[float]:
    """Recording-timeline times at which a white frame follows a dark one."""
    out: list[float] = []
    white = False
    for blob in blobs:
        with av.open(io.BytesIO(blob)) as container:
            for frame in container.decode(video=0):
                luma = float(frame.to_ndarray(format="gray").mean())
                if luma > 128 and not white:
                    out.append(float(frame.time))
                white = luma > 128
    return out


def beep_onsets(blobs: list[bytes]) -> list[float]:
    """Recording-timeline times at which loud audio starts after at least half a second of quiet."""
    out: list[float] = []
    last_loud = -math.inf
    for blob in blobs:
        with av.open(io.BytesIO(blob)) as container:
            for frame in container.decode(audio=0):
                x = np.abs(frame.to_ndarray().astype(np.float64)).max(axis=0)
                if x.dtype.kind == "f" and x.max() <= 1.0:
                    x = x * 32768
                loud = np.nonzero(x > 4000)[0]
                for i in loud:
                    t = float(frame.time) + i / frame.sample_rate
                    if t - last_loud > 0.5:
                        out.append(t)
                    last_loud = t
    return out


async def test_audio_and_video_of_a_publisher_are_recorded_in_sync(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE})
    hid = seated.hearing.id
    judge = await SyncPublisher.join(server, seated.room, seated["judge"].token)
    recorder = server.services.recorder
    assert recorder is not None
    try:
        await until(lambda: any(t.kind == "video" for t in server.services.sfu.tracks_of(seated.room))  # type: ignore[union-attr]
                    and any(t.kind == "audio" for t in server.services.sfu.tracks_of(seated.room)),  # type: ignore[union-attr]
                    what="both tracks published")
        await judge.ws.send({"type": "procedure", "transition": "start_session"})
        await until(lambda: recorder.is_recording(seated.room), what="the recording to start")
        me = seated["judge"].participant_id

        async def enough() -> bool:
            keys = [o.key for o in await server.services.objects.list(f"recordings/{hid}/tracks/{me}.video.")]
            return len(keys) >= 9

        await until(enough, what="9 s of video recorded")
        await judge.ws.send({"type": "procedure", "transition": "close"})
        await until(lambda: seated.room not in recorder.sessions, what="the recording stopped")
        await asyncio.wait_for(recorder.spool.drain(), 60)
    finally:
        await judge.close()

    entries, broken = await verify_store(server.services.objects, hid)
    assert broken is None, broken

    def blobs_of(kind: str) -> list[ManifestEntry]:
        segs = [e for e in entries if e.type == "segment" and e.data["kind"] == kind
                and e.data["track_id"].startswith(f"{me}.")]
        return sorted(segs, key=lambda e: e.data["start_us"])

    video = [await server.services.objects.get(e.data["key"]) for e in blobs_of("video")]
    audio = [await server.services.objects.get(e.data["key"]) for e in blobs_of("audio")]
    flashes, beeps = flash_times(video), beep_onsets(audio)
    assert len(flashes) >= 3 and len(beeps) >= 3, (flashes, beeps)
    offsets = []
    for f in flashes:
        nearest = min(beeps, key=lambda b: abs(b - f))
        if abs(nearest - f) < PERIOD / 2:
            offsets.append(nearest - f)
    print("audio - video offsets (ms):", [round(float(o) * 1000, 1) for o in offsets])
    assert len(offsets) >= 3, (flashes, beeps)
    # audio later than video is positive; every flash has its beep within 100 ms on the recording's timeline
    assert all(abs(o) <= TOLERANCE for o in offsets), [round(float(o) * 1000, 1) for o in offsets]
