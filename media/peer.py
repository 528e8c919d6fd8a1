"""One participant's PeerConnection with the server: what it publishes, what it receives, and negotiation.

The server answers the participant's offers (its published tracks) and makes its own offers when
forwarded tracks come and go. The server is the impolite side of "perfect negotiation": a client offer
arriving while a server offer is outstanding is ignored (the client rolls back and offers again later).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from media import aiortc_glue as glue
from media.rtp import parse_rtp, rtx_unwrap
from media.tracks import Forward, PublishedTrack

log = logging.getLogger("hearing.media")


class NegotiationError(Exception):
    """The offer/answer could not be applied; the message is safe to show the client."""


def check_sdp(sdp: str) -> None:
    """aiortc accepts an empty description as an offer with no media; refuse what cannot be a WebRTC session."""
    lines = sdp.splitlines()
    if not lines or lines[0].strip() != "v=0":
        raise NegotiationError("invalid SDP: it must start with v=0")
    if not any(line.startswith("m=") for line in lines):
        raise NegotiationError("invalid SDP: no media sections (m=)")


@dataclass
class PendingSubscription:
    track: PublishedTrack
    transceiver: RTCRtpTransceiver


@dataclass(eq=False)
class Peer:
    room_id: str
    participant_id: str
    session_id: str
    can_publish: bool
    can_subscribe: bool
    video_codec: str
    ice_servers: list[dict[str, Any]]
    on_rtcp: Callable[[Peer, bytes], None]
    on_published: Callable[[Peer, RTCRtpTransceiver, glue.Negotiated], Awaitable[None]]
    on_subscribed: Callable[[Peer, PendingSubscription, glue.Negotiated, int, int], Awaitable[None]]
    send_offer: Callable[[Peer, str], Awaitable[None]]
    on_failed: Callable[[Peer], Awaitable[None]]
    pc: Any = None
    tap: glue.TransportTap | None = None
    rtcp_ssrc: int = field(default_factory=lambda: secrets.randbits(32) or 1)
    published: dict[int, PublishedTrack] = field(default_factory=dict)  # media ssrc -> track
    rtx_to_media: dict[int, int] = field(default_factory=dict)
    forwards: dict[int, Forward] = field(default_factory=dict)  # our out ssrc -> forward
    pending: dict[RTCRtpTransceiver, PendingSubscription] = field(default_factory=dict)
    by_track: dict[str, RTCRtpTransceiver] = field(default_factory=dict)  # forwarded track id -> transceiver
    announced: set[str] = field(default_factory=set)
    # Transceivers whose track went away, kept (inactive) for the next track of the same kind: aiortc never
    # recycles stopped m-lines, so without this a long hearing with people coming and going would grow its
    # SDP without bound.
    spare: dict[str, list[RTCRtpTransceiver]] = field(default_factory=lambda: {"audio": [], "video": []})
    negotiated: dict[RTCRtpTransceiver, tuple[glue.Negotiated, int, int]] = field(default_factory=dict)
    continue_from: dict[RTCRtpTransceiver, tuple[int, int]] = field(default_factory=dict)
    paused_all_video: bool = False
    bad_packets: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _offer_outstanding: bool = False
    _renegotiate_again: bool = False
    closed: bool = False

    def __post_init__(self) -> None:
        self.pc = glue.new_peer_connection(self.ice_servers)

        @self.pc.on("connectionstatechange")
        async def _state() -> None:
            if self.pc.connectionState in ("failed", "closed") and not self.closed:
                await self.on_failed(self)

    # ---- negotiation --------------------------------------------------------------------------------------

    async def apply_offer(self, sdp: str) -> str | None:
        """Answer the participant's offer; None when ignored because our own offer is outstanding (glare)."""
        async with self._lock:
            if self.pc.signalingState == "have-local-offer":
                return None
            check_sdp(sdp)
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError... on bad SDP
                raise NegotiationError(f"invalid offer: {type(exc).__name__}: {str(exc)[:200]}") from None
            self._prepare_transceivers()
            ours = set(self.by_track.values()) | {t for ts in self.spare.values() for t in ts}
            for t in self.pc.getTransceivers():
                if t in self.pending or t in ours or t.stopped:
                    continue  # the SFU's forwarding m-lines keep the direction the SFU gave them
                # A client's own m-lines carry only what it publishes; forwarded tracks get m-lines of their own.
                if t.direction in ("sendrecv", "recvonly"):
                    t.direction = "recvonly" if self.can_publish else "inactive"
                elif t.direction == "sendonly":
                    t.direction = "inactive"
            try:
                answer = await self.pc.createAnswer()
                await self.pc.setLocalDescription(answer)
            except Exception as exc:
                raise NegotiationError(f"cannot answer the offer: {type(exc).__name__}: {str(exc)[:200]}") from None
            self._ensure_tap()
            return self.pc.localDescription.sdp

    async def apply_answer(self, sdp: str) -> None:
        async with self._lock:
            if self.pc.signalingState != "have-local-offer":
                raise NegotiationError("unexpected answer: no server offer is outstanding")
            check_sdp(sdp)
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except Exception as exc:
                raise NegotiationError(f"invalid answer: {type(exc).__name__}: {str(exc)[:200]}") from None
            self._offer_outstanding = False
            again, self._renegotiate_again = self._renegotiate_again, False
            reused = [(p, self.negotiated[t]) for t, p in self.pending.items() if t in self.negotiated]
            for p, _ in reused:
                del self.pending[p.transceiver]
        for p, (n, ssrc, rtx_ssrc) in reused:  # a recycled transceiver: aiortc will not call send() again
            await self.on_subscribed(self, p, n, ssrc, rtx_ssrc)
        if again:
            await self.renegotiate()

    async def add_candidate(self, candidate: str | None, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
        if candidate is None or candidate == "":
            return  # end of candidates: aiortc needs nothing
        text = candidate.removeprefix("candidate:")
        try:
            cand = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            raise NegotiationError(f"invalid ICE candidate: {exc}") from None
        cand.sdpMid = sdp_mid
        cand.sdpMLineIndex = sdp_mline_index
        try:
            await self.pc.addIceCandidate(cand)
        except Exception as exc:
            raise NegotiationError(f"cannot add ICE candidate: {type(exc).__name__}") from None

    async def subscribe(self, track: PublishedTrack) -> None:
        """Add a send-only transceiver for a forwarded track; the next server offer carries it.

        Under the negotiation lock: a transceiver added while a client offer is being answered would have no
        mid yet and break aiortc's createAnswer.
        """
        async with self._lock:
            if track.track_id in self.by_track or self.closed:
                return
            spare = self.spare.get(track.kind)
            if spare:
                t = spare.pop()
                t.direction = "sendonly"
            else:
                t = self.pc.addTransceiver(glue.SilentTrack(track.kind), direction="sendonly")
                self._restrict_codecs(t)
                glue.capture_transceiver(t, self._captured_send, self._captured_receive)
            self.pending[t] = PendingSubscription(track, t)
            self.by_track[track.track_id] = t

    async def unsubscribe(self, track_id: str) -> Forward | None:
        async with self._lock:
            return self._unsubscribe(track_id)

    def _unsubscribe(self, track_id: str) -> Forward | None:
        t = self.by_track.pop(track_id, None)
        if t is None:
            return None
        self.pending.pop(t, None)
        fwd = next((f for f in self.forwards.values() if f.track.track_id == track_id), None)
        if fwd is not None:
            self.forwards.pop(fwd.out_ssrc, None)
            last_seq, last_ts = fwd.stream.last_seq_out, fwd.stream.last_ts_out
            if last_seq is not None and last_ts is not None:
                # The subscriber's receiver keeps its state per SSRC: continue numbering, never jump back.
                self.continue_from[t] = ((last_seq + 1) & 0xFFFF, (last_ts + 3000) & 0xFFFFFFFF)
        t.direction = "inactive"
        self.spare[t.kind].append(t)
        return fwd

    async def renegotiate(self) -> None:
        """Make a server offer now, or right after the outstanding one is answered."""
        async with self._lock:
            if self.closed:
                return
            if self.pc.signalingState != "stable" or self._offer_outstanding:
                self._renegotiate_again = True
                return
            if self.pc.remoteDescription is None:
                return  # the participant has not offered yet; its first offer's answer comes first
            offer = await glue.create_offer(self.pc)
            await self.pc.setLocalDescription(offer)
            self._offer_outstanding = True
            sdp = self.pc.localDescription.sdp
        await self.send_offer(self, sdp)

    # ---- aiortc hooks -------------------------------------------------------------------------------------

    def _prepare_transceivers(self) -> None:
        for t in self.pc.getTransceivers():
            glue.capture_transceiver(t, self._captured_send, self._captured_receive)
            if t not in self.pending:
                self._restrict_codecs(t)

    def _restrict_codecs(self, t: RTCRtpTransceiver) -> None:
        """The room agrees on one video codec so every subscriber can decode every publisher."""
        if t.kind == "video":
            glue.restrict_codecs(t, f"video/{self.video_codec}")

    def _ensure_tap(self) -> None:
        if self.tap is None:
            dtls = glue.dtls_transport(self.pc)
            if dtls is not None:
                self.tap = glue.TransportTap(dtls, self._rtp, self._rtcp)

    async def _captured_send(self, t: RTCRtpTransceiver, n: glue.Negotiated, ssrc: int, rtx_ssrc: int) -> None:
        self.negotiated[t] = (n, ssrc, rtx_ssrc)
        pending = self.pending.pop(t, None)
        if pending is not None:
            await self.on_subscribed(self, pending, n, ssrc, rtx_ssrc)

    async def _captured_receive(self, t: RTCRtpTransceiver, n: glue.Negotiated) -> None:
        if self.can_publish:
            await self.on_published(self, t, n)

    def _rtp(self, data: bytes, now: float) -> None:
        try:
            h = parse_rtp(data)
        except ValueError:
            self.bad_packets += 1
            return
        track = self.published.get(h.ssrc)
        if track is None:
            media_ssrc = self.rtx_to_media.get(h.ssrc)
            if media_ssrc is None or (track := self.published.get(media_ssrc)) is None:
                self.bad_packets += 1
                return
            try:
                data = rtx_unwrap(data, h, ssrc=media_ssrc, payload_type=track.codec.payload_type)
                h = parse_rtp(data)
            except ValueError:
                self.bad_packets += 1
                return
            track.repaired_in += 1
        track.on_packet(data, h, now)

    def _rtcp(self, data: bytes) -> None:
        self.on_rtcp(self, data)

    async def close(self) -> None:
        self.closed = True
        try:
            await asyncio.wait_for(self.pc.close(), 10)
        except Exception:
            log.warning("peer connection did not close cleanly", extra={"participant": self.participant_id})
