"""Start-up clean-up of what a killed recorder left in its work directory, before any recording starts.

A segment goes ``<work>/segments/<track>-<index>.<ext>.part`` (being written) → renamed without ``.part`` once
closed and fsync'ed → moved into the spool, and only then chained into the manifest (`TrackRecorder._spool`). A
SIGKILL can leave two kinds of file behind, which the spool's `recover()` never sees:

- ``*.part``: the segment open at the kill, an unfinished container never hashed. The issue allows losing it
  ("at most the current segment"), so it is removed, with a warning naming it and its size. Its name would also
  be reused: the next recorder of the same track starts again at index 0.
- a closed segment: complete and fsync'ed, but killed before it reached the spool, so no manifest entry names it.
  It is *not* chained now: an entry appended after a restart would vouch, under a later sequence number and a
  fresh hash, for bytes nobody attested while recording (and the file does not even say which hearing it belongs
  to). Deleting it would destroy a complete piece of media that may matter to a court. So it is moved to a
  quarantine folder with a JSON note (SHA-256 and size now, when it was closed, the track and index from its
  name, its time range) and logged for an operator, who can match it to a hearing by track id and time. It is not
  part of any recording; verify and export never see it. Left in place it would also be overwritten by a new
  segment of the same name.

Interrupted chain-head writes (``<work>/heads/*.tmp-*``) are removed too; the head itself is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av

from recordings.durable import fsync_dir, write_atomically
from recordings.segment_writer import CONTAINERS

__all__ = ["Leftovers", "recover_leftovers"]

log = logging.getLogger("hearing.recordings")

_EXTENSIONS = "|".join(sorted({re.escape(ext) for _name, _fmt, ext, _kind in CONTAINERS.values()}))
_CLOSED = re.compile(rf"^(?P<track_id>.+)-(?P<index>\d{{6}})\.(?:{_EXTENSIONS})$")


@dataclass
class Leftovers:
    """What `recover_leftovers` did: paths removed, and the quarantined segments' new paths."""

    removed: list[Path] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _time_range(path: Path) -> tuple[float, float] | None:
    """First pts and last pts + duration, in seconds from that recording's start (None if unreadable)."""
    try:
        with av.open(str(path)) as container:
            lo = hi = None
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                start = float(packet.pts * packet.time_base)
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                lo = start if lo is None else min(lo, start)
                hi = end if hi is None else max(hi, end)
            return None if lo is None or hi is None else (lo, hi)
    except (OSError, av.FFmpegError):
        return None


def _free_name(directory: Path, name: str) -> Path:
    target = directory / name
    n = 1
    while target.exists() or target.with_name(target.name + ".json").exists():
        target = directory / f"{name}.{n}"
        n += 1
    return target


def _quarantine(path: Path, quarantine_dir: Path, match: re.Match[str]) -> Path:
    """Move a closed, never-chained segment into quarantine and write its note; returns its new path."""
    st = path.stat()
    note = {
        "what": "a closed recording segment that was never spooled nor chained into a manifest: the process "
                "stopped between closing it and spooling it. It is NOT part of any recording.",
        "original_path": str(path),
        "found_at": _iso(datetime.now(UTC).timestamp()),
        "closed_at": _iso(st.st_mtime),
        "track_id": match["track_id"],
        "index": int(match["index"]),
        "size": st.st_size,
        "sha256": _sha256(path),
    }
    span = _time_range(path)
    if span is not None:  # pts are relative to the start of the recording that wrote it
        note["start_s"], note["end_s"] = round(span[0], 6), round(span[1], 6)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _free_name(quarantine_dir, f"{stamp}-{path.name}")
    os.replace(path, target)  # same filesystem (both under the recordings directory): atomic
    fsync_dir(quarantine_dir)
    fsync_dir(path.parent)
    write_atomically(target.with_name(target.name + ".json"), json.dumps(note, indent=2).encode())
    return target


def recover_leftovers(work_dir: Path, quarantine_dir: Path) -> Leftovers:
    """Clean `work_dir` (a `RoomRecorder`'s) after an unclean stop; call at start-up, before any recording.

    Blocking (hashing, fsync): run it in a thread from async code. Never deletes a complete segment: if one cannot
    be quarantined it stays where it is, logged, and is found again at the next start.
    """
    done = Leftovers()
    segments = Path(work_dir) / "segments"
    for path in sorted(segments.iterdir()) if segments.is_dir() else []:
        if not path.is_file():
            continue
        if path.name.endswith(".part"):
            size = path.stat().st_size
            path.unlink(missing_ok=True)
            done.removed.append(path)
            log.warning("recording: removed %s (%d bytes), the segment being written when the process stopped; "
                        "it was never closed nor chained, and is the part of the recording that is lost",
                        path.name, size)
            continue
        match = _CLOSED.match(path.name)
        if match is None:
            log.warning("recording: unexpected file %s in the recorder's work directory; left in place", path)
            continue
        try:
            target = _quarantine(path, Path(quarantine_dir), match)
        except OSError as exc:
            log.error("recording: closed segment %s was never chained into a manifest and could not be moved to "
                      "%s (%s); left in place, move it out before recording this track again", path,
                      quarantine_dir, exc)
            continue
        done.quarantined.append(target)
        log.warning("recording: closed segment %s (track %s) was never chained into a manifest (the process stopped "
                    "before spooling it); kept in %s with a note for an operator, NOT part of the recording",
                    path.name, match["track_id"], target)
    heads = Path(work_dir) / "heads"
    for tmp in sorted(heads.glob("*.tmp-*")) if heads.is_dir() else []:
        tmp.unlink(missing_ok=True)  # an interrupted write_atomically: the head it replaced is intact
        done.removed.append(tmp)
    if done.removed and segments.is_dir():
        fsync_dir(segments)
    return done
