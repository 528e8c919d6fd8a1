"""Exports of a hearing recording: one composed MP4 for the file, or one track remuxed into a single WebM/MKV.

Both verify the manifest first and refuse a broken recording (naming the break) unless forced: an export is what
leaves the court, so it must not silently paper over a missing or altered segment.  Segment bytes are checked
against the manifest's SHA-256 again as they are read, so a segment altered after the verification is caught too.

The composite (`export_mp4`) transcodes, the only place in the platform that does:
- Timeline: the hearing's *time in session*.  Pauses (recess, private deliberation) are skipped, not shown as a
  card: the exported file is as long as the session, and the burned-in clock — the real wall-clock time of each
  frame, ``recording_start_us + t`` in the court's time zone — visibly jumps over each recess.  A manifest may
  hold several start entries (the recording was restarted after a crash or a reopened session); each starts its
  own time base, so everything is placed on absolute wall-clock microseconds.
- Video: every video track's segments are decoded in order and sampled at the output rate onto a grid (2 tracks
  side by side, up to 4 in 2×2, up to 9 in 3×3 …) of a 1280×720 canvas, each tile letterboxed.  A track with no
  frame at an instant (not yet joined, camera off, left) shows black.  Composition is done directly on the YUV
  planes (no RGB round trip).  PyAV's bundled FFmpeg has no drawtext, so the clock is drawn with a 5×7 bitmap font.
- Audio: every Opus track is decoded, resampled to 48 kHz stereo and summed; a limiter (instant attack, slow
  release) keeps the sum from clipping.
- Memory stays bounded: one segment per track is held, decoded frames are streamed, the encoder writes to disk.

`export_track` remuxes (no transcode) a track's segments into one file, keeping the recording's timeline, so
the downloaded file is the participants' own bitstream and lines up with the other tracks.
"""

from __future__ import annotations

import asyncio
import bisect
import fractions
import hashlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import av
import numpy as np

from recordings.manifest import BreakReason, ManifestBreak, ManifestEntry, load, verify
from recordings.objectstore import ObjectNotFound, ObjectStore

__all__ = [
    "ExportRefused",
    "ExportResult",
    "PauseInfo",
    "RecordingSummary",
    "TrackInfo",
    "check_recording",
    "export_mp4",
    "export_track",
    "export_track_to",
    "summarize",
]

WIDTH, HEIGHT = 1280, 720
SAMPLE_RATE = 48_000
AAC_FRAME = 1024
US = 1_000_000

Fetch = Callable[[str], bytes | None]
Progress = Callable[[float], None]


class ExportRefused(Exception):
    """The recording cannot be exported as asked; the message says why and what to do."""

    def __init__(self, message: str, broken: ManifestBreak | None = None) -> None:
        super().__init__(message)
        self.broken = broken


# ---- the manifest, read for export ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    seq: int
    key: str
    track_id: str
    kind: str
    codec: str
    index: int
    start_abs_us: int  # wall-clock epoch µs
    end_abs_us: int
    epoch_us: int  # the recording_start_us its timestamps are relative to
    size: int
    sha256: str


@dataclass(slots=True)
class TrackInfo:
    track_id: str
    participant_id: str
    kind: str
    codec: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration_us(self) -> int:
        return sum(s.end_abs_us - s.start_abs_us for s in self.segments)


@dataclass(frozen=True, slots=True)
class PauseInfo:
    reason: str
    actor_id: str
    at_us: int  # wall-clock epoch µs
    resumed_at_us: int | None
    resumed_by: str | None


@dataclass(slots=True)
class RecordingSummary:
    """What the manifest says, on absolute wall-clock time: tracks, pauses, and the intervals in session."""

    hearing_id: str
    recording_start_us: int
    stopped: bool
    tracks: dict[str, TrackInfo]
    pauses: list[PauseInfo]
    intervals: list[tuple[int, int]]  # in session, wall-clock epoch µs, ordered, disjoint

    @property
    def in_session_us(self) -> int:
        return sum(b - a for a, b in self.intervals)


def summarize(hearing_id: str, entries: list[ManifestEntry]) -> RecordingSummary:
    """Tracks, pauses and time in session from verified-or-not entries (seq order); tolerant of a truncated chain."""
    tracks: dict[str, TrackInfo] = {}
    pauses: list[PauseInfo] = []
    intervals: list[tuple[int, int]] = []
    epoch: int | None = None
    first_start: int | None = None
    open_at: int | None = None  # start of the interval in session now open
    epoch_end = 0  # latest segment end in this epoch (closes an interval a crash left open)
    stopped = False
    pending_pause: dict[str, Any] | None = None

    def close(at: int) -> None:
        nonlocal open_at
        if open_at is not None and at > open_at:
            intervals.append((open_at, at))
        open_at = None

    for e in entries:
        d = e.data
        if e.type == "start":
            if open_at is not None:  # a restart without a stop: the old epoch ends where its media ends
                close(min(epoch_end, int(d.get("recording_start_us", epoch_end))) if epoch_end else open_at)
            epoch = int(d.get("recording_start_us", 0))
            first_start = epoch if first_start is None else first_start
            open_at, epoch_end, stopped = epoch, epoch, False
        elif epoch is None:
            continue  # nothing is placeable before a start entry
        elif e.type == "segment":
            seg = Segment(e.seq, str(d["key"]), str(d["track_id"]), str(d["kind"]), str(d["codec"]),
                          int(d["index"]), epoch + int(d["start_us"]), epoch + int(d["end_us"]), epoch,
                          int(d["size"]), str(d["sha256"]))
            epoch_end = max(epoch_end, seg.end_abs_us)
            info = tracks.get(seg.track_id)
            if info is None:
                info = tracks[seg.track_id] = TrackInfo(seg.track_id, seg.track_id.split(".", 1)[0], seg.kind,
                                                        seg.codec)
            info.segments.append(seg)
        elif e.type == "pause":
            at = epoch + int(d.get("at_us", 0))
            close(at)
            pending_pause = {"reason": str(d.get("reason", "")), "actor_id": str(d.get("actor_id", "")), "at": at}
        elif e.type == "resume":
            at = epoch + int(d.get("at_us", 0))
            if pending_pause is not None:
                pauses.append(PauseInfo(pending_pause["reason"], pending_pause["actor_id"], pending_pause["at"], at,
                                        str(d.get("actor_id", ""))))
                pending_pause = None
            open_at = at
        elif e.type == "stop":
            close(epoch + int(d.get("at_us", 0)))
            stopped = True
    if open_at is not None:  # no stop yet: still running, or the chain is short
        close(epoch_end)
    if pending_pause is not None:
        pauses.append(PauseInfo(pending_pause["reason"], pending_pause["actor_id"], pending_pause["at"], None, None))
    return RecordingSummary(hearing_id, first_start or 0, stopped, tracks, pauses, intervals)


# ---- verification -----------------------------------------------------------------------------------------------


def _refusal(hearing_id: str, broken: ManifestBreak) -> ExportRefused:
    return ExportRefused(
        f"the recording of hearing {hearing_id} is broken at manifest entry {broken.seq} ({broken.reason.value}): "
        f"{broken.detail}. Check it with `hearing verify-recording {hearing_id}`; export anyway with --force "
        "(force=True), which leaves out what is missing or altered", broken)


def _checked(seg: Segment, data: bytes | None, force: bool) -> bytes | None:
    """The segment's bytes if they still match the manifest; else refuse (or, forced, leave the segment out)."""
    if data is not None and len(data) == seg.size and hashlib.sha256(data).hexdigest() == seg.sha256:
        return data
    if force:
        return None
    what = "is missing from the store" if data is None else "does not match its SHA-256/size"
    raise ExportRefused(f"segment {seg.key} (manifest entry {seg.seq}) {what}; it changed after the verification. "
                        "Check it with `hearing verify-recording`; export anyway with --force (force=True)")


def _thread_fetch(store: ObjectStore, loop: asyncio.AbstractEventLoop) -> Fetch:
    """A blocking fetch for the worker thread, run on the caller's event loop (the store is async)."""

    def fetch(key: str) -> bytes | None:
        try:
            return asyncio.run_coroutine_threadsafe(store.get(key), loop).result()
        except ObjectNotFound:
            return None

    return fetch


async def _load_verified(store: ObjectStore, hearing_id: str, *, force: bool, track_id: str | None = None,
                         ) -> tuple[RecordingSummary, ManifestBreak | None]:
    """Load the manifest and verify it (for one track: every link, and that track's segments' hashes)."""
    entries = await load(store, hearing_id)
    if not entries:
        raise ExportRefused(f"there is no recording of hearing {hearing_id} in the object store: a hearing is "
                            "recorded only while in session; check the hearing id")

    # One segment at a time, in a worker thread: fetching ahead would hold the whole recording in memory.
    if track_id is not None:  # every link, but only this track's segment hashes
        view: list[Any] = [e if e.type != "segment" or e.data.get("track_id") == track_id else _LinkOnly(e)
                           for e in entries]
    else:
        view = list(entries)
    broken = await asyncio.to_thread(verify, view, _thread_fetch(store, asyncio.get_running_loop()))
    if broken is not None and not force:
        raise _refusal(hearing_id, broken)
    return summarize(hearing_id, entries), broken



async def check_recording(store: ObjectStore, hearing_id: str, *, full: bool = False,
                          ) -> tuple[list[ManifestEntry], ManifestBreak | None]:
    """The manifest and its first break.  `full` recomputes every segment's SHA-256 (reads the whole recording);
    otherwise every link and hash of the chain is checked and each segment's presence and size come from one
    listing of the store — cheap enough for a page view, and an altered-but-same-size segment is still caught by
    `full`, `hearing verify-recording` and every export."""
    entries = await load(store, hearing_id)
    if full or not entries:
        loop = asyncio.get_running_loop()
        return entries, (await asyncio.to_thread(verify, entries, _thread_fetch(store, loop)) if entries else None)
    sizes = {o.key: o.size for o in await store.list(f"recordings/{hearing_id}/tracks/")}
    broken = verify([_LinkOnly(e) if e.type == "segment" else e for e in entries], lambda key: None)
    for e in entries:
        if broken is not None and e.seq >= broken.seq:
            break
        if e.type != "segment":
            continue
        key = str(e.data.get("key"))
        if key not in sizes:
            return entries, ManifestBreak(e.seq, BreakReason.SEGMENT_MISSING,
                                          f"segment {key} of manifest entry {e.seq} is missing from the store")
        if sizes[key] != e.data.get("size"):
            return entries, ManifestBreak(e.seq, BreakReason.SEGMENT_ALTERED,
                                          f"segment {key} of manifest entry {e.seq} does not match its size")
    return entries, broken

class _LinkOnly:
    """A segment entry seen as a non-segment one, so `verify` checks its link and hash but fetches nothing."""

    def __init__(self, entry: ManifestEntry) -> None:
        self._e = entry
        self.seq, self.hash, self.prev_hash = entry.seq, entry.hash, entry.prev_hash
        self.type = "segment-link"
        self.data = entry.data

    def body(self) -> dict[str, Any]:
        return self._e.body()


# ---- per-track download (remux) -----------------------------------------------------------------------------------


_TRACK_FORMATS = {"vp8": ("webm", "webm"), "opus": ("webm", "webm"), "h264": ("matroska", "mkv")}


def track_extension(codec: str) -> str:
    return _TRACK_FORMATS.get(codec, ("matroska", "mkv"))[1]


def _remux(segments: list[Segment], fetch: Fetch, out: BinaryIO | str, *, force: bool) -> int:
    """Concatenate the segments' packets into one container; returns the number of packets written."""
    fmt = _TRACK_FORMATS.get(segments[0].codec, ("matroska", "mkv"))[0]
    packets = 0
    with av.open(out, "w", format=fmt) as output:
        ostream: Any = None
        last_dts: int | None = None
        for seg in segments:
            data = _checked(seg, fetch(seg.key), force)
            if data is None:
                continue
            with av.open(io.BytesIO(data)) as source:
                istream = source.streams[0]
                if ostream is None:
                    ostream = output.add_stream_from_template(istream)
                    ostream.time_base = istream.time_base
                for packet in source.demux(istream):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    packet.stream = ostream
                    if last_dts is not None and packet.dts <= last_dts:
                        continue  # never overlaps in a sound recording; a forced export might
                    last_dts = packet.dts
                    output.mux(packet)
                    packets += 1
        if ostream is None:
            raise ExportRefused("none of the track's segments could be read; nothing to export")
    return packets


def _track_segments(summary: RecordingSummary, track_id: str) -> list[Segment]:
    info = summary.tracks.get(track_id)
    if info is None or not info.segments:
        known = ", ".join(sorted(summary.tracks)) or "none"
        raise ExportRefused(f"hearing {summary.hearing_id}'s recording has no track {track_id!r}; its tracks: {known}")
    return sorted(info.segments, key=lambda s: s.seq)


async def export_track(store: ObjectStore, hearing_id: str, track_id: str, *, force: bool = False) -> bytes:
    """One track as a single WebM (VP8/Opus) or Matroska (H.264) file, remuxed, in memory (API-sized tracks)."""
    buf = io.BytesIO()
    await export_track_to(store, hearing_id, track_id, buf, force=force)
    return buf.getvalue()


async def export_track_to(store: ObjectStore, hearing_id: str, track_id: str, out: BinaryIO | str | Path, *,
                          force: bool = False) -> ExportResult:
    """`export_track` into a file (path or binary file object), one segment in memory at a time."""
    summary, broken = await _load_verified(store, hearing_id, force=force, track_id=track_id)
    segments = _track_segments(summary, track_id)
    loop = asyncio.get_running_loop()
    target = str(out) if isinstance(out, Path) else out
    await asyncio.to_thread(_remux, segments, _thread_fetch(store, loop), target, force=force)
    return ExportResult(hearing_id, summary.in_session_us / US, track_extension(segments[0].codec), broken)


@dataclass(frozen=True, slots=True)
class ExportResult:
    hearing_id: str
    duration_s: float  # of the hearing in session (composite: the file's length)
    kind: str  # "mp4", or the track file's extension
    forced_over: ManifestBreak | None  # the break a forced export went past


# ---- the clock: a 5×7 bitmap font --------------------------------------------------------------------------------

_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "+": ("00000", "00100", "00100", "11111", "00100", "00100", "00000"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    " ": ("00000",) * 7,
}
_SCALE = 3
_PAD = 6


def _glyph(ch: str) -> np.ndarray:
    rows = _GLYPHS.get(ch, _GLYPHS[" "])
    bits = np.array([[c == "1" for c in row] for row in rows], dtype=bool)
    return np.kron(bits, np.ones((_SCALE, _SCALE), dtype=bool))


_GLYPH_MASKS = {ch: _glyph(ch) for ch in _GLYPHS}


def text_mask(text: str) -> np.ndarray:
    """A boolean image of `text` (digits, '-', '+', ':' and space) in the bitmap font."""
    gap = np.zeros((7 * _SCALE, _SCALE), dtype=bool)
    parts: list[np.ndarray] = []
    for ch in text:
        parts += [_GLYPH_MASKS.get(ch, _GLYPH_MASKS[" "]), gap]
    return np.hstack(parts[:-1]) if parts else np.zeros((7 * _SCALE, 0), dtype=bool)


def _burn(y: np.ndarray, u: np.ndarray, v: np.ndarray, mask: np.ndarray) -> None:
    """White text on a dark box in the bottom-right corner (even offsets keep the chroma planes aligned)."""
    h, w = mask.shape
    bh, bw = h + 2 * _PAD, w + 2 * _PAD
    bh += bh % 2
    bw += bw % 2
    top, left = HEIGHT - bh - 16, WIDTH - bw - 16
    box = y[top:top + bh, left:left + bw]
    box[:] = 16
    box[_PAD:_PAD + h, _PAD:_PAD + w][mask] = 235
    u[top // 2:(top + bh) // 2, left // 2:(left + bw) // 2] = 128
    v[top // 2:(top + bh) // 2, left // 2:(left + bw) // 2] = 128


# ---- composition --------------------------------------------------------------------------------------------------


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    return cols, rows


def _even(x: float) -> int:
    return max(2, int(x) // 2 * 2)


class _VideoTrack:
    """A video track's frames in order, decoded one segment at a time; `at(t)` = the frame showing at wall time t."""

    def __init__(self, segments: list[Segment], fetch: Fetch, tile: tuple[int, int], force: bool) -> None:
        self._frames = self._decode(segments, fetch, force)
        self._tile = tile
        self._current: tuple[int, int, Any] | None = None  # (time, segment end, frame)
        self._next = next(self._frames, None)
        self._image: tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None = None
        self._image_of: int | None = None

    @staticmethod
    def _decode(segments: list[Segment], fetch: Fetch, force: bool) -> Iterator[tuple[int, int, Any]]:
        for seg in segments:
            data = _checked(seg, fetch(seg.key), force)
            if data is None:
                continue
            try:
                with av.open(io.BytesIO(data)) as container:
                    for frame in container.decode(video=0):
                        if frame.time is None:
                            continue
                        yield seg.epoch_us + round(frame.time * US), seg.end_abs_us, frame
            except av.FFmpegError:
                if not force:
                    raise ExportRefused(f"segment {seg.key} (manifest entry {seg.seq}) does not decode although "
                                        "its hash matches; export anyway with --force (force=True)") from None

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
        while self._next is not None and self._next[0] <= t:
            self._current, self._next = self._next, next(self._frames, None)
        cur = self._current
        if cur is None or t >= cur[1]:
            return None  # before the track's first frame, or in a gap after its segment ended
        if self._image_of != cur[0]:
            self._image, self._image_of = self._fit(cur[2]), cur[0]
        return self._image

    def _fit(self, frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        tw, th = self._tile
        scale = min(tw / max(frame.width, 1), th / max(frame.height, 1))
        w, h = min(_even(frame.width * scale), tw), min(_even(frame.height * scale), th)
        arr = frame.reformat(width=w, height=h, format="yuv420p").to_ndarray()
        y = arr[:h]
        u = arr[h:h + h // 4].reshape(h // 2, w // 2)
        v = arr[h + h // 4:h + h // 2].reshape(h // 2, w // 2)
        return y, u, v, w, h


class _AudioTrack:
    """An audio track as 48 kHz stereo float samples on wall-clock sample positions; `read` is monotonic."""

    def __init__(self, segments: list[Segment], fetch: Fetch, force: bool) -> None:
        self._chunks = self._decode(segments, fetch, force)
        self._pending: list[tuple[int, np.ndarray]] = []
        self._done = False

    @staticmethod
    def _decode(segments: list[Segment], fetch: Fetch, force: bool) -> Iterator[tuple[int, np.ndarray]]:
        for seg in segments:
            data = _checked(seg, fetch(seg.key), force)
            if data is None:
                continue
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
            try:
                with av.open(io.BytesIO(data)) as container:
                    pos: int | None = None
                    for frame in container.decode(audio=0):
                        if frame.time is not None:
                            pos = round((seg.epoch_us + frame.time * US) * SAMPLE_RATE / US)
                        if pos is None:
                            continue
                        for out in resampler.resample(frame):
                            arr = out.to_ndarray().astype(np.float32, copy=False)
                            yield pos, arr
                            pos += arr.shape[1]
            except av.FFmpegError:
                if not force:
                    raise ExportRefused(f"segment {seg.key} (manifest entry {seg.seq}) does not decode although "
                                        "its hash matches; export anyway with --force (force=True)") from None

    def read(self, start: int, n: int, into: np.ndarray) -> None:
        """Add samples [start, start+n) (wall-clock sample positions) into `into` (2×n); silence where none."""
        end = start + n
        while not self._done and (not self._pending or self._pending[-1][0] + self._pending[-1][1].shape[1] < end):
            item = next(self._chunks, None)
            if item is None:
                self._done = True
            else:
                self._pending.append(item)
        keep = []
        for pos, arr in self._pending:
            stop = pos + arr.shape[1]
            if stop <= start:
                continue
            keep.append((pos, arr))
            lo, hi = max(pos, start), min(stop, end)
            if lo < hi:
                into[:, lo - start:hi - start] += arr[:, lo - pos:hi - pos]
        self._pending = keep


class _Limiter:
    """Keeps the mix under full scale: instant attack, ~0.5 s release, so speech is not pumped."""

    def __init__(self) -> None:
        self.gain = 1.0

    def __call__(self, block: np.ndarray) -> np.ndarray:
        peak = float(np.max(np.abs(block))) if block.size else 0.0
        target = min(1.0, 0.98 / peak) if peak > 0 else 1.0
        release = 1.0 - math.exp(-block.shape[1] / (0.5 * SAMPLE_RATE))
        self.gain = target if target < self.gain else self.gain + (target - self.gain) * release
        return np.clip(block * self.gain, -1.0, 1.0)


class _Timeline:
    """Output time (µs from the file's start) ↔ wall-clock time, skipping the pauses."""

    def __init__(self, intervals: list[tuple[int, int]]) -> None:
        self.intervals = intervals
        self.offsets = [0]
        for a, b in intervals:
            self.offsets.append(self.offsets[-1] + (b - a))
        self.total_us = self.offsets[-1]

    def wall(self, out_us: int) -> int:
        i = min(max(bisect.bisect_right(self.offsets, out_us) - 1, 0), len(self.intervals) - 1)
        return self.intervals[i][0] + (out_us - self.offsets[i])

    def pieces(self, out_start: int, n: int) -> Iterator[tuple[int, int, int]]:
        """Output samples [out_start, out_start+n) as (offset in block, wall-clock sample position, count)."""
        done = 0
        while done < n:
            out_us = (out_start + done) * US // SAMPLE_RATE
            i = bisect.bisect_right(self.offsets, out_us) - 1
            if i >= len(self.intervals):
                return
            a = self.intervals[i][0] * SAMPLE_RATE // US
            left_in_interval = max(1, (self.offsets[i + 1] * SAMPLE_RATE // US) - (out_start + done))
            count = min(n - done, left_in_interval)
            yield done, a + (out_start + done) - self.offsets[i] * SAMPLE_RATE // US, count
            done += count


def _compose(summary: RecordingSummary, fetch: Fetch, out_path: str, *, tz: ZoneInfo, fps: int, force: bool,
             progress: Progress | None, preset: str, crf: int) -> None:
    timeline = _Timeline(summary.intervals)
    if timeline.total_us <= 0:
        raise ExportRefused(f"the recording of hearing {summary.hearing_id} has no time in session to export")
    ordered = sorted(summary.tracks.values(), key=lambda t: (t.segments[0].start_abs_us, t.track_id))
    video_infos = [t for t in ordered if t.kind == "video"]
    audio_infos = [t for t in ordered if t.kind == "audio"]
    cols, rows = _grid(len(video_infos))
    cell_w, cell_h = WIDTH // cols, HEIGHT // rows
    tile = (_even(cell_w), _even(cell_h))
    videos = [_VideoTrack(sorted(t.segments, key=lambda s: s.seq), fetch, tile, force) for t in video_infos]
    audios = [_AudioTrack(sorted(t.segments, key=lambda s: s.seq), fetch, force) for t in audio_infos]
    total_frames = max(1, math.ceil(timeline.total_us * fps / US))
    total_samples = timeline.total_us * SAMPLE_RATE // US
    limiter = _Limiter()
    clock_cache: tuple[str, np.ndarray] | None = None

    with av.open(out_path, "w", format="mp4", options={"movflags": "+faststart"}) as output:
        vstream = output.add_stream("libx264", rate=fps, options={"preset": preset, "crf": str(crf)})
        vstream.width, vstream.height, vstream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        astream = output.add_stream("aac", rate=SAMPLE_RATE, layout="stereo", options={"b": "128k"})
        sample_pos = 0
        for i in range(total_frames):
            out_us = i * US // fps
            wall = timeline.wall(out_us)
            y = np.full((HEIGHT, WIDTH), 16, dtype=np.uint8)
            u = np.full((HEIGHT // 2, WIDTH // 2), 128, dtype=np.uint8)
            v = np.full((HEIGHT // 2, WIDTH // 2), 128, dtype=np.uint8)
            for n, track in enumerate(videos):
                image = track.at(wall)
                if image is None:
                    continue
                ty, tu, tv, w, h = image
                top = (n // cols) * cell_h + (cell_h - h) // 2 // 2 * 2
                left = (n % cols) * cell_w + (cell_w - w) // 2 // 2 * 2
                y[top:top + h, left:left + w] = ty
                u[top // 2:top // 2 + h // 2, left // 2:left // 2 + w // 2] = tu
                v[top // 2:top // 2 + h // 2, left // 2:left // 2 + w // 2] = tv
            text = datetime.fromtimestamp(wall / US, tz).strftime("%Y-%m-%d %H:%M:%S")
            if clock_cache is None or clock_cache[0] != text:
                clock_cache = (text, text_mask(text))
            _burn(y, u, v, clock_cache[1])
            frame = av.VideoFrame.from_ndarray(
                np.concatenate([y, u.reshape(HEIGHT // 4, WIDTH), v.reshape(HEIGHT // 4, WIDTH)]), format="yuv420p")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            output.mux(vstream.encode(frame))
            # audio up to the end of this video frame, in AAC-sized blocks
            until = min(total_samples, (i + 1) * SAMPLE_RATE // fps)
            while sample_pos < until:
                n = min(AAC_FRAME, total_samples - sample_pos)
                block = np.zeros((2, n), dtype=np.float32)
                for offset, wall_pos, count in timeline.pieces(sample_pos, n):
                    piece = np.zeros((2, count), dtype=np.float32)
                    for track in audios:
                        track.read(wall_pos, count, piece)
                    block[:, offset:offset + count] = piece
                aframe = av.AudioFrame.from_ndarray(limiter(block), format="fltp", layout="stereo")
                aframe.sample_rate = SAMPLE_RATE
                aframe.pts = sample_pos
                aframe.time_base = fractions.Fraction(1, SAMPLE_RATE)
                output.mux(astream.encode(aframe))
                sample_pos += n
            if progress is not None:
                progress((i + 1) / total_frames)
        output.mux(vstream.encode(None))
        output.mux(astream.encode(None))


async def export_mp4(store: ObjectStore, hearing_id: str, out_path: str | Path, *, court_timezone: str,
                     fps: int = 25, force: bool = False, progress: Progress | None = None,
                     preset: str = "veryfast", crf: int = 23) -> ExportResult:
    """Compose the whole recording into one H.264/AAC MP4 at `out_path` (see the module docstring).

    Raises ExportRefused (naming the break) for a broken recording unless `force`.  `progress(fraction)` is called
    from a worker thread after each output frame; the event loop stays free (it serves the segment fetches).
    """
    tz = ZoneInfo(court_timezone)
    summary, broken = await _load_verified(store, hearing_id, force=force)
    if not summary.tracks:
        raise ExportRefused(f"the recording of hearing {hearing_id} has no segments yet; nothing to export")
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(_compose, summary, _thread_fetch(store, loop), str(out_path), tz=tz, fps=fps,
                            force=force, progress=progress, preset=preset, crf=crf)
    return ExportResult(hearing_id, summary.in_session_us / US, "mp4", broken)


def wall_time(us: int) -> datetime:
    """Epoch microseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(us / US, UTC)
