"""Join links through the staff API (hearing.join_links), one door per kind of seat (hearing.staff_auth.own_seat):

- POST /api/hearings/{id}/participants/{pid}/link: a link for someone else's seat (a party, counsel, a witness...),
  by staff holding `links.issue`. A staff seat (presiding judge, judge, clerk, mediator) is refused here with
  403 `staff_seat`, whoever asks: issuing it would withdraw the holder's own link and hand their seat over.
- POST /api/hearings/{id}/my-link: the caller's own staff seat, to the caller alone (their login is the proof).
  A panel judge not yet listed as a participant is added in their panel role (audited) on the way.
- GET /api/me/seats: the hearings where the caller holds a staff seat.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from docket.audit import AuditEvent
from docket.court import NewParticipant
from hearing.api.deps import AUDIT_ROLE, ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.api.schemas import HearingOut, hearing_out
from hearing.api.seat_codes import SeatCode, issue_seat_code
from hearing.join_links import (
    MAX_TTL,
    MIN_TTL_SECONDS,
    IssuedLink,
    LinkRefused,
    admission_problem,
    issue_participant_link,
)
from hearing.roles import ROLE_GRANTS
from hearing.staff_auth import Permission, StaffPrincipal, is_staff_seat, own_seat


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_seconds: int | None = Field(
        None, ge=MIN_TTL_SECONDS, le=int(MAX_TTL.total_seconds()),
        description="Lifetime; default until the scheduled end + 2 h, at most 24 h",
    )


class LinkOut(BaseModel):
    url: str = Field(description="The join link; the token is after '#'. Shown once: send it to the person")
    token_id: str
    room_id: str
    participant_id: str
    role: str
    grants: list[str]
    expires_at: datetime
    revoked_token_ids: list[str] = Field(description="Earlier links of this participant, now withdrawn")
    short_code: SeatCode | None = Field(None, description="The link's short code and QR code (短码), for the "
                                                          "summons; withdrawn and expiring with the link")


class SeatOut(BaseModel):
    hearing: HearingOut
    role: str
    participant_id: str | None = Field(description="None: a panel judge, listed at their first link")


STAFF_SEAT_MESSAGE = ("a staff seat's link (presiding judge, judge, clerk, mediator) goes only to the staff member "
                      "who holds it, through their own login (POST /api/hearings/{id}/my-link); nobody can issue it "
                      "for them")


def links_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["join links"], responses=ERROR_RESPONSES)

    @router.post("/hearings/{hearing_id}/participants/{participant_id}/link", response_model=LinkOut,
                 status_code=status.HTTP_201_CREATED,
                 responses={409: {"description": "The hearing is over, or another link was issued at the same time"}})
    async def issue_link(hearing_id: str, participant_id: str, response: Response, body: LinkIn | None = None,
                         principal: StaffPrincipal = Depends(deps.require(Permission.ISSUE_LINKS))) -> LinkOut:
        """Issue a one-time join link for someone else's seat, withdrawing any link issued to them before.

        Staff seats are refused (403 `staff_seat`): their holders get their links through their own login.
        """
        participant = await ctx.court.get_participant(participant_id)
        if participant.hearing_id == hearing_id and is_staff_seat(participant.role):
            raise ApiError(403, "staff_seat", STAFF_SEAT_MESSAGE, role=participant.role)
        return await issued(response, principal, hearing_id, participant_id, body)

    @router.post("/hearings/{hearing_id}/my-link", response_model=LinkOut, status_code=status.HTTP_201_CREATED,
                 responses={409: {"description": "The hearing is over, or another link was issued at the same time"}})
    async def my_link(hearing_id: str, response: Response, body: LinkIn | None = None,
                      principal: StaffPrincipal = Depends(deps.current)) -> LinkOut:
        """Your own join link for the staff seat you hold in this hearing (403 `no_seat` if you hold none)."""
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await ctx.court.list_participants(hearing.id)
        seat = own_seat(principal, hearing, participants)
        if seat is None or principal.person_id is None:
            raise ApiError(403, "no_seat", f"you hold no staff seat in hearing {hearing.id}: a judge sits on its "
                                           "panel, a clerk or mediator needs a participant record for their person "
                                           "(and the matching staff role)", missing_permission="hearing_role")
        participant = seat.participant
        if participant is None:  # a panel judge's first link: list them in their panel role
            problem = admission_problem(hearing, seat.role, principal.person_id)
            if problem:
                raise LinkRefused("role_not_admitted", problem)
            participant = await ctx.court.add_participant(NewParticipant(hearing.id, principal.person_id,
                                                                         seat.role.value))
            await ctx.audit.append(AuditEvent(principal.id, AUDIT_ROLE, "register.participant_added",
                                              f"participant:{participant.id}", {
                                                  "hearing_id": hearing.id, "person_id": principal.person_id,
                                                  "role": seat.role.value, "as": "own seat"}))
        return await issued(response, principal, hearing.id, participant.id, body)

    @router.get("/me/seats", response_model=list[SeatOut])
    async def my_seats(principal: StaffPrincipal = Depends(deps.current)) -> list[SeatOut]:
        """The hearings where you hold a staff seat, by scheduled start (get each link with POST …/my-link)."""
        if principal.person_id is None:
            return []
        out = []
        for h in await ctx.court.list_hearings():  # one participant query per hearing: fine at a court's scale
            seat = own_seat(principal, h, await ctx.court.list_participants(h.id))
            if seat is not None:
                out.append(SeatOut(hearing=hearing_out(h), role=seat.role.value,
                                   participant_id=seat.participant.id if seat.participant else None))
        return out

    async def issued(response: Response, principal: StaffPrincipal, hearing_id: str, participant_id: str,
                     body: LinkIn | None) -> LinkOut:
        link: IssuedLink = await issue_participant_link(
            ctx.court, ctx.records, ctx.tokens, ctx.rooms, ctx.base_url, hearing_id=hearing_id,
            participant_id=participant_id, ttl_seconds=body.ttl_seconds if body else None,
            audit=ctx.audit, actor_id=principal.id, actor_role=AUDIT_ROLE,
        )
        if ctx.end_sessions is not None:  # a link withdrawn is withdrawn now, not just for the next join
            for jti in link.revoked:
                await ctx.end_sessions(link.room_id, jti)
        response.headers["Cache-Control"] = "no-store"
        return LinkOut(url=link.url, token_id=link.jti, room_id=link.room_id, participant_id=link.participant_id,
                       role=link.role.value, grants=sorted(ROLE_GRANTS[link.role]), expires_at=link.expires_at,
                       revoked_token_ids=list(link.revoked), short_code=await issue_seat_code(ctx, link.jti, link.url))

    return router
