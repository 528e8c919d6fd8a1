"""A node back after its room moved must not overwrite or fork the manifest: `upload_verdict` (pure, hypothesis)
and the spool with `ChainGuard` against a real local object store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from recordings.local_store import LocalObjectStore
from recordings.manifest import (
    GENESIS_HASH,
    ChainGuard,
    ManifestChain,
    ManifestEntry,
    entry_key,
    load,
    to_json,
    upload_verdict,
    verify_store,
)
from recordings.spool import Spool

HID = "h1"


def _entries(chain: ManifestChain, n: int, tag: str) -> list[ManifestEntry]:
    return [chain.append("pause" if i % 2 == 0 else "resume", {"reason": f"{tag}{i}", "actor_id": tag, "at_us": i})
            for i in range(n)]


def _fork(base: int, new: int, dead: int) -> tuple[list[ManifestEntry], list[ManifestEntry], list[ManifestEntry]]:
    """A chain of `base` entries, then two branches from its head: the new owner's (`new`) and the dead node's."""
    chain = ManifestChain(HID)
    common = _entries(chain, base, "base")
    fork_at = (chain.last_seq, chain.last_hash)
    ours = _entries(ManifestChain(HID, last_seq=fork_at[0], last_hash=fork_at[1]), new, "new")
    theirs = _entries(ManifestChain(HID, last_seq=fork_at[0], last_hash=fork_at[1]), dead, "dead")
    return common, ours, theirs


def _upload_all(store: dict[int, ManifestEntry], spooled: list[ManifestEntry]) -> list[str]:
    """The spool's FIFO through the verdict, against an in-memory store of seq -> entry."""
    verdicts = []
    for e in spooled:
        v = upload_verdict(e, store.get(e.seq), store.get(e.seq - 1))
        if v == "upload":
            store[e.seq] = e
        verdicts.append(v)
    return verdicts


def _one_chain(store: dict[int, ManifestEntry]) -> bool:
    last = GENESIS_HASH
    for seq in range(1, len(store) + 1):
        if seq not in store or store[seq].prev_hash != last:
            return False
        last = store[seq].hash
    return True


@given(st.integers(0, 6), st.integers(1, 6), st.integers(1, 6))
def test_a_dead_nodes_branch_never_enters_a_chain_that_moved_on(base: int, new: int, dead: int) -> None:
    common, ours, theirs = _fork(base, new, dead)
    store = {e.seq: e for e in (*common, *ours)}
    before = dict(store)
    assert _upload_all(store, theirs) == ["stale"] * dead
    assert store == before and _one_chain(store)


@given(st.integers(0, 6), st.integers(1, 6), st.integers(0, 6))
def test_an_upload_repeated_after_a_crash_is_done_and_the_rest_goes_on(base: int, done: int, rest: int) -> None:
    chain = ManifestChain(HID)
    entries = _entries(chain, base + done + rest, "e")
    store = {e.seq: e for e in entries[:base + done]}
    verdicts = _upload_all(store, entries[base:])  # the uploads of `done` entries are replayed
    assert verdicts == ["done"] * done + ["upload"] * rest
    assert _one_chain(store) and len(store) == len(entries)


def test_the_race_the_guard_cannot_win_is_refused_not_overwritten() -> None:
    """If the dead node uploads its branch before the new owner's first entry, the new owner's entries are the ones
    set aside: never an overwrite, never a fork (docs/deployment.md, "When a node dies")."""
    common, ours, theirs = _fork(3, 2, 2)
    store = {e.seq: e for e in common}
    assert _upload_all(store, theirs) == ["upload", "upload"]
    assert _upload_all(store, ours) == ["stale", "stale"]
    assert _one_chain(store)


async def test_the_spool_of_a_node_back_on_its_volume_keeps_its_stale_branch_aside(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "store", url_base="http://x", signing_key=b"k")
    common, ours, theirs = _fork(3, 2, 3)
    for e in (*common, *ours):
        await store.put(entry_key(HID, e.seq), to_json(e), "application/json")
    first = Spool(tmp_path / "spool", store)  # the dead node's spool, never drained: it "died" with these
    for e in theirs:
        first.add_bytes_sync(entry_key(HID, e.seq), to_json(e), content_type="application/json")
    segment = first.add_bytes_sync("recordings/h1/tracks/t/run2-00000001.webm", b"a closed segment")
    back = Spool(tmp_path / "spool", store, quarantine=tmp_path / "quarantine", check=ChainGuard(store))
    assert await back.recover() == len(theirs) + 1
    back.start()
    await asyncio.wait_for(back.drain(), 20)
    await back.stop()
    assert [e.hash for e in await load(store, HID)] == [e.hash for e in (*common, *ours)]  # untouched
    entries, broken = await verify_store(store, HID)
    assert broken is None and len(entries) == 5
    assert await store.get(segment.key) == b"a closed segment"  # segments keys are the run's own: uploaded
    notes = sorted((tmp_path / "quarantine").glob("stale-*.json"))
    assert len(notes) == len(theirs) and back.set_aside == len(theirs)
    kept = {json.loads(n.read_text())["key"] for n in notes}
    assert kept == {entry_key(HID, e.seq) for e in theirs}
    assert not list((tmp_path / "spool").glob("*.json"))
    await store.close()
