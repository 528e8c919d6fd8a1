"""The SFU: rooms of peers, which tracks go to whom, and the RTCP that keeps publishers and subscribers sane.

It implements the hub's MediaSignals (offer/answer/ICE/subscription from clients) and talks back through
the hub (server offers, track-published/removed, active-speaker). Upstream it acts as the receiver (RR,
REMB, NACK, PLI to publishers); downstream as the sender (translated SRs, NACK answers from the cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import RTCRtpTransceiver
from pydantic import BaseModel

from media import aiortc_glue as glue
from media import fastsend, rtcp
from media.layers import Layer
from media.links import (
    CONGESTED_LOSS,
    DEFAULT_AUDIO_BPS,
    SubscriberLink,
    VideoWant,
    audio_loss_upstream,
    publisher_target,
)
from media.peer import NegotiationError, Peer, PendingSubscription
from media.simulcast_forward import SimulcastForward, SimulcastLayers, new_forward
from media.speakers import SpeakerDetector
from media.tracks import CodecInfo, Forward, PublishedTrack, SenderReportInfo
from signaling.hub import MediaMessage, MediaPermissions, SessionInfo
from signaling.protocol import (
    ActiveSpeaker,
    Answer,
    Error,
    ErrorCode,
    IceCandidate,
    LinkQuality,
    MediaKind,
    MediaNotice,
    MediaNoticeCode,
    Offer,
    SetSubscription,
    TrackPublished,
    TrackRemoved,
)

log = logging.getLogger("hearing.media")

SubscribePolicy = Callable[[SessionInfo, str], bool]
"""May this subscriber receive the named publisher? Court rules (witness waiting apart...) plug in here."""

NACK_TICK = 0.02
RTCP_INTERVAL = 1.0
SPEAKER_INTERVAL = 0.2
DEFAULT_REMB_BPS = 2_000_000  # the most ever asked of a publisher (MediaConfig.max_bitrate_bps), not a default


class TrackListener(Protocol):
    """Hears of tracks coming and going (the recorder attaches its taps here); called on the event loop."""

    def track_added(self, room_id: str, track: PublishedTrack) -> None: ...

    def track_removed(self, room_id: str, track: PublishedTrack) -> None: ...


class Signals(Protocol):
    async def send_to(self, room_id: str, participant_id: str, msg: BaseModel) -> None: ...

    async def broadcast(self, room_id: str, msg: BaseModel, exclude: str | None = None) -> None: ...


ALLOW_ALL = MediaPermissions()
PAUSED_BY_PUBLISHER_RULE = "rule:publisher"
PAUSED_BY_RECEIVER_RULE = "rule:receiver"
CONSTRAINED = 0.8  # a subscriber estimate below this share of the video sent to it says its link is the limit
PAUSED_BY_LINK = "link"  # the subscriber's link cannot carry this video next to its audio (media/links.py)


@dataclass
class MediaConfig:
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    video_codec: str = "VP8"
    max_bitrate_bps: int = DEFAULT_REMB_BPS
    transport_cc: bool = False  # offer transport-cc to subscribers (docs/village-links.md)
    send_path: str = field(default_factory=fastsend.send_path)  # "fast", "python" or "reference" (media/fastsend.py)


@dataclass(eq=False)
class MediaRoom:
    room_id: str
    video_codec: str
    peers: dict[str, Peer] = field(default_factory=dict)
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)
    speakers: SpeakerDetector = field(default_factory=SpeakerDetector)
    publishers: dict[str, SessionInfo] = field(default_factory=dict)


def _codec_info(negotiated: glue.Negotiated, name: str | None = None) -> CodecInfo | None:
    media = [c for c in negotiated.codecs if c.mimeType.split("/")[1].lower() != "rtx"]
    if name is not None:
        media = [c for c in media if c.mimeType.split("/")[1].lower() == name.lower()]
    if not media:
        return None
    codec = media[0]
    rtx = next((c.payloadType for c in negotiated.codecs if c.mimeType.lower().endswith("/rtx")
                and str(c.parameters.get("apt")) == str(codec.payloadType)), None)
    return CodecInfo(name=codec.mimeType.split("/")[1], clock_rate=codec.clockRate, payload_type=codec.payloadType,
                     rtx_payload_type=rtx)


def _allow_by_grants(subscriber: SessionInfo, publisher_id: str) -> bool:
    return "subscribe" in subscriber.grants and subscriber.participant_id != publisher_id


class Sfu:
    def __init__(self, config: MediaConfig, signals: Signals, *, may_subscribe: SubscribePolicy = _allow_by_grants,
                 clock: Callable[[], float] = time.monotonic) -> None:
        glue.negotiate_opus_fec()
        glue.enable_transport_cc(config.transport_cc)
        glue.use_send_path(config.send_path)
        self.config = config
        self.signals = signals
        self.may_subscribe = may_subscribe
        self.rooms: dict[str, MediaRoom] = {}
        self.sessions: dict[tuple[str, str], SessionInfo] = {}
        self.permissions: dict[tuple[str, str], MediaPermissions] = {}
        self.track_listeners: list[TrackListener] = []
        self._clock = clock
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retired_packets = 0
        self._retired_retransmits = 0
        self._retired_bad = 0
        self.links: dict[tuple[str, str], SubscriberLink] = {}  # (room, subscriber) -> its estimate and layers

    # ---- MediaSignals -------------------------------------------------------------------------------------

    async def handle(self, session: SessionInfo, msg: MediaMessage) -> None:
        self.sessions[(session.room_id, session.participant_id)] = session
        try:
            if isinstance(msg, Offer):
                await self._on_offer(session, msg.sdp)
            elif isinstance(msg, Answer):
                peer = self._peer(session)
                if peer is None:
                    raise NegotiationError("no media session to answer; send an offer first")
                await peer.apply_answer(msg.sdp)
                await self._tell_notice(peer)
            elif isinstance(msg, IceCandidate):
                peer = self._peer(session)
                if peer is not None:
                    await peer.add_candidate(msg.candidate, msg.sdp_mid, msg.sdp_mline_index)
            elif isinstance(msg, SetSubscription):
                self._on_subscription(session, msg)
        except NegotiationError as exc:
            await self.signals.send_to(session.room_id, session.participant_id,
                                       Error(code=ErrorCode.BAD_MESSAGE, message=str(exc)))
        except Exception:  # a client's media message must never end its own session (nor the server's)
            log.exception("media message failed", extra={"participant": session.participant_id, "type": msg.type})
            peer = self._peer(session)
            if peer is not None and isinstance(msg, Offer | Answer):
                peer.broken = True  # replaced at the next offer
            await self.signals.send_to(session.room_id, session.participant_id, Error(
                code=ErrorCode.BAD_MESSAGE, message=f"the server could not apply this {msg.type}; send a new offer"))

    async def participant_left(self, room_id: str, participant_id: str) -> None:
        self.sessions.pop((room_id, participant_id), None)
        self.links.pop((room_id, participant_id), None)
        self.permissions.pop((room_id, participant_id), None)
        room = self.rooms.get(room_id)
        if room is None:
            return
        peer = room.peers.get(participant_id)
        if peer is not None:
            await self._remove_peer(room, peer)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for room in list(self.rooms.values()):
            for peer in list(room.peers.values()):
                await self._remove_peer(room, peer, renegotiate=False)
        for task in list(self._tasks):
            task.cancel()

    # ---- stats for tests, metrics and benchmarks ----------------------------------------------------------

    def peer_count(self) -> int:
        return sum(len(r.peers) for r in self.rooms.values())

    def forwarded_packets(self) -> int:
        """Packets forwarded since start (monotonic: counts from removed forwards are kept)."""
        live = sum(f.stream.packets_sent for r in self.rooms.values() for t in r.tracks.values() for f in t.forwards)
        return self._retired_packets + live

    def stats(self) -> dict[str, int]:
        tracks = [t for r in self.rooms.values() for t in r.tracks.values()]
        return {
            "rooms": len(self.rooms),
            "peers": self.peer_count(),
            "tracks": len(tracks),
            "forwards": sum(len(t.forwards) for t in tracks),
            "forwarded_packets": self.forwarded_packets(),
            "retransmitted_packets": self._retired_retransmits + sum(f.retransmits for t in tracks for f in t.forwards),
            "bad_packets": self._retired_bad + sum(p.bad_packets for r in self.rooms.values()
                                                   for p in r.peers.values()),
            "retransmits_withheld": sum(link.retransmits.dropped for link in self.links.values()),
        }

    def link_report(self) -> list[dict[str, Any]]:
        """What the SFU believes about each link now (for /metrics and the weak-link bench): per publisher its uplink
        estimate and the REMB asked of it, per subscriber its estimate, the loss it reports and, per video it
        receives, the layer chosen and the one forwarded."""
        now = self._clock()
        out: list[dict[str, Any]] = []
        for room in self.rooms.values():
            for peer in room.peers.values():
                link = self.links.get((room.room_id, peer.participant_id))
                estimate = link.estimator.estimate(now) if link is not None else None
                lost = link.estimator.loss.last_fraction if link is not None else None
                videos = []
                for fwd in peer.forwards.values():
                    if fwd.track.kind != "video":
                        continue
                    sel = fwd.selector if isinstance(fwd, SimulcastForward) else None
                    videos.append({"publisher": fwd.track.publisher_id, "paused": fwd.stream.paused,
                                   "target": None if sel is None else sel.target,
                                   "layer": None if sel is None else sel.current,
                                   "sent_bps": fwd.track.bitrate.bps(now) if sel is None else
                                   _layer_bps(fwd, now)})
                out.append({"room": room.room_id, "participant": peer.participant_id, "estimate_bps": estimate,
                            "loss": lost, "uplink_bps": peer.uplink_bps, "remb_bps": peer.remb_sent,
                            "remb_in_bps": link.estimator.remb if link is not None else None,
                            "retransmits_withheld": link.retransmits.dropped if link is not None else 0,
                            "videos": videos})
        return out

    def _retire(self, fwd: Forward) -> None:
        self._retired_packets += fwd.stream.packets_sent
        self._retired_retransmits += fwd.retransmits

    # ---- offers and peers ---------------------------------------------------------------------------------

    def _peer(self, session: SessionInfo) -> Peer | None:
        room = self.rooms.get(session.room_id)
        peer = room.peers.get(session.participant_id) if room else None
        return peer

    async def _on_offer(self, session: SessionInfo, sdp: str) -> None:
        room = self.rooms.setdefault(session.room_id, MediaRoom(session.room_id, self.config.video_codec))
        peer = room.peers.get(session.participant_id)
        if peer is not None and (peer.session_id != session.session_id or _ice_restart(peer, sdp) or peer.broken):
            # A new session (joined again), a new transport (ICE restart from a fresh PeerConnection) or a
            # PeerConnection a bad description left unusable: start clean; its tracks are announced again.
            await self._remove_peer(room, peer)
            peer = None
            # While the old one closed, the room may have emptied and been dropped: never add to a dropped room
            # (its peer would be found by nobody and never closed).
            room = self.rooms.setdefault(session.room_id, MediaRoom(session.room_id, self.config.video_codec))
        if peer is None:
            peer = self._new_peer(room, session)
            room.peers[session.participant_id] = peer
        try:
            answer = await peer.apply_offer(sdp)
        except NegotiationError:
            if peer.broken or _remote_sdp(peer) is None:  # nothing worth keeping: the next offer starts afresh
                await self._remove_peer(room, peer)
            raise
        if self.rooms.get(room.room_id) is not room or room.peers.get(peer.participant_id) is not peer:
            await peer.close()  # the participant left (or the room closed) while its offer was being answered
            return
        if answer is None:
            log.info("client offer ignored during server offer (glare)", extra={"participant": peer.participant_id})
            return
        await self.signals.send_to(room.room_id, peer.participant_id, Answer(sdp=answer))
        await self._tell_notice(peer)
        if room.speakers.current is not None:  # speaker events are sent on change; a newcomer needs the current one
            await self.signals.send_to(room.room_id, peer.participant_id,
                                       ActiveSpeaker(participant_id=room.speakers.current))
        if peer.can_subscribe:
            added = False
            for track in list(room.tracks.values()):  # subscribe() awaits: tracks may come and go
                if track.publisher_id != peer.participant_id and self.may_subscribe(session, track.publisher_id):
                    await peer.subscribe(track)
                    added = True
            if added:
                self._spawn(peer.renegotiate())
        self._ensure_ticker()

    async def _tell_notice(self, peer: Peer) -> None:
        """Once per media session: why some video is missing (an m-line rejected for want of a common codec)."""
        if peer.notice is not None:
            offered, room_codec = peer.notice
            peer.notice = None
            await self.signals.send_to(peer.room_id, peer.participant_id, MediaNotice(
                code=MediaNoticeCode.NO_COMMON_VIDEO_CODEC, params={"offered": ",".join(offered), "room": room_codec}))

    def _new_peer(self, room: MediaRoom, session: SessionInfo) -> Peer:
        return Peer(
            room_id=room.room_id, participant_id=session.participant_id, session_id=session.session_id,
            can_publish="publish" in session.grants, can_subscribe="subscribe" in session.grants,
            video_codec=room.video_codec, ice_servers=self.config.ice_servers,
            on_rtcp=self._on_rtcp, on_published=self._on_published,
            on_subscribed=self._on_subscribed, send_offer=self._send_offer, on_failed=self._on_failed,
        )

    async def _send_offer(self, peer: Peer, sdp: str) -> None:
        room = self.rooms.get(peer.room_id)
        if room is None:
            return
        for track_id, t in list(peer.by_track.items()):
            track = room.tracks.get(track_id)
            if track is not None and track_id not in peer.announced and t.mid is not None:
                peer.announced.add(track_id)
                await self.signals.send_to(room.room_id, peer.participant_id, TrackPublished(
                    participant_id=track.publisher_id, track_id=track_id, kind=MediaKind(track.kind), mid=t.mid))
        await self.signals.send_to(room.room_id, peer.participant_id, Offer(sdp=sdp))

    async def _on_failed(self, peer: Peer) -> None:
        room = self.rooms.get(peer.room_id)
        if room is not None and room.peers.get(peer.participant_id) is peer:
            log.info("media connection failed; freeing it", extra={"participant": peer.participant_id})
            await self._remove_peer(room, peer)

    async def _remove_peer(self, room: MediaRoom, peer: Peer, renegotiate: bool = True) -> None:
        if room.peers.get(peer.participant_id) is peer:
            del room.peers[peer.participant_id]
        for track in [t for t in peer.published.values() if t.group is None] + list(peer.sim_groups.values()):
            room.tracks.pop(track.track_id, None)
            self._tell_listeners("track_removed", room.room_id, track)
            for fwd in track.forwards:
                self._retire(fwd)
            for other in list(room.peers.values()):
                if await other.unsubscribe(track.track_id) is not None or track.track_id in other.announced:
                    other.announced.discard(track.track_id)
                    await self.signals.send_to(room.room_id, other.participant_id,
                                               TrackRemoved(participant_id=peer.participant_id,
                                                            track_id=track.track_id))
                    if renegotiate:
                        self._spawn(other.renegotiate())
            track.forwards.clear()
        for fwd in list(peer.forwards.values()):
            if fwd in fwd.track.forwards:
                fwd.track.forwards.remove(fwd)
                self._retire(fwd)
        peer.forwards.clear()
        self._retired_bad += peer.bad_packets
        room.speakers.forget(peer.participant_id)
        await peer.close()
        if not room.peers:
            self.rooms.pop(room.room_id, None)

    def set_permissions(self, room_id: str, participant_id: str, permissions: MediaPermissions) -> None:
        """Apply the room's rules to a participant's media now and to every track or subscription made later.

        Withheld media is paused per forward (and renumbered away, so NACKs never fetch it from the cache).
        """
        key = (room_id, participant_id)
        if permissions == ALLOW_ALL:
            self.permissions.pop(key, None)
        else:
            self.permissions[key] = permissions
        room = self.rooms.get(room_id)
        if room is None:
            return
        for track in list(room.tracks.values()):
            if track.publisher_id == participant_id:
                for fwd in track.forwards:
                    self._gate(room_id, fwd)
        peer = room.peers.get(participant_id)
        if peer is not None:
            for fwd in peer.forwards.values():
                self._gate(room_id, fwd)

    def _gate(self, room_id: str, fwd: Forward) -> None:
        sender = self.permissions.get((room_id, fwd.track.publisher_id), ALLOW_ALL)
        receiver = self.permissions.get((room_id, fwd.subscriber_id), ALLOW_ALL)
        if fwd.track.kind != "video":
            may_send = sender.send_audio
        elif sender.screen_mid is not None and fwd.track.track_id.rsplit(".", 1)[-1] == sender.screen_mid:
            may_send = sender.send_screen  # the announced screen: its own rule, not the camera's (or its mute)
        else:
            may_send = sender.send_video
        for reason, allowed in ((PAUSED_BY_PUBLISHER_RULE, may_send), (PAUSED_BY_RECEIVER_RULE, receiver.receive)):
            if not allowed:
                fwd.stream.pause(reason)
            elif fwd.stream.paused_for(reason):
                fwd.stream.resume(reason)
                if not fwd.stream.paused and fwd.track.kind == "video":
                    self._request_keyframe(fwd.track)

    # ---- tracks -------------------------------------------------------------------------------------------

    async def _on_published(self, peer: Peer, t: RTCRtpTransceiver, n: glue.Negotiated) -> None:
        room = self.rooms.get(peer.room_id)
        codec = _codec_info(n, room.video_codec if (room and n.kind == "video") else None)
        if room is not None and codec is not None and n.kind == "video" and n.mid in peer.simulcast_rids:
            await self._on_simulcast_published(room, peer, n, codec)
            return
        if room is None or codec is None or not n.ssrcs:
            log.warning("published track without usable codec or SSRC ignored",
                        extra={"participant": peer.participant_id, "kind": n.kind})
            return
        track = PublishedTrack(
            publisher_id=peer.participant_id, track_id=f"{peer.participant_id}.{n.kind}.{n.mid}", kind=n.kind,
            ssrc=n.ssrcs[0], codec=codec, header_extensions=n.header_extensions,
            request_keyframe=self._request_keyframe,
            on_audio_level=lambda pid, level, voice, now: room.speakers.add(pid, level, voice, now),
        )
        peer.published[track.ssrc] = track
        peer.rtx_to_media.update(n.rtx_ssrcs)
        room.tracks[track.track_id] = track
        self._tell_listeners("track_added", room.room_id, track)
        log.info("track published", extra={"participant": peer.participant_id, "kind": n.kind, "codec": codec.name})
        for other in list(room.peers.values()):
            session = self.sessions.get((room.room_id, other.participant_id))
            if other is peer or session is None or not other.can_subscribe:
                continue
            if self.may_subscribe(session, peer.participant_id):
                await other.subscribe(track)
                self._spawn(other.renegotiate())

    async def _on_simulcast_published(self, room: MediaRoom, peer: Peer, n: glue.Negotiated, codec: CodecInfo) -> None:
        """A simulcast m-line: one track for the room; its layers are bound as their packets arrive (media/peer.py)."""
        if n.mid in peer.sim_groups:
            return
        track = PublishedTrack(
            publisher_id=peer.participant_id, track_id=f"{peer.participant_id}.{n.kind}.{n.mid}", kind=n.kind,
            ssrc=0, codec=codec, header_extensions=n.header_extensions, request_keyframe=self._request_keyframe)
        track.simulcast = SimulcastLayers(track, peer.simulcast_rids[n.mid])
        peer.sim_groups[n.mid] = track
        room.tracks[track.track_id] = track
        self._tell_listeners("track_added", room.room_id, track)
        log.info("simulcast track published", extra={"participant": peer.participant_id, "codec": codec.name,
                                                     "rids": ",".join(track.simulcast.rids)})
        for other in list(room.peers.values()):
            session = self.sessions.get((room.room_id, other.participant_id))
            if other is peer or session is None or not other.can_subscribe:
                continue
            if self.may_subscribe(session, peer.participant_id):
                await other.subscribe(track)
                self._spawn(other.renegotiate())

    async def _on_subscribed(self, peer: Peer, pending: PendingSubscription, n: glue.Negotiated, ssrc: int,
                             rtx_ssrc: int) -> None:
        track = pending.track
        room = self.rooms.get(peer.room_id)
        if room is None or room.tracks.get(track.track_id) is not track or peer.tap is None:
            return
        codec = _codec_info(n, track.codec.name)
        if codec is None:
            log.warning("subscriber cannot receive the room codec", extra={"participant": peer.participant_id})
            return
        seq0, ts0 = peer.continue_from.pop(pending.transceiver, (secrets.randbits(16), secrets.randbits(32)))
        fwd = new_forward(track, peer.participant_id, out_ssrc=ssrc, rtx_ssrc=rtx_ssrc, codec=codec, mid=n.mid,
                      header_extensions=n.header_extensions, send=peer.tap.send_rtp,
                      initial_sequence=seq0, initial_timestamp=ts0)
        if track.kind == "video" and peer.paused_all_video:
            fwd.stream.pause()
        if glue.URI_TRANSPORT_CC in n.header_extensions:
            fwd.transport = self._link(peer).history  # transport-cc: one sequence per subscriber transport
        peer.forwards[ssrc] = fwd
        if isinstance(fwd, SimulcastForward):
            self._link(peer).selectors[ssrc] = fwd.selector
        track.forwards.append(fwd)
        self._gate(room.room_id, fwd)
        if track.kind == "video":
            self._request_keyframe(track)

    def _on_subscription(self, session: SessionInfo, msg: SetSubscription) -> None:
        peer = self._peer(session)
        if peer is None:
            return
        if msg.publisher_id is None and msg.kind == MediaKind.VIDEO:
            peer.paused_all_video = msg.paused
        for fwd in peer.forwards.values():
            if fwd.track.kind != msg.kind.value:
                continue
            if msg.publisher_id is not None and fwd.track.publisher_id != msg.publisher_id:
                continue
            if msg.paused:
                fwd.stream.pause()
            elif fwd.stream.paused:
                fwd.stream.resume()
                if fwd.track.kind == "video":
                    self._request_keyframe(fwd.track)

    # ---- RTCP ---------------------------------------------------------------------------------------------

    def _publisher_peer(self, track: PublishedTrack) -> Peer | None:
        for room in self.rooms.values():
            peer = room.peers.get(track.publisher_id)
            if peer is not None and peer.published.get(track.ssrc) is track:
                return peer
        return None

    def tracks_of(self, room_id: str) -> list[PublishedTrack]:
        room = self.rooms.get(room_id)
        return list(room.tracks.values()) if room else []

    def request_keyframe(self, track: PublishedTrack) -> None:
        """Ask the publisher for a keyframe (throttled), e.g. for a recording segment to start on."""
        self._request_keyframe(track)

    def _tell_listeners(self, event: str, room_id: str, track: PublishedTrack) -> None:
        for listener in self.track_listeners:
            try:
                getattr(listener, event)(room_id, track)
            except Exception:
                log.exception("a track listener failed", extra={"room": room_id, "track": track.track_id})

    def _request_keyframe(self, track: PublishedTrack) -> None:
        if track.simulcast is not None:  # the room's track of a simulcast m-line: ask the layers concerned
            for layer in track.simulcast.keyframe_layers():
                self._request_keyframe(layer)
            return
        if track.keyframes.request(self._clock()):
            self._send_pli(track)

    def _send_pli(self, track: PublishedTrack) -> None:
        peer = self._publisher_peer(track)
        if peer is not None and peer.tap is not None:
            peer.tap.send_rtcp(rtcp.pli(peer.rtcp_ssrc, track.ssrc))

    def _on_rtcp(self, peer: Peer, data: bytes) -> None:
        try:
            items = rtcp.parse_rtcp(data)
        except ValueError:
            peer.bad_packets += 1
            return
        now = self._clock()
        for item in items:
            if isinstance(item, rtcp.SenderReport):
                track = peer.published.get(item.ssrc)
                if track is not None:
                    track.last_sr = SenderReportInfo(item.ntp, item.rtp_timestamp, now)
                    track.stats.on_sender_report(rtcp.ntp_middle32(item.ntp), now)
            elif isinstance(item, rtcp.Nack):
                fwd = peer.forwards.get(item.media_ssrc)
                if fwd is not None:
                    budget = self._link(peer).retransmits
                    for seq in item.lost:
                        seq_in = fwd.stream.translate_nack(seq)
                        original = fwd.cached(seq_in) if seq_in is not None else None
                        if original is not None and budget.allow(fwd.out_ssrc, seq, len(original), now):
                            fwd.retransmit(seq, now)
            elif isinstance(item, rtcp.Pli):
                fwd = peer.forwards.get(item.media_ssrc)
                if fwd is not None:
                    self._request_keyframe(fwd.track)
            elif isinstance(item, rtcp.Fir):
                for ssrc, _seq in item.entries:
                    fwd = peer.forwards.get(ssrc)
                    if fwd is not None:
                        self._request_keyframe(fwd.track)
            elif isinstance(item, rtcp.Remb):
                matched = False
                for ssrc in item.ssrcs:
                    fwd = peer.forwards.get(ssrc)
                    if fwd is not None:
                        fwd.remb_bps = item.bitrate
                        matched = True
                if matched:
                    self._link(peer).estimator.on_remb(item.bitrate)
            elif isinstance(item, rtcp.OtherRtcp) and (item.packet_type, item.fmt) == (rtcp.PT_RTPFB, 15):
                self._on_transport_feedback(peer, item, now)
            if isinstance(item, rtcp.ReceiverReport | rtcp.SenderReport) and peer.forwards:
                # Report blocks from a subscriber describe our SSRCs: they feed its estimate, never reach a publisher.
                lost = []
                for block in item.reports:
                    if (fwd := peer.forwards.get(block.ssrc)) is not None:
                        fwd.reported_loss = block.fraction_lost
                        lost.append(block.fraction_lost)
                if lost:
                    self._link(peer).estimator.on_loss_report(max(lost), now)

    def _on_transport_feedback(self, peer: Peer, item: rtcp.OtherRtcp, now: float) -> None:
        """A subscriber's transport-cc feedback: resolved against what we sent it, it drives its estimate."""
        try:
            feedback = rtcp.parse_transport_feedback(item)
        except ValueError:
            peer.bad_packets += 1
            return
        link = self._link(peer)
        link.estimator.on_feedback(link.history.resolve(feedback.arrivals()), now)

    # ---- periodic work ------------------------------------------------------------------------------------

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name="sfu-ticker")

    async def _tick(self) -> None:
        last_rtcp = last_speaker = 0.0
        while self.rooms:
            await asyncio.sleep(NACK_TICK)
            now = self._clock()
            try:
                self._upstream_repairs(now)
                if now - last_rtcp >= RTCP_INTERVAL:
                    last_rtcp = now
                    await self._adapt_links(now)
                    self._reports(now)
                if now - last_speaker >= SPEAKER_INTERVAL:
                    last_speaker = now
                    await self._speakers(now)
            except Exception:
                log.exception("SFU periodic work failed")

    def _upstream_repairs(self, now: float) -> None:
        for room in self.rooms.values():
            for peer in room.peers.values():
                if peer.tap is None:
                    continue
                for track in peer.published.values():
                    if track.kind == "video":
                        lost = track.stats.missing(now)
                        if lost:
                            peer.tap.send_rtcp(rtcp.generic_nack(peer.rtcp_ssrc, track.ssrc, lost))
                    if track.keyframes.due(now):
                        self._send_pli(track)

    def _reports(self, now: float) -> None:
        for room in self.rooms.values():
            for peer in room.peers.values():
                if peer.tap is None:
                    continue
                if peer.published:
                    blocks = []
                    uplink: list[float] = []
                    for track in peer.published.values():
                        r = track.stats.report(now)
                        fraction, cumulative = r.fraction_lost, r.cumulative_lost
                        if track.kind == "audio":  # the publisher's Opus adds FEC only for loss it is told of
                            interval = r.extended_highest - (track.reported_highest or r.extended_highest)
                            track.reported_highest = r.extended_highest
                            fraction, extra = audio_loss_upstream(fraction, [f.reported_loss for f in track.forwards],
                                                                  interval)
                            track.hinted_lost += extra  # the cumulative count agrees (libwebrtc reads both)
                            cumulative = min(cumulative + track.hinted_lost, 0x7FFFFF)
                        blocks.append(rtcp.ReportBlock(track.ssrc, fraction, cumulative,
                                                       r.extended_highest, r.jitter, r.lsr, r.dlsr))
                        if track.kind == "video" and track.uplink is not None:
                            value = track.uplink.update(now, r.fraction_lost / 256.0)
                            if value is not None:
                                uplink.append(value)
                    packet = rtcp.receiver_report(peer.rtcp_ssrc, blocks[:31])
                    video = [t for t in peer.published.values() if t.kind == "video"]
                    target = self._remb_for(room, video, min(uplink) if uplink else None, now) if video else None
                    peer.remb_sent = target
                    peer.uplink_bps = min(uplink) if uplink else None
                    if target is not None:
                        packet += rtcp.remb(peer.rtcp_ssrc, target, [t.ssrc for t in video])
                    peer.tap.send_rtcp(packet)
                srs = [sr for fwd in peer.forwards.values() if (sr := fwd.sender_report()) is not None]
                if srs:
                    peer.tap.send_rtcp(b"".join(srs))

    def _remb_for(self, room: MediaRoom, tracks: list[PublishedTrack], uplink: float | None, now: float) -> int | None:
        """Upstream: the publisher's own uplink estimate, capped by the most its best-placed subscriber can take.

        Never the weakest subscriber's estimate (that subscriber gets paused video instead, media/links.py), no
        floor and no default: with nothing known, no REMB is sent and the publisher keeps its own estimate.
        """
        needs: list[float] = []
        for track in tracks:
            if track.taps:  # recorded: the top layer is needed whatever the subscribers can take
                return publisher_target(uplink, [], self.config.max_bitrate_bps)
            video_bps = track.bitrate.bps(now)
            for fwd in track.forwards:
                if fwd.stream.paused:  # not receiving this video (its own choice, a rule or its link)
                    continue
                link = self.links.get((room.room_id, fwd.subscriber_id))
                estimate = link.estimator.estimate(now) if link is not None else None
                lost = link.estimator.loss.last_fraction if link is not None else None
                if estimate is None or estimate >= CONSTRAINED * video_bps or lost is None or lost < CONGESTED_LOSS:
                    # Unknown, or this subscriber takes what is sent now (a receiver's estimate stays near what it
                    # receives), or it loses nothing: it might take more, so it sets no cap — capping by it would
                    # spiral down (the same evidence rule as pausing its video, media/links.py).
                    return publisher_target(uplink, [], self.config.max_bitrate_bps)
                needs.append(estimate - self._audio_share(room, link, fwd.subscriber_id, now))
            if track.forwards and all(f.stream.paused_for(PAUSED_BY_LINK) for f in track.forwards):
                needs.extend(self._paused_needs(room, track, now))
        return publisher_target(uplink, needs, self.config.max_bitrate_bps)

    def _paused_needs(self, room: MediaRoom, track: PublishedTrack, now: float) -> list[float]:
        """Every subscriber's link is too weak for this video now: what they could take (probed at that rate)."""
        needs = []
        for fwd in track.forwards:
            link = self.links.get((room.room_id, fwd.subscriber_id))
            estimate = link.estimator.estimate(now) if link is not None else None
            if link is not None and estimate is not None:
                needs.append(estimate - self._audio_share(room, link, fwd.subscriber_id, now))
        return needs

    def _audio_share(self, room: MediaRoom, link: SubscriberLink, subscriber_id: str, now: float) -> float:
        return self._audio_bps(room, subscriber_id, now) if link.estimator.covers_audio(now) else 0.0

    def _link(self, peer: Peer) -> SubscriberLink:
        key = (peer.room_id, peer.participant_id)
        link = self.links.get(key)
        if link is None:
            link = self.links[key] = SubscriberLink()
        return link

    def _audio_bps(self, room: MediaRoom, subscriber_id: str, now: float) -> float:
        peer = room.peers.get(subscriber_id)
        if peer is None:
            return 0.0
        audio = [f for f in peer.forwards.values() if f.track.kind == "audio" and not f.stream.paused]
        measured = sum(f.track.bitrate.bps(now) for f in audio)
        return max(measured, DEFAULT_AUDIO_BPS) if audio else 0.0

    async def _adapt_links(self, now: float) -> None:
        """Audio first, per subscriber: pause video its estimate cannot carry next to audio, resume it when it can."""
        for room in list(self.rooms.values()):
            for peer in list(room.peers.values()):
                link = self.links.get((room.room_id, peer.participant_id))
                if link is None:
                    continue
                videos = [f for f in peer.forwards.values() if f.track.kind == "video"
                          and not any(f.stream.paused_for(r) for r in _OTHER_REASONS)]
                wants = [VideoWant(f.out_ssrc, _layers_of(f, link, now),
                                   speaking=room.speakers.current == f.track.publisher_id) for f in videos]
                targets = link.allocate(self._audio_bps(room, peer.participant_id, now), wants, now)
                for fwd in videos:
                    if targets.get(fwd.out_ssrc, 0) is None:
                        fwd.stream.pause(PAUSED_BY_LINK)
                    elif fwd.stream.paused_for(PAUSED_BY_LINK):
                        fwd.stream.resume(PAUSED_BY_LINK)
                        if not fwd.stream.paused:
                            self._request_keyframe(fwd.track)
                paused = any(f.stream.paused_for(PAUSED_BY_LINK) for f in videos)
                if paused != link.video_paused:
                    link.video_paused = paused
                    estimate = link.estimator.estimate(now)
                    log.info("video %s for a subscriber's link", "paused" if paused else "resumed",
                             extra={"participant": peer.participant_id, "estimate_bps": estimate})
                    await self.signals.send_to(room.room_id, peer.participant_id, LinkQuality(
                        video_paused=paused, estimate_kbps=None if estimate is None else int(estimate // 1000)))

    async def _speakers(self, now: float) -> None:
        for room in list(self.rooms.values()):
            change = room.speakers.update(now)
            if change is not None:
                await self.signals.broadcast(room.room_id, ActiveSpeaker(participant_id=change.participant_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


_OTHER_REASONS = ("subscriber", PAUSED_BY_PUBLISHER_RULE, PAUSED_BY_RECEIVER_RULE)


def _layers_of(fwd: Forward, link: SubscriberLink, now: float) -> list[Layer]:
    """The layers a forward may choose from; a simulcast forward's selector is the one its link allocates with."""
    if isinstance(fwd, SimulcastForward) and fwd.track.simulcast is not None:
        link.selectors[fwd.out_ssrc] = fwd.selector
        return fwd.track.simulcast.offered(now)
    return [Layer(0, fwd.track.bitrate.bps(now))]


def _layer_bps(fwd: SimulcastForward, now: float) -> float:
    layers = fwd.track.simulcast.layers if fwd.track.simulcast is not None else {}
    current = layers.get(fwd.selector.current) if fwd.selector.current is not None else None
    return current.bitrate.bps(now) if current is not None else 0.0


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("SFU task failed", exc_info=task.exception())


def _ice_restart(peer: Peer, sdp: str) -> bool:
    """A new ice-ufrag means the client built a new transport: the old one cannot be reused by aiortc."""
    current = _remote_sdp(peer)
    if current is None:
        return False

    def ufrag(text: str) -> str | None:
        for line in text.splitlines():
            if line.startswith("a=ice-ufrag:"):
                return line.split(":", 1)[1].strip()
        return None

    return ufrag(current) != ufrag(sdp)


def _remote_sdp(peer: Peer) -> str | None:
    """The applied remote description; None if none, or if aiortc cannot render it (then the peer is broken)."""
    try:
        current = peer.pc.remoteDescription
    except Exception:
        peer.broken = True
        return None
    return None if current is None else current.sdp
