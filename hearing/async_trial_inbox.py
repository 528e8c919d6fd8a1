"""What is waiting for whom in an asynchronous trial (异步审理): the inbox page's pure core.

A party's inbox is every question addressed to them in an open stage that they have not answered, with their own
deadline (extensions included), whether it is past (`overdue`), whether the reminder window has begun (`due_soon`,
the day before, as the reminder job) and the extension granted to them, if any. The judge's inbox is every
unanswered (question, addressee) pair in open stages, so overdue answers are seen at a glance. Both are ordered by
deadline, soonest first. No I/O: the shell (hearing/api/async_inbox.py) reads the snapshots and the notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from docket.async_trial import Extension, Question, Stage, TrialSnapshot
from hearing import async_trial as rules


@dataclass(frozen=True, slots=True)
class Waiting:
    hearing_id: str
    stage: Stage
    question: Question
    participant_id: str  # who is to answer
    due_at: datetime
    overdue: bool
    due_soon: bool  # within the reminder lead before the deadline, not yet past it
    extension: Extension | None  # the latest extension granted to the addressee in this stage


def _extension(t: TrialSnapshot, stage: Stage, participant_id: str) -> Extension | None:
    granted = [e for e in t.extensions if e.stage_id == stage.id and e.participant_id == participant_id]
    return max(granted, key=lambda e: (e.due_at, e.granted_at)) if granted else None


def waiting(t: TrialSnapshot, now: datetime, *, participant_id: str | None = None,
            lead: timedelta = rules.REMINDER_LEAD) -> list[Waiting]:
    """Unanswered questions in open stages of an asynchronous trial — for one addressee, or (None) for everyone,
    as the judge sees them. A trial turned live has nothing waiting."""
    if t.kind != "async_trial":
        return []
    out = [Waiting(t.hearing_id, p.stage, p.question, p.participant_id, p.due_at, overdue=now >= p.due_at,
                   due_soon=p.due_at - lead <= now < p.due_at,
                   extension=_extension(t, p.stage, p.participant_id))
           for p in rules.pending(t) if participant_id is None or p.participant_id == participant_id]
    return sorted(out, key=lambda w: (w.due_at, w.question.number, w.participant_id))
