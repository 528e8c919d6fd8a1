"""The asynchronous trial (异步审理) as pure rules: consent, stages, questions, deadlines, sealed answers, visibility.

For parties who cannot attend at the same time the court runs the trial in stages over days. Each rule below is a
decision over a `TrialSnapshot` (read by the shell in one transaction) returning a `Change` to write, or a typed
`Refused(code, reason, params)` whose code the client translates; nothing here does I/O or reads a clock.

Consent. Every party (the hearing's participants in PARTY_ROLES: plaintiff and defendant) must consent before the
hearing moves past `scheduled` (`schedule_refusal`, enforced in the procedure service) and before any stage opens.
A party consents through their own link (`online`), or the clerk records a written or on-record oral consent with
its reference. Consent is revocable until the first stage opens; a withdrawal — or a party declining outright —
turns the hearing back into a live trial (kind `trial`) with a notice to everyone, and it stays one (the court may
schedule a new asynchronous trial).

Stages. The presiding judge opens the stages in their order (claims and defence, evidence and cross-examination,
debate, final statement; a stage may be skipped, never revisited), one at a time, in session. Opening fixes the
deadline: `workdays` working days, counted by the court's working-day calendar, due at the end of the last one.
Questions go to one party (or counsel) or to all parties. The judge may extend the deadline for one addressee or
all with a reason, never shorten it. A stage closes when every addressee has answered every question, or after
every deadline has passed; the next stage opens only then.

Answers. One per addressee and question: a second submission is refused (`already_answered`), not versioned,
because answers are sealed when submitted and, in an `at_once` stage, a revision made after reading the other
side's answer would defeat the point of sealing; a party with more to say asks the judge, who posts a follow-up
question. An answer after the addressee's deadline is refused (`past_deadline`) unless the judge has extended it.
Each answer is sealed: its SHA-256 covers every field and the previous answer's hash in the hearing, so the record
shows any altered, removed or inserted answer, like the recording manifests.

Visibility. Court staff see every answer at once. A party sees their own, and the others' in a stage whose rule is
`at_once`; in an `after_deadline` stage once the stage has closed, every addressee's deadline for that question has
passed, or the viewer's own answer to it is sealed (nothing is left to copy into it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from docket.async_trial import (
    GENESIS,
    STAGE_ORDER,
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
from docket.audit import AuditEvent, canonical_json
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, may
from hearing.roles import Role

R = Role
S = ProcedureState

PARTY_ROLES = frozenset({R.PLAINTIFF, R.DEFENDANT})
"""Whose consent an asynchronous trial needs, and whom "all parties" addresses."""
ANSWERING_ROLES = frozenset({R.PLAINTIFF, R.DEFENDANT, R.COUNSEL})
"""Who may be asked a question (counsel answers for their side when addressed)."""
RECORDERS = frozenset({R.CLERK, R.PRESIDING_JUDGE})
"""Who may record a party's written or oral consent on their behalf."""
MAX_WORKDAYS = 30
MAX_TEXT = 20_000
MAX_REASON = 500
REMINDER_LEAD = timedelta(days=1)


class Code(StrEnum):
    NOT_ASYNC_TRIAL = "not_async_trial"  # the hearing is (no longer) an asynchronous trial
    NOT_A_PARTY = "not_a_party"
    NOT_PERMITTED = "not_permitted"
    CONSENT_MISSING = "consent_missing"  # params: missing (participant ids), names added by the shell
    CONSENT_LOCKED = "consent_locked"  # a stage has opened: consent can no longer be withdrawn
    UNCHANGED = "unchanged"  # the party's consent already says so
    NOTE_REQUIRED = "note_required"
    STAGE_OPEN = "stage_open"  # another stage is still open
    STAGE_ORDER = "stage_order"
    STAGE_CLOSED = "stage_closed"
    STAGE_PENDING = "stage_pending"  # params: pending (participant ids)
    NO_SUCH_STAGE = "no_such_stage"
    NO_SUCH_QUESTION = "no_such_question"
    BAD_WORKDAYS = "bad_workdays"
    BAD_ADDRESSEE = "bad_addressee"
    EMPTY = "empty"  # a question or answer with neither text nor clip
    TOO_LONG = "too_long"
    NOT_ADDRESSED = "not_addressed"
    ALREADY_ANSWERED = "already_answered"
    PAST_DEADLINE = "past_deadline"  # params: due_at
    REASON_REQUIRED = "reason_required"
    NOT_LATER = "not_later"  # an extension must move the deadline later
    BAD_CLIP = "bad_clip"  # no finished, checked clip of the caller's for this hearing
    BAD_EXHIBIT = "bad_exhibit"
    NO_SUCH_ANSWER = "no_such_answer"
    CALENDAR_NOT_COVERED = "calendar_not_covered"  # the working-day calendar does not know the year yet


@dataclass(frozen=True, slots=True)
class Refused:
    code: Code
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)


def _subject(t: TrialSnapshot) -> str:
    return f"hearing:{t.hearing_id}"


# ---- who is who -------------------------------------------------------------------------------------------


def parties(t: TrialSnapshot) -> tuple[str, ...]:
    """The participants whose consent is needed, in a stable order."""
    return tuple(sorted(pid for pid, role in t.parties.items() if role in PARTY_ROLES))


def current_consents(t: TrialSnapshot) -> dict[str, Consent]:
    """Each party's latest consent record."""
    latest: dict[str, Consent] = {}
    for c in t.consents:
        latest[c.participant_id] = c
    return latest


def missing_consent(t: TrialSnapshot) -> tuple[str, ...]:
    """Parties who have not consented (never, or withdrawn)."""
    now = current_consents(t)
    return tuple(p for p in parties(t) if not (p in now and now[p].given))


def schedule_refusal(t: TrialSnapshot) -> Refused | None:
    """Why the hearing may not move past `scheduled` (or open a stage) yet; None when every party consented."""
    if t.kind != HearingKind.ASYNC_TRIAL.value:
        return None  # a live hearing needs no consent
    if not parties(t):
        return Refused(Code.CONSENT_MISSING, "an asynchronous trial needs its parties in the hearing, and each "
                                             "one's consent; none is registered", {"missing": []})
    missing = missing_consent(t)
    if missing:
        return Refused(Code.CONSENT_MISSING, f"{len(missing)} of {len(parties(t))} parties have not consented to "
                                             "an asynchronous trial", {"missing": list(missing)})
    return None


# ---- consent ----------------------------------------------------------------------------------------------


def decide_consent(t: TrialSnapshot, party_id: str, *, given: bool, method: ConsentMethod, note: str,
                   recorded_by: str, recorder_role: str, at: datetime) -> Change | Refused:
    """A party's consent or withdrawal, by the party online or recorded by the clerk."""
    if t.kind != HearingKind.ASYNC_TRIAL.value:
        return Refused(Code.NOT_ASYNC_TRIAL, "this hearing is not an asynchronous trial (any more)")
    if t.parties.get(party_id) not in PARTY_ROLES:
        return Refused(Code.NOT_A_PARTY, "only the parties (plaintiff, defendant) consent to an asynchronous trial")
    if not may(recorder_role, t.kind, t.state, Action.CONSENT_ASYNC_TRIAL):
        return Refused(Code.NOT_PERMITTED, f"a {recorder_role} may not record consent while the hearing is "
                                           f"{t.state}")
    if method is ConsentMethod.ONLINE:
        if recorded_by != party_id:
            return Refused(Code.NOT_PERMITTED, "online consent is given by the party through their own link")
    elif recorder_role not in RECORDERS:
        return Refused(Code.NOT_PERMITTED, "a written or oral consent is recorded by the clerk or presiding judge")
    elif not note.strip():
        return Refused(Code.NOTE_REQUIRED, "say where the written form or the oral consent is kept")
    if len(note) > MAX_REASON:
        return Refused(Code.TOO_LONG, f"the note is longer than {MAX_REASON} characters", {"limit": MAX_REASON})
    if t.stages:
        return Refused(Code.CONSENT_LOCKED, "the first stage has opened: consent can no longer change")
    now = current_consents(t).get(party_id)
    if now is not None and now.given == given:
        return Refused(Code.UNCHANGED, "your consent already says so")
    consent = Consent(t.hearing_id, party_id, given, method, note.strip(), recorded_by, at)
    action = "async_trial.consent" if given else "async_trial.consent_withdrawn"
    audit = AuditEvent(recorded_by, recorder_role, action, _subject(t),
                       {"party": party_id, "method": method.value, "reverted_to_live": not given})
    return Change(audit, consent=consent, revert_to_live=not given)


# ---- deadlines --------------------------------------------------------------------------------------------


def stage_of(t: TrialSnapshot, stage_id: str) -> Stage | None:
    return next((s for s in t.stages if s.id == stage_id), None)


def open_stage(t: TrialSnapshot) -> Stage | None:
    return next((s for s in t.stages if s.is_open), None)


def due_for(t: TrialSnapshot, stage: Stage, participant_id: str) -> datetime:
    """The addressee's deadline in the stage: the stage's, or the latest extension granted to them."""
    due = stage.due_at
    for e in t.extensions:
        if e.stage_id == stage.id and e.participant_id == participant_id and e.due_at > due:
            due = e.due_at
    return due


def answered(t: TrialSnapshot, question_id: str, participant_id: str) -> Answer | None:
    return next((a for a in t.answers if a.question_id == question_id and a.participant_id == participant_id), None)


@dataclass(frozen=True, slots=True)
class Pending:
    """An addressee who has not answered a question yet, and by when they must."""

    stage: Stage
    question: Question
    participant_id: str
    due_at: datetime


def pending(t: TrialSnapshot, stage: Stage | None = None) -> list[Pending]:
    """Unanswered (question, addressee) pairs in open stages (or in `stage`)."""
    stages = {s.id: s for s in t.stages if (s is stage if stage is not None else s.is_open)}
    out = []
    for q in t.questions:
        s = stages.get(q.stage_id)
        if s is None:
            continue
        for pid in q.addressees:
            if answered(t, q.id, pid) is None:
                out.append(Pending(s, q, pid, due_for(t, s, pid)))
    return out


def overdue(t: TrialSnapshot, now: datetime) -> list[Pending]:
    """What the judge is told about: unanswered past the addressee's deadline, in open stages."""
    return [p for p in pending(t) if now >= p.due_at]


def reminders(t: TrialSnapshot, now: datetime, lead: timedelta = REMINDER_LEAD) -> list[Pending]:
    """Unanswered and due within `lead` (a day before the deadline): whom to remind now."""
    return [p for p in pending(t) if p.due_at - lead <= now < p.due_at]


# ---- stages -----------------------------------------------------------------------------------------------


def _conducts(t: TrialSnapshot, role: str) -> Refused | None:
    if t.kind != HearingKind.ASYNC_TRIAL.value:
        return Refused(Code.NOT_ASYNC_TRIAL, "this hearing is not an asynchronous trial (any more)")
    if not may(role, t.kind, t.state, Action.CONDUCT_STAGES):
        return Refused(Code.NOT_PERMITTED, f"a {role} may not conduct the stages while the hearing is {t.state}; "
                                           "the presiding judge does, in session")
    return None


def decide_open_stage(t: TrialSnapshot, kind: StageKind, visibility: Visibility, workdays: int, *, by: str,
                      role: str, at: datetime, due_at: datetime, stage_id: str) -> Change | Refused:
    """Open the next stage; `due_at` is the calendar's end of working day `workdays` counted from `at`."""
    if (refusal := _conducts(t, role)) is not None:
        return refusal
    if (refusal := schedule_refusal(t)) is not None:
        return refusal
    if (current := open_stage(t)) is not None:
        return Refused(Code.STAGE_OPEN, "close the open stage before opening the next",
                       {"stage": current.kind.value})
    if t.stages and STAGE_ORDER.index(kind) <= STAGE_ORDER.index(t.stages[-1].kind):
        return Refused(Code.STAGE_ORDER, "stages follow their order and are not revisited",
                       {"stage": kind.value, "after": t.stages[-1].kind.value})
    if not 1 <= workdays <= MAX_WORKDAYS:
        return Refused(Code.BAD_WORKDAYS, f"a stage lasts 1 to {MAX_WORKDAYS} working days",
                       {"limit": MAX_WORKDAYS})
    stage = Stage(stage_id, t.hearing_id, len(t.stages) + 1, kind, visibility, workdays, by, at, due_at)
    audit = AuditEvent(by, role, "async_trial.stage_opened", _subject(t),
                       {"stage": stage_id, "kind": kind.value, "visibility": visibility.value, "workdays": workdays,
                        "due_at": due_at.isoformat()})
    return Change(audit, stage=stage)


def decide_close_stage(t: TrialSnapshot, stage_id: str, *, by: str, role: str, at: datetime) -> Change | Refused:
    if (refusal := _conducts(t, role)) is not None:
        return refusal
    stage = stage_of(t, stage_id)
    if stage is None:
        return Refused(Code.NO_SUCH_STAGE, "no such stage in this hearing")
    if not stage.is_open:
        return Refused(Code.STAGE_CLOSED, "this stage is already closed")
    waiting = sorted({p.participant_id for p in pending(t, stage) if at < p.due_at})
    if waiting:
        return Refused(Code.STAGE_PENDING, "parties still within their deadline have not answered every question",
                       {"pending": waiting})
    audit = AuditEvent(by, role, "async_trial.stage_closed", _subject(t),
                       {"stage": stage_id, "unanswered": len(pending(t, stage))})
    return Change(audit, close_stage=(stage_id, by, at))


def decide_question(t: TrialSnapshot, stage_id: str, addressees: Iterable[str] | None, text: str,
                    clip: ClipRef | None, *, by: str, role: str, at: datetime, question_id: str) -> Change | Refused:
    """Post a question to some addressees (None: all parties) in the open stage."""
    if (refusal := _conducts(t, role)) is not None:
        return refusal
    stage = stage_of(t, stage_id)
    if stage is None:
        return Refused(Code.NO_SUCH_STAGE, "no such stage in this hearing")
    if not stage.is_open:
        return Refused(Code.STAGE_CLOSED, "this stage is closed; open the next one to ask more")
    text = text.strip()
    if not text and clip is None:
        return Refused(Code.EMPTY, "a question needs text or a recorded clip")
    if len(text) > MAX_TEXT:
        return Refused(Code.TOO_LONG, f"the text is longer than {MAX_TEXT} characters", {"limit": MAX_TEXT})
    to = parties(t) if addressees is None else tuple(dict.fromkeys(addressees))
    bad = [pid for pid in to if t.parties.get(pid) not in ANSWERING_ROLES]
    if bad or not to:
        return Refused(Code.BAD_ADDRESSEE, "questions go to parties or counsel of this hearing", {"bad": bad})
    q = Question(question_id, t.hearing_id, stage_id, len(t.questions) + 1, to, text,
                 clip.clip_id if clip else None, clip.sha256 if clip else None, by, at)
    audit = AuditEvent(by, role, "async_trial.question_posted", _subject(t),
                       {"stage": stage_id, "question": question_id, "addressees": list(to),
                        "clip": clip.clip_id if clip else None})
    return Change(audit, question=q)


def decide_extension(t: TrialSnapshot, stage_id: str, participant_ids: Iterable[str] | None, due_at: datetime,
                     reason: str, *, by: str, role: str, at: datetime, ids: Iterable[str]) -> Change | Refused:
    """Extend the deadline for some addressees (None: everyone asked in the stage), with a reason."""
    if (refusal := _conducts(t, role)) is not None:
        return refusal
    stage = stage_of(t, stage_id)
    if stage is None:
        return Refused(Code.NO_SUCH_STAGE, "no such stage in this hearing")
    if not stage.is_open:
        return Refused(Code.STAGE_CLOSED, "this stage is closed")
    reason = reason.strip()
    if not reason:
        return Refused(Code.REASON_REQUIRED, "an extension needs a reason, for the record")
    if len(reason) > MAX_REASON:
        return Refused(Code.TOO_LONG, f"the reason is longer than {MAX_REASON} characters", {"limit": MAX_REASON})
    asked = sorted({pid for q in t.questions if q.stage_id == stage_id for pid in q.addressees} | set(parties(t)))
    who = asked if participant_ids is None else list(dict.fromkeys(participant_ids))
    bad = [pid for pid in who if pid not in asked]
    if bad or not who:
        return Refused(Code.BAD_ADDRESSEE, "extend only for those asked in this stage", {"bad": bad})
    late = [pid for pid in who if due_at <= due_for(t, stage, pid)]
    if late:
        return Refused(Code.NOT_LATER, "an extension moves the deadline later, never earlier", {"bad": late})
    extensions = tuple(Extension(i, t.hearing_id, stage_id, pid, due_at, reason, by, at) for i, pid in zip(ids, who,
                                                                                                          strict=False))
    audit = AuditEvent(by, role, "async_trial.extended", _subject(t),
                       {"stage": stage_id, "participants": who, "due_at": due_at.isoformat()})
    return Change(audit, extensions=extensions)


# ---- answers ----------------------------------------------------------------------------------------------


def seal_hash(*, answer_id: str, hearing_id: str, question_id: str, participant_id: str, text: str,
              clip: ClipRef | None, exhibit_ids: tuple[str, ...], submitted_at: datetime, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the answer and the previous answer's hash."""
    body = {"id": answer_id, "hearing": hearing_id, "question": question_id, "participant": participant_id,
            "text": text, "exhibits": list(exhibit_ids), "submitted_at": submitted_at.isoformat(),
            "prev": prev_hash,
            "clip": None if clip is None else {"id": clip.clip_id, "sha256": clip.sha256, "size": clip.size,
                                               "media_type": clip.media_type}}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def verify_chain(answers: Iterable[Answer]) -> str | None:
    """The id of the first answer whose seal or link does not hold, or None."""
    prev = GENESIS
    for a in answers:
        if a.prev_hash != prev or a.hash != seal_hash(
                answer_id=a.id, hearing_id=a.hearing_id, question_id=a.question_id, participant_id=a.participant_id,
                text=a.text, clip=a.clip, exhibit_ids=a.exhibit_ids, submitted_at=a.submitted_at,
                prev_hash=a.prev_hash):
            return a.id
        prev = a.hash
    return None


def decide_answer(t: TrialSnapshot, question_id: str, participant_id: str, text: str, clip: ClipRef | None,
                  exhibit_ids: Iterable[str], *, at: datetime, answer_id: str) -> Change | Refused:
    role = t.parties.get(participant_id, "")
    if t.kind != HearingKind.ASYNC_TRIAL.value:
        return Refused(Code.NOT_ASYNC_TRIAL, "this hearing is not an asynchronous trial (any more)")
    q = next((q for q in t.questions if q.id == question_id), None)
    if q is None:
        return Refused(Code.NO_SUCH_QUESTION, "no such question in this hearing")
    if participant_id not in q.addressees:
        return Refused(Code.NOT_ADDRESSED, "this question is not addressed to you")
    if not may(role, t.kind, t.state, Action.ANSWER_QUESTIONS):
        return Refused(Code.NOT_PERMITTED, f"answers are given while the hearing is in session, not {t.state}")
    stage = stage_of(t, q.stage_id)
    assert stage is not None  # the store keeps questions with their stages
    if not stage.is_open:
        return Refused(Code.STAGE_CLOSED, "this stage is closed")
    if answered(t, question_id, participant_id) is not None:
        return Refused(Code.ALREADY_ANSWERED, "you have answered this question; a sealed answer is not replaced. "
                                              "Ask the judge for a follow-up question to add something")
    due = due_for(t, stage, participant_id)
    if at >= due:
        return Refused(Code.PAST_DEADLINE, "the deadline for this answer has passed; the judge may extend it",
                       {"due_at": due.isoformat()})
    text = text.strip()
    if not text and clip is None:
        return Refused(Code.EMPTY, "an answer needs text or a recorded clip")
    if len(text) > MAX_TEXT:
        return Refused(Code.TOO_LONG, f"the text is longer than {MAX_TEXT} characters", {"limit": MAX_TEXT})
    exhibits = tuple(dict.fromkeys(exhibit_ids))
    prev = t.head_hash
    sealed = seal_hash(answer_id=answer_id, hearing_id=t.hearing_id, question_id=question_id,
                       participant_id=participant_id, text=text, clip=clip, exhibit_ids=exhibits, submitted_at=at,
                       prev_hash=prev)
    answer = Answer(answer_id, t.hearing_id, question_id, participant_id, text, clip, exhibits, at, prev, sealed)
    audit = AuditEvent(participant_id, role, "async_trial.answered", _subject(t),
                       {"question": question_id, "answer": answer_id, "sha256": sealed,
                        "clip": clip.clip_id if clip else None, "clip_sha256": clip.sha256 if clip else None,
                        "exhibits": list(exhibits)})
    return Change(audit, answer=answer)


# ---- visibility -------------------------------------------------------------------------------------------


def may_see(t: TrialSnapshot, answer: Answer, viewer_id: str, *, staff: bool, now: datetime) -> bool:
    """Whether `viewer_id` sees `answer` now (see the module docstring)."""
    if staff or answer.participant_id == viewer_id:
        return True
    if t.parties.get(viewer_id) not in ANSWERING_ROLES:
        return False
    q = next((q for q in t.questions if q.id == answer.question_id), None)
    stage = stage_of(t, q.stage_id) if q else None
    if q is None or stage is None:
        return False
    if stage.visibility is Visibility.AT_ONCE or not stage.is_open:
        return True
    if answered(t, q.id, viewer_id) is not None:
        return True  # the viewer's own answer is sealed: nothing left to copy into it
    return all(now >= due_for(t, stage, pid) for pid in q.addressees)


def visible_answers(t: TrialSnapshot, viewer_id: str, *, staff: bool, now: datetime) -> list[Answer]:
    return [a for a in t.answers if may_see(t, a, viewer_id, staff=staff, now=now)]


def asked_of(t: TrialSnapshot, participant_id: str) -> list[Question]:
    """The questions addressed to `participant_id`, oldest first."""
    return [q for q in t.questions if participant_id in q.addressees]


# ---- what a change means ----------------------------------------------------------------------------------


def applied(t: TrialSnapshot, change: Change) -> TrialSnapshot:
    """The snapshot after `change`: what the store writes, in memory (the store's tests compare the two)."""
    stages = t.stages
    if change.close_stage is not None:
        sid, by, at = change.close_stage
        stages = tuple(replace(s, closed_by=by, closed_at=at) if s.id == sid else s for s in stages)
    if change.stage is not None:
        stages = (*stages, change.stage)
    return replace(
        t,
        kind=HearingKind.TRIAL.value if change.revert_to_live else t.kind,
        consents=(*t.consents, change.consent) if change.consent else t.consents,
        stages=stages,
        questions=(*t.questions, change.question) if change.question else t.questions,
        extensions=(*t.extensions, *change.extensions),
        answers=(*t.answers, change.answer) if change.answer else t.answers,
    )
