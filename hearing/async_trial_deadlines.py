"""The asynchronous trial's deadlines through the one scheduler and notifier (docket.jobs, docket.notifications).

For every addressee still to answer in an open stage there are two jobs: a reminder a day before their deadline (to
the party's inbox) and an overdue flag at the deadline (to the presiding judge's inbox, and audited). They are
scheduled in the transaction that created the need (a stage opened, a question posted, a deadline extended:
`schedule_effect`, a store effect), keyed by stage, participant and due time, so a retried request leaves one job
and an extension simply adds the jobs for the new time. A job checks when it runs whether it still applies — the
answer may have come, the deadline may have moved, the stage may have closed — and otherwise does nothing; what it
writes commits with the job's "done" (exactly once).

Which jobs a trial needs is pure (`wanted`); the handlers are thin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from docket.async_trial import Change, TrialSnapshot
from docket.async_trial_sql import SqlAsyncTrialStore
from docket.audit import AuditEvent, append_in
from docket.jobs import Job, JobScheduler, schedule_in
from docket.notifications import notify_in, person_recipient
from docket.tables import panel_members, participants
from hearing import async_trial as rules

REMIND = "async_trial.remind"
OVERDUE = "async_trial.overdue"
REMINDER_CODE = "async_trial.reminder"  # to the party: {stage, due_at}
OVERDUE_CODE = "async_trial.overdue"  # to the presiding judge: {stage, participant, due_at}
REVERTED_CODE = "async_trial.reverted"  # to everyone in the hearing: a party withdrew, it is a live trial now


@dataclass(frozen=True, slots=True)
class WantedJob:
    kind: str
    key: str
    payload: dict[str, Any]
    due_at: datetime


def wanted(t: TrialSnapshot) -> list[WantedJob]:
    """The reminder and overdue jobs for every addressee still to answer in an open stage (one per due time)."""
    out: dict[str, WantedJob] = {}
    for p in rules.pending(t):
        payload = {"hearing": t.hearing_id, "stage": p.stage.id, "participant": p.participant_id,
                   "due_at": p.due_at.isoformat()}
        stamp = int(p.due_at.timestamp())
        for kind, at in ((REMIND, p.due_at - rules.REMINDER_LEAD), (OVERDUE, p.due_at)):
            key = f"{kind}:{p.stage.id}:{p.participant_id}:{stamp}"
            out[key] = WantedJob(kind, key, payload, at)
    return list(out.values())


def still_applies(t: TrialSnapshot, payload: dict[str, Any]) -> rules.Pending | None:
    """The pending answer a job was scheduled for, if it is still pending with the same deadline."""
    due = datetime.fromisoformat(payload["due_at"])
    for p in rules.pending(t):
        if p.stage.id == payload["stage"] and p.participant_id == payload["participant"] and p.due_at == due:
            return p
    return None


async def schedule_effect(conn: AsyncConnection, t: TrialSnapshot, change: Change) -> None:
    """Store effect: after a stage opens, a question is posted or a deadline extended, schedule what is due."""
    if change.stage is None and change.question is None and not change.extensions:
        return
    for job in wanted(t):
        await schedule_in(conn, job.kind, job.key, job.payload, job.due_at)


async def notice_effect(conn: AsyncConnection, t: TrialSnapshot, change: Change) -> None:
    """Store effect: when a withdrawal turns the hearing into a live trial, every participant gets a notice in their
    inbox, in the withdrawal's own transaction (the page shows it too)."""
    if not change.revert_to_live or change.consent is None:
        return
    rows = await conn.execute(select(participants.c.id, participants.c.person_id)
                              .where(participants.c.hearing_id == t.hearing_id))
    for row in rows.all():
        await notify_in(conn, person_recipient(row.person_id), REVERTED_CODE,
                        {"hearing": t.hearing_id, "party": change.consent.participant_id},
                        idempotency_key=f"{REVERTED_CODE}:{t.hearing_id}:{row.id}")


class DeadlineJobs:
    """The job handlers; `register` hands them to the scheduler."""

    def __init__(self, store: SqlAsyncTrialStore) -> None:
        self.store = store

    def register(self, scheduler: JobScheduler) -> None:
        scheduler.register(REMIND, self.remind)
        scheduler.register(OVERDUE, self.overdue)

    @staticmethod
    async def _person(conn: AsyncConnection, participant_id: str) -> str | None:
        row = (await conn.execute(select(participants.c.person_id).where(participants.c.id == participant_id)))
        found = row.first()
        return found.person_id if found else None

    async def remind(self, job: Job, conn: AsyncConnection) -> None:
        t = await self.store.read_in(conn, job.payload["hearing"])
        p = still_applies(t, job.payload)
        person = await self._person(conn, job.payload["participant"]) if p else None
        if p is None or person is None:
            return
        await notify_in(conn, person_recipient(person), REMINDER_CODE,
                        {"hearing": t.hearing_id, "stage": p.stage.kind.value, "due_at": p.due_at.isoformat(),
                         "question": p.question.number},
                        idempotency_key=job.key)

    async def overdue(self, job: Job, conn: AsyncConnection) -> None:
        t = await self.store.read_in(conn, job.payload["hearing"])
        p = still_applies(t, job.payload)
        if p is None:
            return
        row = (await conn.execute(select(panel_members.c.person_id).where(
            panel_members.c.hearing_id == t.hearing_id, panel_members.c.position == 0))).first()
        person = row.person_id if row else None  # the presiding judge
        await append_in(conn, AuditEvent("system", "system", "async_trial.overdue", f"hearing:{t.hearing_id}",
                                         {"stage": p.stage.id, "participant": p.participant_id,
                                          "due_at": p.due_at.isoformat()}))
        if person is not None:
            await notify_in(conn, person_recipient(person), OVERDUE_CODE,
                            {"hearing": t.hearing_id, "stage": p.stage.kind.value, "participant": p.participant_id,
                             "due_at": p.due_at.isoformat()}, idempotency_key=job.key)
