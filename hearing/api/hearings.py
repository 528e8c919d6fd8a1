"""Hearings through the staff API: list, detail, participants, and procedure moves.

Who sees what: `hearings.view_all` (admins, clerks) sees every hearing; judges and mediators see the hearings
their person is on (panel or participant). A procedure move (POST /api/hearings/{id}/procedure) is made in the
role the caller holds in that hearing (hearing.staff_auth.hearing_role: presiding judge = first on the panel,
judge = other panel members, clerk/mediator = a participant record for their person) through the
ProcedureService, which checks the court's rules and audits the move in the same transaction.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from docket.court import Hearing, HearingKind, Participant
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps, check
from hearing.api.schemas import (
    HearingDetail,
    HearingOut,
    ParticipantOut,
    hearing_detail,
    hearing_out,
    participant_out,
)
from hearing.kinds import ProcedureState
from hearing.procedure import RefusalCode, Refused, Transition, available
from hearing.procedure_service import Actor
from hearing.staff_auth import Permission, StaffPrincipal, hearing_role, involved


class ProcedureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transition: Transition


class ProcedureOut(BaseModel):
    hearing: HearingOut
    transition: str
    from_state: str
    to_state: str
    acted_as: str
    audit_seq: int


_REFUSAL_STATUS = {RefusalCode.NOT_PERMITTED: 403, RefusalCode.WRONG_STATE: 409, RefusalCode.TERMINAL: 409,
                   RefusalCode.UNKNOWN: 422, RefusalCode.CONSENT_MISSING: 409}


def hearings_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["hearings"], responses=ERROR_RESPONSES)

    async def visible(principal: StaffPrincipal, hearing: Hearing) -> list[Participant]:
        """The hearing's participants, or 403 if the caller may not see this hearing."""
        participants = await ctx.court.list_participants(hearing.id)
        if not principal.may(Permission.VIEW_ALL_HEARINGS) and not involved(principal, hearing, participants):
            raise ApiError(403, "forbidden",
                           f"you are not on hearing {hearing.id} (panel or participant), and seeing every hearing "
                           f"needs the permission {Permission.VIEW_ALL_HEARINGS.value}",
                           missing_permission=Permission.VIEW_ALL_HEARINGS.value)
        return participants

    @router.get("/hearings", response_model=list[HearingOut])
    async def list_hearings(
        case_id: str | None = Query(None, max_length=64),
        kind: HearingKind | None = Query(None),
        state: ProcedureState | None = Query(None),
        principal: StaffPrincipal = Depends(deps.current),
    ) -> list[HearingOut]:
        """Hearings ordered by scheduled start: all of them with hearings.view_all, else the caller's own."""
        found = await ctx.court.list_hearings(case_id=case_id, kind=kind, state=state.value if state else None)
        if not principal.may(Permission.VIEW_ALL_HEARINGS):
            if principal.person_id is None:
                return []
            # one participant query per hearing off the caller's panels: fine at a court's scale
            found = [h for h in found if principal.person_id in h.panel
                     or involved(principal, h, await ctx.court.list_participants(h.id))]
        numbers = {c.id: c.case_number for c in await ctx.court.list_cases()} if found else {}
        return [hearing_out(h).model_copy(update={"case_number": numbers.get(h.case_id)}) for h in found]

    @router.get("/hearings/{hearing_id}", response_model=HearingDetail)
    async def get_hearing(hearing_id: str, principal: StaffPrincipal = Depends(deps.current)) -> HearingDetail:
        """The hearing, its participants, the caller's role in it and the procedure moves open to them now."""
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await visible(principal, hearing)
        role = hearing_role(principal, hearing, participants)
        moves = sorted(t.value for t in available(hearing.kind, hearing.state, role)) if role else []
        detail = hearing_detail(hearing, participants, role.value if role else None, moves)
        detail.case_number = (await ctx.court.get_case(hearing.case_id)).case_number
        return detail

    @router.get("/hearings/{hearing_id}/participants", response_model=list[ParticipantOut])
    async def list_participants(hearing_id: str, principal: StaffPrincipal = Depends(deps.current),
                                ) -> list[ParticipantOut]:
        hearing = await ctx.court.get_hearing(hearing_id)
        return [participant_out(p) for p in await visible(principal, hearing)]

    @router.post("/hearings/{hearing_id}/procedure", response_model=ProcedureOut,
                 responses={409: {"description": "The move does not fit the hearing's current state"}})
    async def change_procedure(hearing_id: str, body: ProcedureIn,
                               principal: StaffPrincipal = Depends(deps.current)) -> ProcedureOut:
        """Make a procedure move (open_lobby, start_session, recess, resume, close, seal) in your role here."""
        check(principal, Permission.CHANGE_PROCEDURE)
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await visible(principal, hearing)
        role = hearing_role(principal, hearing, participants)
        if role is None:
            raise ApiError(403, "forbidden",
                           f"you hold no court role in hearing {hearing.id}: the presiding judge and judges are its "
                           "panel, a clerk or mediator needs a participant record for their person (and the matching "
                           "staff role)", missing_permission="hearing_role")
        outcome = await ctx.procedure.transition(hearing.id, Actor(principal.id, role), body.transition)
        if isinstance(outcome, Refused):
            extra = {"missing_permission": "change_procedure_state"} if outcome.code is RefusalCode.NOT_PERMITTED \
                else {}
            raise ApiError(_REFUSAL_STATUS[outcome.code], outcome.code.value, outcome.reason, acted_as=role.value,
                           state=hearing.state, **extra, **outcome.params)
        return ProcedureOut(hearing=hearing_out(outcome.hearing), transition=outcome.moved.transition.value,
                            from_state=outcome.moved.source.value, to_state=outcome.moved.target.value,
                            acted_as=role.value, audit_seq=outcome.audit.seq)

    return router
