"""The forwarding hot path: one published track, fanned out to its subscribers without decoding.

Per incoming packet: parse the fixed header (offsets only), cache it for NACKs, note a keyframe, then for
each subscriber rewrite SSRC / sequence / timestamp / payload type / header extensions and send it with
that subscriber's SRTP context. No jitter buffer, no decoder, no awaits, no blocking I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from media import rtcp
from media.bwe import ReceiveSideEstimator, SendHistory
from media.keyframes import KeyframeRequester
from media.nack_cache import PacketCache
from media.payloads import audio_level, is_keyframe
from media.receive_stats import BitrateEstimate, ReceiveStats
from media.rtp import (
    URI_ABS_SEND_TIME,
    URI_AUDIO_LEVEL,
    ExtensionRewriter,
    RtpHeader,
    abs_send_time,
    get_extension,
    parse_rtp,
    rewrite_rtp,
    rtx_wrap,
)
from media.sequencing import OutboundStream

if TYPE_CHECKING:
    from media.simulcast_forward import SimulcastLayers

Sender = Callable[[bytes], bool]
# (data, header, ssrc, sequence, timestamp, payload type, extension block[, compiled spec, abs-send-time]) -> sent,
# not sent, or None: not done (media/fastsend.py FastRtpSender.rewrite_send)
RewriteSender = Callable[..., bool | None]

log = logging.getLogger("hearing.media")

# The largest rewritten RTP packet the SFU sends: one 1500-byte-MTU UDP datagram (1472 bytes) less the largest
# SRTP tag of aiortc's profiles (16, AES-GCM). Publishers may legally send 1400-byte packets (GStreamer's
# default) and the rewritten extensions add bytes; media/aiortc_glue.py widens SRTP's buffer to match.
MAX_RTP_OUT = 1472 - 16


class ForwardProblems:
    """Process-wide counts of packets the forwarding path could not send as they were (read by media/metrics.py).

    A send that fails is one subscriber's problem: it is counted and logged at most once per LOG_EVERY seconds
    per kind, and never reaches the publisher's receive loop or the other subscribers.
    """

    LOG_EVERY = 10.0

    def __init__(self) -> None:
        self.stripped = 0  # over MAX_RTP_OUT: sent without header extensions
        self.oversize = 0  # over MAX_RTP_OUT even without extensions: dropped
        self.send_errors = 0  # the subscriber's send raised: dropped
        self.receive_errors = 0  # handling a publisher's packet raised (a bug): the packet is lost, nothing else
        self._logged: dict[str, tuple[float, int]] = {}

    def note(self, kind: str, detail: str, now: float | None = None) -> None:
        """Log `kind` now unless it was logged less than LOG_EVERY s ago; say how many went unlogged."""
        now = time.monotonic() if now is None else now
        last, quiet = self._logged.get(kind, (float("-inf"), 0))
        if now - last < self.LOG_EVERY:
            self._logged[kind] = (last, quiet + 1)
            return
        self._logged[kind] = (now, 0)
        log.warning("forwarding: %s (%s); %d more since the last such line", kind, detail, quiet)


PROBLEMS = ForwardProblems()


def _rewritten_len(data: bytes, h: RtpHeader, ext: bytes | None) -> int:
    """len(rewrite_rtp(data, h, ..., ext_block=ext)) without building it."""
    return 12 + 4 * h.csrc_count + len(ext or b"") + len(data) - h.payload_offset


@dataclass(frozen=True, slots=True)
class CodecInfo:
    name: str  # "VP8", "H264", "opus"
    clock_rate: int
    payload_type: int
    rtx_payload_type: int | None = None


@dataclass(slots=True)
class SenderReportInfo:
    ntp: int
    rtp_timestamp: int
    received_at: float


class Forward:
    """One subscriber's copy of one published track: its own SSRC, numbering, payload type and extensions."""

    __slots__ = ("_abs", "_ext", "_remaps", "_rsend", "_rtx_seq", "_send", "_spec", "codec", "mid", "out_ssrc",
                 "remb_bps", "reported_loss", "retransmits", "rtx_ssrc", "stream", "subscriber_id", "track",
                 "transport")

    def __init__(self, track: PublishedTrack, subscriber_id: str, *, out_ssrc: int, rtx_ssrc: int | None,
                 codec: CodecInfo, mid: str, header_extensions: dict[str, int], send: Sender,
                 initial_sequence: int, initial_timestamp: int) -> None:
        self.track = track
        self.subscriber_id = subscriber_id
        self.out_ssrc = out_ssrc
        self.rtx_ssrc = rtx_ssrc if codec.rtx_payload_type is not None else None
        self.codec = codec
        self.mid = mid
        self._send = send
        # The compiled rewrite+protect+send of media/fastsend.py when the sender has one (None: rewrite_rtp + send)
        self._rsend: RewriteSender | None = getattr(send, "rewrite_send", None)
        self.stream = OutboundStream(out_ssrc, track.codec.clock_rate, is_video=track.kind == "video",
                                     initial_sequence=initial_sequence, initial_timestamp=initial_timestamp)
        self._ext = ExtensionRewriter(track.header_extensions, header_extensions, mid=mid)
        self._spec = self._ext.compiled_spec() if self._rsend is not None else None  # C builds the block too
        self._remaps = bool(self._ext.remapped)
        self._abs = URI_ABS_SEND_TIME in header_extensions
        self._rtx_seq = initial_sequence ^ 0x5A5A
        self.remb_bps: int | None = None  # the subscriber's own bandwidth estimate (REMB), if it sends one
        self.reported_loss = 0  # fraction lost (0..255) in the subscriber's last report block for this stream
        self.transport: SendHistory | None = None  # transport-cc negotiated: stamp and record each packet sent
        self.retransmits = 0

    def forward(self, data: bytes, h: RtpHeader, keyframe: bool, now: float) -> None:
        out = self.stream.forward(h.sequence, h.timestamp, keyframe, now)
        if out is None:
            return
        transport = self.transport
        tseq = transport.next_sequence() if transport is not None else None
        rsend = self._rsend
        spec = self._spec
        ext = None
        if rsend is not None:
            try:
                if spec is not None and transport is None and (h.ext_offset < 0 or h.ext_profile == 0xBEDE
                                                               or not self._remaps):  # = not needs_generic(h)
                    done = rsend(data, h, self.out_ssrc, out[0], out[1], self.codec.payload_type, None, spec,
                                 abs_send_time(now) if self._abs else -1)
                else:
                    ext = self._ext.build(data, h, abs_send_time(now) if self._abs else None, tseq)
                    done = rsend(data, h, self.out_ssrc, out[0], out[1], self.codec.payload_type, ext)
            except Exception as exc:  # one subscriber's transport; never the publisher's receive loop
                self._send_failed(exc)
                return
            if done is not None:  # None: over MAX_RTP_OUT (or an address C cannot take), the Python way below
                if done:
                    self.stream.count(h.payload_end - h.payload_offset)
                    if transport is not None:
                        transport.sent(tseq, now, _rewritten_len(data, h, ext))  # type: ignore[arg-type]
                return
        if ext is None:
            ext = self._ext.build(data, h, abs_send_time(now) if self._abs else None, tseq)
        packet = rewrite_rtp(data, h, ssrc=self.out_ssrc, sequence=out[0], timestamp=out[1],
                             payload_type=self.codec.payload_type, ext_block=ext)
        if len(packet) > MAX_RTP_OUT and (packet := self._shrink(data, h, out[0], out[1])) is None:
            return
        try:
            sent = self._send(packet)
        except Exception as exc:  # one subscriber's transport; never the publisher's receive loop
            self._send_failed(exc)
            return
        if sent:
            self.stream.count(h.payload_end - h.payload_offset)
            if transport is not None:
                transport.sent(tseq, now, len(packet))  # type: ignore[arg-type]

    @property
    def send(self) -> Sender:
        """This subscriber's sender of whole RTP packets."""
        return self._send

    @send.setter
    def send(self, send: Sender) -> None:
        """A new sender replaces the compiled path too: every packet goes through `send` from now on, unless it
        brings a compiled path of its own."""
        self._send = send
        self._rsend = getattr(send, "rewrite_send", None)
        if self._rsend is None:
            self._spec = None
        elif self._spec is None:
            self._spec = self._ext.compiled_spec()

    def _shrink(self, data: bytes, h: RtpHeader, sequence: int, timestamp: int,
                limit: int = MAX_RTP_OUT) -> bytes | None:
        """The packet without header extensions if that fits, else None (counted, logged).

        The subscriber needs none of them to play this packet: its SDP names our SSRC (so no MID to demux), and
        abs-send-time or an audio level missing from one packet is not missed.
        """
        packet = rewrite_rtp(data, h, ssrc=self.out_ssrc, sequence=sequence, timestamp=timestamp,
                             payload_type=self.codec.payload_type, ext_block=b"")
        if len(packet) <= limit:
            PROBLEMS.stripped += 1
            return packet
        PROBLEMS.oversize += 1
        PROBLEMS.note("packet too large, dropped", f"{len(packet)} bytes > {limit}, from {self.track.publisher_id}")
        return None

    def _send_failed(self, exc: Exception) -> None:
        PROBLEMS.send_errors += 1
        PROBLEMS.note("send to a subscriber failed", f"{type(exc).__name__}: {str(exc)[:120]}, to {self.subscriber_id}")

    def retransmit(self, seq_out: int, now: float) -> bool:
        """Answer a subscriber's NACK from the publisher's packet cache (as RTX where negotiated)."""
        seq_in = self.stream.translate_nack(seq_out)
        if seq_in is None:
            return False
        original = self.cached(seq_in)
        if original is None:
            return False
        h = parse_rtp(original)
        ts_out = self.stream.translate_timestamp(h.timestamp)
        transport = self.transport
        tseq = transport.next_sequence() if transport is not None else None
        ext = self._ext.build(original, h, abs_send_time(now) if self._abs else None, tseq)
        packet = rewrite_rtp(original, h, ssrc=self.out_ssrc, sequence=seq_out, timestamp=ts_out,
                             payload_type=self.codec.payload_type, ext_block=ext)
        limit = MAX_RTP_OUT - 2  # an RTX wrap adds 2 bytes
        if len(packet) > limit and (packet := self._shrink(original, h, seq_out, ts_out, limit)) is None:
            return False
        if self.rtx_ssrc is not None and self.codec.rtx_payload_type is not None:
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            ph = parse_rtp(packet)
            packet = rtx_wrap(packet, ph, rtx_ssrc=self.rtx_ssrc, rtx_sequence=self._rtx_seq,
                              rtx_payload_type=self.codec.rtx_payload_type, ext_block=None)
        try:
            sent = self._send(packet)
        except Exception as exc:
            self._send_failed(exc)
            return False
        if sent:
            self.retransmits += 1
            if transport is not None:
                transport.sent(tseq, now, len(packet))  # type: ignore[arg-type]
            return True
        return False

    def cached(self, seq_in: int) -> bytes | None:
        """The publisher's packet `seq_in` as this subscriber gets it (simulcast: of the layer it receives)."""
        return self.track.cache.get(seq_in)

    def source(self) -> PublishedTrack:
        """The stream this forward's numbering follows now (simulcast: the layer it receives)."""
        return self.track

    def sender_report(self) -> bytes | None:
        """The publisher's NTP↔RTP mapping translated into this subscriber's timestamp space (lip sync)."""
        sr = self.source().last_sr
        if sr is None or self.stream.packets_sent == 0:
            return None
        return rtcp.sender_report(self.out_ssrc, sr.ntp, self.stream.translate_timestamp(sr.rtp_timestamp),
                                  self.stream.packets_sent, self.stream.octets_sent)


@dataclass(eq=False)
class PublishedTrack:
    """A publisher's incoming stream and everything kept about it for its subscribers."""

    publisher_id: str
    track_id: str
    kind: str  # "audio" | "video"
    ssrc: int
    codec: CodecInfo
    header_extensions: dict[str, int]
    request_keyframe: Callable[[PublishedTrack], None]
    on_audio_level: Callable[[str, int, bool, float], None] | None = None
    forwards: list[Forward] = field(default_factory=list)
    cache: PacketCache = field(default_factory=lambda: PacketCache(1024))
    keyframes: KeyframeRequester = field(default_factory=lambda: KeyframeRequester(0.3))
    last_sr: SenderReportInfo | None = None
    packets_in: int = 0
    bytes_in: int = 0
    keyframes_in: int = 0
    repaired_in: int = 0  # packets recovered from the publisher by our NACKs (RTX)
    reported_highest: int | None = None  # audio: the extended highest sequence in our last receiver report
    hinted_lost: int = 0  # audio: packets added to the reported cumulative loss by the subscribers' loss hint
    duplicates_in: int = 0  # RTX copies of packets we already had (the publisher's bandwidth probes): dropped
    taps: list[Callable[[bytes], None]] = field(default_factory=list)  # e.g. the recorder; must never block
    stats: ReceiveStats = field(init=False)
    bitrate: BitrateEstimate = field(default_factory=BitrateEstimate)
    uplink: ReceiveSideEstimator | None = None  # the publisher's uplink estimate, fed from abs-send-time (media/bwe.py)
    # Simulcast (media/simulcast_forward.py): the room sees one track per m-line (`simulcast` set, no packets of its
    # own); each layer is a track of its own SSRC (`group` set: its packets go on to the group's forwards).
    simulcast: SimulcastLayers | None = None
    group: PublishedTrack | None = None
    layer: int = 0

    def __post_init__(self) -> None:
        self.stats = ReceiveStats(self.codec.clock_rate)
        self._level_id = self.header_extensions.get(URI_AUDIO_LEVEL, 0) if self.kind == "audio" else 0
        self._video = self.kind == "video"
        self._codec_name = self.codec.name
        self._abs_id = self.header_extensions.get(URI_ABS_SEND_TIME, 0)
        if self._abs_id and self.uplink is None:
            self.uplink = ReceiveSideEstimator()

    def on_probe(self, data: bytes, h: RtpHeader, now: float) -> None:
        """An RTX copy of a packet already here (the publisher probing its uplink): not media, but the uplink
        estimate must see it, or the probe never shows the publisher that more fits."""
        self.duplicates_in += 1
        if self._abs_id and self.uplink is not None and (sent := get_extension(data, h, self._abs_id)) is not None:
            self.uplink.add(sent, now, len(data))

    def on_packet(self, data: bytes, h: RtpHeader, now: float) -> None:
        self.packets_in += 1
        self.bytes_in += len(data)
        self.stats.add(h.sequence, h.timestamp, now)
        self.bitrate.add(len(data), now)
        self.cache.put(h.sequence, data)
        if self._abs_id and self.uplink is not None and (sent := get_extension(data, h, self._abs_id)) is not None:
            self.uplink.add(sent, now, len(data))
        for tap in self.taps:
            tap(data)
        keyframe = True
        if self._video:
            keyframe = is_keyframe(self._codec_name, memoryview(data)[h.payload_offset : h.payload_end])
            if keyframe:
                self.keyframes_in += 1
                self.keyframes.keyframe_seen(now)
        elif self._level_id and self.on_audio_level is not None:
            value = get_extension(data, h, self._level_id)
            if value:
                voice, level = audio_level(value)
                self.on_audio_level(self.publisher_id, level, voice, now)
        for fwd in self.forwards:
            fwd.forward(data, h, keyframe, now)
        if self._video and any(f.stream.waiting_for_keyframe for f in self.forwards):
            self.request_keyframe(self)
        group = self.group
        if group is not None and group.simulcast is not None:
            group.simulcast.on_packet(self, data, h, keyframe, now)
