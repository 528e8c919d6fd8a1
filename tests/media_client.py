"""An aiortc participant for tests: joins over real signalling, publishes synthetic audio/video, receives.

It behaves as the browser client does: offers its own tracks, answers the server's offers, maps each
received transceiver (by MID) to the publisher announced in `track-published`, and counts decoded frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack

from media import aiortc_glue as glue
from tests.live import Client


class ToneTrack(AudioStreamTrack):
    """A sine tone (or silence) so the RFC 6464 audio level the sender computes says who is speaking."""

    def __init__(self, loud: bool = True) -> None:
        super().__init__()
        self.loud = loud
        self._phase = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        if self.loud:
            n = frame.samples
            t = (np.arange(n) + self._phase) / frame.sample_rate
            self._phase += n
            samples = (np.sin(2 * math.pi * 440 * t) * 12000).astype(np.int16).reshape(1, -1)
            loud = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            loud.sample_rate, loud.pts, loud.time_base = frame.sample_rate, frame.pts, frame.time_base
            return loud
        return frame


class MovingVideoTrack(VideoStreamTrack):
    """Frames that change every time (so deltas carry content) at 30 fps, 320x240."""

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._n += 1
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        img[:, (self._n * 4) % 320 :] = (40, 160, 220)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


@dataclass
class Received:
    publisher_id: str | None
    kind: str
    frames: int = 0
    first_frame_at: float | None = None
    sizes: list[tuple[int, int]] = field(default_factory=list)
    frame_event: asyncio.Event = field(default_factory=asyncio.Event)


class MediaClient:
    def __init__(self, ws: Client, *, publish_audio: bool = True, publish_video: bool = True,
                 loud: bool = True) -> None:
        self.ws = ws
        self.pc = glue.new_peer_connection([])
        self.joined: dict[str, Any] = {}
        self.mid_to_publisher: dict[str, tuple[str, str]] = {}  # mid -> (publisher, track id)
        self.received: dict[str, Received] = {}  # by mid
        self.removed: list[str] = []
        self.speakers: list[str | None] = []
        self.errors: list[dict[str, Any]] = []
        self.offers_answered = 0
        self.changed = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.local_tracks: list[MediaStreamTrack] = []
        if publish_audio:
            self.local_tracks.append(ToneTrack(loud))
        if publish_video:
            self.local_tracks.append(MovingVideoTrack())

        self.rebind_track_handler()

    def rebind_track_handler(self) -> None:
        """(Re)attach the `track` handler, e.g. after replacing the PeerConnection for an ICE restart."""

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None)
            pub = self.mid_to_publisher.get(mid or "")
            rec = Received(pub[0] if pub else None, track.kind)
            self.received[mid or f"?{len(self.received)}"] = rec
            self._tasks.append(asyncio.create_task(self._consume(track, rec)))

    @classmethod
    async def join(cls, server: Any, room: str, token: str, **kw: Any) -> MediaClient:
        ws = await server.client(room, token)
        return await cls.attach(ws, await ws.expect("joined"), **kw)

    @classmethod
    async def attach(cls, ws: Client, joined: dict[str, Any], **kw: Any) -> MediaClient:
        """Start media on a signalling connection that has already joined (e.g. once admitted from the lobby)."""
        c = cls(ws, **kw)
        c.joined = joined
        c._tasks.append(asyncio.create_task(c._signalling()))
        for track in c.local_tracks:
            c.pc.addTransceiver(track, direction="sendonly")
        if not c.local_tracks:  # receive-only: an offer still needs one m-line to set up the transport
            c.pc.addTransceiver("audio", direction="recvonly")
        await c.pc.setLocalDescription(await c.pc.createOffer())
        await ws.send({"type": "offer", "sdp": c.pc.localDescription.sdp})
        return c

    @property
    def participant_id(self) -> str:
        return str(self.joined["participant"]["id"])

    async def _signalling(self) -> None:
        while True:
            msg = await self.ws.inbox.get()
            kind = msg.get("type")
            if kind == "answer":
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
            elif kind == "offer":
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self.ws.send({"type": "answer", "sdp": self.pc.localDescription.sdp})
                self.offers_answered += 1
            elif kind == "track-published":
                self.mid_to_publisher[msg["mid"]] = (msg["participant_id"], msg["track_id"])
                rec = self.received.get(msg["mid"])
                if rec is not None:
                    rec.publisher_id = msg["participant_id"]
            elif kind == "track-removed":
                self.removed.append(msg["track_id"])
            elif kind == "active-speaker":
                self.speakers.append(msg["participant_id"])
            elif kind == "error":
                self.errors.append(msg)
            self.changed.set()

    async def _consume(self, track: MediaStreamTrack, rec: Received) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                rec.frames += 1
                if rec.first_frame_at is None:
                    rec.first_frame_at = loop.time()
                if isinstance(frame, av.VideoFrame) and len(rec.sizes) < 5:
                    rec.sizes.append((frame.width, frame.height))
                rec.frame_event.set()
                self.changed.set()

    def from_publisher(self, publisher_id: str, kind: str) -> Received | None:
        for mid, rec in self.received.items():
            pub = self.mid_to_publisher.get(mid)
            if rec.kind == kind and ((pub and pub[0] == publisher_id) or rec.publisher_id == publisher_id):
                return rec
        return None

    async def wait_frames(self, publisher_id: str, kind: str, count: int, timeout: float = 60.0) -> Received:
        async with asyncio.timeout(timeout):
            while True:
                rec = self.from_publisher(publisher_id, kind)
                if rec is not None and rec.frames >= count:
                    return rec
                self.changed.clear()
                await self.changed.wait()

    async def wait_for_publisher(self, publisher_id: str, kind: str, timeout: float = 60.0) -> Received:
        async with asyncio.timeout(timeout):
            while (rec := self.from_publisher(publisher_id, kind)) is None:
                self.changed.clear()
                await self.changed.wait()
        return rec

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def close_media(self) -> None:
        """End this client's media but keep the signalling connection (sent to the lobby, then admitted again)."""
        for t in self._tasks:
            t.cancel()
        for track in self.local_tracks:
            track.stop()
        await self.pc.close()

    async def close(self, leave: bool = True) -> None:
        for t in self._tasks:
            t.cancel()
        for track in self.local_tracks:
            track.stop()
        with contextlib.suppress(Exception):
            if leave:
                await self.ws.send({"type": "leave"})
            await self.ws.close()
        await self.pc.close()

