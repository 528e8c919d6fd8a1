"""One participant's PeerConnection with the server: what it publishes, what it receives, and negotiation.

The server answers the participant's offers (its published tracks) and makes its own offers when
forwarded tracks come and go. The server is the impolite side of "perfect negotiation": a client offer
arriving while a server offer is outstanding is ignored (the client rolls back and offers again later).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from media import aiortc_glue as glue
from media import sdp_check, sdp_rewrite
from media.rtp import URI_MID, URI_REPAIRED_RID, URI_RID, get_extension, parse_rtp, rtx_unwrap
from media.simulcast import LayerBinder
from media.simulcast_forward import layer_track
from media.simulcast_sdp import accept_simulcast, offered_simulcast
from media.tracks import Forward, PublishedTrack

log = logging.getLogger("hearing.media")
_EXTMAP = re.compile(r"^a=extmap:(\d+)(?:/\S+)? (\S+)")


class NegotiationError(Exception):
    """The offer/answer could not be applied; the message is safe to show the client."""


def check_sdp(sdp: str) -> None:
    """Refuse what aiortc would choke on, or accept and fail on later (media/sdp_check.py), before it sees it."""
    problem = sdp_check.check_sdp(sdp)
    if problem is not None:
        raise NegotiationError(f"invalid SDP: {problem}")


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
    # mid -> the peer's offered section, for video m-lines with no codec in common with the room: rejected on the
    # wire (port 0), kept inactive inside aiortc (see media/sdp_rewrite.py).
    rejected: dict[str, str] = field(default_factory=dict)
    notice: tuple[list[str], str] | None = None  # (offered video codecs, the room's): not yet told to the client
    _told: bool = False
    bad_packets: int = 0
    remb_sent: int | None = None  # the REMB last asked of this publisher (None: none sent)
    uplink_bps: float | None = None  # the SFU's estimate of this publisher's uplink
    # Simulcast (media/simulcast*.py): the last client offer that sent layers (its rids go into our answers and
    # re-offers, or the browser falls back to one encoding), the layers expected per mid, their group tracks.
    simulcast_offer: str | None = None
    simulcast_rids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    binder: LayerBinder = field(default_factory=LayerBinder)
    sim_ext: tuple[int, int, int] = (0, 0, 0)  # header extension ids of MID, RID, repaired RID in this session
    sim_groups: dict[str, PublishedTrack] = field(default_factory=dict)  # mid -> the room's track of its layers
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _offer_outstanding: bool = False
    _renegotiate_again: bool = False
    closed: bool = False
    # A description aiortc refused half-way through applying it (it creates transceivers before some checks), or
    # one applied but never answered: the PeerConnection cannot be trusted any more and is replaced (media/sfu.py).
    broken: bool = False

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
            sdp = sdp_rewrite.restore_rejected(sdp, self.rejected)
            await self._set_remote(sdp, "offer")
            try:
                self._prepare_transceivers(sdp)
                ours = set(self.by_track.values()) | {t for ts in self.spare.values() for t in ts}
                for t in self.pc.getTransceivers():
                    if t in self.pending or t in ours or t.stopped:
                        continue  # the SFU's forwarding m-lines keep the direction the SFU gave them
                    # A client's own m-lines carry only what it publishes; forwarded tracks get m-lines of their own.
                    if t.direction in ("sendrecv", "recvonly"):
                        t.direction = "recvonly" if self.can_publish else "inactive"
                    elif t.direction == "sendonly":
                        t.direction = "inactive"
                answer = await self.pc.createAnswer()
                await self.pc.setLocalDescription(answer)
            except Exception as exc:  # aiortc cannot roll a remote offer back: this PeerConnection is done
                self.broken = True
                raise NegotiationError(f"cannot answer the offer: {type(exc).__name__}: {str(exc)[:200]}") from None
            self._ensure_tap()
            answer_sdp = sdp_rewrite.reject_media(self.pc.localDescription.sdp, self.rejected)
            return self._accept_simulcast(sdp, answer_sdp)

    async def _set_remote(self, sdp: str, kind: str) -> None:
        """setRemoteDescription, contained: any aiortc exception becomes a NegotiationError for the client."""
        before = [(t, t.mid) for t in self.pc.getTransceivers()]
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except Exception as exc:  # aiortc raises ValueError, KeyError, AssertionError, OperationError...
            if [(t, t.mid) for t in self.pc.getTransceivers()] != before:
                self.broken = True  # refused after it had begun applying the description
            raise NegotiationError(f"invalid {kind}: {type(exc).__name__}: {str(exc)[:200]}") from None

    async def apply_answer(self, sdp: str) -> None:
        async with self._lock:
            if self.pc.signalingState != "have-local-offer":
                raise NegotiationError("unexpected answer: no server offer is outstanding")
            check_sdp(sdp)
            self._note_refused(sdp)
            sdp = sdp_rewrite.restore_rejected(sdp, self.rejected)
            await self._set_remote(sdp, "answer")
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
        problem = sdp_check.check_candidate(candidate)
        if problem is not None:
            raise NegotiationError(f"invalid ICE candidate: {problem}")
        if sdp_mid is None and sdp_mline_index is None:
            raise NegotiationError("invalid ICE candidate: it needs sdpMid or sdpMLineIndex")
        try:
            cand = candidate_from_sdp(candidate.removeprefix("candidate:"))
            cand.sdpMid = sdp_mid
            cand.sdpMLineIndex = sdp_mline_index
            await self.pc.addIceCandidate(cand)
        except Exception as exc:  # aiortc asserts on what it cannot parse; nothing here may end the session
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
            sdp = sdp_rewrite.reject_media(self.pc.localDescription.sdp, self.rejected)
            sdp = sdp_rewrite.state_setup(sdp, glue.dtls_role(self.tap.dtls if self.tap is not None else None))
            if self.simulcast_offer is not None:  # keep receiving the client's layers through our re-offers
                sdp = accept_simulcast(self.simulcast_offer, sdp)
        await self.send_offer(self, sdp)

    # ---- simulcast ----------------------------------------------------------------------------------------

    def _accept_simulcast(self, offer: str, answer: str) -> str:
        """Accept the layers of the client's simulcast video m-lines that we receive (publishers only)."""
        if not self.can_publish:
            return answer
        receiving = {t.mid for t in self.pc.getTransceivers()
                     if t.kind == "video" and t.direction == "recvonly" and t.mid not in self.rejected}
        layers = [o for o in offered_simulcast(offer) if o.mid in receiving]
        if not layers:
            return answer
        ids = {m.group(2): int(m.group(1)) for line in offer.splitlines() if (m := _EXTMAP.match(line.strip()))}
        self.sim_ext = (ids.get(URI_MID, 0), ids.get(URI_RID, 0), ids.get(URI_REPAIRED_RID, 0))
        for o in layers:
            self.simulcast_rids[o.mid] = o.rids
            self.binder.expect(o.mid, o.rids)
        self.simulcast_offer = offer
        return accept_simulcast(offer, answer)

    def _bind_layer(self, data: bytes, h: Any) -> PublishedTrack | None:
        """An SSRC not seen before on a simulcast session: a layer (its track) or a layer's RTX (mapped), or None."""
        mid_id, rid_id, rrid_id = self.sim_ext

        def ext(xid: int) -> str | None:
            value = get_extension(data, h, xid) if xid else None
            return bytes(value).decode("ascii", "replace") if value is not None else None

        mid = ext(mid_id)
        group = self.sim_groups.get(mid) if mid is not None else None
        if group is None or group.simulcast is None:
            return None
        binding = self.binder.bind(h.ssrc, mid, ext(rid_id), ext(rrid_id))
        if binding is None:
            return None
        if binding.rtx:
            media = self.binder.media_ssrc(binding.mid, binding.rid)
            if media is not None:
                self.rtx_to_media[h.ssrc] = media
            return None
        old = group.simulcast.layers.get(binding.layer)
        if old is not None:  # the publisher restarted this layer's encoder on a new SSRC
            self.published.pop(old.ssrc, None)
        track = layer_track(group, binding, h.ssrc)
        self.published[h.ssrc] = track
        log.info("simulcast layer bound", extra={"participant": self.participant_id, "rid": binding.rid,
                                                 "layer": binding.layer})
        return track

    # ---- aiortc hooks -------------------------------------------------------------------------------------

    def _prepare_transceivers(self, offer: str) -> None:
        for t in self.pc.getTransceivers():
            glue.capture_transceiver(t, self._captured_send, self._captured_receive)
            if t not in self.pending:
                offered = glue.transceiver_codecs(t)
                self._restrict_codecs(t)
                if t.kind == "video" and offered and not glue.transceiver_codecs(t) and t.mid is not None:
                    self._reject(t, offered, offer)

    def _note_refused(self, answer: str) -> None:
        """m-lines of our offer the peer rejected (port 0): a forwarded video it cannot decode (a VP8-only browser
        offered H264). They stay rejected; the peer hears that track's publisher only."""
        ours = self.pc.localDescription.sdp if self.pc.localDescription is not None else ""
        for mid in sdp_rewrite.rejected_mids(answer):
            if mid in self.rejected:
                continue
            t = next((t for t in self.pc.getTransceivers() if t.mid == mid), None)
            section = sdp_rewrite.section_for_mid(ours, mid)
            if t is None or section is None:
                continue
            self.rejected[mid] = section
            t.direction = "inactive"
            if t.kind == "video":
                self._tell([], "subscriber rejected a forwarded video")

    def _tell(self, offered: list[str], why: str) -> None:
        if not self._told:
            self._told = True
            self.notice = (offered, self.video_codec)
        log.info("video rejected: %s", why, extra={"participant": self.participant_id, "offered": offered,
                                                   "room": self.video_codec})

    def _reject(self, t: RTCRtpTransceiver, offered: list[Any], offer: str) -> None:
        """Video this peer offers in no codec the room uses: no video on that m-line, audio goes on."""
        glue.keep_rejected(t, offered)
        t.direction = "inactive"
        if t.mid not in self.rejected:
            self.rejected[t.mid] = sdp_rewrite.section_for_mid(offer, t.mid) or ""
            names = sorted({c.mimeType.split("/")[1] for c in offered if not c.mimeType.lower().endswith("/rtx")})
            self._tell(names, "no codec in common")

    def _restrict_codecs(self, t: RTCRtpTransceiver) -> None:
        """The room agrees on one video codec so every subscriber can decode every publisher."""
        if t.kind == "video":
            glue.restrict_codecs(t, f"video/{self.video_codec}")

    def _ensure_tap(self) -> None:
        if self.tap is None:
            dtls = glue.dtls_transport(self.pc)
            if dtls is not None:
                glue.pin_dtls_role(dtls)  # called after the first answer: the role it set is the session's
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
            if media_ssrc is None and self.sim_groups:
                track = self._bind_layer(data, h)
                if track is not None:
                    track.on_packet(data, h, now)
                    return
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
            if track.cache.get(h.sequence) is not None:
                # Already here: libwebrtc probes its uplink by resending old packets over RTX (hundreds of kbit/s
                # when its estimate climbs back). Forwarded, they flooded a village subscriber's downlink with
                # duplicates and inflated the layer's measured bitrate.
                track.on_probe(data, h, now)
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
