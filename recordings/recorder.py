"""Per-track recorder for the SFU's packet path, and the hearing-level recording that chains their segments.

Why a worker thread: `TrackRecorder.on_rtp` is called from `PublishedTrack.on_packet` on the event loop for every
packet, so it only appends (bytes, arrival time) to a bounded deque — tens of nanoseconds, no lock unless the
worker sleeps.  Depacketizing, PyAV muxing, hashing and fsync run on the track's worker thread; closed segments
are moved into the spool there too, and only the manifest append and the spool enqueue hop back onto the loop
(`call_soon_threadsafe`), where the hearing's single `ManifestChain` lives, so entries of all tracks form one
chain without locks.  A full deque drops packets (counted in `overflow`): the forwarding path must never wait
for the disk.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from recordings.depacketize import FrameAssembler
from recordings.manifest import ManifestChain, ManifestEntry, entry_key, segment_key, to_json
from recordings.segment_writer import CONTAINERS, ClosedSegment, SegmentWriter, TrackClock
from recordings.spool import Spool, SpoolItem

__all__ = ["HearingRecording", "TrackRecorder"]

log = logging.getLogger(__name__)
_PAUSE = object()
BATCH_INTERVAL = 0.05
"""The worker drains the packet queue every 50 ms instead of being woken per packet: a thread wake-up per packet
(and the GIL hand-over it forces on the event loop) cost more CPU than the remuxing itself. Pause and stop still
wake it at once."""
_STOP = object()


class HearingRecording:
    """One hearing's recording: the manifest chain (loop thread only) and the spool all tracks upload through."""

    def __init__(self, hearing_id: str, spool: Spool, *, recording_start: float | None = None,
                 chain: ManifestChain | None = None) -> None:
        self.hearing_id = hearing_id
        self.spool = spool
        self.recording_start = time.time() if recording_start is None else recording_start
        self.chain = chain or ManifestChain(hearing_id)
        # The seq this recording's first entry takes: unique in the hearing's chain (which continues across
        # restarts), so it tells this recording's segment keys apart from those of an earlier process.
        self.run = self.chain.last_seq + 1
        self._attachments: dict[str, int] = {}  # track id -> recorders made for it (a republished track)
        self.tracks: list[TrackRecorder] = []
        self.on_entry: Callable[[ManifestEntry], None] | None = None  # e.g. persist the chain head

    def _at_us(self, now: float | None = None) -> int:
        return round(((time.time() if now is None else now) - self.recording_start) * 1_000_000)

    def _append_entry(self, entry_type: str, data: dict[str, object]) -> None:
        entry = self.chain.append(entry_type, data)
        item = self.spool.add_bytes_sync(entry_key(self.hearing_id, entry.seq), to_json(entry),
                                         content_type="application/json")
        if self.on_entry is not None:
            self.on_entry(entry)
        self.spool.enqueue(item)

    def start(self, actor_id: str) -> None:
        self._append_entry("start", {"actor_id": actor_id, "recording_start_us": round(self.recording_start * 1e6)})

    def segment_closed(self, seg: ClosedSegment, item: SpoolItem) -> None:
        """Loop thread: the segment file is already committed to the spool; queue it, then chain its entry."""
        self.spool.enqueue(item)
        self._append_entry("segment", {
            "key": item.key, "track_id": seg.track_id, "kind": seg.kind, "codec": seg.codec, "index": seg.index,
            "start_us": round(seg.start_time * 1e6), "end_us": round(seg.end_time * 1e6), "size": seg.size,
            "sha256": seg.sha256, "starts_with_keyframe": seg.starts_with_keyframe,
        })

    def pause(self, reason: str, actor_id: str) -> None:
        for t in self.tracks:
            t.pause()
        self._append_entry("pause", {"reason": reason, "actor_id": actor_id, "at_us": self._at_us()})

    def resume(self, reason: str, actor_id: str) -> None:
        self._append_entry("resume", {"reason": reason, "actor_id": actor_id, "at_us": self._at_us()})
        for t in self.tracks:
            t.resume()

    async def stop(self, actor_id: str) -> None:
        """Close every track's open segment, chain them, then the stop entry.

        The stop's time is taken before the segments close, as a pause's is: from then on no packet is recorded.
        Taken after, it also counted the closing (a frame's wait in each worker, fsyncs, spooling; ~0.5 s on a busy
        machine), time in session that no track could have recorded."""
        at_us = self._at_us()
        await asyncio.gather(*(t.stop() for t in self.tracks))
        self._append_entry("stop", {"actor_id": actor_id, "at_us": at_us})


class TrackRecorder:
    """Assembler + segment writer + spool hand-off for one published track; feed it with `on_rtp`."""

    def __init__(self, recording: HearingRecording, track_id: str, codec: str, clock_rate: int, work_dir: Path,
                 *, target_duration: float = 2.0, request_keyframe: Callable[[], None] | None = None,
                 max_queue: int = 4096) -> None:
        codec = codec.lower()
        if codec not in CONTAINERS:
            raise ValueError(f"cannot record codec {codec!r}: supported are {', '.join(sorted(CONTAINERS))}")
        self.recording = recording
        self.track_id = track_id
        self.codec = codec
        self.clock_rate = clock_rate
        self.work_dir = Path(work_dir)
        self.target_duration = target_duration
        self._request_keyframe = request_keyframe
        self._loop = asyncio.get_running_loop()
        self._dq: collections.deque[object] = collections.deque()
        self._max = max_queue
        self._wake = threading.Event()
        self._paused = False
        self._done = self._loop.create_future()
        self.overflow = 0
        self.errors = 0
        self.assembler = FrameAssembler(codec)
        self.writer: SegmentWriter | None = None
        self.tap: Callable[[bytes], None] | None = None  # the function registered on the forwarded track
        # Segment indices restart at 0 with every recorder, so the key also names the recorder: without it a
        # restarted process (or a track published again) overwrote the segments already in the store.
        n = recording._attachments.get(track_id, 0)
        recording._attachments[track_id] = n + 1
        self.run = f"{recording.run:08d}" + (f".{n}" if n else "")
        self._thread = threading.Thread(target=self._work, name=f"recorder:{track_id}", daemon=True)
        self._thread.start()
        recording.tracks.append(self)

    # -- hot path (event loop) ---------------------------------------------------------------------------

    def on_rtp(self, data: bytes, now: float) -> None:
        """Called per decrypted RTP packet of the track; never blocks."""
        if self._paused:
            return
        dq = self._dq
        if len(dq) >= self._max:
            self.overflow += 1
            return
        dq.append((data, now))  # no wake-up per packet: the worker drains in batches (see BATCH_INTERVAL)

    # -- control (event loop) ----------------------------------------------------------------------------

    def pause(self) -> None:
        self._paused = True
        self._dq.append(_PAUSE)
        self._wake.set()

    def resume(self) -> None:
        self._paused = False

    async def stop(self) -> None:
        self._paused = True
        self._dq.append(_STOP)
        self._wake.set()
        await self._done

    # -- worker thread -----------------------------------------------------------------------------------

    def _ask_keyframe(self) -> None:
        if self._request_keyframe is not None:
            self._loop.call_soon_threadsafe(self._request_keyframe)

    def _spool(self, seg: ClosedSegment) -> None:
        key = segment_key(self.recording.hearing_id, seg.track_id, seg.index, CONTAINERS[seg.codec][2], self.run)
        item = self.recording.spool.add_file_sync(key, seg.path, sha256=seg.sha256)
        self._loop.call_soon_threadsafe(self.recording.segment_closed, seg, item)

    def _work(self) -> None:
        dq = self._dq
        while True:
            self._wake.wait(BATCH_INTERVAL)
            self._wake.clear()
            while dq:
                msg = dq.popleft()
                try:
                    if msg is _STOP or msg is _PAUSE:
                        for f in self.assembler.flush():
                            self._write(f)
                        if self.writer is not None:
                            seg = self.writer.close()
                            if seg is not None:
                                self._spool(seg)
                        if msg is _STOP:
                            self._loop.call_soon_threadsafe(self._done.set_result, None)
                            return
                        continue
                    data, now = msg  # type: ignore[misc]
                    if self.writer is None:
                        self._open_writer(data, now)
                    for f in self.assembler.push(data):
                        self._write(f)
                except Exception:  # a recorder bug must not kill the thread silently; the packet is lost
                    self.errors += 1
                    log.exception("recorder %s: failed on a packet; recording continues", self.track_id)

    def _open_writer(self, data: bytes, now: float) -> None:
        if len(data) < 12:
            return
        rtp_ts = struct.unpack_from("!I", data, 4)[0]  # the assembler extends from this first value too
        clock = TrackClock(self.clock_rate, rtp_ts, now, self.recording.recording_start)
        self.writer = SegmentWriter(self.work_dir, self.track_id, self.codec, clock,
                                    target_duration=self.target_duration, request_keyframe=self._ask_keyframe)

    def _write(self, frame: object) -> None:
        if self.writer is None:
            return
        for seg in self.writer.write(frame):  # type: ignore[arg-type]
            self._spool(seg)
