"""Running the lobby from the staff API: who waits, admit (with the identity check) or deny.

The same courtroom rules decide as for the in-room console (hearing.courtroom): the request is made in the role the
caller holds in the hearing, so a clerk admits, a party could not, and every admission is audited.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from docket.court import Hearing, Participant
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.roles import Role
from hearing.staff_auth import StaffPrincipal, hearing_role, involved
from signaling.protocol import Admit, Deny, Error, ModerationMessage

_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "bad_message": 422}


class Waiting(BaseModel):
    participant_id: str
    name: str
    role: str
    verified: bool


class AdmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verification: str | None = Field(None, max_length=64,
                                     description="how identity was checked, e.g. id_card_at_station")


class DenyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)


def lobby_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["lobby"], responses=ERROR_RESPONSES)

    async def acting(principal: StaffPrincipal, hearing_id: str) -> tuple[Hearing, Role, list[Participant]]:
        if ctx.lobby is None:
            raise ApiError(503, "unavailable", "the live courtroom is not running in this process")
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await ctx.court.list_participants(hearing.id)
        if not involved(principal, hearing, participants):
            raise ApiError(403, "forbidden", f"you take no part in hearing {hearing.id}")
        role = hearing_role(principal, hearing, participants)
        if role is None:
            raise ApiError(403, "forbidden", f"you hold no court role in hearing {hearing.id}",
                           missing_permission="hearing_role")
        return hearing, role, participants

    def actor_of(principal: StaffPrincipal, participants: list[Participant]) -> str:
        """Audit entries name the caller's participant record in this hearing when there is one."""
        mine = [p.id for p in participants if principal.person_id and p.person_id == principal.person_id]
        return mine[0] if mine else f"staff:{principal.id}"

    async def run(principal: StaffPrincipal, hearing_id: str, msg: ModerationMessage) -> dict[str, str]:
        hearing, role, participants = await acting(principal, hearing_id)
        assert ctx.lobby is not None
        error: Error | None = await ctx.lobby.act(hearing, actor_of(principal, participants), role, msg)
        if error is not None:
            raise ApiError(_STATUS.get(error.code.value, 422), error.code.value, error.message, acted_as=role.value)
        return {"status": "done", "acted_as": role.value}

    @router.get("/hearings/{hearing_id}/lobby", response_model=list[Waiting])
    async def lobby(hearing_id: str, principal: StaffPrincipal = Depends(deps.current)) -> list[Waiting]:
        """Who is connected and waiting to be admitted now."""
        hearing, _, participants = await acting(principal, hearing_id)
        assert ctx.lobby is not None
        verified = {p.id for p in participants if p.verification is not None}
        return [Waiting(participant_id=m["id"], name=m.get("name", ""), role=m.get("role", ""),
                        verified=m["id"] in verified) for m in await ctx.lobby.waiting(hearing)]

    @router.post("/hearings/{hearing_id}/lobby/{participant_id}/admit")
    async def admit(hearing_id: str, participant_id: str, body: AdmitIn,
                    principal: StaffPrincipal = Depends(deps.current)) -> dict[str, str]:
        """Admit someone from the lobby, recording how their identity was checked."""
        return await run(principal, hearing_id, Admit(participant_id=participant_id, verification=body.verification))

    @router.post("/hearings/{hearing_id}/lobby/{participant_id}/deny")
    async def deny(hearing_id: str, participant_id: str, body: DenyIn,
                   principal: StaffPrincipal = Depends(deps.current)) -> dict[str, str]:
        """Turn someone away: their link stops working."""
        return await run(principal, hearing_id, Deny(participant_id=participant_id, reason=body.reason))

    return router
