"""Follows the litigation facts register and runs handlers for each person with new facts, in the background.

Why: a fact recorded anywhere (the outcomes API, the hearing bridge, an import, another process) must be reflected
in the person's integrity code and points promptly, without the request that appended it waiting, and without
being lost if the process stops half-way. So:

- the position is a persisted cursor (the last seq handled, `CursorStore`), moved only after every handler has
  run for every person of a batch: a crash re-runs the batch, it never skips one. Facts have a gap-free commit
  order (docket.facts_sql), so `facts_after(cursor)` cannot pass a fact that commits late;
- the loop is woken in-process the moment facts commit (`SqlFactRecords.on_appended`), catches up at start, and
  polls every `poll_interval` seconds for what other processes appended (e.g. a CLI import);
- one instance at a time runs a pass (`FollowedFacts.exclusive`: a PostgreSQL advisory lock, released by the
  database if the holder dies), so across instances each handler runs once per fact; an instance that finds the
  lock held skips, because the holder is woken by the same appends (PostgreSQL LISTEN/NOTIFY reaches every
  instance, `listen_appended`) and goes round again. Handlers stay idempotent all the same (a batch cut short by a
  crash runs again): the points reconciliation posts by idempotency key, the integrity snapshot is skipped when
  an equal or newer one is stored;
- a handler that fails stops the batch, which is retried with backoff; when the same person's handler has failed
  `park_after` times in a row, that person's facts of the batch are parked (`facts_parked`, audited) and the
  follower moves on, so one bad fact does not hold back everyone after it. `retry_parked()` runs them again;
- the lag (facts after the cursor, and the age of the oldest of them) is kept for `/metrics`
  (`FollowerCollector`).

The handlers are injected (app/ wires integrity and points), so docket/ stays below both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from docket.facts import Fact, ParkedFact

log = logging.getLogger("docket.facts_follower")

PersonHandler = Callable[[str], Awaitable[object]]
"""Brings what one person derives from their facts up to date; idempotent."""


class Closable(Protocol):
    async def close(self) -> None: ...


class FollowedFacts(Protocol):
    """The register as the follower needs it (docket.facts_sql.SqlFactRecords)."""

    async def facts_after(self, seq: int, limit: int = 1000) -> list[Fact]: ...

    async def last_seq(self) -> int: ...

    def on_appended(self, listener: Callable[[int], None]) -> Callable[[], None]: ...

    def listen_appended(self, listener: Callable[[int], None]) -> Closable | None: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]: ...

    async def park(self, follower: str, facts: Sequence[Fact], handler: str, error: str, attempts: int) -> None: ...

    async def parked(self, follower: str) -> list[ParkedFact]: ...

    async def mark_retried(self, follower: str, person_id: str) -> None: ...


class CursorStore(Protocol):
    """Named cursors that only move forward (points.store_sql.SqlPointsStore implements it)."""

    async def get_cursor(self, name: str) -> int: ...

    async def set_cursor(self, name: str, seq: int) -> None: ...


class FactsFollower:
    """`start()` in the app's lifespan, `stop()` before the engine closes."""

    def __init__(self, facts: FollowedFacts, cursor: CursorStore, handlers: Sequence[PersonHandler], *,
                 name: str = "follower", batch: int = 500, poll_interval: float = 30.0,
                 retry_initial: float = 0.5, retry_max: float = 60.0, park_after: int = 5,
                 skip_retry: float = 1.0) -> None:
        if batch < 1 or poll_interval <= 0 or retry_initial <= 0 or retry_max < retry_initial or park_after < 1:
            raise ValueError("batch ≥ 1, poll_interval > 0, 0 < retry_initial ≤ retry_max and park_after ≥ 1")
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
        self.skipped = 0  # passes left to another instance that held the lock
        self.park_after = park_after
        self.skip_retry = skip_retry
        self.parked_total = 0  # facts this instance parked
        self.handled_total = 0  # handler runs (person × handler) this instance completed
        self.lag = 0  # facts in the register after the cursor, at the last look
        self.oldest_pending_at: datetime | None = None  # when the oldest of them was recorded
        self._attempts: dict[str, int] = {}  # person -> consecutive failed runs of their handlers
        self._listener: Closable | None = None
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

    @property
    def lag_seconds(self) -> float:
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (datetime.now(UTC) - self.oldest_pending_at).total_seconds())

    async def catch_up(self) -> int:
        """Run the handlers for everyone with facts after the cursor, batch by batch; returns the facts read
        (0 when another instance holds the pass). Raises what a handler raised (the cursor then stays before the
        failed batch) unless that person's facts were parked."""
        async with self._pass:  # one pass at a time in this process
            await self._measure_lag(await self.cursor.get_cursor(self.name))
            async with self.facts.exclusive(f"facts-follower:{self.name}") as held:
                if not held:
                    self.skipped += 1
                    return 0
                return await self._pass_locked()

    async def _pass_locked(self) -> int:
        read = 0
        after = await self.cursor.get_cursor(self.name)  # under the lock: what the last holder left
        self.followed_seq = max(self.followed_seq, after)
        while True:
            facts = await self.facts.facts_after(after, self.batch)
            if not facts:
                await self._measure_lag(after)
                return read
            self.oldest_pending_at = facts[0].recorded_at
            by_person: dict[str, list[Fact]] = {}
            for fact in facts:
                by_person.setdefault(fact.person_id, []).append(fact)
            for person_id, theirs in by_person.items():
                await self._run_handlers(person_id, theirs)
            after = facts[-1].seq
            await self.cursor.set_cursor(self.name, after)
            self.followed_seq = max(self.followed_seq, after)
            read += len(facts)
            if len(facts) < self.batch:
                await self._measure_lag(after)
                return read

    async def _run_handlers(self, person_id: str, facts: Sequence[Fact]) -> bool:
        """True when every handler ran; False when this person's facts were parked instead."""
        for handler in self.handlers:
            try:
                await handler(person_id)
            except Exception as exc:
                attempts = self._attempts[person_id] = self._attempts.get(person_id, 0) + 1
                if attempts < self.park_after:
                    raise
                await self.facts.park(self.name, facts, _handler_name(handler), f"{type(exc).__name__}: {exc}",
                                      attempts)
                self._attempts.pop(person_id, None)
                self.parked_total += len(facts)
                log.error("parked %d facts of a person after %d failed attempts of %s",
                          len(facts), attempts, _handler_name(handler), exc_info=exc)
                return False
            self.handled_total += 1
        self._attempts.pop(person_id, None)
        return True

    async def retry_parked(self) -> int:
        """Run the handlers again for everyone with parked facts (after the cause was fixed); returns how many
        people came through. Those who fail again stay parked."""
        done = 0
        async with self._pass, self.facts.exclusive(f"facts-follower:{self.name}") as held:
            if not held:
                return 0
            parked = await self.facts.parked(self.name)
            for person_id in dict.fromkeys(p.person_id for p in parked):
                try:
                    for handler in self.handlers:
                        await handler(person_id)
                except Exception:
                    log.exception("a parked person's handlers failed again")
                    continue
                await self.facts.mark_retried(self.name, person_id)
                done += 1
        return done

    async def _measure_lag(self, cursor: int) -> None:
        self.lag = max(0, await self.facts.last_seq() - cursor)
        if self.lag == 0:
            self.oldest_pending_at = None
        elif self.oldest_pending_at is None:
            pending = await self.facts.facts_after(cursor, 1)
            self.oldest_pending_at = pending[0].recorded_at if pending else None

    async def start(self) -> None:
        """Subscribe to appends and start the loop, which catches up first (without delaying the caller)."""
        if self.running:
            return
        self._unsubscribe = self.facts.on_appended(self.wake)
        self._listener = self.facts.listen_appended(self.wake)  # other processes' appends (PostgreSQL)
        self._wake.set()  # the catch-up at start
        self._task = asyncio.create_task(self._run(), name=f"facts-follower:{self.name}")

    async def stop(self) -> None:
        """Stop the loop; a pass cut short leaves the cursor before its batch, to be redone at the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
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
            skipped = self.skipped
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
            if self.skipped != skipped:
                # Another instance holds the pass: look again shortly, so this one's lag does not stay what it
                # was when the holder started (and nothing waits for a poll if a wake-up went only to us).
                await asyncio.sleep(self.skip_retry)
                self._wake.set()
                continue
            self.passes += 1
            delay = self.retry_initial
            if read:
                log.info("followed %d new facts up to seq %d", read, self.followed_seq)


def _handler_name(handler: PersonHandler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class FollowerCollector:
    """Prometheus metrics of one follower: lag in facts and seconds, parked facts, passes, failures."""

    def __init__(self, follower: FactsFollower) -> None:
        self.follower = follower

    def collect(self) -> Iterator[Metric]:
        f = self.follower
        labels = ["follower"]
        for name, doc, value in (
            ("hearing_facts_follower_lag_facts", "Facts recorded after the follower's cursor", f.lag),
            ("hearing_facts_follower_lag_seconds", "Age of the oldest fact not yet followed", f.lag_seconds),
            ("hearing_facts_follower_cursor", "The last fact seq the follower handled", f.followed_seq),
            ("hearing_facts_follower_failures", "Consecutive failed passes", f.failures),
        ):
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric([f.name], value)
            yield g
        for name, doc, value in (
            ("hearing_facts_follower_parked", "Facts this instance parked after repeated handler failures",
             f.parked_total),
            ("hearing_facts_follower_passes", "Passes this instance completed", f.passes),
            ("hearing_facts_follower_skipped", "Passes left to the instance holding the lock", f.skipped),
        ):
            c = CounterMetricFamily(name, doc, labels=labels)
            c.add_metric([f.name], value)
            yield c
