"""Recorded clips through the service, on the local directory store and a real S3 endpoint (moto): chunked uploads
spanning several multipart parts, resuming after cuts and restarts, verification and every refusal."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from docket.audit import SqlAuditLog
from docket.migrate import upgrade
from docket.sql import make_engine
from docket.tables_foundations import clip_uploads
from recordings.clips import ClipActor, ClipPolicy, ClipRefused, ClipService
from recordings.local_store import LocalObjectStore
from recordings.objectstore import MIN_PART_SIZE, ObjectStore, PartTooSmall, UploadedPart
from recordings.s3_store import S3ObjectStore
from tests.clip_files import make_clip

ACTOR = ClipActor("petition:p1", "person-1", "citizen")


@pytest.fixture(scope="session")
def big_clip() -> bytes:
    """A 12 s VP8+Opus WebM of noise, ~12 MiB: three multipart parts (5 + 5 + rest)."""
    return make_clip(seconds=12, width=320, height=240, bitrate=8_000_000)


@pytest.fixture(scope="session")
def small_clip() -> bytes:
    return make_clip()


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    s: ObjectStore
    if request.param == "local":
        s = LocalObjectStore(tmp_path / "objects", url_base="http://testserver", signing_key=b"k")
    else:
        server = request.getfixturevalue("s3_server")
        s = S3ObjectStore(server.endpoint, server.access_key, server.secret_key, request.getfixturevalue("s3_bucket"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def engine(court_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(court_url)
    e = make_engine(court_url)
    try:
        yield e
    finally:
        await e.dispose()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def body(*pieces: bytes) -> AsyncIterator[bytes]:
    for p in pieces:
        yield p


async def cut_after(data: bytes, n: int) -> AsyncIterator[bytes]:
    """A body whose connection drops after `n` bytes (what Starlette raises is an exception mid-stream)."""
    yield data[:n]
    raise ConnectionResetError("client went away")


async def send_all(service: ClipService, upload_id: str, data: bytes, sizes: list[int], start: int = 0) -> None:
    offset, i = start, 0
    while offset < len(data):
        n = min(sizes[i % len(sizes)], len(data) - offset)
        chunk = data[offset:offset + n]
        up = await service.append(upload_id, ACTOR.owner, offset, n, body(chunk[: n // 2], chunk[n // 2:]))
        assert up.committed == offset + n
        offset, i = up.committed, i + 1


# ---- the multipart contract of both stores --------------------------------------------------------------


async def test_multipart_on_both_stores(store: ObjectStore) -> None:
    big, tail = b"a" * MIN_PART_SIZE, b"tail"
    upload_id = await store.create_multipart("clips/x/one.webm", "video/webm")
    p2 = await store.upload_part("clips/x/one.webm", upload_id, 2, tail)
    p1 = await store.upload_part("clips/x/one.webm", upload_id, 1, b"b" * MIN_PART_SIZE)
    p1 = await store.upload_part("clips/x/one.webm", upload_id, 1, big)  # a retried part: the last one wins
    assert [o.key for o in await store.list("clips/")] == []  # invisible until completed
    info = await store.complete_multipart("clips/x/one.webm", upload_id, [p2, p1])
    assert info.size == len(big) + len(tail) and info.content_type == "video/webm"
    assert await store.get("clips/x/one.webm") == big + tail
    assert [o.key for o in await store.list("clips/")] == ["clips/x/one.webm"]


async def test_short_middle_parts_are_refused_and_abort_is_idempotent(store: ObjectStore) -> None:
    upload_id = await store.create_multipart("clips/x/two.webm")
    a = await store.upload_part("clips/x/two.webm", upload_id, 1, b"short")
    b = await store.upload_part("clips/x/two.webm", upload_id, 2, b"end")
    with pytest.raises(PartTooSmall):
        await store.complete_multipart("clips/x/two.webm", upload_id, [a, b])
    await store.abort_multipart("clips/x/two.webm", upload_id)
    await store.abort_multipart("clips/x/two.webm", upload_id)
    with pytest.raises(Exception):  # noqa: B017 - the backend's own "no such upload"
        await store.complete_multipart("clips/x/two.webm", upload_id, [UploadedPart(1, a.etag, 5)])
    assert await store.list("clips/") == []


# ---- uploads through the service ------------------------------------------------------------------------


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_a_clip_in_uneven_chunks_spans_parts_and_is_stored_as_evidence(
        store: ObjectStore, engine: AsyncEngine, court_url: str, big_clip: bytes) -> None:
    service = ClipService(engine, court_url, store)
    up = await service.create_upload(ACTOR, "petition", size=len(big_clip), content_type="video/webm;codecs=vp8,opus",
                                     sha256=sha(big_clip).upper())
    assert up.committed == 0 and up.state == "open" and up.content_type == "video/webm"
    rng = random.Random(7)
    await send_all(service, up.id, big_clip, [rng.randint(1, 1_500_000) for _ in range(50)])
    clip = await service.complete(up.id, ACTOR)
    assert (clip.size, clip.sha256, clip.container, clip.video_codec, clip.audio_codec) == (
        len(big_clip), sha(big_clip), "webm", "vp8", "opus")
    assert 11_900 <= clip.duration_ms <= 12_100
    assert await store.get(clip.object_key) == big_clip
    assert await store.list("clip-uploads/") == []  # every pending chunk went into a part and was removed
    async with engine.connect() as conn:
        parts = json.loads((await conn.execute(select(clip_uploads.c.parts)
                                               .where(clip_uploads.c.id == up.id))).scalar_one())
    assert all(size >= MIN_PART_SIZE for _, _, size in parts[:-1]) and sum(p[2] for p in parts) == len(big_clip)
    assert len(parts) == 3 and all(size < MIN_PART_SIZE + 1_500_000 for _, _, size in parts)
    assert await service.verify(clip.id)
    assert await service.complete(up.id, ACTOR) == clip  # repeatable
    assert [c.id for c in await service.clips_of("petition:p1")] == [clip.id]
    audit = SqlAuditLog(engine, court_url)
    stored = [e for e in await audit.entries() if e.action == "clip.stored"]
    assert len(stored) == 1 and stored[0].seq == clip.audit_seq and stored[0].details["sha256"] == sha(big_clip)
    assert await audit.verify() is None
    # The stored bytes altered behind the court's back: verify says so.
    await store.put(clip.object_key, big_clip[:-1] + b"\x00")
    assert not await service.verify(clip.id)


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_cut_chunks_keep_what_arrived_and_a_restart_resumes(
        store: ObjectStore, engine: AsyncEngine, court_url: str, big_clip: bytes) -> None:
    service = ClipService(engine, court_url, store)
    up = await service.create_upload(ACTOR, "petition", size=len(big_clip), content_type="video/webm",
                                     sha256=sha(big_clip))
    offset = 0
    for cut in (1, 999_999, 4_000_000, 3_333_333):  # drops at odd bytes, one of them mid-part
        chunk = big_clip[offset:offset + 8_000_000]
        up = await service.append(up.id, ACTOR.owner, offset, len(chunk), cut_after(chunk, cut))
        assert up.committed == offset + cut
        offset = up.committed
    # A client that did not hear the answer resends from an old offset: told where to resume, nothing stored.
    with pytest.raises(ClipRefused) as caught:
        await service.append(up.id, ACTOR.owner, 0, 10, body(big_clip[:10]))
    assert (caught.value.status, caught.value.code, caught.value.params) == (409, "clip_offset_mismatch",
                                                                             {"offset": offset})
    # The instance restarts: a new engine and service see the committed offset and carry on.
    await engine.dispose()
    fresh = make_engine(court_url)
    try:
        again = ClipService(fresh, court_url, store)
        assert (await again.upload(up.id)).committed == offset
        await send_all(again, up.id, big_clip, [2_000_000], start=offset)
        clip = await again.complete(up.id, ACTOR)
        assert clip.sha256 == sha(big_clip) and await store.get(clip.object_key) == big_clip
    finally:
        await fresh.dispose()


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_a_damaged_clip_is_refused_and_its_bytes_deleted(
        store: ObjectStore, engine: AsyncEngine, court_url: str, small_clip: bytes) -> None:
    service = ClipService(engine, court_url, store)
    up = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                     sha256=sha(small_clip))
    damaged = small_clip[:100] + bytes([small_clip[100] ^ 1]) + small_clip[101:]
    await send_all(service, up.id, damaged, [50_000])
    with pytest.raises(ClipRefused) as caught:
        await service.complete(up.id, ACTOR)
    assert caught.value.code == "clip_hash_mismatch" and caught.value.params["declared"] == sha(small_clip)
    assert (await service.upload(up.id)).state == "refused"
    assert await store.list("recordings/clips/") == [] and await store.list("clip-uploads/") == []
    with pytest.raises(ClipRefused) as again:
        await service.complete(up.id, ACTOR)
    assert again.value.code == "clip_upload_closed"


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("kind", "code"), [
    ("mpeg4", "clip_codec_refused"),
    ("too_long", "clip_too_long"),
    ("not_media", "clip_not_media"),
    ("declared_mp4", "clip_type_mismatch"),
    ("audio_only_needs_video", "clip_video_required"),
])
async def test_clips_that_are_not_what_the_court_accepts_are_refused(
        store: ObjectStore, engine: AsyncEngine, court_url: str, kind: str, code: str) -> None:
    policy = ClipPolicy()
    content_type = "video/webm"
    if kind == "mpeg4":
        data, content_type = make_clip("mp4", video="mpeg4", audio="aac"), "video/mp4"
    elif kind == "too_long":
        data, policy = make_clip(seconds=2), ClipPolicy(max_duration_ms=1000)
    elif kind == "not_media":
        data = random.Random(3).randbytes(5000)
    elif kind == "declared_mp4":
        data, content_type = make_clip(), "video/mp4"
    else:
        data, policy = make_clip(video=None), ClipPolicy(require_video=True)
    service = ClipService(engine, court_url, store, policy)
    up = await service.create_upload(ACTOR, "petition", size=len(data), content_type=content_type, sha256=sha(data))
    await send_all(service, up.id, data, [len(data)])
    with pytest.raises(ClipRefused) as caught:
        await service.complete(up.id, ACTOR)
    assert caught.value.code == code and caught.value.status == 422
    assert await store.list("recordings/clips/") == []


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_mp4_h264_aac_and_voice_only_clips_are_accepted(
        store: ObjectStore, engine: AsyncEngine, court_url: str) -> None:
    service = ClipService(engine, court_url, store)
    for data, content_type, codecs in [
        (make_clip("mp4", video="libx264", audio="aac"), "video/mp4", ("h264", "aac")),
        (make_clip(video="libvpx-vp9"), "video/webm", ("vp9", "opus")),
        (make_clip(video=None), "audio/webm", (None, "opus")),
    ]:
        up = await service.create_upload(ACTOR, "petition", size=len(data), content_type=content_type,
                                         sha256=sha(data))
        await send_all(service, up.id, data, [len(data)])
        clip = await service.complete(up.id, ACTOR)
        assert (clip.video_codec, clip.audio_codec) == codecs and 1900 <= clip.duration_ms <= 2100


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_refusals_before_any_byte(store: ObjectStore, engine: AsyncEngine, court_url: str,
                                        small_clip: bytes) -> None:
    service = ClipService(engine, court_url, store, ClipPolicy(max_bytes=1 << 20))
    for kwargs, code in [
        ({"size": 10, "content_type": "video/x-msvideo", "sha256": "0" * 64}, "clip_type_refused"),
        ({"size": 2 << 20, "content_type": "video/webm", "sha256": "0" * 64}, "clip_too_large"),
        ({"size": 0, "content_type": "video/webm", "sha256": "0" * 64}, "clip_size_invalid"),
        ({"size": 10, "content_type": "video/webm", "sha256": "xyz"}, "clip_sha256_invalid"),
    ]:
        with pytest.raises(ClipRefused) as caught:
            await service.create_upload(ACTOR, "petition", **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == code
    up = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                     sha256=sha(small_clip))
    for offset, length, code in [(0, len(small_clip) + 1, "clip_chunk_beyond_size"), (5, 1, "clip_offset_mismatch"),
                                 (0, 9 << 20, "clip_chunk_too_large"), (0, 0, "clip_chunk_empty")]:
        with pytest.raises(ClipRefused) as caught:
            service.check_chunk(up, offset, length)
        assert caught.value.code == code
    with pytest.raises(ClipRefused) as caught:  # a body longer than its declared length
        await service.append(up.id, ACTOR.owner, 0, 10, body(small_clip[:11]))
    assert caught.value.code == "clip_chunk_too_large" and (await service.upload(up.id)).committed == 0
    with pytest.raises(ClipRefused) as caught:  # someone else's upload does not exist for this caller
        await service.append(up.id, "petition:other", 0, 10, body(small_clip[:10]))
    assert caught.value.code == "clip_upload_not_found"
    with pytest.raises(ClipRefused) as caught:
        await service.complete(up.id, ACTOR)
    assert caught.value.code == "clip_upload_incomplete"
    await service.append(up.id, ACTOR.owner, 0, 10, body(small_clip[:10]))
    await service.abort(up.id, ACTOR)
    await service.abort(up.id, ACTOR)
    assert (await service.upload(up.id)).state == "aborted" and await store.list("clip-uploads/") == []


@pytest.mark.parametrize("court_url", ["postgres"], indirect=True)
async def test_on_postgresql_racing_chunks_at_one_offset_commit_once(
        store: ObjectStore, engine: AsyncEngine, court_url: str, small_clip: bytes) -> None:
    import asyncio

    service = ClipService(engine, court_url, store)
    up = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                     sha256=sha(small_clip))
    results = await asyncio.gather(
        *(service.append(up.id, ACTOR.owner, 0, 60_000, body(small_clip[:60_000])) for _ in range(4)),
        return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ClipRefused)]
    assert len(won) == 1 and len(lost) == 3 and all(r.code == "clip_offset_mismatch" for r in lost)
    await send_all(service, up.id, small_clip, [40_000], start=60_000)
    clip = await service.complete(up.id, ACTOR)
    assert clip.sha256 == sha(small_clip) and await service.verify(clip.id)


def test_every_refusal_code_has_a_chinese_and_an_english_text() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    codes = set()
    for source in (root / "recordings").glob("clip*.py"):
        codes |= set(re.findall(r'ClipRefused\(\s*\d+,\s*"([a-z_]+)"', source.read_text("utf-8")))
    assert {"clip_hash_mismatch", "clip_offset_mismatch", "clip_too_long"} <= codes
    i18n = (root / "web" / "js" / "i18n.js").read_text("utf-8")
    missing = sorted(c for c in codes if i18n.count(f"err_{c}:") != 2 and c != "not_authenticated")
    assert missing == [], f"add zh and en texts for {missing} to web/js/i18n.js"


@pytest.mark.parametrize("court_url", ["sqlite", "postgres"], indirect=True)
async def test_expired_uploads_are_swept_by_a_job_that_schedules_the_next(
        engine: AsyncEngine, court_url: str, tmp_path: Path, small_clip: bytes) -> None:
    from datetime import UTC, datetime, timedelta

    from docket.jobs import JobScheduler
    from recordings.clips import SWEEP_KIND, sweep_key

    now = [datetime(2026, 12, 7, 8, tzinfo=UTC)]
    store = LocalObjectStore(tmp_path / "objects", url_base="http://testserver", signing_key=b"k")
    service = ClipService(engine, court_url, store, clock=lambda: now[0])
    stale = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                        sha256=sha(small_clip))
    await service.append(stale.id, ACTOR.owner, 0, 1000, body(small_clip[:1000]))
    now[0] += timedelta(days=6)
    fresh = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                        sha256=sha(small_clip))
    now[0] += timedelta(days=1, seconds=1)  # the first upload is 7 days old, the second 1 day
    jobs = JobScheduler(engine, court_url, clock=lambda: now[0])
    jobs.register(SWEEP_KIND, service.sweep_handler())
    await jobs.schedule(SWEEP_KIND, sweep_key(now[0]), {}, now[0])
    assert await jobs.run_due() == 1
    assert (await service.upload(stale.id)).state == "aborted"
    assert (await service.upload(fresh.id)).state == "open"
    assert await store.list("clip-uploads/") == []
    with pytest.raises(ClipRefused) as caught:
        await service.append(stale.id, ACTOR.owner, 1000, 10, body(small_clip[1000:1010]))
    assert caught.value.code == "clip_upload_closed"
    following = await jobs.list(state="pending", kind=SWEEP_KIND)
    assert [j.due_at for j in following] == [now[0] + timedelta(hours=6)]
    assert await jobs.run_due() == 0


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_a_stalled_chunk_commits_what_arrived_when_the_client_comes_back(
        engine: AsyncEngine, court_url: str, tmp_path: Path, small_clip: bytes) -> None:
    """A link that died without a reset: the request hangs. The client's next HEAD (or chunk) stops it first."""
    import asyncio

    store = LocalObjectStore(tmp_path / "objects", url_base="http://testserver", signing_key=b"k")
    service = ClipService(engine, court_url, store)
    up = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                     sha256=sha(small_clip))
    consumed, never = asyncio.Event(), asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield small_clip[:30_000]
        yield small_clip[30_000:50_000]
        consumed.set()  # the server asked for more: both pieces are in its hands
        await never.wait()
        yield b""

    stale = asyncio.create_task(service.append(up.id, ACTOR.owner, 0, 80_000, stalls()))
    await asyncio.wait_for(consumed.wait(), 30)
    assert (await service.upload(up.id)).committed == 0
    await service.settle(up.id)  # what the HEAD route does before answering
    assert (await stale).committed == 50_000
    assert (await service.upload(up.id)).committed == 50_000
    # A new chunk while another request still reads one: the old one commits first, the new one is placed after.
    consumed.clear()

    async def stalls_again() -> AsyncIterator[bytes]:
        yield small_clip[50_000:60_000]
        consumed.set()
        await never.wait()
        yield b""

    stale = asyncio.create_task(service.append(up.id, ACTOR.owner, 50_000, 30_000, stalls_again()))
    await asyncio.wait_for(consumed.wait(), 30)
    with pytest.raises(ClipRefused) as caught:
        await service.append(up.id, ACTOR.owner, 50_000, 10, body(small_clip[50_000:50_010]))
    assert caught.value.code == "clip_offset_mismatch" and caught.value.params == {"offset": 60_000}
    assert (await stale).committed == 60_000
    # A body silent past the idle limit counts as cut too.
    idle = ClipService(engine, court_url, store, ClipPolicy(chunk_idle_seconds=0.2))
    consumed.clear()

    async def goes_silent() -> AsyncIterator[bytes]:
        yield small_clip[60_000:61_000]
        await never.wait()
        yield b""

    assert (await idle.append(up.id, ACTOR.owner, 60_000, 5000, goes_silent())).committed == 61_000


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_on_an_object_locked_bucket_a_stored_clip_is_retained(
        engine: AsyncEngine, court_url: str, small_clip: bytes, s3_server, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    store = S3ObjectStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket,
                          object_lock_days=30)
    try:
        service = ClipService(engine, court_url, store)
        up = await service.create_upload(ACTOR, "petition", size=len(small_clip), content_type="video/webm",
                                         sha256=sha(small_clip))
        await send_all(service, up.id, small_clip, [len(small_clip)])
        clip = await service.complete(up.id, ACTOR)
        assert clip.object_key.startswith("recordings/clips/")
        head = (await asyncio.to_thread(store._client.stat_object, s3_bucket, clip.object_key)).metadata
        assert head.get("x-amz-object-lock-mode") == "GOVERNANCE"
        assert await service.verify(clip.id)
    finally:
        await store.close()
