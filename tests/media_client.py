"""An aiortc participant for tests: joins over real signalling, publishes synthetic audio/video, receives.

It behaves as the browser client does: offers its own tracks, answers the server's offers, maps each
received transceiver (by MID) to the publisher announced in `track-published`, and counts decoded frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.rtcdtlstransport import RTCCertificate, generate_certificate
from cryptography.hazmat.primitives.asymmetric import rsa

from media import aiortc_glue as glue
from media import rtcp
from media.rtp import is_rtcp
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
    """Frames that change every time (so deltas carry content) at 30 fps, 320x240.

    `noisy`: random pixels, so the encoder spends its whole target bitrate (a camera's worth, not 40 kbit/s).
    """

    def __init__(self, noisy: bool = False) -> None:
        super().__init__()
        self._n = 0
        self._noise = np.random.default_rng(7) if noisy else None

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._n += 1
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        img[:, (self._n * 4) % 320 :] = (40, 160, 220)
        if self._noise is not None:
            img[::2, ::2] = self._noise.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class RsaCertificate(RTCCertificate):
    """A DTLS certificate with an RSA key and OpenSSL's default suites, as GStreamer's dtlsagent has: it does
    not depend on what the SFU's glue does to aiortc's cipher list."""

    @classmethod
    def generate(cls) -> RsaCertificate:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key=key, cert=generate_certificate(key))  # type: ignore[arg-type]

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> Any:
        ctx = super()._create_ssl_context(srtp_profiles)
        ctx.set_cipher_list(b"DEFAULT")
        return ctx


@dataclass
class Received:
    publisher_id: str | None
    kind: str
    frames: int = 0
    first_frame_at: float | None = None
    sizes: list[tuple[int, int]] = field(default_factory=list)
    last_size: tuple[int, int] | None = None  # of the newest decoded video frame (simulcast: the layer received)
    frame_event: asyncio.Event = field(default_factory=asyncio.Event)


class MediaClient:
    def __init__(self, ws: Client, *, publish_audio: bool = True, publish_video: bool = True,
                 loud: bool = True, wide_srtp: bool = False,
                 munge_answer: Callable[[str, int], str] | None = None, video_codec: str | None = None,
                 rsa_certificate: bool = False, noisy_video: bool = False) -> None:
        """`wide_srtp`: this client may protect packets over pylibsrtp's 1356 bytes (a 1400-byte publisher).
        `munge_answer(sdp, n)`: what the server is sent as the answer to its n-th offer (n from 1), to play a
        peer that answers differently from aiortc; the client itself applies aiortc's own answer.
        `video_codec`: offer only this codec for the published video (a VP8-only browser).
        `rsa_certificate`: DTLS with an RSA certificate (see RsaCertificate)."""
        self.video_codec = video_codec
        self.ws = ws
        self.wide_srtp = wide_srtp
        self.munge_answer = munge_answer
        self.pc = glue.new_peer_connection([])
        if rsa_certificate:
            self.pc._RTCPeerConnection__certificates = [RsaCertificate.generate()]
        self.joined: dict[str, Any] = {}
        self.mid_to_publisher: dict[str, tuple[str, str]] = {}  # mid -> (publisher, track id)
        self.received: dict[str, Received] = {}  # by mid
        self.removed: list[str] = []
        self.speakers: list[str | None] = []
        self.errors: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.link_quality: list[dict[str, Any]] = []  # `link-quality` messages (video paused/resumed for our link)
        self.offers_answered = 0
        self.changed = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.local_tracks: list[MediaStreamTrack] = []
        if publish_audio:
            self.local_tracks.append(ToneTrack(loud))
        if publish_video:
            self.local_tracks.append(MovingVideoTrack(noisy_video))

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
            t = c.pc.addTransceiver(track, direction="sendonly")
            if track.kind == "video" and c.video_codec is not None:
                glue.restrict_codecs(t, f"video/{c.video_codec}")
        if not c.local_tracks:  # receive-only: an offer still needs one m-line to set up the transport
            c.pc.addTransceiver("audio", direction="recvonly")
        if c.wide_srtp:
            dtls = c.pc.getTransceivers()[0].sender.transport  # bundled: the one transport
            setup = dtls._setup_srtp

            def setup_wide() -> None:
                setup()
                glue.widen_srtp(dtls._tx_srtp)

            dtls._setup_srtp = setup_wide
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
                sdp = self.pc.localDescription.sdp
                if self.munge_answer is not None:
                    sdp = self.munge_answer(sdp, self.offers_answered + 1)
                await self.ws.send({"type": "answer", "sdp": sdp})
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
            elif kind == "media-notice":
                self.notices.append(msg)
            elif kind == "link-quality":
                self.link_quality.append(msg)
            self.changed.set()

    async def _consume(self, track: MediaStreamTrack, rec: Received) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                rec.frames += 1
                if rec.first_frame_at is None:
                    rec.first_frame_at = loop.time()
                if isinstance(frame, av.VideoFrame):
                    rec.last_size = (frame.width, frame.height)
                    if len(rec.sizes) < 5:
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

    async def advertise_receive_estimate(self, bps: int, loss: float | None = None) -> None:
        """Act as a subscriber on a weak link: every REMB this client sends says `bps` instead of aiortc's estimate,
        and (with `loss`) its receiver reports say that fraction was lost."""
        async with asyncio.timeout(20):
            while (dtls := glue.dtls_transport(self.pc)) is None:
                await asyncio.sleep(0.01)
        original = getattr(dtls, "_unshaped_send_rtp", dtls._send_rtp)  # called again: replace, do not stack
        dtls._unshaped_send_rtp = original  # type: ignore[attr-defined]

        async def send(data: bytes) -> None:
            if is_rtcp(data):
                items = rtcp.parse_rtcp(data)
                if any(isinstance(i, rtcp.Remb) for i in items):
                    data = b"".join(rtcp.remb(i.sender_ssrc, bps, i.ssrcs) for i in items if isinstance(i, rtcp.Remb))
                elif loss is not None and any(isinstance(i, rtcp.ReceiverReport) for i in items):
                    data = b"".join(
                        rtcp.receiver_report(i.ssrc, [dataclasses.replace(b, fraction_lost=int(loss * 256))
                                                      for b in i.reports])
                        for i in items if isinstance(i, rtcp.ReceiverReport))
            await original(data)

        dtls._send_rtp = send  # type: ignore[method-assign]

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



def spy_largest_packet(peer: Any) -> list[int]:
    """The largest decrypted RTP packet the SFU receives from this server-side Peer from now on (a 1-item list)."""
    dtls = peer.tap.dtls
    original = dtls._handle_rtp_data
    largest = [0]

    async def spy(data: bytes, arrival_time_ms: int) -> None:
        largest[0] = max(largest[0], len(data))
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = spy
    return largest
