"""The manifest hash chain and the durable upload spool (local store, a store failing N times, moto's S3)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recordings.local_store import LocalObjectStore
from recordings.manifest import (
    GENESIS_HASH,
    BreakReason,
    ManifestChain,
    entry_key,
    from_json,
    load,
    to_json,
    to_jsonl,
    verify,
    verify_store,
)
from recordings.objectstore import ObjectInfo, ObjectStoreError
from recordings.s3_store import S3ObjectStore
from recordings.spool import Spool
from tests.conftest import S3Server, until


def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")


def chain_with_segments(blobs: dict[str, bytes]) -> list[Any]:
    c = ManifestChain("h1")
    entries = [c.append("start", {"actor_id": "judge-1", "at_us": 0})]
    for i, (key, data) in enumerate(blobs.items()):
        entries.append(c.segment(key=key, track_id="t1", kind="video", codec="vp8", index=i, start_us=i * 2_000_000,
                                 end_us=(i + 1) * 2_000_000, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
        if i == 0:
            entries.append(c.pause(reason="recess", actor_id="judge-1", at_us=2_000_000))
            entries.append(c.resume(reason="recess over", actor_id="judge-1", at_us=2_500_000))
    entries.append(c.append("stop", {"actor_id": "judge-1", "at_us": 9_000_000}))
    return entries


BLOBS = {f"recordings/h1/tracks/t1/{i:06d}.webm": bytes([i]) * (100 + i) for i in range(3)}


def test_chain_links_and_verifies() -> None:
    entries = chain_with_segments(BLOBS)
    assert entries[0].prev_hash == GENESIS_HASH and [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert verify(entries, BLOBS.get) is None
    assert [from_json(to_json(e)) for e in entries] == entries
    assert to_jsonl(entries).count(b"\n") == len(entries)


def test_verify_finds_the_first_problem() -> None:
    entries = chain_with_segments(BLOBS)
    altered = dict(BLOBS)
    altered[list(BLOBS)[1]] = b"tampered"
    b = verify(entries, altered.get)
    assert b is not None and b.reason == BreakReason.SEGMENT_ALTERED and "000001.webm" in b.detail
    missing = {k: v for k, v in BLOBS.items() if not k.endswith("000002.webm")}
    b = verify(entries, missing.get)
    assert b is not None and b.reason == BreakReason.SEGMENT_MISSING
    edited = list(entries)
    edited[2] = replace(edited[2], data={**edited[2].data, "reason": "lunch"})
    b = verify(edited, BLOBS.get)
    assert b is not None and (b.seq, b.reason) == (3, BreakReason.HASH_MISMATCH)
    b = verify(entries[:3] + entries[4:], BLOBS.get)
    assert b is not None and (b.seq, b.reason) == (4, BreakReason.GAP)
    # a rewritten entry with a fresh hash still breaks the link from its successor
    rechained = ManifestChain("h1", last_seq=1, last_hash="f" * 64).append("pause", {"reason": "x"})
    b = verify([entries[0], rechained, *entries[2:]], BLOBS.get)
    assert b is not None and (b.seq, b.reason) == (2, BreakReason.PREV_MISMATCH)


def test_floats_are_refused() -> None:
    with pytest.raises(ValueError, match="integer microseconds"):
        ManifestChain("h1").append("start", {"at": 1.5})


class FlakyStore:
    """An ObjectStore standing in for an outage: the first `fail` puts raise, then it behaves."""

    def __init__(self, inner: LocalObjectStore, fail: int) -> None:
        self.inner, self.fail, self.puts = inner, fail, 0

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        self.puts += 1
        if self.puts <= self.fail:
            raise ObjectStoreError(f"store unavailable (simulated outage, put {self.puts})")
        return await self.inner.put(key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_spool_uploads_verifies_and_empties(tmp_path: Path) -> None:
    s = store(tmp_path)
    spool = Spool(tmp_path / "spool", s, verify="hash")
    seg = tmp_path / "seg.webm"
    seg.write_bytes(b"segment bytes")
    spool.start()
    await spool.add_file("recordings/h1/tracks/t1/000000.webm", seg)
    await spool.add_bytes(entry_key("h1", 1), b"{}")
    await asyncio.wait_for(spool.drain(), 10)
    await spool.stop()
    assert await s.get("recordings/h1/tracks/t1/000000.webm") == b"segment bytes"
    assert not seg.exists() and list((tmp_path / "spool").iterdir()) == [] and spool.uploaded == 2


async def test_outage_delays_but_loses_nothing(tmp_path: Path) -> None:
    flaky = FlakyStore(store(tmp_path), fail=5)
    spool = Spool(tmp_path / "spool", flaky, base_delay=0.01, max_delay=0.05)  # type: ignore[arg-type]
    spool.start()
    for i in range(3):
        await spool.add_bytes(f"recordings/h1/tracks/t1/{i:06d}.webm", bytes([i]) * 10)
    await asyncio.wait_for(spool.drain(), 10)
    await spool.stop()
    assert spool.failures == 5 and spool.uploaded == 3 and "simulated outage" in (spool.last_error or "")
    assert [i.key for i in await flaky.inner.list("recordings/")] == [
        f"recordings/h1/tracks/t1/{i:06d}.webm" for i in range(3)]


async def test_recover_uploads_what_a_killed_process_left(tmp_path: Path) -> None:
    s = store(tmp_path)
    first = Spool(tmp_path / "spool", s)  # never started: the process "dies" with items spooled
    first.add_bytes_sync("recordings/h1/a", b"A")
    first.add_bytes_sync("recordings/h1/b", b"B")
    (tmp_path / "spool" / "99999999999999999999-1-00000000.data").write_bytes(b"interrupted add")
    second = Spool(tmp_path / "spool", s)
    assert await second.recover() == 2
    second.start()
    await asyncio.wait_for(second.drain(), 10)
    await second.stop()
    assert await s.get("recordings/h1/a") == b"A" and await s.get("recordings/h1/b") == b"B"
    assert list((tmp_path / "spool").iterdir()) == []


async def test_damaged_spool_file_is_never_uploaded(tmp_path: Path) -> None:
    s = store(tmp_path)
    spool = Spool(tmp_path / "spool", s, base_delay=0.01, max_delay=0.01)
    item = spool.add_bytes_sync("recordings/h1/a", b"original")
    item.data_path.write_bytes(b"edited!!")
    spool.enqueue(item)
    spool.start()
    await until(lambda: spool.failures >= 2, what="the damaged item refused (and refused again on the retry)")
    await spool.stop()
    assert spool.uploaded == 0 and "no longer matches its SHA-256" in (spool.last_error or "")
    assert await s.list("recordings/") == []


async def test_manifest_through_the_spool_verifies_in_the_store(tmp_path: Path) -> None:
    s = store(tmp_path)
    spool = Spool(tmp_path / "spool", s)
    spool.start()
    for key, data in BLOBS.items():
        await spool.add_bytes(key, data)
    for e in chain_with_segments(BLOBS):
        await spool.add_bytes(entry_key("h1", e.seq), to_json(e), content_type="application/json")
    await asyncio.wait_for(spool.drain(), 10)
    await spool.stop()
    entries, broken = await verify_store(s, "h1")
    assert broken is None and len(entries) == 7
    assert await load(s, "h1") == entries
    await s.put(next(iter(BLOBS)), b"tampered")
    _, broken = await verify_store(s, "h1")
    assert broken is not None and broken.reason == BreakReason.SEGMENT_ALTERED


async def test_s3_outage_then_recovery(tmp_path: Path, s3_bucket: str) -> None:
    """A private moto server (not the session one, which other tests share) is down while segments are spooled.

    Stopping moto *after* uploads would also wipe its in-memory bucket, so the outage is simulated as "down
    first, up later"; a restart mid-recording against real S3 keeps the bucket.
    """
    server = S3Server()
    s3 = S3ObjectStore(server.endpoint, server.access_key, server.secret_key, s3_bucket, connect_timeout=0.5)
    spool = Spool(tmp_path / "spool", s3, base_delay=0.05, max_delay=0.2)
    spool.start()
    try:
        for i in range(3):
            await spool.add_bytes(f"recordings/h1/tracks/t1/{i:06d}.webm", bytes([i]) * 1000)
        await until(lambda: spool.failures >= 2, what="two failed uploads while the endpoint is down")
        assert spool.uploaded == 0 and "cannot reach" in (spool.last_error or "")
        assert len(list((tmp_path / "spool").glob("*.data"))) == 3
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(spool.drain(), 30)
        assert [i.size for i in await s3.list("recordings/h1/")] == [1000, 1000, 1000]
        assert list((tmp_path / "spool").iterdir()) == []
    finally:
        await spool.stop()
        await s3.close()
        server.stop()


async def test_an_add_cut_off_before_its_commit_is_quarantined_not_uploaded(tmp_path: Path) -> None:
    """Bytes moved into the spool by a process killed before the sidecar: complete, never chained. Kept aside with a
    note (size, SHA-256) for an operator; not uploaded, since no manifest entry vouches for them; not deleted."""
    store = LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")
    spool = Spool(tmp_path / "spool", store, quarantine=tmp_path / "quarantine")
    committed = spool.add_bytes_sync("recordings/h/tracks/t/00000001-000000.webm", b"closed segment")
    orphan = tmp_path / "spool" / "00000000000000000001-1-00000009.data"
    orphan.write_bytes(b"a segment whose sidecar never came")
    (tmp_path / "spool" / "x.data.tmp-1").write_bytes(b"half")
    assert await spool.recover() == 1
    spool.start()
    await asyncio.wait_for(spool.drain(), 20)
    await spool.stop()
    assert [o.key for o in await store.list("recordings/")] == [committed.key]
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == []
    kept = tmp_path / "quarantine" / f"spool-{orphan.name}"
    assert kept.read_bytes() == b"a segment whose sidecar never came"
    note = json.loads((tmp_path / "quarantine" / f"{kept.name}.json").read_text())
    assert note["size"] == len(kept.read_bytes()) and note["sha256"] == hashlib.sha256(kept.read_bytes()).hexdigest()
