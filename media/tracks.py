"""The forwarding hot path: one published track, fanned out to its subscribers without decoding.

Per incoming packet: parse the fixed header (offsets only), cache it for NACKs, note a keyframe, then for
each subscriber rewrite SSRC / sequence / timestamp / payload type / header extensions and send it with
that subscriber's SRTP context. No jitter buffer, no decoder, no awaits, no blocking I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from media import rtcp
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

Sender = Callable[[bytes], bool]


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

    __slots__ = ("_abs", "_ext", "_rtx_seq", "codec", "mid", "out_ssrc", "remb_bps", "retransmits", "rtx_ssrc", "send",
                 "stream", "subscriber_id", "track")

    def __init__(self, track: PublishedTrack, subscriber_id: str, *, out_ssrc: int, rtx_ssrc: int | None,
                 codec: CodecInfo, mid: str, header_extensions: dict[str, int], send: Sender,
                 initial_sequence: int, initial_timestamp: int) -> None:
        self.track = track
        self.subscriber_id = subscriber_id
        self.out_ssrc = out_ssrc
        self.rtx_ssrc = rtx_ssrc if codec.rtx_payload_type is not None else None
        self.codec = codec
        self.mid = mid
        self.send = send
        self.stream = OutboundStream(out_ssrc, track.codec.clock_rate, is_video=track.kind == "video",
                                     initial_sequence=initial_sequence, initial_timestamp=initial_timestamp)
        self._ext = ExtensionRewriter(track.header_extensions, header_extensions, mid=mid)
        self._abs = URI_ABS_SEND_TIME in header_extensions
        self._rtx_seq = initial_sequence ^ 0x5A5A
        self.remb_bps: int | None = None  # the subscriber's own bandwidth estimate (REMB), if it sends one
        self.retransmits = 0

    def forward(self, data: bytes, h: RtpHeader, keyframe: bool, now: float) -> None:
        out = self.stream.forward(h.sequence, h.timestamp, keyframe, now)
        if out is None:
            return
        ext = self._ext.build(data, h, abs_send_time(now) if self._abs else None)
        packet = rewrite_rtp(data, h, ssrc=self.out_ssrc, sequence=out[0], timestamp=out[1],
                             payload_type=self.codec.payload_type, ext_block=ext)
        if self.send(packet):
            self.stream.count(h.payload_end - h.payload_offset)

    def retransmit(self, seq_out: int, now: float) -> bool:
        """Answer a subscriber's NACK from the publisher's packet cache (as RTX where negotiated)."""
        seq_in = self.stream.translate_nack(seq_out)
        if seq_in is None:
            return False
        original = self.track.cache.get(seq_in)
        if original is None:
            return False
        h = parse_rtp(original)
        ts_out = self.stream.translate_timestamp(h.timestamp)
        ext = self._ext.build(original, h, abs_send_time(now) if self._abs else None)
        packet = rewrite_rtp(original, h, ssrc=self.out_ssrc, sequence=seq_out, timestamp=ts_out,
                             payload_type=self.codec.payload_type, ext_block=ext)
        if self.rtx_ssrc is not None and self.codec.rtx_payload_type is not None:
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            ph = parse_rtp(packet)
            packet = rtx_wrap(packet, ph, rtx_ssrc=self.rtx_ssrc, rtx_sequence=self._rtx_seq,
                              rtx_payload_type=self.codec.rtx_payload_type, ext_block=None)
        if self.send(packet):
            self.retransmits += 1
            return True
        return False

    def sender_report(self) -> bytes | None:
        """The publisher's NTP↔RTP mapping translated into this subscriber's timestamp space (lip sync)."""
        sr = self.track.last_sr
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
    taps: list[Callable[[bytes], None]] = field(default_factory=list)  # e.g. the recorder; must never block
    stats: ReceiveStats = field(init=False)
    bitrate: BitrateEstimate = field(default_factory=BitrateEstimate)

    def __post_init__(self) -> None:
        self.stats = ReceiveStats(self.codec.clock_rate)
        self._level_id = self.header_extensions.get(URI_AUDIO_LEVEL, 0) if self.kind == "audio" else 0
        self._video = self.kind == "video"
        self._codec_name = self.codec.name

    def on_packet(self, data: bytes, h: RtpHeader, now: float) -> None:
        self.packets_in += 1
        self.bytes_in += len(data)
        self.stats.add(h.sequence, h.timestamp, now)
        self.bitrate.add(len(data), now)
        self.cache.put(h.sequence, data)
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
