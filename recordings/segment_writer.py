"""Encoded frames of one track → short, self-contained container files (WebM / Matroska), remuxed with PyAV.

Why this shape:
- No decoding, no encoding: frames are wrapped in `av.Packet`s and muxed as they are, so the recording is the
  very bitstream the participants saw, and muxing costs microseconds per frame.  PyAV opens an *encoder* for
  every stream added with `add_stream()` before writing the header (libx264/libvpx/libopus: milliseconds, and
  libopus then stamps a 312-sample CodecDelay into every segment, which would shift and trim audio).  Streams
  are therefore created with `add_stream_from_template()` from an unopened template stream, which PyAV never
  opens.
- One time base for all tracks: pts stay in the track's RTP clock (1/90000 video, 1/48000 Opus) but are offset
  so 0 is the hearing's recording start (`TrackClock`), so segments of different tracks line up.
- Short segments bound what a crash can lose (the open segment only).  Video segments start on a keyframe so
  each is decodable on its own; a segment that runs past `2 × target` asks the publisher for a keyframe, and
  one past `max_duration` is cut anyway (on a delta frame: such a segment only decodes after its predecessor,
  which `ClosedSegment.starts_with_keyframe` says) — a publisher ignoring keyframe requests must not make the
  open segment, and so the possible loss, unbounded.
- Files are written as ``<name>.part`` and renamed when closed and fsync'ed, so a closed segment on disk is
  always complete.
- H.264 in Matroska needs the SPS/PPS in the header (CodecPrivate): every segment takes the latest ones seen, so a
  segment cut on a delta frame (which carries none) still gets a header; until some are seen nothing is written.
  A segment whose muxing fails (e.g. a publisher's malformed SPS makes the header unwritable) is dropped at once:
  PyAV crashes the process (SIGSEGV) if a container whose header failed is given another packet.
"""

from __future__ import annotations

import fractions
import hashlib
import io
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from recordings.depacketize import EncodedFrame, vp8_dimensions
from recordings.durable import fsync_dir

__all__ = ["CONTAINERS", "ClosedSegment", "SegmentWriter", "TrackClock"]

#: codec → (PyAV codec name, container format, file extension, kind)
CONTAINERS: dict[str, tuple[str, str, str, str]] = {
    "vp8": ("vp8", "webm", "webm", "video"),
    "opus": ("opus", "webm", "webm", "audio"),
    "h264": ("h264", "matroska", "mkv", "video"),
}
#: OpusHead (RFC 7845 §5.1): version 1, 2 channels, pre-skip 0 (RTP Opus has no pre-skip), 48 kHz, gain 0, family 0
_OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 0, 48000, 0, 0)
_START = b"\x00\x00\x00\x01"


@dataclass(frozen=True, slots=True)
class TrackClock:
    """Maps a track's extended RTP timestamps onto the hearing's recording timeline (0 = recording start).

    `rtp_anchor` was the RTP time at wall-clock `wall_anchor` (seconds, same clock as `recording_start`): from
    an RTCP sender report (NTP↔RTP, the accurate choice for lip sync) or from the first packet's arrival.
    """

    clock_rate: int
    rtp_anchor: int
    wall_anchor: float
    recording_start: float

    def pts(self, rtp_timestamp: int) -> int:
        return rtp_timestamp - self.rtp_anchor + round((self.wall_anchor - self.recording_start) * self.clock_rate)


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    """A finished, fsync'ed segment file and what the manifest records about it."""

    path: Path
    track_id: str
    kind: str  # "audio" | "video"
    codec: str  # "vp8" | "h264" | "opus"
    index: int  # 0, 1, 2 ... per track
    start_time: float  # seconds from recording start
    end_time: float
    size: int
    sha256: str
    frames: int
    starts_with_keyframe: bool


_templates: dict[str, Any] = {}
_templates_lock = threading.Lock()


def _template(codec: str) -> Any:
    """An unopened stream to copy codec parameters from (see module docstring: avoids opening an encoder)."""
    with _templates_lock:
        t = _templates.get(codec)
        if t is None:
            name, fmt, _ext, kind = CONTAINERS[codec]
            dummy = av.open(io.BytesIO(), "w", format=fmt)
            stream = dummy.add_stream(name, rate=48000) if kind == "audio" else dummy.add_stream(name)
            t = _templates[codec] = (dummy, stream)  # the container must outlive its stream
        return t[1]


def _h264_parameter_sets(access_unit: bytes) -> bytes | None:
    """Annex-B SPS+PPS found in an access unit (the assembler puts them before every IDR)."""
    sps = pps = None
    for nal in access_unit.split(_START):
        if nal:
            t = nal[0] & 0x1F
            if t == 7 and sps is None:
                sps = nal
            elif t == 8 and pps is None:
                pps = nal
    if sps is None or pps is None:
        return None
    return _START + sps + _START + pps


class SegmentWriter:
    """Writes one track's frames into consecutive segment files; `write()` returns segments as they close.

    Not thread-safe: one writer is driven by one thread (the recorder's worker).  Frames with a timestamp not
    after the previous one, or before the recording start, are dropped and counted (`dropped_frames`).
    """

    def __init__(
        self,
        directory: Path,
        track_id: str,
        codec: str,
        clock: TrackClock,
        *,
        target_duration: float = 2.0,
        max_duration: float | None = None,
        request_keyframe: Callable[[], None] | None = None,
    ) -> None:
        codec = codec.lower()
        if codec not in CONTAINERS:
            raise ValueError(f"cannot record codec {codec!r}: supported are {', '.join(sorted(CONTAINERS))}")
        if target_duration <= 0:
            raise ValueError(f"target_duration must be positive, got {target_duration}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.track_id = track_id
        self.codec = codec
        _name, self._format, self._ext, self.kind = CONTAINERS[codec]
        self.clock = clock
        self._rate = clock.clock_rate
        self._time_base = fractions.Fraction(1, clock.clock_rate)
        self._target = round(target_duration * clock.clock_rate)
        self._long = 2 * self._target
        self._max = round((max_duration or 5 * target_duration) * clock.clock_rate)
        self._request_keyframe = request_keyframe
        self._video = self.kind == "video"
        self.index = 0
        self.dropped_frames = 0
        self._container: Any = None
        self._stream: Any = None
        self._part: Path | None = None
        self._seg_start = 0
        self._seg_frames = 0
        self._seg_key = False
        self._asked = False
        self._waiting_asked = False
        self._need_key = True  # the first segment, and the first after close(), must start on a keyframe
        self._held: tuple[bytes, int, bool] | None = None  # last frame, muxed once the next one gives its duration
        self._h264_params: bytes | None = None  # latest Annex-B SPS+PPS seen (H.264 only)
        self._last_pts: int | None = None
        self._last_duration = 0

    # -- public ------------------------------------------------------------------------------------------

    def write(self, frame: EncodedFrame) -> list[ClosedSegment]:
        pts = self.clock.pts(frame.rtp_timestamp)
        if pts < 0 or (self._last_pts is not None and pts <= self._last_pts):
            self.dropped_frames += 1
            return []
        if self.codec == "h264" and frame.keyframe:
            self._h264_params = _h264_parameter_sets(frame.data) or self._h264_params
        closed: list[ClosedSegment] = []
        if self._container is not None:
            age = pts - self._seg_start
            if self._video:
                roll = (frame.keyframe and age >= self._target) or age >= self._max
                if not roll and age >= self._long and not self._asked:
                    self._asked = True
                    self._ask()
            else:
                roll = age >= self._target
            if roll:
                closed.append(self._close(end_pts=pts))
        if self._container is None:
            if (self._video and not frame.keyframe and self._need_key) or \
                    (self.codec == "h264" and self._h264_params is None):
                # nothing before it to decode from (or, H.264, no SPS/PPS for the header): wait for a keyframe
                # (asking once)
                self.dropped_frames += 1
                if not self._waiting_asked:
                    self._waiting_asked = True
                    self._ask()
                return closed
            self._open(frame, pts)
        self._push(frame.data, pts, frame.keyframe)
        return closed

    def close(self) -> ClosedSegment | None:
        """Close the open segment (end of recording or a pause); its end is the last frame's end."""
        if self._container is None:
            return None
        assert self._last_pts is not None
        self._need_key = True
        self._waiting_asked = False
        return self._close(end_pts=self._last_pts + max(self._last_duration, 1))

    def abort(self) -> None:
        """Drop the open segment without finishing it (the `.part` file stays for inspection)."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
        self._container = self._stream = None
        self._held = None

    # -- internals -----------------------------------------------------------------------------------

    def _ask(self) -> None:
        if self._request_keyframe is not None:
            self._request_keyframe()

    def _open(self, frame: EncodedFrame, pts: int) -> None:
        name = f"{self.track_id}-{self.index:06d}.{self._ext}"
        self._part = self.directory / (name + ".part")
        try:
            container = av.open(str(self._part), "w", format=self._format)
        except (OSError, av.FFmpegError) as exc:
            raise OSError(f"cannot create recording segment {self._part}: {exc}; check the spool directory "
                          "exists, is writable and the disk is not full") from exc
        stream = container.add_stream_from_template(_template(self.codec))
        stream.time_base = self._time_base
        ctx = stream.codec_context
        if self.codec == "opus":
            ctx.extradata = _OPUS_HEAD
        elif self.codec == "vp8":
            dims = vp8_dimensions(frame.data)
            if dims is not None:
                ctx.width, ctx.height = dims
        elif self.codec == "h264":
            ctx.extradata = self._h264_params  # write() opens no H.264 segment before some were seen
        self._container, self._stream = container, stream
        self._seg_start = pts
        self._seg_frames = 0
        self._seg_key = frame.keyframe
        self._asked = False
        self._need_key = False

    def _push(self, data: bytes, pts: int, key: bool) -> None:
        held = self._held
        if held is not None:
            self._last_duration = pts - held[1]
            self._mux(held, self._last_duration)
        self._held = (data, pts, key)
        self._last_pts = pts
        self._seg_frames += 1

    def _mux(self, item: tuple[bytes, int, bool], duration: int) -> None:
        data, pts, key = item
        packet = av.Packet(data)
        packet.stream = self._stream
        packet.time_base = self._time_base
        packet.pts = packet.dts = pts
        packet.duration = duration
        packet.is_keyframe = key
        try:
            self._container.mux_one(packet)
        except Exception:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Give up the open segment after a muxing error, and its unreadable `.part` file.

        The container is closed and never given another packet: after a failed header write PyAV would crash the
        whole process on the next `mux_one`.  The next segment (same index: the manifest never has a hole in the
        numbering) starts on a keyframe, asked for again."""
        part = self._part
        self.abort()
        if part is not None:
            part.unlink(missing_ok=True)
        self._part = None
        self._need_key = True
        self._waiting_asked = False

    def _close(self, end_pts: int) -> ClosedSegment:
        assert self._container is not None and self._part is not None
        if self._held is not None:
            self._mux(self._held, max(end_pts - self._held[1], 1))
            self._held = None
        self._container.close()
        part = self._part
        final = part.with_name(part.name[: -len(".part")])
        digest = hashlib.sha256()
        size = 0
        with open(part, "rb+") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(f.fileno())
        os.replace(part, final)
        fsync_dir(self.directory)
        segment = ClosedSegment(
            path=final, track_id=self.track_id, kind=self.kind, codec=self.codec, index=self.index,
            start_time=self._seg_start / self._rate, end_time=end_pts / self._rate, size=size,
            sha256=digest.hexdigest(), frames=self._seg_frames, starts_with_keyframe=self._seg_key,
        )
        self.index += 1
        self._container = self._stream = self._part = None
        return segment
