"""`AsyncTrialStore` on SQLAlchemy's async engine, over SQLite or PostgreSQL, sharing the court register's engine.

`apply` is the one write path: it begins a writer's transaction (`BEGIN IMMEDIATE` on SQLite), locks the hearing's
row FOR UPDATE (PostgreSQL), reads the whole trial, runs the caller's pure decision and writes the Change it returns
with its audit entry. So decisions on one hearing are taken one after the other on fresh state; and since a
procedure move updates the same hearing row, no decision is made in a state that has just changed. The unique
constraints (one answer per question and participant, one successor per chain link) are a second line behind the
lock. Lock order: hearing, audit chain head (as everywhere).
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy import Row, func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.async_trial import (
    Answer,
    Change,
    ClipRef,
    Consent,
    ConsentMethod,
    Extension,
    Question,
    Stage,
    StageKind,
    TrialSnapshot,
    Visibility,
)
from docket.audit import AuditEntry, append_in
from docket.court import NotFound
from docket.sql import parse_url
from docket.tables import hearings, participants
from docket.tables_async_trial import async_answers, async_consents, async_extensions, async_questions, async_stages
from docket.transactions import transaction

T = TypeVar("T")
Effect = Callable[[AsyncConnection, TrialSnapshot, Change], Awaitable[None]]
"""(conn, the trial as it is after the change, the change)."""


def _stage(r: Row[Any]) -> Stage:
    return Stage(r.id, r.hearing_id, r.number, StageKind(r.kind), Visibility(r.visibility), r.workdays, r.opened_by,
                 r.opened_at, r.due_at, r.closed_by, r.closed_at)


def _answer(r: Row[Any]) -> Answer:
    clip = None if r.clip_id is None else ClipRef(r.clip_id, r.clip_sha256, r.clip_size, r.clip_media_type)
    return Answer(r.id, r.hearing_id, r.question_id, r.participant_id, r.text, clip, tuple(json.loads(r.exhibit_ids)),
                  r.submitted_at, r.prev_hash, r.hash)


class SqlAsyncTrialStore:
    """The tables of migration 0019_async_trial, on the register's engine (audit entries in the same chain)."""

    def __init__(self, engine: AsyncEngine, url: str | URL) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url
        self.effects: list[Effect] = []
        """Run in the writing transaction after the change (jobs to schedule: docket.jobs.schedule_in)."""

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    async def _read(self, conn: AsyncConnection, hearing_id: str, *, lock: bool) -> TrialSnapshot:
        query = select(hearings.c.kind, hearings.c.state).where(hearings.c.id == hearing_id)
        row = (await conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            raise NotFound("hearing", hearing_id)
        people = {r.id: r.role for r in await conn.execute(
            select(participants.c.id, participants.c.role).where(participants.c.hearing_id == hearing_id))}
        consents = tuple(
            Consent(r.hearing_id, r.participant_id, r.given, ConsentMethod(r.method), r.note, r.recorded_by, r.at)
            for r in await conn.execute(select(async_consents).where(async_consents.c.hearing_id == hearing_id)
                                        .order_by(async_consents.c.seq)))
        stages = tuple(_stage(r) for r in await conn.execute(
            select(async_stages).where(async_stages.c.hearing_id == hearing_id).order_by(async_stages.c.number)))
        questions = tuple(
            Question(r.id, r.hearing_id, r.stage_id, r.number, tuple(json.loads(r.addressees)), r.text, r.clip_id,
                     r.clip_sha256, r.posted_by, r.posted_at)
            for r in await conn.execute(select(async_questions).where(async_questions.c.hearing_id == hearing_id)
                                        .order_by(async_questions.c.number)))
        extensions = tuple(
            Extension(r.id, r.hearing_id, r.stage_id, r.participant_id, r.due_at, r.reason, r.granted_by,
                      r.granted_at)
            for r in await conn.execute(select(async_extensions).where(async_extensions.c.hearing_id == hearing_id)
                                        .order_by(async_extensions.c.granted_at, async_extensions.c.id)))
        answers = tuple(_answer(r) for r in await conn.execute(
            select(async_answers).where(async_answers.c.hearing_id == hearing_id).order_by(async_answers.c.seq)))
        return TrialSnapshot(hearing_id, row.kind, row.state, people, consents, stages, questions, extensions,
                             answers)

    async def read_in(self, conn: AsyncConnection, hearing_id: str, *, lock: bool = False) -> TrialSnapshot:
        """The trial read in the caller's transaction (a job handler's)."""
        return await self._read(conn, hearing_id, lock=lock)

    async def snapshot(self, hearing_id: str) -> TrialSnapshot:
        async with self._tx(f"reading the asynchronous trial {hearing_id!r}") as conn:
            return await self._read(conn, hearing_id, lock=False)

    async def answer_of(self, hearing_id: str, answer_id: str) -> Answer:
        async with self._tx("reading an answer") as conn:
            row = (await conn.execute(select(async_answers).where(
                async_answers.c.id == answer_id, async_answers.c.hearing_id == hearing_id))).first()
        if row is None:
            raise NotFound("answer", answer_id)
        return _answer(row)

    async def hearings_with_open_stages(self) -> list[str]:
        async with self._tx("listing open stages") as conn:
            rows = await conn.execute(select(async_stages.c.hearing_id).where(async_stages.c.closed_at.is_(None))
                                      .order_by(async_stages.c.hearing_id))
            return [r.hearing_id for r in rows]

    async def apply(self, hearing_id: str,
                    decide: Callable[[TrialSnapshot], Awaitable[Change | T] | Change | T],
                    ) -> tuple[Change, AuditEntry] | T:
        async with self._tx(f"changing the asynchronous trial {hearing_id!r}", write=True) as conn:
            snapshot = await self._read(conn, hearing_id, lock=True)
            outcome = decide(snapshot)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if not isinstance(outcome, Change):
                return outcome
            await self._write(conn, hearing_id, outcome)
            entry = await append_in(conn, outcome.audit)
            if self.effects:
                after = await self._read(conn, hearing_id, lock=False)
                for effect in self.effects:
                    await effect(conn, after, outcome)
            return outcome, entry

    @staticmethod
    async def _next_seq(conn: AsyncConnection, table: Any, hearing_id: str) -> int:
        top = (await conn.execute(select(func.max(table.c.seq)).where(table.c.hearing_id == hearing_id))).scalar()
        return (top or 0) + 1

    async def _write(self, conn: AsyncConnection, hearing_id: str, c: Change) -> None:
        if c.consent is not None:
            k = c.consent
            await conn.execute(async_consents.insert().values(
                id=uuid.uuid4().hex,
                hearing_id=hearing_id, participant_id=k.participant_id,
                seq=await self._next_seq(conn, async_consents, hearing_id), given=k.given, method=k.method.value,
                note=k.note, recorded_by=k.recorded_by, at=k.at))
        if c.revert_to_live:
            await conn.execute(update(hearings).where(hearings.c.id == hearing_id, hearings.c.kind == "async_trial")
                               .values(kind="trial"))
        if c.close_stage is not None:
            sid, by, at = c.close_stage
            await conn.execute(update(async_stages).where(async_stages.c.id == sid, async_stages.c.closed_at.is_(None))
                               .values(closed_by=by, closed_at=at))
        if c.stage is not None:
            s = c.stage
            await conn.execute(async_stages.insert().values(
                id=s.id, hearing_id=hearing_id, number=s.number, kind=s.kind.value, visibility=s.visibility.value,
                workdays=s.workdays, opened_by=s.opened_by, opened_at=s.opened_at, due_at=s.due_at))
        if c.question is not None:
            q = c.question
            await conn.execute(async_questions.insert().values(
                id=q.id, hearing_id=hearing_id, stage_id=q.stage_id, number=q.number,
                addressees=json.dumps(list(q.addressees)), text=q.text, clip_id=q.clip_id, clip_sha256=q.clip_sha256,
                posted_by=q.posted_by, posted_at=q.posted_at))
        for e in c.extensions:
            await conn.execute(async_extensions.insert().values(
                id=e.id, hearing_id=hearing_id, stage_id=e.stage_id, participant_id=e.participant_id, due_at=e.due_at,
                reason=e.reason, granted_by=e.granted_by, granted_at=e.granted_at))
        if c.answer is not None:
            a = c.answer
            clip = a.clip
            await conn.execute(async_answers.insert().values(
                id=a.id, hearing_id=hearing_id, question_id=a.question_id, participant_id=a.participant_id,
                seq=await self._next_seq(conn, async_answers, hearing_id), text=a.text,
                clip_id=clip.clip_id if clip else None, clip_sha256=clip.sha256 if clip else None,
                clip_size=clip.size if clip else None, clip_media_type=clip.media_type if clip else None,
                exhibit_ids=json.dumps(list(a.exhibit_ids)), submitted_at=a.submitted_at, prev_hash=a.prev_hash,
                hash=a.hash))
