"""The asynchronous trial's thin shell: reads the clock, the working-day calendar, the clip store and the exhibits,
and lets the store apply the pure decisions of hearing.async_trial with their audit entries in one transaction.

Also the scheduling guard the procedure service asks before every move: an asynchronous trial does not leave
`scheduled` until every party has consented (`guard`). What each person was shown is audited too
(`async_trial.answers_viewed`, `async_trial.clip_viewed`): answers are evidence, and who saw the other side's answer
when is part of the record.

The calendar and the clip store are handed in (the court's working-day calendar, docket.workdays; the one resumable
clip upload, recordings.clips), so this module neither counts days nor stores bytes itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from docket.async_trial import (
    Answer,
    AsyncTrialStore,
    Change,
    ClipRef,
    ConsentMethod,
    Question,
    StageKind,
    TrialSnapshot,
    Visibility,
)
from docket.audit import AuditEntry, AuditEvent, AuditLog
from docket.court import CourtRecords, Hearing, NotFound
from docket.exhibits import ExhibitRecords
from hearing import async_trial as rules
from hearing.async_trial import Code, Refused
from hearing.async_trial_record import assemble
from hearing.courtroom import STAFF_ROLES
from hearing.kinds import HearingKind, ProcedureState
from hearing.procedure import Moved
from hearing.procedure import RefusalCode as ProcedureRefusal
from hearing.procedure import Refused as ProcedureRefused
from hearing.procedure_service import Actor
from hearing.transcript_service import TranscriptService

log = logging.getLogger("hearing.async_trial")


class DeadlineCalendar(Protocol):
    """The court's working-day calendar (docket.workdays.WorkdayCalendar): `deadline(at, n).due_at` is the end of
    working day n counted from `at` (the day itself not counted)."""

    def deadline(self, filed_at: datetime, n: int) -> Any: ...


class ClipSource(Protocol):
    """The shared clip store, as this service needs it: a finished clip's checked reference, if `owner` uploaded
    it for this hearing; and a short-lived link to play it."""

    async def clip_for(self, clip_id: str, *, owner: str, scope: str) -> ClipRef | None: ...

    async def play_url(self, clip_id: str) -> tuple[str, datetime]: ...


@dataclass(frozen=True, slots=True)
class Done:
    change: Change
    audit: AuditEntry


@dataclass(frozen=True, slots=True)
class View:
    """What a viewer may see now: the trial, the questions for them (all for staff), the answers they may see."""

    trial: TrialSnapshot
    questions: list[Question]
    answers: list[Answer]
    staff: bool
    now: datetime


Listener = Callable[[Hearing, Done], Awaitable[None]]


def clip_scope(hearing_id: str) -> str:
    """The clip store's scope for clips recorded for this hearing."""
    return f"hearing:{hearing_id}"


@dataclass
class AsyncTrialService:
    court: CourtRecords
    store: AsyncTrialStore
    audit: AuditLog
    calendar: Callable[[], Awaitable[DeadlineCalendar]] | None = None  # the calendar as the court keeps it now
    clips: ClipSource | None = None
    exhibits: ExhibitRecords | None = None
    transcripts: TranscriptService | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    listeners: list[Listener] = field(default_factory=list)  # hear of every applied change (notices, reminders)

    async def _apply(self, hearing_id: str, decide: Callable[[TrialSnapshot], Change | Refused]) -> Done | Refused:
        outcome = await self.store.apply(hearing_id, decide)
        if isinstance(outcome, Refused):
            return outcome
        change, entry = outcome
        done = Done(change, entry)
        hearing = await self.court.get_hearing(hearing_id)
        for listener in self.listeners:
            try:
                await listener(hearing, done)
            except Exception:  # the change stands; a listener that failed is logged, not the caller's problem
                log.exception("an async trial listener failed", extra={"hearing": hearing_id})
        return done

    # ---- consent ------------------------------------------------------------------------------------------

    async def consent(self, hearing_id: str, party_id: str, by: Actor, *, given: bool,
                      method: ConsentMethod = ConsentMethod.ONLINE, note: str = "") -> Done | Refused:
        at = self.clock()
        return await self._apply(hearing_id, lambda t: rules.decide_consent(
            t, party_id, given=given, method=method, note=note, recorded_by=by.id, recorder_role=by.role.value,
            at=at))

    async def guard(self, hearing: Hearing, actor: Actor, moved: Moved) -> ProcedureRefused | None:
        """The procedure service's check: an asynchronous trial leaves `scheduled` only with every consent."""
        if hearing.kind is not HearingKind.ASYNC_TRIAL or moved.source is not ProcedureState.SCHEDULED:
            return None
        refusal = rules.schedule_refusal(await self.store.snapshot(hearing.id))
        if refusal is None:
            return None
        names = await self.names(refusal.params.get("missing", []))
        return ProcedureRefused(ProcedureRefusal.CONSENT_MISSING,
                                f"{refusal.reason}: {', '.join(names) or 'no party is registered'}",
                                {"missing": names})

    async def names(self, participant_ids: Iterable[str]) -> list[str]:
        """The register's names of participants, for messages a person reads (never ids)."""
        out = []
        for pid in participant_ids:
            try:
                out.append((await self.court.get_person((await self.court.get_participant(pid)).person_id)).name)
            except NotFound:
                out.append("?")
        return out

    # ---- stages -------------------------------------------------------------------------------------------

    async def open_stage(self, hearing_id: str, by: Actor, kind: StageKind, visibility: Visibility,
                         workdays: int) -> Done | Refused:
        at = self.clock()
        if self.calendar is None:
            raise RuntimeError("the asynchronous trial needs the court's working-day calendar")
        if not 1 <= workdays <= rules.MAX_WORKDAYS:
            return Refused(Code.BAD_WORKDAYS, f"a stage lasts 1 to {rules.MAX_WORKDAYS} working days",
                           {"limit": rules.MAX_WORKDAYS})
        try:
            due_at = (await self.calendar()).deadline(at, workdays).due_at
        except LookupError as exc:  # docket.workdays.CalendarNotCovered: the year's holidays are not entered yet
            return Refused(Code.CALENDAR_NOT_COVERED, str(exc), dict(getattr(exc, "params", {})))
        stage_id = uuid.uuid4().hex
        return await self._apply(hearing_id, lambda t: rules.decide_open_stage(
            t, kind, visibility, workdays, by=by.id, role=by.role.value, at=at, due_at=due_at, stage_id=stage_id))

    async def close_stage(self, hearing_id: str, by: Actor, stage_id: str) -> Done | Refused:
        at = self.clock()
        return await self._apply(hearing_id, lambda t: rules.decide_close_stage(t, stage_id, by=by.id,
                                                                                role=by.role.value, at=at))

    async def ask(self, hearing_id: str, by: Actor, stage_id: str, addressees: Sequence[str] | None, text: str,
                  clip_id: str | None = None) -> Done | Refused:
        at = self.clock()
        clip = None
        if clip_id is not None:
            found = await self._clip(hearing_id, clip_id, by.id)
            if isinstance(found, Refused):
                return found
            clip = found
        qid = uuid.uuid4().hex
        return await self._apply(hearing_id, lambda t: rules.decide_question(
            t, stage_id, addressees, text, clip, by=by.id, role=by.role.value, at=at, question_id=qid))

    async def extend(self, hearing_id: str, by: Actor, stage_id: str, participant_ids: Sequence[str] | None,
                     due_at: datetime, reason: str) -> Done | Refused:
        at = self.clock()
        if due_at.tzinfo is None:
            return Refused(Code.NOT_LATER, "give the new deadline with its time zone")
        ids = [uuid.uuid4().hex for _ in range(64)]
        return await self._apply(hearing_id, lambda t: rules.decide_extension(
            t, stage_id, participant_ids, due_at, reason, by=by.id, role=by.role.value, at=at, ids=ids))

    # ---- answers ------------------------------------------------------------------------------------------

    async def _clip(self, hearing_id: str, clip_id: str, owner: str) -> ClipRef | Refused:
        if self.clips is None:
            return Refused(Code.BAD_CLIP, "recorded clips are not available on this server")
        clip = await self.clips.clip_for(clip_id, owner=owner, scope=clip_scope(hearing_id))
        if clip is None:
            return Refused(Code.BAD_CLIP, "no finished, checked clip of yours with that id for this hearing; "
                                          "finish the upload first")
        return clip

    async def answer(self, hearing_id: str, participant_id: str, question_id: str, text: str,
                     clip_id: str | None = None, exhibit_ids: Sequence[str] = ()) -> Done | Refused:
        at = self.clock()
        clip = None
        if clip_id is not None:
            found = await self._clip(hearing_id, clip_id, participant_id)
            if isinstance(found, Refused):
                return found
            clip = found
        for exhibit_id in dict.fromkeys(exhibit_ids):
            if self.exhibits is None:
                return Refused(Code.BAD_EXHIBIT, "exhibits are not available on this server")
            try:
                exhibit = await self.exhibits.get_exhibit(exhibit_id)
            except NotFound:
                exhibit = None
            if exhibit is None or exhibit.hearing_id != hearing_id or exhibit.uploaded_by != participant_id \
                    or exhibit.withdrawn:
                return Refused(Code.BAD_EXHIBIT, "attach exhibits you uploaded to this hearing (and have not "
                                                 "withdrawn)", {"exhibit": exhibit.display_name if exhibit else ""})
        answer_id = uuid.uuid4().hex
        return await self._apply(hearing_id, lambda t: rules.decide_answer(
            t, question_id, participant_id, text, clip, exhibit_ids, at=at, answer_id=answer_id))

    # ---- what each person sees ----------------------------------------------------------------------------

    async def view(self, hearing_id: str, viewer: Actor) -> View:
        """The viewer's view now; the other side's answers shown to a party are audited as seen."""
        now = self.clock()
        t = await self.store.snapshot(hearing_id)
        staff = viewer.role in STAFF_ROLES
        answers = rules.visible_answers(t, viewer.id, staff=staff, now=now)
        questions = list(t.questions) if staff else rules.asked_of(t, viewer.id)
        if not staff:  # a party sees the questions others were asked too once they see an answer to them
            seen = {a.question_id for a in answers}
            questions = [q for q in t.questions if q in questions or q.id in seen]
        others = [a.id for a in answers if a.participant_id != viewer.id]
        if others:
            await self.audit.append(AuditEvent(viewer.id, viewer.role.value, "async_trial.answers_viewed",
                                               f"hearing:{hearing_id}", {"answers": others[:100],
                                                                         "count": len(others)}))
        return View(t, questions, answers, staff, now)

    async def play(self, hearing_id: str, viewer: Actor, answer_id: str | None = None,
                   question_id: str | None = None) -> tuple[str, datetime, ClipRef] | Refused:
        """A short-lived link to an answer's (or question's) clip, if the viewer may see it; audited."""
        now = self.clock()
        t = await self.store.snapshot(hearing_id)
        staff = viewer.role in STAFF_ROLES
        clip: ClipRef | None = None
        if answer_id is not None:
            a = next((a for a in t.answers if a.id == answer_id), None)
            if a is None or not rules.may_see(t, a, viewer.id, staff=staff, now=now):
                return Refused(Code.NO_SUCH_ANSWER, "no answer you may see with that id")
            clip = a.clip
        elif question_id is not None:
            q = next((q for q in t.questions if q.id == question_id), None)
            if q is None or not (staff or viewer.id in q.addressees):
                return Refused(Code.NO_SUCH_QUESTION, "no question you may see with that id")
            if q.clip_id is not None:
                clip = ClipRef(q.clip_id, q.clip_sha256 or "", 0, "")
        if clip is None or self.clips is None:
            return Refused(Code.BAD_CLIP, "this has no recorded clip")
        url, expires = await self.clips.play_url(clip.clip_id)
        await self.audit.append(AuditEvent(viewer.id, viewer.role.value, "async_trial.clip_viewed",
                                           f"hearing:{hearing_id}", {"answer": answer_id, "question": question_id,
                                                                     "clip": clip.clip_id}))
        return url, expires, clip

    # ---- the record ---------------------------------------------------------------------------------------

    async def record_text(self, hearing_id: str) -> str:
        t = await self.store.snapshot(hearing_id)
        hearing = await self.court.get_hearing(hearing_id)
        case = await self.court.get_case(hearing.case_id)
        names = dict(zip(t.parties, await self.names(t.parties), strict=True))
        return assemble(t, names, case_number=case.case_number, tz=self.tz)

    async def save_record(self, hearing_id: str, by: Actor) -> Any:
        """Assemble the transcript from the stages and save it as the next transcript version (the transcript
        rules decide who may: the clerk or presiding judge, until the first signature)."""
        if self.transcripts is None:
            raise RuntimeError("the asynchronous trial's record needs the transcript service")
        text = await self.record_text(hearing_id)
        read = await self.transcripts.read(hearing_id, by.id, by.role.value)
        base = getattr(getattr(read, "current", None), "number", 0)
        return await self.transcripts.save(hearing_id, by.id, by.role, text, base)

    # ---- deadlines ----------------------------------------------------------------------------------------

    async def due(self, now: datetime | None = None) -> list[tuple[str, list[rules.Pending], list[rules.Pending]]]:
        """(hearing, reminders due, overdue) for every hearing with an open stage: what the scheduler acts on."""
        now = now or self.clock()
        out = []
        for hearing_id in await self.store.hearings_with_open_stages():
            t = await self.store.snapshot(hearing_id)
            out.append((hearing_id, rules.reminders(t, now), rules.overdue(t, now)))
        return out
