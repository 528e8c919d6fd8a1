"""A durable upload queue: recordings reach the object store eventually, whatever the store or the process does.

Why: an object-store outage must delay uploads, not lose evidence, and a killed process must lose at most the
segment being written.  So every closed segment (and every manifest entry) is first made durable in a local
spool directory, and only then handed to the uploader:

- ``<id>.data`` holds the bytes (moved in by rename when the file is already on the same disk, else written),
  fsync'ed; then ``<id>.json`` (the sidecar: object key, size, SHA-256, content type) is written atomically.
  The sidecar is the commit mark: a ``.data`` without one is an interrupted add and is removed by `recover()`.
- One uploader task uploads in id order (FIFO, so a manifest entry never lands before its segment), retries
  with exponential backoff (capped, forever by default: giving up would mean deleting evidence), checks the
  stored size (and, with ``verify="hash"``, reads it back and compares SHA-256), then deletes the sidecar and
  the data — in that order, so a crash in between leaves an orphan the next `recover()` removes.
- `recover()` at start-up re-queues every committed item left by a previous process.  Puts are idempotent
  (same key, same bytes), so an item uploaded just before a crash is simply uploaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recordings.durable import fsync_dir, write_atomically
from recordings.objectstore import ObjectStore, ObjectStoreError, check_key

__all__ = ["Spool", "SpoolItem"]

log = logging.getLogger(__name__)
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class SpoolItem:
    id: str
    key: str
    size: int
    sha256: str
    content_type: str
    data_path: Path
    meta_path: Path



def _sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


class Spool:
    """Durable FIFO of objects to upload to one `ObjectStore`; start the uploader with `start()`."""

    def __init__(
        self,
        directory: Path,
        store: ObjectStore,
        *,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        verify: Literal["size", "hash"] = "size",
        quarantine: Path | None = None,
        check: Callable[[str, bytes], Awaitable[str]] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.quarantine = quarantine
        # Asked before each upload: "upload", "done" (already stored) or "stale" (kept aside, never uploaded);
        # e.g. manifest.ChainGuard, so a node back after its room moved cannot overwrite or fork the chain.
        self.check = check
        self.set_aside = 0
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.verify = verify
        self._queue: asyncio.Queue[SpoolItem] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._queued: set[str] = set()
        # counters for metrics / tests
        self.uploaded = 0
        self.failures = 0
        self.last_error: str | None = None

    # -- adding ------------------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):08d}"

    def _commit(self, item_id: str, key: str, size: int, sha256: str, content_type: str) -> SpoolItem:
        meta = self.directory / f"{item_id}.json"
        write_atomically(meta, json.dumps({"key": key, "size": size, "sha256": sha256,
                                         "content_type": content_type}).encode(), sync_dir=False)
        fsync_dir(self.directory)
        return SpoolItem(item_id, key, size, sha256, content_type, self.directory / f"{item_id}.data", meta)

    def add_file_sync(self, key: str, path: Path, *, sha256: str | None = None,
                      content_type: str = "application/octet-stream") -> SpoolItem:
        """Move a closed file into the spool (rename: it must be on the same filesystem) and commit it.

        Blocking (fsync): call from a worker thread, then `enqueue()` the item on the event loop.
        """
        check_key(key)
        item_id = self._new_id()
        data = self.directory / f"{item_id}.data"
        os.replace(path, data)
        size, digest = _sha256_file(data) if sha256 is None else (data.stat().st_size, sha256)
        return self._commit(item_id, key, size, digest, content_type)

    def add_bytes_sync(self, key: str, payload: bytes, *, content_type: str = "application/octet-stream"
                       ) -> SpoolItem:
        """Write `payload` durably into the spool and commit it (blocking; see `add_file_sync`)."""
        check_key(key)
        item_id = self._new_id()
        write_atomically(self.directory / f"{item_id}.data", payload, sync_dir=False)
        return self._commit(item_id, key, len(payload), hashlib.sha256(payload).hexdigest(), content_type)

    def enqueue(self, item: SpoolItem) -> None:
        """Hand a committed item to the uploader (event-loop thread only)."""
        if item.id not in self._queued:
            self._queued.add(item.id)
            self._queue.put_nowait(item)

    async def add_file(self, key: str, path: Path, *, sha256: str | None = None,
                       content_type: str = "application/octet-stream") -> SpoolItem:
        item = await asyncio.to_thread(self.add_file_sync, key, path, sha256=sha256, content_type=content_type)
        self.enqueue(item)
        return item

    async def add_bytes(self, key: str, payload: bytes, *, content_type: str = "application/octet-stream"
                        ) -> SpoolItem:
        item = await asyncio.to_thread(self.add_bytes_sync, key, payload, content_type=content_type)
        self.enqueue(item)
        return item

    # -- recovery ----------------------------------------------------------------------------------------

    def _scan(self) -> list[SpoolItem]:
        items = []
        committed = set()
        for meta in sorted(self.directory.glob("*.json")):
            item_id = meta.stem
            try:
                d = json.loads(meta.read_bytes())
                item = SpoolItem(item_id, str(d["key"]), int(d["size"]), str(d["sha256"]),
                                 str(d.get("content_type", "application/octet-stream")),
                                 self.directory / f"{item_id}.data", meta)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("spool: unreadable sidecar %s (%s); left in place for an operator to inspect", meta, exc)
                continue
            if not item.data_path.exists():  # uploaded and data deleted, crash before the sidecar went
                meta.unlink(missing_ok=True)
                continue
            committed.add(item_id)
            items.append(item)
        for leftover in itertools.chain(self.directory.glob("*.data"), self.directory.glob("*.tmp-*")):
            if ".tmp-" in leftover.name:
                leftover.unlink(missing_ok=True)  # a half-written file: never complete
            elif leftover.stem not in committed:
                self._set_aside(leftover)
        return items

    def _set_aside(self, data: Path) -> None:
        """An add interrupted between moving the bytes in and committing the sidecar: complete, never chained.

        Like a closed segment that never reached the spool (recordings.leftovers), it is kept in the quarantine
        folder with a note for an operator, not uploaded (no manifest entry vouches for it) and not deleted.
        """
        try:
            size, digest = _sha256_file(data)
        except OSError:
            return
        if self.quarantine is None:
            log.warning("spool: removing %s (%d bytes), added by a process that stopped before committing it; it "
                        "was never in a manifest", data, size)
            data.unlink(missing_ok=True)
            return
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target = self.quarantine / f"spool-{data.name}"
        note = {"source": "spool", "file": target.name, "size": size, "sha256": digest,
                "reason": "added to the upload spool by a process that stopped before committing it; never chained"}
        try:
            write_atomically(self.quarantine / f"{target.name}.json", json.dumps(note).encode())
            os.replace(data, target)
            fsync_dir(self.quarantine)
        except OSError as exc:
            log.error("spool: could not quarantine %s (%s); left in place for the next start", data, exc)
            return
        log.warning("spool: %s (%d bytes, never chained) kept in %s for an operator", data.name, size, target)

    def pending_items(self, prefix: str) -> list[SpoolItem]:
        """Committed items whose key starts with `prefix` that are not uploaded yet (read-only; for chain recovery)."""
        items = []
        for meta in sorted(self.directory.glob("*.json")):
            try:
                d = json.loads(meta.read_bytes())
            except (OSError, ValueError):
                continue
            data = self.directory / f"{meta.stem}.data"
            if isinstance(d, dict) and str(d.get("key", "")).startswith(prefix) and data.exists():
                items.append(SpoolItem(meta.stem, str(d["key"]), int(d.get("size", 0)), str(d.get("sha256", "")),
                                       str(d.get("content_type", "application/octet-stream")), data, meta))
        return items

    async def recover(self) -> int:
        """Re-queue what a previous process left in the spool; returns how many items."""
        items = await asyncio.to_thread(self._scan)
        for item in items:
            self.enqueue(item)
        return len(items)

    # -- uploading ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"spool-uploader:{self.directory}")

    async def stop(self) -> None:
        """Stop uploading (items stay spooled and are recovered next time)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self) -> None:
        """Wait until everything queued so far is uploaded (the uploader must be running)."""
        await self._queue.join()

    @property
    def pending(self) -> int:
        return len(self._queued)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._upload_with_retries(item)
            finally:
                self._queue.task_done()

    async def _upload_with_retries(self, item: SpoolItem) -> None:
        delay = self.base_delay
        while True:
            try:
                await self._upload(item)
                break
            except (ObjectStoreError, OSError) as exc:
                self.failures += 1
                self.last_error = f"uploading {item.key} failed: {exc}"
                log.warning("spool: %s; retrying in %.1f s (the segment stays in %s)", self.last_error, delay,
                            self.directory)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        self.uploaded += 1
        self._queued.discard(item.id)

    async def _upload(self, item: SpoolItem) -> None:
        data = await asyncio.to_thread(item.data_path.read_bytes)
        if len(data) != item.size or hashlib.sha256(data).hexdigest() != item.sha256:
            # the spooled copy itself is damaged: never upload it as if it were the recording
            raise OSError(f"spooled file {item.data_path} no longer matches its SHA-256; the disk is failing "
                          "or someone edited it: keep the spool directory for investigation")
        verdict = "upload" if self.check is None else await self.check(item.key, data)
        if verdict == "done":
            await asyncio.to_thread(self._remove, item)
            return
        if verdict != "upload":
            await asyncio.to_thread(self._keep_stale, item)
            return
        await self.store.put(item.key, data, item.content_type)
        info = await self.store.stat(item.key)
        if info.size != item.size:
            raise ObjectStoreError(f"{item.key}: the store holds {info.size} bytes, {item.size} were uploaded")
        if self.verify == "hash":
            stored = await self.store.get(item.key)
            if hashlib.sha256(stored).hexdigest() != item.sha256:
                raise ObjectStoreError(f"{item.key}: the stored bytes do not match the uploaded SHA-256")
        await asyncio.to_thread(self._remove, item)

    def _keep_stale(self, item: SpoolItem) -> None:
        """An item the check refused: kept in the quarantine with a note (or in the spool's own `stale/` folder),
        never uploaded and never deleted: it is evidence an operator may need to explain."""
        self.set_aside += 1
        folder = self.quarantine or self.directory / "stale"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"stale-{item.id}.data"
        note = {"source": "spool", "file": target.name, "key": item.key, "size": item.size, "sha256": item.sha256,
                "reason": "the store's chain has moved on without it (its room was re-placed while this node was "
                          "down): not uploaded, so it neither overwrites nor forks the manifest"}
        write_atomically(folder / f"{target.name}.json", json.dumps(note).encode())
        os.replace(item.data_path, target)
        fsync_dir(folder)
        item.meta_path.unlink(missing_ok=True)
        log.warning("spool: %s not uploaded (the chain moved on without it); kept in %s", item.key, target)

    @staticmethod
    def _remove(item: SpoolItem) -> None:
        item.meta_path.unlink(missing_ok=True)
        item.data_path.unlink(missing_ok=True)
