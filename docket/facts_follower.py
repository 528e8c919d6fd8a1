"""Follows the litigation facts register and runs handlers for each person with new facts, in the background.

Why: a fact recorded anywhere (the outcomes API, the hearing bridge, an import, another process) must be reflected
in the person's integrity code and points promptly, without the request that appended it waiting, and without
being lost if the process stops half-way. So:

- the position is a persisted cursor (the last seq handled, `CursorStore`), moved only after every handler has
  run for every person of a batch: a crash re-runs the batch, it never skips one. Facts have a gap-free commit
  order (docket.facts_sql), so `facts_after(cursor)` cannot pass a fact that commits late;
- the loop is woken in-process the moment facts commit (`SqlFactRecords.on_appended`), catches up at start, and
  polls every `poll_interval` seconds for what other processes appended (e.g. a CLI import);
- handlers must be idempotent (a batch may run twice, and several app instances follow the same register with the
  same cursor, which only ever moves forward): the points reconciliation posts by idempotency key, the integrity
  snapshot is skipped when an equal or newer one is stored.

A handler that fails stops the batch; the follower logs it and retries with backoff, rather than skipping a person.
The handlers are injected (app/ wires integrity and points), so docket/ stays below both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from docket.facts import Fact

log = logging.getLogger("docket.facts_follower")

PersonHandler = Callable[[str], Awaitable[object]]
"""Brings what one person derives from their facts up to date; idempotent."""


class FollowedFacts(Protocol):
    async def facts_after(self, seq: int, limit: int = 1000) -> list[Fact]: ...

    def on_appended(self, listener: Callable[[int], None]) -> Callable[[], None]: ...


class CursorStore(Protocol):
    """Named cursors that only move forward (points.store_sql.SqlPointsStore implements it)."""

    async def get_cursor(self, name: str) -> int: ...

    async def set_cursor(self, name: str, seq: int) -> None: ...


class FactsFollower:
    """`start()` in the app's lifespan, `stop()` before the engine closes."""

    def __init__(self, facts: FollowedFacts, cursor: CursorStore, handlers: Sequence[PersonHandler], *,
                 name: str = "follower", batch: int = 500, poll_interval: float = 30.0,
                 retry_initial: float = 0.5, retry_max: float = 60.0) -> None:
        if batch < 1 or poll_interval <= 0 or retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("batch ≥ 1, poll_interval > 0 and 0 < retry_initial ≤ retry_max")
        self.facts = facts
        self.cursor = cursor
        self.handlers = tuple(handlers)
        self.name = name
        self.batch = batch
        self.poll_interval = poll_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.followed_seq = 0  # the last seq this process handled (or found the cursor at)
        self.failures = 0  # consecutive failed passes; 0 when the last pass succeeded
        self.passes = 0  # completed passes of the loop (for health checks and tests)
        self._wake = asyncio.Event()
        self._pass = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self, seq: int = 0) -> None:
        """Ask for a pass soon (the facts register calls this after a commit that appended facts)."""
        self._wake.set()

    async def catch_up(self) -> int:
        """Run the handlers for everyone with facts after the cursor, batch by batch; returns the facts read.
        Raises what a handler raised (the cursor then stays before the failed batch)."""
        async with self._pass:  # one pass at a time in this process; other instances are harmless (idempotent)
            read = 0
            after = await self.cursor.get_cursor(self.name)
            self.followed_seq = max(self.followed_seq, after)
            while True:
                facts = await self.facts.facts_after(after, self.batch)
                if not facts:
                    return read
                for person_id in dict.fromkeys(f.person_id for f in facts):
                    for handler in self.handlers:
                        await handler(person_id)
                after = facts[-1].seq
                await self.cursor.set_cursor(self.name, after)
                self.followed_seq = max(self.followed_seq, after)
                read += len(facts)
                if len(facts) < self.batch:
                    return read

    async def start(self) -> None:
        """Subscribe to appends and start the loop, which catches up first (without delaying the caller)."""
        if self.running:
            return
        self._unsubscribe = self.facts.on_appended(self.wake)
        self._wake.set()  # the catch-up at start
        self._task = asyncio.create_task(self._run(), name=f"facts-follower:{self.name}")

    async def stop(self) -> None:
        """Stop the loop; a pass cut short leaves the cursor before its batch, to be redone at the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self.retry_initial
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()  # before reading: an append during the pass sets it again, and we go round again
            try:
                read = await self.catch_up()
            except Exception:
                self.failures += 1
                log.exception("following the facts register failed (%d in a row); retrying in %.1f s",
                              self.failures, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                self._wake.set()
                continue
            self.failures = 0
            self.passes += 1
            delay = self.retry_initial
            if read:
                log.info("followed %d new facts up to seq %d", read, self.followed_seq)
