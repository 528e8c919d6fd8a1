"""Staff tools without a room: the court's judges by name, a mediation's recording switch, the audit log.

- GET /api/court-staff lists the court's staff who have a register person (judges for the panel picker), by name:
  the page never asks a clerk for a person id, and scheduling refuses a panel member who is not a judge
  (422 `panel_not_judge`, hearing.api.register).
- GET/PUT /api/hearings/{id}/recording/live read and set the live recording where the court's rules let someone
  choose (a mediation's mediator or presiding judge, in session): the request goes through the courtroom's own
  moderation (`SetRecording`, hearing.courtroom), in the caller's role in the hearing, so the rules, the audit entry
  and the room's recording light are the in-room console's.
- GET /api/audit pages through the hash-chained audit log, newest first, filtered (admins: `audit.read`). Entries
  come with the names of their actor and subject where the register knows them, so no page shows a bare id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from docket.audit import AuditEntry, AuditQuery
from docket.court import Hearing, NotFound, Participant
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.kinds import ProcedureState
from hearing.policy import Action, allowed
from hearing.staff_auth import JUDICIAL, Permission, StaffPrincipal, hearing_role, involved
from signaling.protocol import SetRecording

_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "bad_message": 422}
MAX_AUDIT_PAGE = 200


class CourtStaffOut(BaseModel):
    person_id: str = Field(description="The register person: what a panel lists")
    display_name: str
    roles: list[str]
    judge: bool = Field(description="Holds a judicial role: may sit on a panel")


class LiveRecordingOut(BaseModel):
    recording: bool = Field(description="What the recorder is doing now (the room's recording light)")
    may_control: bool = Field(description="The caller may start or stop it now, in their role in the hearing")
    acted_as: str | None
    state: str


class LiveRecordingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool
    reason: str = Field("", max_length=200)


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor_role: str
    actor_name: str | None = Field(description="The staff member's or participant's name, None if not known")
    action: str
    subject_kind: str = Field(description="What the subject is: hearing, case, person, participant, staff, ...")
    subject_label: str | None = Field(description="The subject in words (a case number, a name), None if not known")
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_before_seq: int | None = Field(description="Pass as before_seq for the next (older) page; None at the end")


class _Names:
    """Names for the ids in one page of audit entries, each looked up once."""

    def __init__(self, ctx: ApiContext, staff: dict[str, str]) -> None:
        self.ctx = ctx
        self.staff = staff
        self.cache: dict[str, str | None] = {}

    async def _lookup(self, kind: str, key: str) -> str | None:
        court = self.ctx.court
        try:
            if kind == "staff":
                return self.staff.get(key)
            if kind == "person":
                return (await court.get_person(key)).name
            if kind == "case":
                return (await court.get_case(key)).case_number
            if kind == "hearing":
                hearing = await court.get_hearing(key)
                return (await court.get_case(hearing.case_id)).case_number
            if kind == "participant":
                participant = await court.get_participant(key)
                return (await court.get_person(participant.person_id)).name
        except NotFound:
            return None
        return None

    async def name(self, kind: str, key: str) -> str | None:
        ref = f"{kind}:{key}"
        if ref not in self.cache:
            self.cache[ref] = await self._lookup(kind, key)
        return self.cache[ref]

    async def actor(self, entry: AuditEntry) -> str | None:
        actor = entry.actor_id.removeprefix("staff:")
        if actor in self.staff:
            return self.staff[actor]
        return await self.name("participant", actor)


def _day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, UTC)


def staff_tools_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["staff tools"], responses=ERROR_RESPONSES)

    @router.get("/court-staff", response_model=list[CourtStaffOut])
    async def court_staff(principal: StaffPrincipal = Depends(deps.require(Permission.READ_REGISTER)),
                          ) -> list[CourtStaffOut]:
        """The court's enabled staff with a register person, by name: the panel is picked from those with
        `judge` true (the first presides)."""
        accounts = [a for a in await ctx.auth.store.list_staff() if a.person_id and not a.disabled]
        accounts.sort(key=lambda a: a.display_name)
        return [CourtStaffOut(person_id=a.person_id or "", display_name=a.display_name,
                              roles=sorted(r.value for r in a.roles), judge=bool(a.roles & JUDICIAL))
                for a in accounts]

    async def seat(principal: StaffPrincipal, hearing_id: str) -> tuple[Hearing, list[Participant]]:
        hearing = await ctx.court.get_hearing(hearing_id)
        participants = await ctx.court.list_participants(hearing.id)
        if not principal.may(Permission.VIEW_ALL_HEARINGS) and not involved(principal, hearing, participants):
            raise ApiError(403, "forbidden", f"you take no part in hearing {hearing.id}",
                           missing_permission=Permission.VIEW_ALL_HEARINGS.value)
        return hearing, participants

    def live(principal: StaffPrincipal, hearing: Hearing, participants: list[Participant]) -> LiveRecordingOut:
        role = hearing_role(principal, hearing, participants)
        recording = ctx.lobby is not None and ctx.lobby.room_state(hearing).recording
        may = role is not None and Action.START_PAUSE_RECORDING in allowed(role, hearing.kind,
                                                                           ProcedureState(hearing.state))
        return LiveRecordingOut(recording=bool(recording), may_control=may and ctx.lobby is not None,
                                acted_as=role.value if role else None, state=str(hearing.state))

    @router.get("/hearings/{hearing_id}/recording/live", response_model=LiveRecordingOut)
    async def live_recording(hearing_id: str, principal: StaffPrincipal = Depends(deps.current),
                             ) -> LiveRecordingOut:
        """Whether the hearing is being recorded now, and whether the caller may switch it."""
        hearing, participants = await seat(principal, hearing_id)
        return live(principal, hearing, participants)

    @router.put("/hearings/{hearing_id}/recording/live", response_model=LiveRecordingOut)
    async def set_live_recording(hearing_id: str, body: LiveRecordingIn,
                                 principal: StaffPrincipal = Depends(deps.current)) -> LiveRecordingOut:
        """Start (`on`: true) or stop (pause: the manifest continues at the next start) the recording, in the
        caller's role: a mediation's mediator or presiding judge in session. Trials and the other kinds recorded
        in full follow the procedure: 403 with the rule's reason."""
        if ctx.lobby is None:
            raise ApiError(503, "unavailable", "the live courtroom is not running in this process")
        hearing, participants = await seat(principal, hearing_id)
        role = hearing_role(principal, hearing, participants)
        if role is None:
            raise ApiError(403, "no_court_role", f"you hold no court role in hearing {hearing.id}",
                           missing_permission="hearing_role")
        mine = [p.id for p in participants if p.person_id == principal.person_id]
        actor = mine[0] if mine else f"staff:{principal.id}"
        error = await ctx.lobby.act(hearing, actor, role, SetRecording(on=body.on, reason=body.reason))
        if error is not None:
            raise ApiError(_STATUS.get(error.code.value, 422), error.reason or error.code.value, error.message,
                           acted_as=role.value, **error.params)
        return live(principal, await ctx.court.get_hearing(hearing.id), participants)

    @router.get("/audit", response_model=AuditPageOut)
    async def audit_log(
        before_seq: int | None = Query(None, ge=1, description="Entries older than this seq (paging)"),
        limit: int = Query(50, ge=1, le=MAX_AUDIT_PAGE),
        action: str | None = Query(None, max_length=64, description="Prefix, e.g. 'register.' or 'staff.login'"),
        actor_id: str | None = Query(None, max_length=64, description="A staff account id (GET /api/staff-names)"),
        subject: str | None = Query(None, max_length=200, description="Prefix, e.g. 'hearing:' or 'hearing:<id>'"),
        since: date | None = Query(None, description="From this UTC day"),
        until: date | None = Query(None, description="To this UTC day, inclusive"),
        principal: StaffPrincipal = Depends(deps.require(Permission.READ_AUDIT)),
    ) -> AuditPageOut:
        """A page of the audit log, newest first, with names for actors and subjects."""
        if since and until and until < since:
            raise ApiError(422, "bad_range", "`until` is before `since`")
        end = _day_start(until + timedelta(days=1)) if until else None
        query = AuditQuery(before_seq=before_seq, limit=limit + 1, action=action or None, actor_id=actor_id or None,
                           subject=subject or None, since=_day_start(since), until=end)
        found = await ctx.audit.search(query)
        more = len(found) > limit
        page = found[:limit]
        staff = {a.id: a.display_name for a in await ctx.auth.store.list_staff()}
        names = _Names(ctx, staff)
        out = []
        for e in page:
            kind, _, key = e.subject.partition(":")
            out.append(AuditEntryOut(seq=e.seq, at=e.at, actor_role=e.actor_role, actor_name=await names.actor(e),
                                     action=e.action, subject_kind=kind if key else "",
                                     subject_label=await names.name(kind, key) if key else None,
                                     details=e.details))
        return AuditPageOut(entries=out, next_before_seq=page[-1].seq if more and page else None)

    @router.get("/staff-names", response_model=list[dict[str, str]])
    async def staff_names(principal: StaffPrincipal = Depends(deps.require(Permission.READ_AUDIT)),
                          ) -> list[dict[str, str]]:
        """Every staff account's id and name (disabled ones too: they appear in the log), for the actor filter."""
        accounts = sorted(await ctx.auth.store.list_staff(), key=lambda a: a.display_name)
        return [{"id": a.id, "display_name": a.display_name} for a in accounts]

    return router
