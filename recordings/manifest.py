"""The recording manifest of a hearing: a hash chain of entries (start, segment, pause, resume, stop).

Same construction as the audit log (docket/audit.py): each entry's hash is SHA-256 over the canonical JSON (keys
sorted, no spaces, UTF-8) of all its fields *including the previous entry's hash*; entry 1 points at
`GENESIS_HASH`.  Values are strings, integers, booleans, null, lists and objects only — times are integer
microseconds, never floats, so the canonical form is the same in any language (RFC 8785 for these types).

Storage: one object per entry, ``recordings/<hearing_id>/manifest/<seq:08d>.json``, not one growing
``manifest.jsonl``.  Object stores cannot append: a single manifest object would be rewritten with every
segment (quadratic bytes, and a lost or reordered rewrite silently drops entries already acknowledged), while
an entry object is written once, its put is idempotent (same seq → same bytes, so retries after a crash are
harmless) and a crash can only leave the chain *short* — which `verify` reports as the point where it ends.
`to_jsonl` renders the whole chain as JSON lines for export once the recording is stopped.

The chain logic (`ManifestChain`, `verify`) is pure; `load`/`verify_store` are the thin object-store shell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from recordings.objectstore import ObjectNotFound, ObjectStore

__all__ = [
    "ENTRY_TYPES",
    "GENESIS_HASH",
    "BreakReason",
    "ManifestBreak",
    "ManifestChain",
    "ManifestEntry",
    "canonical_json",
    "entry_hash",
    "entry_key",
    "from_json",
    "load",
    "manifest_prefix",
    "segment_key",
    "to_json",
    "to_jsonl",
    "verify",
    "verify_store",
]

GENESIS_HASH = "0" * 64
ENTRY_TYPES = frozenset({"start", "segment", "pause", "resume", "stop"})


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"manifest field {path}.{key!r}: keys must be strings")
            _check(item, f"{path}.{key}")
        return
    raise ValueError(f"manifest field {path} is a {type(value).__name__}; use str, int, bool, None, list or dict "
                     "(times as integer microseconds: floats print differently across languages)")


def manifest_prefix(hearing_id: str) -> str:
    return f"recordings/{hearing_id}/manifest/"


def entry_key(hearing_id: str, seq: int) -> str:
    return f"{manifest_prefix(hearing_id)}{seq:08d}.json"


def segment_key(hearing_id: str, track_id: str, index: int, ext: str, run: str = "") -> str:
    """`run` names one recorder of the track (see `TrackRecorder.run`): a restarted or re-attached recorder counts
    its segments from 0 again and must not overwrite the segments of the previous one."""
    name = f"{run}-{index:06d}" if run else f"{index:06d}"
    return f"recordings/{hearing_id}/tracks/{track_id}/{name}.{ext}"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    seq: int
    type: str  # one of ENTRY_TYPES
    hearing_id: str
    at: str  # wall-clock time of writing, ISO 8601 UTC
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "hearing_id": self.hearing_id, "at": self.at,
                "data": self.data, "prev_hash": self.prev_hash}


def entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def to_json(entry: ManifestEntry) -> bytes:
    return canonical_json({**entry.body(), "hash": entry.hash}).encode()


def from_json(raw: bytes) -> ManifestEntry:
    """Parse a stored entry (does not check its hash: that is `verify`'s job). Raises ValueError."""
    try:
        d = json.loads(raw)
        return ManifestEntry(int(d["seq"]), str(d["type"]), str(d["hearing_id"]), str(d["at"]), dict(d["data"]),
                             str(d["prev_hash"]), str(d["hash"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a manifest entry ({exc})") from exc


def to_jsonl(entries: Iterable[ManifestEntry]) -> bytes:
    return b"".join(to_json(e) + b"\n" for e in entries)


def upload_verdict(entry: ManifestEntry, held: ManifestEntry | None, previous: ManifestEntry | None) -> str:
    """Whether a spooled manifest entry may go to the store, given what the store holds at its seq (`held`) and
    at seq - 1 (`previous`): "upload", "done" (already there, e.g. a crash between upload and clean-up) or
    "stale" (set aside, never uploaded).

    Why: when a room moves off a dead node, the new owner continues the chain from the store; entries the dead node
    had spooled but not uploaded belong to a branch the chain has left. If that node comes back on the same volume
    they must neither overwrite the new owner's entries (same seq, other hash) nor be chained after them (their
    prev_hash names an entry the store does not hold). A node's spool uploads in chain order (entries are
    spooled in seq order, one uploader, first in first out), so an entry's predecessor is always in the store
    before it: a missing one means the predecessor was itself set aside, and so is this entry.
    """
    if held is not None:
        return "done" if held.hash == entry.hash else "stale"
    if entry.seq == 1:
        return "upload" if entry.prev_hash == GENESIS_HASH else "stale"
    if previous is None or previous.hash != entry.prev_hash:
        return "stale"
    return "upload"


async def _stored_entry(store: ObjectStore, hearing_id: str, seq: int) -> ManifestEntry | None:
    try:
        return from_json(await store.get(entry_key(hearing_id, seq)))
    except ObjectNotFound:
        return None
    except ValueError:  # an unreadable stored entry: verify names it; here it contradicts any entry
        return ManifestEntry(seq, "start", hearing_id, "", {}, "", "unreadable")


class ChainGuard:
    """The spool's upload check for manifest entries (`Spool(check=...)`): `upload_verdict` against the store."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def __call__(self, key: str, data: bytes) -> str:
        parts = key.split("/")
        if len(parts) != 4 or parts[0] != "recordings" or parts[2] != "manifest":
            return "upload"  # segments: their keys name their recorder run, so they never collide
        try:
            entry = from_json(data)
        except ValueError:
            return "upload"  # not ours to judge: verify names a bad entry
        if key != entry_key(entry.hearing_id, entry.seq):
            return "stale"
        held = await _stored_entry(self.store, entry.hearing_id, entry.seq)
        previous = await _stored_entry(self.store, entry.hearing_id, entry.seq - 1) if entry.seq > 1 else None
        return upload_verdict(entry, held, previous)


class ManifestChain:
    """Builds the chain for one hearing; continue a stored chain with `ManifestChain.after(entries)`."""

    def __init__(self, hearing_id: str, *, last_seq: int = 0, last_hash: str = GENESIS_HASH) -> None:
        self.hearing_id = hearing_id
        self.last_seq = last_seq
        self.last_hash = last_hash

    @classmethod
    def after(cls, hearing_id: str, entries: Iterable[ManifestEntry]) -> ManifestChain:
        chain = cls(hearing_id)
        for e in entries:
            chain.last_seq, chain.last_hash = e.seq, e.hash
        return chain

    def append(self, type_: str, data: Mapping[str, Any], at: datetime | None = None) -> ManifestEntry:
        if type_ not in ENTRY_TYPES:
            raise ValueError(f"unknown manifest entry type {type_!r}; use one of {sorted(ENTRY_TYPES)}")
        _check(dict(data), "data")
        when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        body = {"seq": self.last_seq + 1, "type": type_, "hearing_id": self.hearing_id, "at": when,
                "data": dict(data), "prev_hash": self.last_hash}
        digest = entry_hash(body)
        entry = ManifestEntry(body["seq"], type_, self.hearing_id, when, dict(data), self.last_hash, digest)
        self.last_seq, self.last_hash = entry.seq, digest
        return entry

    def segment(self, *, key: str, track_id: str, kind: str, codec: str, index: int, start_us: int, end_us: int,
                size: int, sha256: str, starts_with_keyframe: bool = True, at: datetime | None = None
                ) -> ManifestEntry:
        return self.append("segment", {
            "key": key, "track_id": track_id, "kind": kind, "codec": codec, "index": index, "start_us": start_us,
            "end_us": end_us, "size": size, "sha256": sha256, "starts_with_keyframe": starts_with_keyframe,
        }, at)

    def pause(self, *, reason: str, actor_id: str, at_us: int, at: datetime | None = None) -> ManifestEntry:
        return self.append("pause", {"reason": reason, "actor_id": actor_id, "at_us": at_us}, at)

    def resume(self, *, reason: str, actor_id: str, at_us: int, at: datetime | None = None) -> ManifestEntry:
        return self.append("resume", {"reason": reason, "actor_id": actor_id, "at_us": at_us}, at)


class BreakReason(StrEnum):
    GAP = "gap"  # an entry is missing
    HASH_MISMATCH = "hash_mismatch"  # the entry was edited
    PREV_MISMATCH = "prev_mismatch"  # the entry does not point at its predecessor
    SEGMENT_MISSING = "segment_missing"  # the segment object is gone
    SEGMENT_ALTERED = "segment_altered"  # its bytes no longer match size / SHA-256


@dataclass(frozen=True, slots=True)
class ManifestBreak:
    seq: int
    reason: BreakReason
    detail: str


def _link_break(e: ManifestEntry, last_seq: int, last_hash: str) -> ManifestBreak | None:
    if e.seq != last_seq + 1:
        return ManifestBreak(last_seq + 1, BreakReason.GAP,
                             f"manifest entry {last_seq + 1} is missing: the entry after {last_seq} is {e.seq}")
    if entry_hash(e.body()) != e.hash:
        return ManifestBreak(e.seq, BreakReason.HASH_MISMATCH,
                             f"manifest entry {e.seq} does not match its hash: its content was changed")
    if e.prev_hash != last_hash:
        return ManifestBreak(e.seq, BreakReason.PREV_MISMATCH,
                             f"manifest entry {e.seq} does not point at entry {last_seq}'s hash")
    return None


def _segment_break(e: ManifestEntry, data: bytes | None) -> ManifestBreak | None:
    key = str(e.data.get("key"))
    if data is None:
        return ManifestBreak(e.seq, BreakReason.SEGMENT_MISSING,
                             f"segment {key} of manifest entry {e.seq} is missing from the store")
    if len(data) != e.data.get("size") or hashlib.sha256(data).hexdigest() != e.data.get("sha256"):
        return ManifestBreak(e.seq, BreakReason.SEGMENT_ALTERED,
                             f"segment {key} of manifest entry {e.seq} does not match its SHA-256/size")
    return None


def verify(entries: Iterable[ManifestEntry], fetch_bytes: Callable[[str], bytes | None]) -> ManifestBreak | None:
    """The first broken link or missing/altered segment, else None.  `fetch_bytes(key)` gives None if missing.

    Entries must be in seq order (as `load` returns them).  Segment hashes are recomputed from stored bytes.
    """
    last_seq, last_hash = 0, GENESIS_HASH
    for e in entries:
        broken = _link_break(e, last_seq, last_hash)
        if broken is None and e.type == "segment":
            broken = _segment_break(e, fetch_bytes(str(e.data.get("key"))))
        if broken is not None:
            return broken
        last_seq, last_hash = e.seq, e.hash
    return None


async def load(store: ObjectStore, hearing_id: str) -> list[ManifestEntry]:
    """All stored entries of a hearing, in seq order (unparseable objects are skipped: `verify` sees the gap)."""
    out = []
    for info in await store.list(manifest_prefix(hearing_id)):
        try:
            out.append(from_json(await store.get(info.key)))
        except (ValueError, ObjectNotFound):
            continue
    out.sort(key=lambda e: e.seq)
    return out


async def verify_store(store: ObjectStore, hearing_id: str, *,
                       progress: Callable[[int, int], None] | None = None,
                       ) -> tuple[list[ManifestEntry], ManifestBreak | None]:
    """Load and verify one hearing's manifest against `store`, fetching one segment at a time.

    `progress(done, total)` is called after each entry (a long hearing has thousands of segments).
    """
    entries = await load(store, hearing_id)
    last_seq, last_hash = 0, GENESIS_HASH
    for done, e in enumerate(entries, 1):
        if progress is not None:
            progress(done, len(entries))
        broken = _link_break(e, last_seq, last_hash)
        if broken is None and e.type == "segment":
            try:
                data: bytes | None = await store.get(str(e.data.get("key")))
            except ObjectNotFound:
                data = None
            broken = _segment_break(e, data)
        if broken is not None:
            return entries, broken
        last_seq, last_hash = e.seq, e.hash
    return entries, None
