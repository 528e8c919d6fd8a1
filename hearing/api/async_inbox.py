"""The asynchronous trial's inbox (待办) over HTTP: what is waiting for a person, on one page (`/async/inbox`).

- `GET /api/rooms/{room}/async/inbox` with a party's (or counsel's) own join link: every question of that hearing
  waiting for their answer, with their deadline, overdue and reminder flags and any extension, and their notices
  of that hearing (reminders, the trial turned live). A join link is bound to one hearing, so it shows that one.
- `GET /api/me/async-inbox` with a staff login: across every asynchronous trial where the caller holds a staff seat
  (presiding judge, judge, clerk), every answer still awaited, overdue ones flagged, extensions, and the caller's
  asynchronous-trial notices (overdue flags). The page opens a hearing's /async page through `…/my-link`.
The rules are the pure core's (hearing/async_trial_inbox.py); reading is not audited (it shows no answer content).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from docket.court import Hearing, HearingKind
from docket.notifications import Notification, SqlInbox, person_recipient
from hearing.api.async_trial import AsyncTrialContext
from hearing.api.deps import ApiError, ApiRoute, StaffDeps
from hearing.api.in_hearing import Caller, _bearer, identify
from hearing.async_trial import ANSWERING_ROLES
from hearing.async_trial_inbox import Waiting, waiting
from hearing.staff_auth import StaffAuth, StaffPrincipal, own_seat

NOTICE_PREFIX = "async_trial."
EXCERPT = 140  # characters of a question's text in the list; the whole text is on the hearing's /async page


class InboxItemOut(BaseModel):
    hearing_id: str
    room: str
    case_number: str
    stage_kind: str
    stage_number: int
    question_id: str
    question_number: int
    text: str = Field(description=f"the question's first {EXCERPT} characters")
    has_clip: bool
    participant_id: str = Field(description="who is to answer")
    name: str
    due_at: datetime = Field(description="the addressee's deadline, extensions included (exclusive end)")
    overdue: bool
    due_soon: bool = Field(description="the reminder window (the day before the deadline) has begun")
    extended: bool
    extension_reason: str | None
    extended_at: datetime | None


class NoticeOut(BaseModel):
    id: str
    code: str
    params: dict[str, Any]
    created_at: datetime
    read: bool
    case_number: str | None
    name: str | None = Field(description="the party a notice is about (an overdue answer), by name")


class InboxHearingOut(BaseModel):
    hearing_id: str
    room: str
    case_number: str
    role: str = Field(description="the caller's role in it")


class InboxOut(BaseModel):
    staff: bool
    hearings: list[InboxHearingOut]
    items: list[InboxItemOut]
    notices: list[NoticeOut]
    now: datetime


def async_inbox_router(ctx: AsyncTrialContext, inbox: SqlInbox, auth: StaffAuth) -> APIRouter:
    router = APIRouter(tags=["asynchronous trial"], route_class=ApiRoute)
    svc = ctx.service
    staff = StaffDeps(auth)

    async def case_number(hearing: Hearing) -> str:
        return (await ctx.court.get_case(hearing.case_id)).case_number

    async def items(hearing: Hearing, found: Iterable[Waiting]) -> list[InboxItemOut]:
        out = []
        number = await case_number(hearing)
        for w in found:
            name = (await svc.names([w.participant_id]))[0]
            out.append(InboxItemOut(
                hearing_id=hearing.id, room=hearing.room_id or "", case_number=number, stage_kind=w.stage.kind.value,
                stage_number=w.stage.number, question_id=w.question.id, question_number=w.question.number,
                text=w.question.text[:EXCERPT], has_clip=w.question.clip_id is not None,
                participant_id=w.participant_id, name=name, due_at=w.due_at, overdue=w.overdue, due_soon=w.due_soon,
                extended=w.extension is not None, extension_reason=w.extension.reason if w.extension else None,
                extended_at=w.extension.granted_at if w.extension else None))
        return out

    async def notices(person_id: str, hearings: dict[str, str]) -> list[NoticeOut]:
        """The person's asynchronous-trial notices of these hearings (id → case number), newest first."""
        got: list[Notification] = await inbox.list(person_recipient(person_id), limit=200)
        out = []
        for n in got:
            if not n.code.startswith(NOTICE_PREFIX) or str(n.params.get("hearing")) not in hearings:
                continue
            about = n.params.get("participant")
            out.append(NoticeOut(id=n.id, code=n.code, params=n.params, created_at=n.created_at,
                                 read=n.read_at is not None, case_number=hearings.get(str(n.params.get("hearing"))),
                                 name=(await svc.names([str(about)]))[0] if about else None))
        return out

    async def linked(room_id: str, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                          Security(_bearer)]) -> Caller:
        return await identify(ctx.tokens, ctx.records, ctx.court, room_id, credentials)

    @router.get("/api/rooms/{room_id}/async/inbox", response_model=InboxOut)
    async def party_inbox(room_id: str, who: Caller = Depends(linked)) -> InboxOut:
        """What waits for your answer in this asynchronous trial, by when; your notices of it."""
        if who.participant.role not in {r.value for r in ANSWERING_ROLES}:
            raise ApiError(403, "forbidden", "the inbox by link is a party's or counsel's: staff log in at /staff")
        if who.hearing.kind is not HearingKind.ASYNC_TRIAL and not await _was_async(who.hearing):
            raise ApiError(409, "not_async_trial", "this hearing is not an asynchronous trial")
        now = svc.clock()
        t = await svc.store.snapshot(who.hearing.id)
        number = await case_number(who.hearing)
        return InboxOut(staff=False, hearings=[InboxHearingOut(hearing_id=who.hearing.id, room=room_id,
                                                               case_number=number, role=who.participant.role)],
                        items=await items(who.hearing, waiting(t, now, participant_id=who.participant.id)),
                        notices=await notices(who.participant.person_id, {who.hearing.id: number}), now=now)

    async def _was_async(hearing: Hearing) -> bool:
        """A trial turned live by a withdrawal still shows its notice (the consent rows remain)."""
        return bool((await svc.store.snapshot(hearing.id)).consents)

    @router.get("/api/me/async-inbox", response_model=InboxOut)
    async def staff_inbox(principal: StaffPrincipal = Depends(staff.current)) -> InboxOut:
        """Every answer awaited in the asynchronous trials where you hold a staff seat, overdue ones flagged."""
        now = svc.clock()
        hearings: list[InboxHearingOut] = []
        found: list[InboxItemOut] = []
        if principal.person_id is not None:
            for h in await ctx.court.list_hearings(kind=HearingKind.ASYNC_TRIAL):
                seat = own_seat(principal, h, await ctx.court.list_participants(h.id))
                if seat is None:
                    continue
                hearings.append(InboxHearingOut(hearing_id=h.id, room=h.room_id or "", case_number=await case_number(h),
                                                role=seat.role.value))
                found += await items(h, waiting(await svc.store.snapshot(h.id), now))
        found.sort(key=lambda i: (not i.overdue, i.due_at, i.case_number, i.question_number))
        mine = await notices(principal.person_id, {h.hearing_id: h.case_number for h in hearings}) \
            if principal.person_id else []
        return InboxOut(staff=True, hearings=hearings, items=found, notices=mine, now=now)

    return router
