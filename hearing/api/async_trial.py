"""The asynchronous trial (异步审理) over HTTP: `/api/rooms/{room}/async/...`, each person through their own join link.

Like hearing.api.in_hearing: the link is checked as for a join (this room, current, not revoked, a participant not
denied or removed). Reading the trial and giving or withdrawing consent need nothing more — a party consents before
anything else happens. Everything else (answering, the judge's stage work, playing clips) needs the person to be in
the hearing: court staff, or a party the clerk has admitted after checking identity (the lobby, as for any hearing).
The court's rules decide in the caller's role (hearing.async_trial); refusals carry a stable code and parameters.

Staff (the presiding judge) open and close stages, post questions, extend deadlines and see who answered; a party
sees what is asked of them and by when, answers with text and/or a recorded clip id from the shared clip upload, and
attaches exhibits uploaded through `/api/rooms/{room}/exhibits`. Which of the other side's answers a party sees
follows the stage's visibility rule, and each showing is audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from docket.async_trial import ConsentMethod, StageKind, Visibility
from docket.court import CourtRecords
from docket.records import Records
from hearing import async_trial as rules
from hearing import transcript as transcript_rules
from hearing.api.deps import ApiError, ApiRoute
from hearing.api.in_hearing import Caller, _bearer, identify, in_the_hearing
from hearing.async_trial import Refused
from hearing.async_trial_clips import clip_owner
from hearing.async_trial_service import AsyncTrialService, Done, View
from hearing.kinds import ProcedureState
from hearing.policy import allowed
from hearing.roles import Role
from hearing.transcript_service import Saved
from recordings.clips import ClipActor
from signaling.tokens import TokenService

_STATUS = {
    "not_permitted": 403, "not_a_party": 403, "not_addressed": 403, "not_admitted": 403,
    "no_such_stage": 404, "no_such_question": 404, "no_such_answer": 404,
    "not_async_trial": 409, "consent_missing": 409, "consent_locked": 409, "unchanged": 409, "stage_open": 409,
    "stage_order": 409, "stage_closed": 409, "stage_pending": 409, "already_answered": 409, "past_deadline": 409,
}


def refused(r: Refused, **extra: Any) -> ApiError:
    return ApiError(_STATUS.get(r.code.value, 422), r.code.value, r.reason, **{**r.params, **extra})


@dataclass
class AsyncTrialContext:
    court: CourtRecords
    records: Records
    tokens: TokenService
    service: AsyncTrialService


# ---- bodies and answers -----------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(_In):
    given: bool = Field(description="true to consent to an asynchronous trial, false to withdraw")


class RecordConsentIn(_In):
    given: bool
    method: ConsentMethod = Field(description="written or oral_on_record (online is the party's own)")
    note: str = Field(max_length=rules.MAX_REASON, description="where the form or the oral consent is kept")


class StageIn(_In):
    kind: StageKind
    visibility: Visibility = Visibility.AFTER_DEADLINE
    workdays: int = Field(ge=1, le=rules.MAX_WORKDAYS, description="working days until the deadline")


class QuestionIn(_In):
    to: list[str] | None = Field(None, max_length=16, description="participant ids; null asks every party")
    text: str = Field("", max_length=rules.MAX_TEXT)
    clip_id: str | None = Field(None, max_length=64, description="a finished clip of the judge asking")


class ExtensionIn(_In):
    participants: list[str] | None = Field(None, max_length=16, description="null: everyone asked in the stage")
    due_at: datetime = Field(description="the new deadline (with its time zone)")
    reason: str = Field(max_length=rules.MAX_REASON)


class AnswerIn(_In):
    text: str = Field("", max_length=rules.MAX_TEXT)
    clip_id: str | None = Field(None, max_length=64, description="a finished clip from the clip upload")
    exhibit_ids: list[str] = Field(default_factory=list, max_length=20)


class PartyOut(BaseModel):
    participant_id: str
    name: str
    role: str
    consented: bool
    method: str | None
    at: datetime | None


class StageOut(BaseModel):
    id: str
    number: int
    kind: str
    visibility: str
    workdays: int
    opened_at: datetime
    due_at: datetime
    my_due_at: datetime | None = Field(description="your own deadline in this stage (extensions included)")
    closed_at: datetime | None


class ClipOut(BaseModel):
    clip_id: str
    sha256: str
    size: int
    media_type: str


class AnswerOut(BaseModel):
    id: str
    question_id: str
    participant_id: str
    name: str
    role: str
    text: str
    clip: ClipOut | None
    exhibit_ids: list[str]
    submitted_at: datetime
    sha256: str = Field(description="the answer's seal (chained to the hearing's previous answer)")


class QuestionOut(BaseModel):
    id: str
    stage_id: str
    number: int
    to: list[str]
    text: str
    has_clip: bool
    posted_at: datetime
    due_at: datetime | None = Field(description="your deadline for it, if it is addressed to you")
    answered_by: list[str] = Field(description="who answered (staff see everyone; a party sees what they may see)")
    waiting_for: list[str] = Field(description="staff only: addressees who have not answered")
    overdue: list[str] = Field(description="staff only: addressees past their deadline without an answer")


class TrialOut(BaseModel):
    hearing_id: str
    kind: str
    state: str
    reverted_to_live: bool = Field(description="a party withdrew consent: this is a live trial now")
    me: str
    my_role: str
    admitted: bool
    parties: list[PartyOut]
    missing_consent: list[str] = Field(description="names of the parties who have not consented")
    stages: list[StageOut]
    questions: list[QuestionOut]
    answers: list[AnswerOut]
    now: datetime


class DoneOut(BaseModel):
    audit_seq: int
    trial: TrialOut


class RecordOut(BaseModel):
    version: int = Field(description="the transcript version now holding the assembled record")
    sha256: str
    changed: bool = Field(description="false when the record had not changed since the last assembly")


class PlayOut(BaseModel):
    url: str
    expires_at: datetime
    clip: ClipOut


# ---- the clip upload's authorizer --------------------------------------------------------------------------


def clip_authorizer(ctx: AsyncTrialContext) -> Callable[[Request], Awaitable[ClipActor]]:
    """Who may upload a clip under purpose `async_trial` (recordings.clips_api): a person in an asynchronous trial,
    by their own join link (`Authorization: Bearer`) and its room (`X-Hearing-Room`); a party or counsel records
    answers, the presiding judge questions. The clip is owned by that participant in that hearing."""

    async def authorize(request: Request) -> ClipActor:
        room = request.headers.get("x-hearing-room", "")
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip()) \
            if scheme.lower() == "bearer" and token.strip() else None
        if not room or len(room) > 64:
            raise ApiError(401, "not_authenticated", "send your join token and its room: 'Authorization: Bearer "
                                                     "<token>' and 'X-Hearing-Room: <room>'")
        who = await identify(ctx.tokens, ctx.records, ctx.court, room, credentials)
        if who.hearing.kind.value != "async_trial":
            raise ApiError(409, "not_async_trial", "this hearing is not an asynchronous trial (any more)")
        if not in_the_hearing(who.participant):
            raise ApiError(403, "not_admitted", "the clerk admits you once your identity is checked; then you "
                                                "can record answers")
        if who.participant.role not in {*rules.ANSWERING_ROLES, Role.PRESIDING_JUDGE}:
            raise ApiError(403, "not_permitted", "parties and counsel record answers, the presiding judge questions")
        return ClipActor(owner=clip_owner(who.hearing.id, who.participant.id), actor_id=who.participant.id,
                         actor_role=who.participant.role)

    return authorize


# ---- the router -------------------------------------------------------------------------------------------


def async_trial_router(ctx: AsyncTrialContext) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}/async", tags=["asynchronous trial"], route_class=ApiRoute)
    svc = ctx.service

    async def linked(room_id: str, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                          Security(_bearer)]) -> Caller:
        who = await identify(ctx.tokens, ctx.records, ctx.court, room_id, credentials)
        if not any(allowed(who.participant.role, who.hearing.kind, state) for state in ProcedureState):
            raise ApiError(403, "forbidden", f"a {who.participant.role} takes no part in this kind of hearing")
        return who

    async def admitted(who: Caller = Depends(linked)) -> Caller:
        if not in_the_hearing(who.participant):
            raise ApiError(403, "not_admitted", "the clerk admits you once your identity is checked; then you "
                                                "can answer")
        return who

    async def trial_out(who: Caller, view: View | None = None) -> TrialOut:
        view = view or await svc.view(who.hearing.id, who.actor)
        t, now = view.trial, view.now
        people = {p.id: p for p in await ctx.court.list_participants(who.hearing.id)}
        names: dict[str, str] = {}
        for pid, p in people.items():
            names[pid] = (await ctx.court.get_person(p.person_id)).name
        consents = rules.current_consents(t)
        parties = [PartyOut(participant_id=pid, name=names.get(pid, "?"), role=t.parties[pid],
                            consented=bool(consents.get(pid) and consents[pid].given),
                            method=consents[pid].method.value if pid in consents else None,
                            at=consents[pid].at if pid in consents else None) for pid in rules.parties(t)]
        seen = {a.id for a in view.answers}
        stages = [StageOut(id=s.id, number=s.number, kind=s.kind.value, visibility=s.visibility.value,
                           workdays=s.workdays, opened_at=s.opened_at, due_at=s.due_at,
                           my_due_at=rules.due_for(t, s, who.participant.id) if who.participant.id in t.parties
                           else None, closed_at=s.closed_at) for s in t.stages]
        questions = []
        for q in view.questions:
            stage = rules.stage_of(t, q.stage_id)
            assert stage is not None
            by = [a.participant_id for a in t.answers if a.question_id == q.id and (view.staff or a.id in seen)]
            waiting = [pid for pid in q.addressees if rules.answered(t, q.id, pid) is None] if view.staff else []
            questions.append(QuestionOut(
                id=q.id, stage_id=q.stage_id, number=q.number, to=list(q.addressees), text=q.text,
                has_clip=q.clip_id is not None, posted_at=q.posted_at,
                due_at=rules.due_for(t, stage, who.participant.id) if who.participant.id in q.addressees else None,
                answered_by=by, waiting_for=waiting,
                overdue=[pid for pid in waiting if stage.is_open and now >= rules.due_for(t, stage, pid)]))
        answers = [AnswerOut(id=a.id, question_id=a.question_id, participant_id=a.participant_id,
                             name=names.get(a.participant_id, "?"), role=t.parties.get(a.participant_id, ""),
                             text=a.text, exhibit_ids=list(a.exhibit_ids), submitted_at=a.submitted_at, sha256=a.hash,
                             clip=ClipOut(clip_id=a.clip.clip_id, sha256=a.clip.sha256, size=a.clip.size,
                                          media_type=a.clip.media_type) if a.clip else None)
                   for a in view.answers]
        missing = rules.missing_consent(t) if t.kind == "async_trial" else ()
        reverted = any(not c.given for c in t.consents) and t.kind != "async_trial"
        return TrialOut(hearing_id=t.hearing_id, kind=t.kind, state=t.state, reverted_to_live=reverted,
                        me=who.participant.id, my_role=who.participant.role, admitted=in_the_hearing(who.participant),
                        parties=parties, missing_consent=[names.get(p, "?") for p in missing], stages=stages,
                        questions=questions, answers=answers, now=now)

    async def done(who: Caller, result: Done | Refused) -> DoneOut:
        if isinstance(result, Refused):
            if result.code is rules.Code.CONSENT_MISSING or result.code is rules.Code.STAGE_PENDING:
                key = "missing" if result.code is rules.Code.CONSENT_MISSING else "pending"
                names = await svc.names(result.params.get(key, []))
                raise refused(result, **{key: names})
            raise refused(result)
        return DoneOut(audit_seq=result.audit.seq, trial=await trial_out(who))

    me = Depends(linked)
    inside = Depends(admitted)

    @router.get("", response_model=TrialOut)
    async def get_trial(room_id: str, who: Caller = me) -> TrialOut:
        """The trial as you may see it now: parties and consents, stages and deadlines, questions, answers."""
        return await trial_out(who)

    @router.post("/consent", response_model=DoneOut)
    async def give_consent(room_id: str, body: ConsentIn, who: Caller = me) -> DoneOut:
        """A party consents (or withdraws, until the first stage opens: the hearing then becomes a live trial)."""
        return await done(who, await svc.consent(who.hearing.id, who.participant.id, who.actor, given=body.given))

    @router.post("/consents/{participant_id}", response_model=DoneOut)
    async def record_consent(room_id: str, participant_id: str, body: RecordConsentIn, who: Caller = inside,
                             ) -> DoneOut:
        """The clerk (or presiding judge) records a party's written or on-record oral consent, with its reference."""
        if body.method is ConsentMethod.ONLINE:
            raise ApiError(422, "not_permitted", "online consent is the party's own, through their link")
        return await done(who, await svc.consent(who.hearing.id, participant_id, who.actor, given=body.given,
                                                 method=body.method, note=body.note))

    @router.post("/stages", response_model=DoneOut, status_code=201)
    async def open_stage(room_id: str, body: StageIn, who: Caller = inside) -> DoneOut:
        """The presiding judge opens the next stage; the deadline is counted in the court's working days."""
        return await done(who, await svc.open_stage(who.hearing.id, who.actor, body.kind, body.visibility,
                                                    body.workdays))

    @router.post("/stages/{stage_id}/close", response_model=DoneOut)
    async def close_stage(room_id: str, stage_id: str, who: Caller = inside) -> DoneOut:
        """Close a stage once everyone answered, or every deadline passed."""
        return await done(who, await svc.close_stage(who.hearing.id, who.actor, stage_id))

    @router.post("/stages/{stage_id}/questions", response_model=DoneOut, status_code=201)
    async def ask(room_id: str, stage_id: str, body: QuestionIn, who: Caller = inside) -> DoneOut:
        """Post a question (text and/or a recorded clip) to some participants, or to every party."""
        return await done(who, await svc.ask(who.hearing.id, who.actor, stage_id, body.to, body.text, body.clip_id))

    @router.post("/stages/{stage_id}/extensions", response_model=DoneOut, status_code=201)
    async def extend(room_id: str, stage_id: str, body: ExtensionIn, who: Caller = inside) -> DoneOut:
        """Extend the deadline (later only) for some addressees or all, with a reason for the record."""
        return await done(who, await svc.extend(who.hearing.id, who.actor, stage_id, body.participants, body.due_at,
                                                body.reason))

    @router.post("/questions/{question_id}/answer", response_model=DoneOut, status_code=201)
    async def answer(room_id: str, question_id: str, body: AnswerIn, who: Caller = inside) -> DoneOut:
        """Answer a question addressed to you, before your deadline, once: the answer is sealed when submitted."""
        return await done(who, await svc.answer(who.hearing.id, who.participant.id, question_id, body.text,
                                                body.clip_id, body.exhibit_ids))

    @router.post("/record", response_model=RecordOut, status_code=201)
    async def save_record(room_id: str, who: Caller = inside) -> RecordOut:
        """The clerk (or presiding judge) assembles the transcript (笔录) from the stages and saves it as the next
        transcript version; it is then signed and exported like any transcript (`/api/rooms/{room}/transcript`)."""
        result = await svc.save_record(who.hearing.id, who.actor)
        if isinstance(result, transcript_rules.Refused):
            raise ApiError(403 if result.code.value == "not_permitted" else 409, result.code.value, result.reason)
        if isinstance(result, transcript_rules.Conflict):
            raise ApiError(409, "conflict", result.reason)
        version = result.version if isinstance(result, Saved) else None
        read = await svc.transcripts.read(who.hearing.id, who.participant.id,  # type: ignore[union-attr]
                                          who.participant.role)
        current = getattr(read, "current", None)
        number = version.number if version else (current.number if current else 0)
        digest = version.sha256 if version else (current.sha256 if current else "")
        return RecordOut(version=number, sha256=digest, changed=version is not None)

    async def play(who: Caller, answer_id: str | None, question_id: str | None) -> PlayOut:
        result = await svc.play(who.hearing.id, who.actor, answer_id=answer_id, question_id=question_id)
        if isinstance(result, Refused):
            raise refused(result)
        url, expires, clip = result
        return PlayOut(url=url, expires_at=expires, clip=ClipOut(clip_id=clip.clip_id, sha256=clip.sha256,
                                                                 size=clip.size, media_type=clip.media_type))

    @router.get("/answers/{answer_id}/clip", response_model=PlayOut)
    async def play_answer(room_id: str, answer_id: str, who: Caller = inside) -> PlayOut:
        """A short-lived link to an answer's recorded clip, if you may see the answer; every request is audited."""
        return await play(who, answer_id, None)

    @router.get("/questions/{question_id}/clip", response_model=PlayOut)
    async def play_question(room_id: str, question_id: str, who: Caller = inside) -> PlayOut:
        """A short-lived link to the judge's recorded question; audited."""
        return await play(who, None, question_id)

    return router
