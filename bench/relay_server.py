"""aiortc's own MediaRelay behind the platform's signalling, as the benchmark's point of comparison.

`python -m bench.relay_server --port P` serves the same app and WebSocket protocol as `hearing serve` (tokens,
`joined`, offer/answer, `track-published` with MIDs) but with `RelayMedia` in place of the SFU: one plain
aiortc RTCPeerConnection per participant; each published track is decoded once by aiortc's receiver and fanned
out through `aiortc.contrib.media.MediaRelay` to one `addTrack` per subscriber, whose RTCRtpSender encodes it
again. That is the "decode + per-subscriber encode" design the SFU replaces (DESIGN "Media plane").

Bench-only. Two things keep the comparison fair: every video sender encodes at the clip's bitrate (aiortc would
start at 500 kbit/s without REMB, which bench subscribers do not send), and the relay reads each publisher's track
from the start (a drain subscriber), so decoding is in the zero-subscriber baseline and the figure per subscriber
is the encoding. Proxies are unbuffered (latest frame wins): a subscriber whose encoder falls behind drops frames
instead of queueing them without bound, which shows up as fps below 30.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import aiortc.rtcrtpsender as _aiortc_sender
from aiortc import RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import aiortc_glue as glue
from signaling.hub import MediaMessage, SessionInfo, SignalingHub
from signaling.protocol import Answer, Error, ErrorCode, MediaKind, Offer, TrackPublished

log = logging.getLogger("bench.relay")

VIDEO_BITRATE = 1_500_000


def _encode_at_clip_bitrate() -> None:
    """Start every video encoder at the clip's bitrate (aiortc clamps: VP8 ≤ 1.5 Mbit/s, H.264 ≤ 3 Mbit/s)."""
    original = _aiortc_sender.get_encoder

    def get_encoder(codec: Any) -> Any:
        encoder = original(codec)
        if codec.mimeType.lower().startswith("video/") and hasattr(encoder, "target_bitrate"):
            encoder.target_bitrate = VIDEO_BITRATE
        return encoder

    _aiortc_sender.get_encoder = get_encoder


@dataclass(eq=False)
class _Source:
    publisher_id: str
    track_id: str
    track: MediaStreamTrack


@dataclass(eq=False)
class _Participant:
    room_id: str
    participant_id: str
    pc: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sending: dict[str, RTCRtpTransceiver] = field(default_factory=dict)  # source track id -> transceiver
    announced: set[str] = field(default_factory=set)
    incoming: list[_Source] = field(default_factory=list)  # tracks arrived with the offer being answered
    offer_outstanding: bool = False
    again: bool = False


class RelayMedia:
    """The hub's MediaSignals with plain aiortc + MediaRelay; just enough to carry the benchmark."""

    def __init__(self, hub: SignalingHub, video_codec: str = "VP8") -> None:
        self.hub = hub
        self.video_codec = video_codec
        self.relay = MediaRelay()
        self.peers: dict[tuple[str, str], _Participant] = {}
        self.sources: dict[str, list[_Source]] = {}  # room -> published tracks
        self._tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, session: SessionInfo, msg: MediaMessage) -> None:
        try:
            if isinstance(msg, Offer):
                await self._on_offer(session, msg.sdp)
            elif isinstance(msg, Answer):
                p = self.peers.get((session.room_id, session.participant_id))
                if p is not None:
                    await self._on_answer(p, msg.sdp)
            # aiortc puts every candidate in the SDP: trickled candidates and subscription changes are ignored.
        except Exception as exc:
            log.exception("relay negotiation failed")
            await self.hub.send_to(session.room_id, session.participant_id,
                                   Error(code=ErrorCode.BAD_MESSAGE, message=f"relay: {type(exc).__name__}"))

    def set_permissions(self, room_id: str, participant_id: str, permissions: object) -> None:
        """The comparison baseline forwards to everyone: no room rules in the benchmark."""

    async def participant_left(self, room_id: str, participant_id: str) -> None:
        p = self.peers.pop((room_id, participant_id), None)
        if p is None:
            return
        sources = self.sources.get(room_id, [])
        gone = [s for s in sources if s.publisher_id == participant_id]
        self.sources[room_id] = [s for s in sources if s.publisher_id != participant_id]
        for t in p.pc.getTransceivers():
            if t.sender.track is not None:
                t.sender.track.stop()
        for s in gone:
            s.track.stop()
        await p.pc.close()

    async def close(self) -> None:
        for room_id, pid in list(self.peers):
            await self.participant_left(room_id, pid)
        for task in list(self._tasks):
            task.cancel()

    # ---- negotiation --------------------------------------------------------------------------------------

    def _restrict(self, t: RTCRtpTransceiver) -> None:
        if t.kind == "video":
            caps = RTCRtpSender.getCapabilities("video").codecs
            want = [c for c in caps if c.mimeType.lower() in (f"video/{self.video_codec.lower()}", "video/rtx")]
            t.setCodecPreferences(want)

    async def _on_offer(self, session: SessionInfo, sdp: str) -> None:
        p = self.peers.get((session.room_id, session.participant_id))
        new = p is None
        if p is None:
            p = self._new_participant(session)
        async with p.lock:
            if p.pc.signalingState == "have-local-offer":
                return  # glare: the server's offer wins, the client offers again later
            await p.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            for t in p.pc.getTransceivers():
                if t.sender.track is None:
                    self._restrict(t)
            await p.pc.setLocalDescription(await p.pc.createAnswer())
            answer = p.pc.localDescription.sdp
            published, p.incoming = p.incoming, []
        await self.hub.send_to(p.room_id, p.participant_id, Answer(sdp=answer))
        room = self.sources.setdefault(p.room_id, [])
        for src in published:
            room.append(src)
            self._spawn(self._drain(self.relay.subscribe(src.track, buffered=False)))
            for other in list(self.peers.values()):
                if other is not p and other.room_id == p.room_id:
                    self._send(other, src)
                    self._spawn(self._renegotiate(other))
        if new:
            added = False
            for src in room:
                if src.publisher_id != p.participant_id:
                    self._send(p, src)
                    added = True
            if added:
                self._spawn(self._renegotiate(p))

    def _new_participant(self, session: SessionInfo) -> _Participant:
        p = _Participant(session.room_id, session.participant_id, glue.new_peer_connection([]))
        self.peers[(session.room_id, session.participant_id)] = p
        count = iter(range(1_000_000))

        @p.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            p.incoming.append(_Source(p.participant_id, f"{p.participant_id}.{track.kind}.{next(count)}", track))

        return p

    def _send(self, p: _Participant, src: _Source) -> None:
        if src.track_id in p.sending:
            return
        t = p.pc.addTransceiver(self.relay.subscribe(src.track, buffered=False), direction="sendonly")
        self._restrict(t)
        p.sending[src.track_id] = t

    async def _renegotiate(self, p: _Participant) -> None:
        async with p.lock:
            if p.pc.signalingState != "stable" or p.offer_outstanding:
                p.again = True
                return
            await p.pc.setLocalDescription(await p.pc.createOffer())
            p.offer_outstanding = True
            sdp = p.pc.localDescription.sdp
        sources = {s.track_id: s for s in self.sources.get(p.room_id, [])}
        for track_id, t in p.sending.items():
            src = sources.get(track_id)
            if src is not None and track_id not in p.announced and t.mid is not None:
                p.announced.add(track_id)
                await self.hub.send_to(p.room_id, p.participant_id, TrackPublished(
                    participant_id=src.publisher_id, track_id=track_id, kind=MediaKind(src.track.kind), mid=t.mid))
        await self.hub.send_to(p.room_id, p.participant_id, Offer(sdp=sdp))

    async def _on_answer(self, p: _Participant, sdp: str) -> None:
        async with p.lock:
            if p.pc.signalingState != "have-local-offer":
                return
            await p.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            p.offer_outstanding = False
            again, p.again = p.again, False
        if again:
            await self._renegotiate(p)

    async def _drain(self, track: MediaStreamTrack) -> None:
        """Keep the relay reading (and so decoding) the publisher's track even with no subscriber."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _serve(port: int) -> int:
    import uvicorn

    from app.factory import create_app  # this bench server is a composition root, like app/cli
    from app.services import build_services, start_services
    from app.settings import load_settings

    settings = load_settings(HEARING_PORT=port, MEDIA_ENABLED=False)
    services = build_services(settings)
    glue.use_host_addresses(settings.ice_host_addresses)
    _encode_at_clip_bitrate()
    relay = RelayMedia(services.hub, settings.video_codec)
    services.hub.media = relay
    await start_services(services)
    app = create_app(settings, services)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            ws_max_size=4 * settings.ws_max_message_bytes, lifespan="on",
                            timeout_graceful_shutdown=5)
    try:
        await uvicorn.Server(config).serve()
    finally:
        await relay.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
