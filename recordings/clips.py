"""Recorded clips: the ONE mechanism by which a recorded video/voice message reaches the court as evidence.

Used by video petitions (接诉即办), the asynchronous trial's recorded answers and the stations' recorded messages.
docs/clips.md has the HTTP protocol; this module is the service behind it.

Resumable, chunked upload (village links drop; a clip recorded offline uploads later):
1. `create_upload`: the client declares size, media type and SHA-256 of the whole clip → an upload id. Size and type
   are checked against the policy at once, before any byte is sent.
2. `append(offset, bytes)`: a chunk at `offset`, which must equal the committed offset (else `offset_mismatch`,
   carrying the committed offset, so a client that lost an answer resumes correctly). A chunk cut off by a dropped
   connection keeps **the bytes that arrived**: the committed offset moves to the last byte received, so a client
   resumes from any byte, not from its last whole chunk.
3. `upload(id).committed` (HTTP HEAD/GET) tells a client where to resume after a drop or a restart of either side.
4. `complete`: once committed == declared size, the object is assembled, its SHA-256 recomputed from the stored
   bytes, its container sniffed and demuxed (recordings/clip_probe.py) and the policy applied; a clip that fails is
   refused with a code and parameters and its bytes deleted; one that passes becomes a `Clip` row and an audit entry.

Storage: the object store's multipart upload (S3 multipart; the local directory store has the same interface).
S3 wants every part but the last to be >= 5 MiB, while chunks from a phone on a bad link are small. Chunks below a
part are kept as small **pending objects** in the same store (`clip-uploads/<upload id>/<offset>-<random>`) and joined
into a part once 5 MiB have gathered. Pending bytes live in the shared store, not in a local spool file, so a client
whose next chunk reaches another instance (behind a load balancer), or the same instance after a restart, resumes
where it was. The upload's row (committed offset, parts, pending chunks) is the source of truth; each append locks it
(PostgreSQL row lock; SQLite's single writer), so two racing requests for one upload cannot both commit an offset.

Evidence: the clip's SHA-256 is chained in the **audit log** (docket/audit.py: one hash chain, serialised across
instances in the database), as action `clip.stored` in the same transaction as the clip row, and `verify` recomputes
the stored bytes' hash against both. The recordings manifest (recordings/manifest.py) is a per-hearing chain written
by one recorder; clips arrive from many instances at once with no hearing, which is what the audit chain's head lock
is for, so no second chain is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.jobs import Job, schedule_in
from docket.sql import parse_url
from docket.tables_foundations import OWNER_LENGTH, clip_uploads, clips
from docket.transactions import transaction
from recordings.clip_probe import AUDIO_CODECS, CONTAINER_TYPES, VIDEO_CODECS, ClipProbe, ProbeFailed, probe_file, sniff
from recordings.objectstore import MIN_PART_SIZE, ObjectNotFound, ObjectStore, ObjectStoreError, UploadedPart

__all__ = [
    "Clip",
    "ClipActor",
    "ClipPolicy",
    "ClipRefused",
    "ClipService",
    "ClipUpload",
    "check_probe",
    "normalise_type",
]

log = logging.getLogger("recordings.clips")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,31}")
AUDIT_ROLE = "system"
SWEEP_KIND = "clips.sweep"


def sweep_key(at: datetime) -> str:
    """One sweep per 6-hour slot: every instance scheduling "the next sweep" names the same job."""
    return f"{SWEEP_KIND}:{at.astimezone(UTC):%Y-%m-%dT}{at.astimezone(UTC).hour // 6 * 6:02d}"


class ClipRefused(Exception):
    """A refusal with a stable code, an HTTP status and parameters; the client translates the code (i18n.js)."""

    def __init__(self, status: int, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class ClipPolicy:
    """Caps and accepted formats. Defaults: 3 minutes, 100 MiB (a 3-minute 720p MediaRecorder clip is ~60 MiB)."""

    max_bytes: int = 100 << 20
    max_duration_ms: int = 180_000
    max_chunk_bytes: int = 8 << 20
    chunk_idle_seconds: float = 30.0  # a chunk's body silent this long counts as cut (a link dead without a reset)
    part_size: int = MIN_PART_SIZE
    upload_ttl: timedelta = timedelta(days=7)
    require_video: bool = False  # a voice-only message is a clip too; callers that need video say so
    video_codecs: frozenset[str] = VIDEO_CODECS
    audio_codecs: frozenset[str] = AUDIO_CODECS

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} (S3's minimum part)")


@dataclass(frozen=True, slots=True)
class ClipActor:
    """Who is uploading, as the caller's authorizer established it: `owner` is what the clip belongs to
    (petition:<id>, async:<stage id>...), `actor_id`/`actor_role` go into the audit log."""

    owner: str
    actor_id: str
    actor_role: str


@dataclass(frozen=True, slots=True)
class ClipUpload:
    id: str
    purpose: str
    owner: str
    declared_size: int
    content_type: str
    sha256: str
    committed: int
    state: str  # open | complete | refused | aborted
    error: str | None
    clip_id: str | None
    expires_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "size": self.declared_size, "offset": self.committed, "state": self.state,
                "error": self.error, "clip_id": self.clip_id, "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Clip:
    id: str
    upload_id: str
    purpose: str
    owner: str
    object_key: str
    content_type: str
    container: str
    video_codec: str | None
    audio_codec: str | None
    duration_ms: int
    size: int
    sha256: str
    audit_seq: int
    created_by: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "content_type": self.content_type, "container": self.container,
                "video_codec": self.video_codec, "audio_codec": self.audio_codec, "duration_ms": self.duration_ms,
                "size": self.size, "sha256": self.sha256, "created_at": self.created_at.isoformat()}


def normalise_type(content_type: str) -> str | None:
    """'video/webm;codecs=vp8,opus' → 'video/webm'; None for anything that is not WebM/MP4 video or audio."""
    base = content_type.split(";", 1)[0].strip().lower()
    return base if base in {"video/webm", "audio/webm", "video/mp4", "audio/mp4"} else None


def _container_of(content_type: str) -> str:
    return "webm" if content_type.endswith("/webm") else "mp4"


def check_probe(probe: ClipProbe, policy: ClipPolicy, declared_type: str) -> None:
    """Raise ClipRefused when the demuxed clip is not what the policy accepts. Pure."""
    if probe.container != _container_of(declared_type):
        raise ClipRefused(422, "clip_type_mismatch", f"the clip is {probe.container}, declared {declared_type}",
                          container=probe.container, declared=declared_type)
    if probe.video_codec is None and probe.audio_codec is None:
        raise ClipRefused(422, "clip_no_media", "the clip holds neither video nor audio")
    if probe.video_codec is not None and probe.video_codec not in policy.video_codecs:
        raise ClipRefused(422, "clip_codec_refused", f"video codec {probe.video_codec} is not accepted",
                          codec=probe.video_codec, accepted=sorted(policy.video_codecs))
    if probe.audio_codec is not None and probe.audio_codec not in policy.audio_codecs:
        raise ClipRefused(422, "clip_codec_refused", f"audio codec {probe.audio_codec} is not accepted",
                          codec=probe.audio_codec, accepted=sorted(policy.audio_codecs))
    extra = [c for c in probe.streams if c not in policy.video_codecs | policy.audio_codecs]
    if extra:
        raise ClipRefused(422, "clip_codec_refused", f"the clip carries other streams ({', '.join(extra)})",
                          codec=extra[0], accepted=sorted(policy.video_codecs | policy.audio_codecs))
    if policy.require_video and probe.video_codec is None:
        raise ClipRefused(422, "clip_video_required", "this clip must carry video")
    if probe.duration_ms > policy.max_duration_ms:
        raise ClipRefused(422, "clip_too_long", f"the clip lasts {probe.duration_ms} ms, at most "
                          f"{policy.max_duration_ms} ms are accepted", duration_ms=probe.duration_ms,
                          max_duration_ms=policy.max_duration_ms, max_s=policy.max_duration_ms // 1000)


def _upload(r: Any) -> ClipUpload:
    return ClipUpload(r.id, r.purpose, r.owner, int(r.declared_size), r.content_type, r.sha256, int(r.committed),
                      r.state, r.error, r.clip_id, r.expires_at)


def _clip(r: Any) -> Clip:
    return Clip(r.id, r.upload_id, r.purpose, r.owner, r.object_key, r.content_type, r.container, r.video_codec,
                r.audio_codec, int(r.duration_ms), int(r.size), r.sha256, int(r.audit_seq), r.created_by,
                r.created_at)


def _not_found(upload_id: str) -> ClipRefused:
    return ClipRefused(404, "clip_upload_not_found", f"no clip upload {upload_id!r}")


@dataclass
class _Receiving:
    """A request of this instance that is reading a chunk: `stop` asks it to commit what it has, `done` says it has."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Lease:
    """The locked upload row inside an append/complete transaction."""

    row: Any
    parts: list[UploadedPart] = field(default_factory=list)
    pending: list[tuple[int, int, str]] = field(default_factory=list)  # (offset, size, object key)


class ClipService:
    """Uploads, verification and storage of clips over the records database and the object store."""

    def __init__(self, engine: AsyncEngine, url: str | URL, store: ObjectStore, policy: ClipPolicy | None = None,
                 *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 work_dir: Path | None = None) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url
        self.store = store
        self.policy = policy or ClipPolicy()
        self.clock = clock
        self.work_dir = work_dir  # where a clip is written for demuxing (a temp dir when None)
        self._receiving: dict[str, _Receiving] = {}

    # -- reading ------------------------------------------------------------------------------------------

    async def upload(self, upload_id: str) -> ClipUpload:
        async with transaction(self.engine, self._url, "reading a clip upload") as conn:
            row = (await conn.execute(select(clip_uploads).where(clip_uploads.c.id == upload_id))).first()
        if row is None:
            raise _not_found(upload_id)
        return _upload(row)

    async def clip(self, clip_id: str) -> Clip:
        async with transaction(self.engine, self._url, "reading a clip") as conn:
            row = (await conn.execute(select(clips).where(clips.c.id == clip_id))).first()
        if row is None:
            raise ClipRefused(404, "clip_not_found", f"no clip {clip_id!r}")
        return _clip(row)

    async def clips_of(self, owner: str) -> list[Clip]:
        async with transaction(self.engine, self._url, "listing clips") as conn:
            rows = await conn.execute(select(clips).where(clips.c.owner == owner).order_by(clips.c.created_at))
            return [_clip(r) for r in rows]

    async def url(self, clip_id: str, expires: timedelta = timedelta(minutes=10)) -> str:
        """A short-lived URL to play the clip (S3 presigned, or the local store's signed route)."""
        return await self.store.presigned_get((await self.clip(clip_id)).object_key, expires)

    # -- the upload ---------------------------------------------------------------------------------------

    async def create_upload(self, actor: ClipActor, purpose: str, *, size: int, content_type: str,
                            sha256: str) -> ClipUpload:
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(f"invalid clip purpose {purpose!r}")
        if not actor.owner or len(actor.owner) > OWNER_LENGTH:
            raise ValueError("a clip's owner must be 1 to 128 characters")
        media_type = normalise_type(content_type)
        if media_type is None:
            raise ClipRefused(415, "clip_type_refused", f"clips are WebM or MP4, not {content_type[:60]!r}",
                              accepted=sorted(set(CONTAINER_TYPES.values())))
        if not isinstance(size, int) or size <= 0:
            raise ClipRefused(422, "clip_size_invalid", "the declared size must be a positive number of bytes")
        if size > self.policy.max_bytes:
            raise ClipRefused(413, "clip_too_large", f"the clip is {size} bytes, at most {self.policy.max_bytes}",
                              size=size, max_bytes=self.policy.max_bytes, max_mb=self.policy.max_bytes >> 20)
        digest = sha256.strip().lower()
        if not _SHA256.fullmatch(digest):
            raise ClipRefused(422, "clip_sha256_invalid", "the declared SHA-256 must be 64 hexadecimal digits")
        upload_id = secrets.token_hex(16)
        # Under recordings/: evidence, so S3 object lock (S3_OBJECT_LOCK_DAYS) retains clips as it retains segments.
        key = f"recordings/clips/{upload_id[:2]}/{upload_id}.{_container_of(media_type)}"
        multipart_id = await self.store.create_multipart(key, media_type)
        now = self.clock()
        async with transaction(self.engine, self._url, "creating a clip upload", write=True) as conn:
            await conn.execute(clip_uploads.insert().values(
                id=upload_id, purpose=purpose, owner=actor.owner, declared_size=size, content_type=media_type,
                sha256=digest, object_key=key, multipart_id=multipart_id, committed=0, parts="[]", pending="[]",
                state="open", created_by=actor.actor_id, created_at=now, updated_at=now,
                expires_at=now + self.policy.upload_ttl))
            await append_in(conn, AuditEvent(actor.actor_id, actor.actor_role, "clip.upload_created",
                                             f"clip_upload:{upload_id}",
                                             {"purpose": purpose, "owner": actor.owner, "size": size,
                                              "sha256": digest}))
            row = (await conn.execute(select(clip_uploads).where(clip_uploads.c.id == upload_id))).one()
        return _upload(row)

    def check_chunk(self, upload: ClipUpload, offset: int, length: int) -> None:
        """What can be refused before a chunk's body is read: state, expiry, offset and length."""
        if upload.state != "open":
            raise ClipRefused(409, "clip_upload_closed", f"the upload is {upload.state}", state=upload.state)
        if upload.expires_at <= self.clock():
            raise ClipRefused(410, "clip_upload_expired", "the upload expired; start a new one")
        if offset != upload.committed:
            raise ClipRefused(409, "clip_offset_mismatch", f"the next byte expected is {upload.committed}",
                              offset=upload.committed)
        if length <= 0:
            raise ClipRefused(422, "clip_chunk_empty", "a chunk must carry at least one byte")
        if length > self.policy.max_chunk_bytes:
            raise ClipRefused(413, "clip_chunk_too_large", f"chunks are at most {self.policy.max_chunk_bytes} "
                              "bytes", max_chunk_bytes=self.policy.max_chunk_bytes)
        if offset + length > upload.declared_size:
            raise ClipRefused(413, "clip_chunk_beyond_size", "the chunk goes past the declared size",
                              size=upload.declared_size, offset=upload.committed)

    async def append(self, upload_id: str, owner: str, offset: int, length: int,
                     body: AsyncIterator[bytes]) -> ClipUpload:
        """Store the chunk `body` (declared `length`) at `offset`. If the body ends early (a dropped connection)
        the bytes that arrived are committed; more than `length` bytes are refused.

        A dropped mobile link often sends no reset: the server's request keeps waiting for bytes that will never
        come. So a body silent for `policy.chunk_idle_seconds` counts as cut, and when the client comes back (its
        HEAD, or a new chunk, reaching this instance) the stale request is told to stop and commit what it has
        first — the client then resumes after the last byte that arrived, not after the last whole chunk."""
        upload = await self.upload(upload_id)
        if upload.owner != owner:
            raise _not_found(upload_id)  # someone else's upload does not exist, as far as this caller knows
        if upload_id in self._receiving:
            await self.settle(upload_id)
            upload = await self.upload(upload_id)
        self.check_chunk(upload, offset, length)
        mine = _Receiving()
        self._receiving[upload_id] = mine
        received = bytearray()
        try:
            cut = await self._receive(body, received, length, mine)
            if cut:
                log.info("clip upload %s: chunk cut after %d of %d bytes (%s)", upload_id, len(received), length,
                         cut)
            if not received:
                raise ClipRefused(422, "clip_chunk_empty", "a chunk must carry at least one byte")
            return await self._commit(upload_id, offset, bytes(received))
        finally:
            if self._receiving.get(upload_id) is mine:
                del self._receiving[upload_id]
            mine.done.set()

    async def _receive(self, body: AsyncIterator[bytes], into: bytearray, length: int, mine: _Receiving) -> str:
        """Read the body into `into`; '' when it ended, else why it was cut (the bytes read so far stay)."""
        pieces = body.__aiter__()
        stop = asyncio.ensure_future(mine.stop.wait())
        try:
            while True:
                step = asyncio.ensure_future(pieces.__anext__())
                done, _ = await asyncio.wait({step, stop}, timeout=self.policy.chunk_idle_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await step
                    return "superseded" if stop in done else "idle"
                try:
                    piece = step.result()
                except StopAsyncIteration:
                    return ""
                except Exception as exc:  # the client went away mid-chunk (ClientDisconnect, reset)
                    return type(exc).__name__
                into += piece
                if len(into) > length:
                    raise ClipRefused(413, "clip_chunk_too_large", "the chunk is longer than its Content-Length",
                                      max_chunk_bytes=length)
        finally:
            stop.cancel()

    async def settle(self, upload_id: str, within: float = 10.0) -> None:
        """Stop a request of this instance still receiving a chunk of `upload_id` and wait until it committed
        what it has. Called before answering where to resume (HEAD) and before taking a new chunk."""
        stale = self._receiving.get(upload_id)
        if stale is None:
            return
        stale.stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stale.done.wait(), within)

    async def _lock(self, conn: AsyncConnection, upload_id: str) -> _Lease:
        query = select(clip_uploads).where(clip_uploads.c.id == upload_id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise _not_found(upload_id)
        parts = [UploadedPart(int(n), str(e), int(s)) for n, e, s in json.loads(row.parts)]
        pending = [(int(o), int(s), str(k)) for o, s, k in json.loads(row.pending)]
        return _Lease(row, parts, pending)

    async def _commit(self, upload_id: str, offset: int, data: bytes) -> ClipUpload:
        garbage: list[str] = []
        async with transaction(self.engine, self._url, "storing a clip chunk", write=True) as conn:
            lease = await self._lock(conn, upload_id)
            current = _upload(lease.row)
            # Re-checked under the lock: another request may have committed this offset meanwhile.
            self.check_chunk(current, offset, len(data))
            key = f"clip-uploads/{upload_id}/{offset:012d}-{secrets.token_hex(4)}"
            await self.store.put(key, data)
            lease.pending.append((offset, len(data), key))
            if sum(size for _, size, _ in lease.pending) >= self.policy.part_size:
                garbage = await self._flush(lease, data_tail=(key, data))
            await conn.execute(update(clip_uploads).where(clip_uploads.c.id == upload_id).values(
                committed=offset + len(data), updated_at=self.clock(),
                parts=json.dumps([[p.number, p.etag, p.size] for p in lease.parts]),
                pending=json.dumps([list(p) for p in lease.pending])))
            row = (await conn.execute(select(clip_uploads).where(clip_uploads.c.id == upload_id))).one()
        await self._drop(garbage)
        return _upload(row)

    async def _flush(self, lease: _Lease, data_tail: tuple[str, bytes] | None = None) -> list[str]:
        """Join the pending chunks into the next part; returns the pending keys to delete after commit."""
        if not lease.pending:
            return []
        chunks = []
        for _, _, key in lease.pending:
            if data_tail is not None and key == data_tail[0]:
                chunks.append(data_tail[1])
            else:
                chunks.append(await self.store.get(key))
        part = await self.store.upload_part(lease.row.object_key, lease.row.multipart_id, len(lease.parts) + 1,
                                            b"".join(chunks))
        keys = [k for _, _, k in lease.pending]
        lease.parts.append(part)
        lease.pending.clear()
        return keys

    async def _drop(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self.store.delete(key)
            except ObjectStoreError:
                log.warning("clip chunk %s left in the store (deleting it failed)", key)

    # -- completion ---------------------------------------------------------------------------------------

    async def complete(self, upload_id: str, actor: ClipActor) -> Clip:
        """Assemble, verify and store the clip; idempotent (a repeated complete returns the same clip)."""
        upload = await self.upload(upload_id)
        if upload.owner != actor.owner:
            raise _not_found(upload_id)
        if upload.state == "complete" and upload.clip_id:
            return await self.clip(upload.clip_id)
        if upload.state != "open":
            raise ClipRefused(409, "clip_upload_closed", f"the upload is {upload.state}", state=upload.state,
                              error=upload.error)
        if upload.committed != upload.declared_size:
            raise ClipRefused(409, "clip_upload_incomplete", f"{upload.committed} of {upload.declared_size} bytes "
                              "arrived", offset=upload.committed, size=upload.declared_size)
        garbage: list[str] = []
        async with transaction(self.engine, self._url, "assembling a clip", write=True) as conn:
            lease = await self._lock(conn, upload_id)
            key = lease.row.object_key
            if lease.row.multipart_id is not None:  # not assembled yet (a retried complete skips this)
                garbage = await self._flush(lease)
                await self.store.complete_multipart(key, lease.row.multipart_id, lease.parts)
                await conn.execute(update(clip_uploads).where(clip_uploads.c.id == upload_id).values(
                    multipart_id=None, parts=json.dumps([[p.number, p.etag, p.size] for p in lease.parts]),
                    pending="[]", updated_at=self.clock()))
        await self._drop(garbage)
        try:
            data = await self.store.get(key)
            probe = await self._verify_bytes(upload, data)
        except ClipRefused as refusal:
            await self._refuse(upload, actor, refusal)
            raise
        return await self._store_clip(upload, actor, probe, len(data))

    async def _verify_bytes(self, upload: ClipUpload, data: bytes) -> ClipProbe:
        if len(data) != upload.declared_size:
            raise ClipRefused(422, "clip_size_mismatch", f"{len(data)} bytes stored, {upload.declared_size} "
                              "declared", size=len(data), declared=upload.declared_size)
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        if digest != upload.sha256:
            raise ClipRefused(422, "clip_hash_mismatch", "the clip's SHA-256 is not the one declared: bytes were "
                              "damaged on the way; record or upload again", sha256=digest, declared=upload.sha256)
        container = sniff(data[:64])
        if container is None:
            raise ClipRefused(422, "clip_not_media", "the clip is neither WebM nor MP4")

        def probe() -> ClipProbe:
            with tempfile.NamedTemporaryFile(dir=self.work_dir, suffix=f".{container}") as f:
                f.write(data)
                f.flush()
                return probe_file(Path(f.name), container)

        try:
            result = await asyncio.to_thread(probe)
        except ProbeFailed as exc:
            raise ClipRefused(422, "clip_not_media", f"the clip cannot be read as {container}: {exc}",
                              container=container) from None
        check_probe(result, self.policy, upload.content_type)
        return result

    async def _refuse(self, upload: ClipUpload, actor: ClipActor, refusal: ClipRefused) -> None:
        async with transaction(self.engine, self._url, "refusing a clip", write=True) as conn:
            await conn.execute(update(clip_uploads).where(clip_uploads.c.id == upload.id,
                                                          clip_uploads.c.state == "open")
                               .values(state="refused", error=refusal.code, updated_at=self.clock()))
            await append_in(conn, AuditEvent(actor.actor_id, actor.actor_role, "clip.refused",
                                             f"clip_upload:{upload.id}", {"code": refusal.code}))
        lease_key = (await self._row_key(upload.id))
        try:
            await self.store.delete(lease_key)
        except ObjectStoreError:
            log.warning("refused clip %s left in the store", lease_key)

    async def _row_key(self, upload_id: str) -> str:
        async with transaction(self.engine, self._url, "reading a clip upload") as conn:
            return str((await conn.execute(select(clip_uploads.c.object_key)
                                           .where(clip_uploads.c.id == upload_id))).scalar_one())

    async def _store_clip(self, upload: ClipUpload, actor: ClipActor, probe: ClipProbe, size: int) -> Clip:
        clip_id = secrets.token_hex(16)
        now = self.clock()
        async with transaction(self.engine, self._url, "storing a clip", write=True) as conn:
            lease = await self._lock(conn, upload.id)
            if lease.row.state == "complete" and lease.row.clip_id:  # a concurrent complete won
                row = (await conn.execute(select(clips).where(clips.c.id == lease.row.clip_id))).one()
                return _clip(row)
            entry = await append_in(conn, AuditEvent(
                actor.actor_id, actor.actor_role, "clip.stored", f"clip:{clip_id}",
                {"upload_id": upload.id, "purpose": upload.purpose, "owner": upload.owner,
                 "object_key": lease.row.object_key, "size": size, "sha256": upload.sha256,
                 "container": probe.container, "video_codec": probe.video_codec, "audio_codec": probe.audio_codec,
                 "duration_ms": probe.duration_ms}))
            await conn.execute(clips.insert().values(
                id=clip_id, upload_id=upload.id, purpose=upload.purpose, owner=upload.owner,
                object_key=lease.row.object_key, content_type=upload.content_type, container=probe.container,
                video_codec=probe.video_codec, audio_codec=probe.audio_codec, duration_ms=probe.duration_ms,
                size=size, sha256=upload.sha256, audit_seq=entry.seq, created_by=actor.actor_id, created_at=now))
            await conn.execute(update(clip_uploads).where(clip_uploads.c.id == upload.id)
                               .values(state="complete", clip_id=clip_id, updated_at=now))
            row = (await conn.execute(select(clips).where(clips.c.id == clip_id))).one()
        return _clip(row)

    async def abort(self, upload_id: str, actor: ClipActor) -> None:
        """Give up an open upload: its parts and pending chunks are deleted. Idempotent."""
        await self._abort(upload_id, actor.owner, actor.actor_id, actor.actor_role, "clip.upload_aborted")

    async def _abort(self, upload_id: str, owner: str | None, actor_id: str, actor_role: str, action: str) -> bool:
        async with transaction(self.engine, self._url, "aborting a clip upload", write=True) as conn:
            garbage = await self._abort_in(conn, upload_id, owner, actor_id, actor_role, action)
        await self._drop(garbage or [])
        return garbage is not None

    async def _abort_in(self, conn: AsyncConnection, upload_id: str, owner: str | None, actor_id: str,
                        actor_role: str, action: str) -> list[str] | None:
        """Abort inside `conn`; the object keys to delete afterwards, or None if the upload was not open."""
        lease = await self._lock(conn, upload_id)
        if owner is not None and lease.row.owner != owner:
            raise _not_found(upload_id)
        if lease.row.state != "open":
            return None
        garbage = [k for _, _, k in lease.pending]
        if lease.row.multipart_id is not None:
            await self.store.abort_multipart(lease.row.object_key, lease.row.multipart_id)
        elif lease.row.committed:  # assembled but never verified (a crash in complete): drop the object too
            garbage.append(lease.row.object_key)
        await conn.execute(update(clip_uploads).where(clip_uploads.c.id == upload_id)
                           .values(state="aborted", pending="[]", updated_at=self.clock()))
        await append_in(conn, AuditEvent(actor_id, actor_role, action, f"clip_upload:{upload_id}", {}))
        return garbage

    async def sweep_expired_in(self, conn: AsyncConnection, limit: int = 200) -> int:
        """Abort open uploads past their expiry inside `conn` (a job's transaction: on SQLite a handler must not
        open a second writer); their chunks and parts are deleted. Returns how many."""
        ids = [r.id for r in await conn.execute(
            select(clip_uploads.c.id).where(clip_uploads.c.state == "open",
                                            clip_uploads.c.expires_at <= self.clock()).limit(limit))]
        swept = 0
        for upload_id in ids:
            garbage = await self._abort_in(conn, upload_id, None, "clips", AUDIT_ROLE, "clip.upload_expired")
            if garbage is not None:
                swept += 1
                await self._drop(garbage)  # expired uploads are dead either way, so before the commit is fine
        return swept

    def sweep_handler(self, every: timedelta = timedelta(hours=6)) -> Callable[[Job, AsyncConnection], Any]:
        """A job handler (kind `SWEEP_KIND`) that sweeps expired uploads and schedules the next sweep."""

        async def sweep(job: Job, conn: AsyncConnection) -> None:
            await self.sweep_expired_in(conn)
            await schedule_in(conn, SWEEP_KIND, sweep_key(self.clock() + every), {}, self.clock() + every)

        return sweep

    # -- evidence -----------------------------------------------------------------------------------------

    async def verify(self, clip_id: str) -> bool:
        """Recompute the stored clip's SHA-256 and compare it with its row and its audit entry."""
        from docket.tables import audit_log  # the chained entry that recorded this clip

        clip = await self.clip(clip_id)
        try:
            data = await self.store.get(clip.object_key)
        except ObjectNotFound:
            return False
        async with transaction(self.engine, self._url, "reading a clip's audit entry") as conn:
            details = (await conn.execute(select(audit_log.c.details)
                                          .where(audit_log.c.seq == clip.audit_seq))).scalar_one_or_none()
        chained = json.loads(details).get("sha256") if details else None
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        return digest == clip.sha256 == chained and len(data) == clip.size
