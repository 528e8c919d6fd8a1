"""Recording a room: a tap on each published track's forwarding path feeds one `TrackRecorder` per track.

The SFU tells this object (a `media.sfu.TrackListener`) when tracks come and go; while a room is being recorded
every track gets a tap — the decrypted RTP bytes the SFU forwards anyway, so recording decodes nothing and costs
the forwarding path one deque append per packet. Who decides when a room is recorded (the procedure) is not this
module's business: hearing/ calls start / pause / resume / stop.

The manifest chain must never fork, even across a restart or an object-store outage: its head (seq, hash) is
kept in a small file next to the spool, updated with every entry, and a new recording of the same hearing
continues from the furthest of that file, the entries already in the store and those still in the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from media.sfu import Sfu
from media.tracks import PublishedTrack
from recordings.durable import write_atomically
from recordings.manifest import GENESIS_HASH, ManifestChain, ManifestEntry, from_json, load, manifest_prefix
from recordings.objectstore import ObjectStoreError
from recordings.recorder import HearingRecording, TrackRecorder
from recordings.segment_writer import CONTAINERS
from recordings.spool import Spool

log = logging.getLogger("hearing.recordings")


@dataclass
class _RoomSession:
    room_id: str
    recording: HearingRecording
    paused: bool = False
    tracks: dict[str, tuple[PublishedTrack, TrackRecorder]] = field(default_factory=dict)
    # Set while the open segments close and the stop entry is chained. The session stays in `sessions` until
    # then, so "not in sessions" means the whole recording is in the spool, and a start meanwhile waits for it
    # (two recordings of one hearing continuing from the same chain head would fork the manifest).
    stopped: asyncio.Future[None] | None = None


class RoomRecorder:
    """Start, pause, resume and stop recording rooms; one spool (and uploader) for all of them."""

    def __init__(self, sfu: Sfu, spool: Spool, work_dir: Path, *, segment_seconds: float = 2.0) -> None:
        self.sfu = sfu
        self.spool = spool
        self.work_dir = Path(work_dir)
        self.heads_dir = self.work_dir / "heads"
        self.heads_dir.mkdir(parents=True, exist_ok=True)
        self.segment_seconds = segment_seconds
        self.sessions: dict[str, _RoomSession] = {}
        # One start at a time per room: two participants reconnecting together after a restart both ask for the
        # recording, and a second session opened while the first awaits its chain would fork the manifest.
        # (A lock per room ever recorded here: a few hundred bytes each, kept so that no start slips between two.)
        self._starting: dict[str, asyncio.Lock] = {}
        sfu.track_listeners.append(self)

    def is_recording(self, room_id: str) -> bool:
        session = self.sessions.get(room_id)
        return session is not None and not session.paused and session.stopped is None

    def _live(self, room_id: str) -> _RoomSession | None:
        """The room's session unless it is stopping."""
        session = self.sessions.get(room_id)
        return session if session is not None and session.stopped is None else None

    # ---- control ------------------------------------------------------------------------------------------

    async def start(self, room_id: str, hearing_id: str, actor_id: str) -> None:
        """Begin (or, if paused, resume) recording the room; the manifest continues any earlier chain."""
        async with self._starting.setdefault(room_id, asyncio.Lock()):
            await self._start(room_id, hearing_id, actor_id)

    async def _start(self, room_id: str, hearing_id: str, actor_id: str) -> None:
        session = self.sessions.get(room_id)
        if session is not None and session.stopped is not None:
            await asyncio.shield(session.stopped)  # let the previous recording finish its chain first
            session = self.sessions.get(room_id)
        if session is not None:
            if session.paused and session.stopped is None:
                self.resume(room_id, "resumed", actor_id)
            return
        chain = await self._chain_for(hearing_id)
        recording = HearingRecording(hearing_id, self.spool, chain=chain)
        recording.on_entry = self._save_head
        session = _RoomSession(room_id, recording)
        self.sessions[room_id] = session
        recording.start(actor_id)
        for track in self.sfu.tracks_of(room_id):
            self._attach(session, track)
        log.info("recording started", extra={"room": room_id, "hearing": hearing_id})

    def pause(self, room_id: str, reason: str, actor_id: str) -> None:
        session = self._live(room_id)
        if session is None or session.paused:
            return
        session.paused = True
        session.recording.pause(reason, actor_id)

    def resume(self, room_id: str, reason: str, actor_id: str) -> None:
        session = self._live(room_id)
        if session is None or not session.paused:
            return
        session.paused = False
        session.recording.resume(reason, actor_id)

    async def stop(self, room_id: str, actor_id: str) -> None:
        """Close the open segments and chain the stop entry; returns once all of it is in the spool."""
        session = self.sessions.get(room_id)
        if session is None:
            return
        if session.stopped is not None:
            await asyncio.shield(session.stopped)
            return
        session.stopped = asyncio.get_running_loop().create_future()
        try:
            for track, recorder in session.tracks.values():
                with contextlib.suppress(ValueError):
                    track.taps.remove(recorder.tap)
            await session.recording.stop(actor_id)
        finally:
            if self.sessions.get(room_id) is session:
                del self.sessions[room_id]
            session.stopped.set_result(None)
        log.info("recording stopped", extra={"room": room_id, "hearing": session.recording.hearing_id})

    async def close(self) -> None:
        """Shutdown: close every open segment (they are spooled, and uploaded now or at the next start)."""
        for room_id in list(self.sessions):
            await self.stop(room_id, "system")

    # ---- the SFU's track events ---------------------------------------------------------------------------

    def track_added(self, room_id: str, track: PublishedTrack) -> None:
        session = self._live(room_id)
        if session is not None:
            self._attach(session, track)

    def track_removed(self, room_id: str, track: PublishedTrack) -> None:
        session = self._live(room_id)
        if session is None or track.track_id not in session.tracks:
            return
        _, recorder = session.tracks.pop(track.track_id)
        with contextlib.suppress(ValueError):
            track.taps.remove(recorder.tap)
        task = asyncio.get_running_loop().create_task(recorder.stop(), name=f"recorder-stop-{track.track_id}")
        task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or log.error(
            "closing a track's recording failed", exc_info=t.exception()))

    def _attach(self, session: _RoomSession, track: PublishedTrack) -> None:
        codec = track.codec.name.lower()
        if codec not in CONTAINERS or track.track_id in session.tracks:
            if codec not in CONTAINERS:
                log.warning("track not recorded: codec unsupported", extra={"track": track.track_id, "codec": codec})
            return
        recorder = TrackRecorder(session.recording, track.track_id, codec, track.codec.clock_rate,
                                 self.work_dir / "segments", target_duration=self.segment_seconds,
                                 request_keyframe=lambda: self.sfu.request_keyframe(track))
        wall = time.time
        on_rtp = recorder.on_rtp

        def tap(data: bytes) -> None:
            on_rtp(data, wall())

        recorder.tap = tap
        track.taps.append(tap)
        session.tracks[track.track_id] = (track, recorder)
        if session.paused:
            recorder.pause()
        if track.kind == "video":
            self.sfu.request_keyframe(track)  # a segment starts on a keyframe: do not wait for the next GOP

    # ---- the chain head -----------------------------------------------------------------------------------

    def _head_path(self, hearing_id: str) -> Path:
        return self.heads_dir / f"{hearing_id}.json"

    def _save_head(self, entry: ManifestEntry) -> None:
        write_atomically(self._head_path(entry.hearing_id),
                         json.dumps({"seq": entry.seq, "hash": entry.hash}).encode())

    async def _chain_for(self, hearing_id: str) -> ManifestChain:
        seq, head = 0, GENESIS_HASH
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            saved = json.loads(self._head_path(hearing_id).read_text(encoding="utf-8"))
            seq, head = int(saved["seq"]), str(saved["hash"])
        known: list[ManifestEntry] = []
        try:
            known = await load(self.spool.store, hearing_id)
        except ObjectStoreError as exc:
            log.warning("object store unreachable while resuming a manifest; using the local chain head: %s", exc)
        for item in self.spool.pending_items(manifest_prefix(hearing_id)):
            with contextlib.suppress(OSError, ValueError):
                known.append(from_json(item.data_path.read_bytes()))
        for entry in known:
            if entry.seq > seq:
                seq, head = entry.seq, entry.hash
        return ManifestChain(hearing_id, last_seq=seq, last_hash=head)
