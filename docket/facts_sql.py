"""`FactRecords` on SQLAlchemy Core (async), over SQLite or PostgreSQL, sharing the court register's engine.

`seq` is max + 1, taken inside a write transaction that writers enter one at a time (PostgreSQL: a table lock
that readers ignore; SQLite: its single writer lock), under a unique constraint as a backstop. So seqs are
gap-free and commit in order — a follower reading `facts_after(n)` cannot pass a fact that commits later with a
smaller seq (as it could with a database sequence).

After a commit that appended facts, the listeners registered on the engine (`on_facts_appended`) are called with
the highest new seq: any writer on the engine (the outcomes API, the hearing bridge, imports) wakes the in-process
follower at once, whichever `SqlFactRecords` instance it used. The listeners only wake; the follower reads the
register itself, so a missed call (another process appended) loses nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import PERSONAL_KEYS, AuditEvent, append_in, canonical_json
from docket.court import InvalidRecord, NotFound
from docket.facts import ConflictingFact, Fact, FactKind, NewFact, ParkedFact
from docket.pg_listen import Listener, listen
from docket.records import RecordsError
from docket.sql import display_url, parse_url
from docket.tables import ID_LENGTH, persons
from docket.tables_facts_follower import facts_parked
from docket.tables_integrity import SOURCE_LENGTH, SOURCE_REF_LENGTH, litigation_facts
from docket.transactions import transaction
from docket.work_lock import exclusive

_SEQ_ATTEMPTS = 8
FACTS_CHANNEL = "hearing_facts_appended"
"""PostgreSQL NOTIFY channel: payload = the highest seq a commit appended."""
MAX_DETAILS_BYTES = 4096

log = logging.getLogger("docket.facts")

AppendListener = Callable[[int], None]
"""Called with the highest seq of a commit that appended facts; must not block (e.g. set an asyncio.Event)."""
_listeners: weakref.WeakKeyDictionary[AsyncEngine, list[AppendListener]] = weakref.WeakKeyDictionary()


def on_facts_appended(engine: AsyncEngine, listener: AppendListener) -> Callable[[], None]:
    """Call `listener(seq)` after every commit on `engine` that appended facts; returns the unsubscribe.

    Keyed by engine, not by `SqlFactRecords` instance, because each writer builds its own instance on the shared
    engine."""
    _listeners.setdefault(engine, []).append(listener)

    def unsubscribe() -> None:
        found = _listeners.get(engine, [])
        if listener in found:
            found.remove(listener)

    return unsubscribe


def _notify(engine: AsyncEngine, seq: int) -> None:
    for listener in list(_listeners.get(engine, ())):
        try:
            listener(seq)
        except Exception:  # a listener's bug must not fail the writer, whose facts are committed
            log.exception("a facts-appended listener failed")


def _now() -> datetime:
    return datetime.now(UTC)


def _check_details(details: Any) -> str:
    """Canonical JSON of `details`; refuse what would not compare equal after a round trip, or personal data."""
    if not isinstance(details, dict):
        try:
            details = dict(details)
        except (TypeError, ValueError):
            raise InvalidRecord("fact details must be a JSON object (a mapping)") from None
    for key in details:
        if not isinstance(key, str):
            raise InvalidRecord(f"fact detail key {key!r} must be a string")
        if key in PERSONAL_KEYS:
            raise InvalidRecord(f"fact details must not hold personal data ({key!r}); refer to people by id")
    try:
        text = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"fact details are not plain JSON ({exc})") from None
    if json.loads(text) != details:
        raise InvalidRecord("fact details must hold only JSON types (str, int, float, bool, null, list, object)")
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise InvalidRecord(f"fact details are over {MAX_DETAILS_BYTES} bytes; keep codes and ids, not documents")
    return text


def validate(fact: NewFact) -> tuple[FactKind, str]:
    """Check a new fact as the register would; returns its kind and canonical details. InvalidRecord says why."""
    try:
        kind = FactKind(fact.kind)
    except ValueError:
        raise InvalidRecord(
            f"fact kind {fact.kind!r} is not one of {', '.join(k.value for k in FactKind)}"
        ) from None
    for what, value, limit in (("person_id", fact.person_id, ID_LENGTH), ("source", fact.source, SOURCE_LENGTH),
                               ("source_ref", fact.source_ref, SOURCE_REF_LENGTH)):
        if not isinstance(value, str) or not value.strip() or value != value.strip() or len(value) > limit:
            raise InvalidRecord(f"fact {what} must be 1 to {limit} characters without surrounding spaces")
    if fact.case_number is not None and (
        not isinstance(fact.case_number, str) or not fact.case_number.strip() or len(fact.case_number) > ID_LENGTH
    ):
        raise InvalidRecord(f"fact case_number must be 1 to {ID_LENGTH} characters, or None")
    for what, value in (("occurred_on", fact.occurred_on), ("expires_on", fact.expires_on)):
        # datetime is a date subclass; a time of day would be silently dropped, so refuse it.
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise InvalidRecord(f"fact {what} must be a date (no time of day)")
    if fact.occurred_on is None:
        raise InvalidRecord("fact occurred_on is required")
    if fact.expires_on is not None and fact.expires_on < fact.occurred_on:
        raise InvalidRecord(f"fact expires_on {fact.expires_on} is before occurred_on {fact.occurred_on}")
    return kind, _check_details(fact.details)


def _fact(r: Row[Any]) -> Fact:
    return Fact(
        person_id=r.person_id, kind=FactKind(r.kind), occurred_on=r.occurred_on, source=r.source,
        source_ref=r.source_ref, case_number=r.case_number, details=json.loads(r.details), expires_on=r.expires_on,
        id=r.id, seq=int(r.seq), recorded_at=r.recorded_at,
    )


class SqlFactRecords:
    """`FactRecords` over SQL: `SqlFactRecords(court.engine, court.url)`; the schema is migration 0009_integrity."""

    def __init__(self, engine: AsyncEngine, url: str | URL | None = None) -> None:
        self.engine = engine
        # Only for error messages: the court's `url` is already the display form (password hidden).
        self._url: URL = engine.url if url is None else (parse_url(url) if isinstance(url, str) else url)

    def __repr__(self) -> str:
        return f"SqlFactRecords({display_url(self._url)!r})"

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    def on_appended(self, listener: AppendListener) -> Callable[[], None]:
        """`on_facts_appended` on this register's engine: woken by every writer in this process."""
        return on_facts_appended(self.engine, listener)

    def listen_appended(self, listener: AppendListener) -> Listener | None:
        """Woken by writers in every process: PostgreSQL LISTEN on the facts channel (None on SQLite, whose
        writers share this process). `listener(0)` after each (re)connect: NOTIFYs may have been missed."""
        if self.engine.dialect.name != "postgresql":
            return None
        return listen(self.engine, FACTS_CHANNEL, lambda payload: listener(int(payload) if payload else 0))

    def exclusive(self, name: str) -> AbstractAsyncContextManager[bool]:
        """One holder of `name` across instances (docket.work_lock)."""
        return exclusive(self.engine, name)

    # ---- facts a follower parked ---------------------------------------------------------------------------

    async def park(self, follower: str, facts: Sequence[Fact], handler: str, error: str, attempts: int) -> None:
        """Record that `handler` kept failing on these facts (one person's), audited in the same transaction."""
        if not facts:
            return
        now = _now()
        async with self._tx("parking litigation facts", write=True) as conn:
            for fact in facts:
                exists = (await conn.execute(select(facts_parked.c.fact_id).where(
                    facts_parked.c.follower == follower, facts_parked.c.fact_id == fact.id))).first()
                values = {"seq": fact.seq, "person_id": fact.person_id, "handler": handler[:128],
                          "error": error[:2000], "attempts": attempts, "parked_at": now, "retried_at": None}
                if exists:
                    await conn.execute(facts_parked.update().where(
                        facts_parked.c.follower == follower, facts_parked.c.fact_id == fact.id).values(**values))
                else:
                    await conn.execute(facts_parked.insert().values(follower=follower, fact_id=fact.id, **values))
            await append_in(conn, AuditEvent(
                "system", "system", "facts.parked", f"person:{facts[0].person_id}",
                {"follower": follower, "facts": [f.id for f in facts], "handler": handler[:128],
                 "attempts": attempts}))

    async def parked(self, follower: str, *, include_retried: bool = False) -> list[ParkedFact]:
        async with self._tx("reading parked facts") as conn:
            q = select(facts_parked).where(facts_parked.c.follower == follower)
            if not include_retried:
                q = q.where(facts_parked.c.retried_at.is_(None))
            rows = await conn.execute(q.order_by(facts_parked.c.seq))
            return [ParkedFact(r.fact_id, int(r.seq), r.person_id, r.handler, r.error, int(r.attempts),
                               r.parked_at, r.retried_at) for r in rows]

    async def mark_retried(self, follower: str, person_id: str) -> None:
        """The handlers succeeded for a person whose facts were parked: their parked facts are done."""
        async with self._tx("marking parked facts retried", write=True) as conn:
            await conn.execute(facts_parked.update().where(
                facts_parked.c.follower == follower, facts_parked.c.person_id == person_id,
                facts_parked.c.retried_at.is_(None)).values(retried_at=_now()))

    async def add_fact(self, fact: NewFact, *, audit: AuditEvent | None = None) -> Fact:
        return (await self.add_facts([fact], audit=audit))[0]

    async def add_facts(self, facts: Sequence[NewFact], *, audit: AuditEvent | None = None) -> list[Fact]:
        """Record several facts in one transaction: all or none (an import file). Each is idempotent as in
        `add_fact`; `audit` is appended once, and only if at least one fact is new."""
        checked = [(fact, *validate(fact)) for fact in facts]
        for _ in range(_SEQ_ATTEMPTS):
            try:
                async with self._tx("recording litigation facts", write=True) as conn:
                    if conn.dialect.name == "postgresql":
                        # Writers queue here (readers do not): numbering never races. SQLite's BEGIN IMMEDIATE
                        # already did the same.
                        await conn.exec_driver_sql("LOCK TABLE litigation_facts IN SHARE ROW EXCLUSIVE MODE")
                    stored = [await self._add_in(conn, fact, kind, details) for fact, kind, details in checked]
                    if audit is not None and any(new for _, new in stored):
                        await append_in(conn, audit)
                    new_seq = max((f.seq for f, new in stored if new), default=0)
                    if new_seq and conn.dialect.name == "postgresql":
                        # Delivered at commit to every instance's LISTEN (docket/pg_listen.py).
                        await conn.execute(text("SELECT pg_notify(:channel, :seq)"),
                                           {"channel": FACTS_CHANNEL, "seq": str(new_seq)})
                # Committed: wake the followers (only now, so they cannot read before the facts are visible).
                appended = max((f.seq for f, new in stored if new), default=0)
                if appended:
                    _notify(self.engine, appended)
                return [f for f, _ in stored]
            except RecordsError as exc:
                # A concurrent writer committed the same seq or (source, source_ref) first; the whole transaction
                # rolled back, so try again: the next attempt numbers anew or finds the other writer's fact.
                if isinstance(exc.__cause__, IntegrityError):
                    continue
                raise
        raise RecordsError("could not number litigation facts under contention; try again")

    async def _add_in(self, conn: AsyncConnection, fact: NewFact, kind: FactKind, details: str) -> tuple[Fact, bool]:
        existing = (await conn.execute(select(litigation_facts).where(
            litigation_facts.c.source == fact.source, litigation_facts.c.source_ref == fact.source_ref,
        ))).first()
        if existing is not None:
            stored = _fact(existing)
            if stored.same_content(fact):
                return stored, False
            raise ConflictingFact(fact.source, fact.source_ref, stored.id)
        if (await conn.execute(select(persons.c.id).where(persons.c.id == fact.person_id))).first() is None:
            raise NotFound("person", fact.person_id)
        seq = int((await conn.execute(select(func.coalesce(func.max(litigation_facts.c.seq), 0)))).scalar_one()) + 1
        fact_id = uuid.uuid4().hex
        await conn.execute(litigation_facts.insert().values(
            id=fact_id, seq=seq, person_id=fact.person_id, kind=kind.value, occurred_on=fact.occurred_on,
            source=fact.source, source_ref=fact.source_ref, case_number=fact.case_number, details=details,
            expires_on=fact.expires_on, recorded_at=_now(),
        ))
        row = (await conn.execute(select(litigation_facts).where(litigation_facts.c.id == fact_id))).one()
        return _fact(row), True

    async def find_fact(self, source: str, source_ref: str) -> Fact | None:
        async with self._tx("reading a litigation fact") as conn:
            row = (await conn.execute(select(litigation_facts).where(
                litigation_facts.c.source == source, litigation_facts.c.source_ref == source_ref))).first()
        return None if row is None else _fact(row)

    async def facts_of(self, person_id: str) -> list[Fact]:
        async with self._tx("reading a person's litigation facts") as conn:
            rows = await conn.execute(
                select(litigation_facts).where(litigation_facts.c.person_id == person_id)
                .order_by(litigation_facts.c.occurred_on, litigation_facts.c.seq)
            )
            return [_fact(r) for r in rows]

    async def facts_after(self, seq: int, limit: int = 1000) -> list[Fact]:
        if limit < 1:
            raise InvalidRecord("limit must be at least 1")
        async with self._tx("reading new litigation facts") as conn:
            rows = await conn.execute(
                select(litigation_facts).where(litigation_facts.c.seq > seq)
                .order_by(litigation_facts.c.seq).limit(limit)
            )
            return [_fact(r) for r in rows]

    async def get_fact(self, fact_id: str) -> Fact:
        async with self._tx(f"reading fact {fact_id!r}") as conn:
            row = (await conn.execute(select(litigation_facts).where(litigation_facts.c.id == fact_id))).first()
        if row is None:
            raise NotFound("fact", fact_id)
        return _fact(row)

    async def last_seq(self) -> int:
        async with self._tx("reading the last fact seq") as conn:
            return int((await conn.execute(select(func.coalesce(func.max(litigation_facts.c.seq), 0)))).scalar_one())
