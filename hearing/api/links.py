"""Join links through the staff API: POST /api/hearings/{id}/participants/{pid}/link (hearing.join_links)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from hearing.api.deps import AUDIT_ROLE, ERROR_RESPONSES, ApiContext, ApiRoute, StaffDeps
from hearing.join_links import MAX_TTL, MIN_TTL_SECONDS, issue_participant_link
from hearing.roles import ROLE_GRANTS
from hearing.staff_auth import Permission, StaffPrincipal


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


def links_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["join links"], responses=ERROR_RESPONSES)

    @router.post("/hearings/{hearing_id}/participants/{participant_id}/link", response_model=LinkOut,
                 status_code=status.HTTP_201_CREATED,
                 responses={409: {"description": "The hearing is over, or another link was issued at the same time"}})
    async def issue_link(hearing_id: str, participant_id: str, response: Response, body: LinkIn | None = None,
                         principal: StaffPrincipal = Depends(deps.require(Permission.ISSUE_LINKS))) -> LinkOut:
        """Issue a one-time join link for a participant, withdrawing any link issued to them before."""
        link = await issue_participant_link(
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
                       revoked_token_ids=list(link.revoked))

    return router
