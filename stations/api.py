"""HTTP API of connect-a-judge (连线法官): /api/stations (stations and their calls) and /api/duty (judges).

Three kinds of caller:
- a station's shared PC: its device link (`X-Station-Link` header; the page keeps the token in localStorage, so
  the PC stays signed in, and the court can withdraw it at any time — then `station_link_revoked`);
- a station operator: their own staff login with the `station_operator` role, bound to one station;
- court staff: admins and clerks keep stations, links and the roster; judges and mediators on duty take calls.
Only this module touches hearing/ (the staff session and the JSON error shape); the service below does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from docket.staff import StaffRole
from hearing.api.deps import SESSION_COOKIE, ApiError, StaffDeps, route_class, translate
from hearing.staff_auth import JUDICIAL, Permission, StaffAuth, StaffPrincipal
from recordings.clips import ClipActor
from signaling.tokens import TokenError
from stations.errors import StationsRefused
from stations.hours import is_open
from stations.queue import Move
from stations.service import StationActor, StationsService
from stations.sharing import Decision
from stations.vocab import Category, DutyStatus


@dataclass
class StationsContext:
    service: StationsService
    auth: StaffAuth
    base_url: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _refused(exc: Exception) -> ApiError | None:
    if isinstance(exc, StationsRefused):
        return ApiError(exc.status, exc.code, exc.message, **exc.extra)
    if isinstance(exc, TokenError):
        return ApiError(409, "call_link", exc.reason)
    return translate(exc)


_Route = route_class(_refused)
_bearer = HTTPBearer(auto_error=False, description="An operator's session token from POST /api/login")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The staff session cookie")


class ServiceIn(BaseModel):
    area: str | None = Field(None, max_length=200)
    court_code: str = Field(min_length=1, max_length=32)
    opening_hours: str | None = Field(None, max_length=400, description="e.g. 'mon-fri 08:30-17:30; sat 09:00-12:00'")


class LinkIn(BaseModel):
    label: str = Field("PC", max_length=100)


class OperatorIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=64)


class ShiftIn(BaseModel):
    court_code: str = Field(min_length=1, max_length=32)
    staff_id: str = Field(min_length=1, max_length=64)
    duty_role: Literal["judge", "mediator"] = "judge"
    starts_at: datetime
    ends_at: datetime


class CallIn(BaseModel):
    caller_name: str = Field("", max_length=100)
    verification_method: str = Field("", max_length=32)
    category: str = Field(max_length=32)
    summary: str = Field("", max_length=500)


class CallLinkIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=64)
    court_code: str = Field(min_length=1, max_length=32)
    valid_days: int = Field(30, ge=1, le=365)


class MemberIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=64)
    court_code: str = Field(min_length=1, max_length=32)


class ResourceIn(BaseModel):
    kind: Literal["courtroom", "judge"]
    target_id: str = Field(min_length=1, max_length=64,
                           description="the courtroom station's id, or the judge's staff id")


class BookingIn(BaseModel):
    resource_id: str = Field(min_length=1, max_length=64)
    hearing_id: str = Field(min_length=1, max_length=64)
    starts_at: datetime
    ends_at: datetime


class DecisionIn(BaseModel):
    reason: str = Field("", max_length=500)


class StatusIn(BaseModel):
    status: DutyStatus


class RecordingIn(BaseModel):
    on: bool


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


class EndIn(BaseModel):
    note: str | None = Field(None, max_length=4000)


class OutcomeIn(BaseModel):
    kind: str = Field(max_length=32)
    ref: str = Field(min_length=1, max_length=64)


class MessageIn(BaseModel):
    clip_id: str = Field(min_length=1, max_length=64, description="the clip stored by /api/clips/station/…/complete")


class InviteIn(BaseModel):
    role: Literal["judge", "interpreter"]
    name: str = Field(min_length=1, max_length=100)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ApiError(422, "invalid_request", "give times with a time zone (e.g. 2026-12-07T08:00:00+08:00)")
    return at


def stations_router(ctx: StationsContext) -> APIRouter:
    router = APIRouter(tags=["stations"], route_class=_Route)
    staff = StaffDeps(ctx.auth)
    service = ctx.service

    async def station(x_station_link: str = Header("", description="The station's device link token (a shared PC)"),
                      x_call_link: str = Header("", description="A person's own call link from the court"),
                      credentials: HTTPAuthorizationCredentials | None = Security(_bearer),
                      cookie_token: str | None = Security(_cookie)) -> StationActor:
        return await resolve_station(ctx, x_station_link, x_call_link, credentials, cookie_token)

    async def judge(principal: StaffPrincipal = Depends(staff.current)) -> StaffPrincipal:
        if not principal.roles & (JUDICIAL | {StaffRole.MEDIATOR}):
            raise ApiError(403, "forbidden", "only judges and mediators take calls")
        return principal

    # ---- the register: stations, operators, links, the roster (admins and clerks) --------------------------

    @router.put("/api/stations/{station_id}/service")
    async def configure_station(station_id: str, body: ServiceIn, p: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, Any]:
        """Attach a register station (POST /api/stations) to a court's call queue: court, area, opening hours."""
        s = await service.store.configure_station(station_id, court_code=body.court_code, area=body.area,
                                                  opening_hours=body.opening_hours, actor=(p.id, "staff"),
                                                  now=ctx.clock())
        return _station_out(s, ctx.clock(), service)

    @router.get("/api/stations/service")
    async def list_stations(p: StaffPrincipal = Depends(staff.require(Permission.READ_REGISTER))
                            ) -> list[dict[str, Any]]:
        now = ctx.clock()
        return [_station_out(s, now, service) for s in await service.store.list_stations()]

    @router.post("/api/stations/{station_id}/links", status_code=201)
    async def issue_link(station_id: str, body: LinkIn,
                         p: StaffPrincipal = Depends(staff.require(Permission.ISSUE_LINKS))) -> dict[str, Any]:
        link, token = await service.store.issue_link(station_id, body.label, actor=(p.id, "staff"), now=ctx.clock())
        return {"id": link.id, "station_id": station_id, "token": token,
                "url": f"{ctx.base_url}/station#link={token}"}

    @router.post("/api/stations/links/{link_id}/revoke")
    async def revoke_link(link_id: str, p: StaffPrincipal = Depends(staff.require(Permission.ISSUE_LINKS))
                          ) -> dict[str, Any]:
        link = await service.store.revoke_link(link_id, actor=(p.id, "staff"), now=ctx.clock())
        return {"id": link.id, "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None}

    @router.post("/api/stations/{station_id}/operators", status_code=204)
    async def add_operator(station_id: str, body: OperatorIn,
                           p: StaffPrincipal = Depends(staff.require(Permission.WRITE_REGISTER))) -> None:
        await service.store.add_operator(body.staff_id, station_id, actor=(p.id, "staff"), now=ctx.clock())

    @router.post("/api/duty/shifts", status_code=201)
    async def add_shift(body: ShiftIn, p: StaffPrincipal = Depends(staff.require(Permission.WRITE_REGISTER))
                        ) -> dict[str, Any]:
        s = await service.store.add_shift(court_code=body.court_code, staff_id=body.staff_id,
                                          duty_role=body.duty_role, starts_at=_aware(body.starts_at),
                                          ends_at=_aware(body.ends_at), actor=(p.id, "staff"), now=ctx.clock())
        return {"id": s.id, "court_code": s.court_code, "staff_id": s.staff_id, "duty_role": s.duty_role,
                "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat()}

    @router.get("/api/stations/stats")
    async def stats(p: StaffPrincipal = Depends(staff.require(Permission.VIEW_STATS))) -> dict[str, object]:
        return await service.stats(ctx.clock())

    # ---- a station ---------------------------------------------------------------------------------------

    @router.post("/api/stations/call-links", status_code=201)
    async def issue_call_link(body: CallLinkIn, p: StaffPrincipal = Depends(staff.require(Permission.ISSUE_LINKS))
                              ) -> dict[str, Any]:
        """A person's own link to call a judge of one court from anywhere (no station); the token is shown once."""
        now = ctx.clock()
        link_id, token = await service.store.issue_call_link(body.person_id, body.court_code,
                                                             expires_at=now + timedelta(days=body.valid_days),
                                                             actor=(p.id, "staff"), now=now)
        return {"id": link_id, "token": token, "url": f"{ctx.base_url}/station#call={token}"}

    @router.post("/api/stations/call-links/{link_id}/revoke", status_code=204)
    async def revoke_call_link(link_id: str, p: StaffPrincipal = Depends(staff.require(Permission.ISSUE_LINKS))
                               ) -> None:
        await service.store.revoke_call_link(link_id, actor=(p.id, "staff"), now=ctx.clock())

    @router.get("/api/stations/me")
    async def my_station(actor: StationActor = Depends(station)) -> dict[str, Any]:
        if actor.station_id is None:
            return {"id": None, "kind": "person", "name": actor.person_name, "area": "", "court_code": actor.court_code,
                    "opening_hours": None, "open_now": True, "categories": [c.value for c in Category],
                    "signed_in_as": actor.actor_role}
        s = await service.store.get_station(actor.station_id)
        return _station_out(s, ctx.clock(), service) | {"categories": [c.value for c in Category],
                                                       "signed_in_as": actor.actor_role}

    @router.post("/api/stations/me/calls", status_code=201)
    async def request_call(body: CallIn, actor: StationActor = Depends(station)) -> dict[str, Any]:
        return await service.request_call(actor, caller_name=body.caller_name,
                                          verification_method=body.verification_method, category=body.category,
                                          summary=body.summary, now=ctx.clock())

    @router.post("/api/stations/me/calls/{call_id}/message-clip")
    async def leave_message(call_id: str, body: MessageIn, actor: StationActor = Depends(station)) -> dict[str, Any]:
        """Attach the recorded video message (uploaded with purpose `station`) to a call left as `message_pending`."""
        return await service.leave_message(actor, call_id, body.clip_id, ctx.clock())

    @router.get("/api/stations/me/calls")
    async def station_history(actor: StationActor = Depends(station)) -> list[dict[str, Any]]:
        return await service.history(actor, ctx.clock())

    @router.get("/api/stations/me/calls/{call_id}")
    async def station_call(call_id: str, actor: StationActor = Depends(station)) -> dict[str, Any]:
        return await service.station_call(actor, call_id, ctx.clock())

    @router.post("/api/stations/me/calls/{call_id}/join")
    async def station_join(call_id: str, actor: StationActor = Depends(station)) -> dict[str, str]:
        return {"link": await service.join_call(actor, call_id, ctx.clock())}

    moves = {"requeue": Move.REQUEUE, "cancel": Move.CANCEL, "callback": Move.CALLBACK,
             "message": Move.LEAVE_MESSAGE}

    @router.post("/api/stations/me/calls/{call_id}/{action}")
    async def station_move(call_id: str, action: Literal["requeue", "cancel", "callback", "message"],
                           actor: StationActor = Depends(station)) -> dict[str, Any]:
        return await service.station_move(actor, call_id, moves[action], ctx.clock())

    # ---- judges on duty ------------------------------------------------------------------------------------

    @router.get("/api/duty")
    async def duty(p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.duty(p.id, ctx.clock()) | {"name": p.display_name}

    @router.put("/api/duty/status", status_code=204)
    async def set_status(body: StatusIn, p: StaffPrincipal = Depends(judge)) -> None:
        await service.set_status(p.id, body.status, ctx.clock())

    @router.post("/api/duty/calls/{call_id}/accept")
    async def accept(call_id: str, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.accept(p.id, p.display_name, call_id, ctx.clock())

    @router.post("/api/duty/calls/{call_id}/join")
    async def judge_join(call_id: str, p: StaffPrincipal = Depends(judge)) -> dict[str, str]:
        return {"link": await service.rejoin(p.id, p.display_name, call_id)}

    @router.get("/api/duty/messages/{call_id}/clip")
    async def message_clip(call_id: str, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        """Play a recorded message of a court the judge is on duty for (a short-lived address)."""
        return await service.message_clip(p.id, call_id, ctx.clock())

    @router.post("/api/duty/messages/{call_id}/heard")
    async def message_heard(call_id: str, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        """The judge takes the message in hand: it leaves every duty page's list (who and when are kept)."""
        return await service.mark_heard(p.id, call_id, ctx.clock())

    @router.post("/api/duty/calls/{call_id}/recording")
    async def recording(call_id: str, body: RecordingIn, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.set_recording(p.id, call_id, body.on)

    @router.post("/api/duty/calls/{call_id}/note")
    async def note(call_id: str, body: NoteIn, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.write_note(p.id, call_id, body.note, ctx.clock())

    @router.post("/api/duty/calls/{call_id}/outcome")
    async def outcome(call_id: str, body: OutcomeIn, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.link_outcome(p.id, call_id, body.kind, body.ref, ctx.clock())

    @router.post("/api/duty/calls/{call_id}/invite", status_code=201)
    async def invite(call_id: str, body: InviteIn, p: StaffPrincipal = Depends(judge)) -> dict[str, str]:
        return {"link": await service.invite(p.id, call_id, body.role, body.name, ctx.clock())}

    @router.post("/api/duty/calls/{call_id}/end")
    async def end(call_id: str, body: EndIn, p: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        return await service.end(p.id, call_id, ctx.clock(), body.note)

    # ---- shared courts (共享法庭): lending a courtroom or a judge to another court, with the owner's approval ----

    async def court_admin(p: StaffPrincipal = Depends(staff.current)) -> tuple[StaffPrincipal, str]:
        if StaffRole.ADMIN not in p.roles:
            raise ApiError(403, "forbidden", "only a court's administrator books and lends")
        court = await service.sharing.court_of(p.id)
        if court is None:
            raise ApiError(403, "no_court", "your account belongs to no court yet; ask an administrator")
        return p, court

    @router.put("/api/shared/members", status_code=204)
    async def set_member(body: MemberIn, p: StaffPrincipal = Depends(staff.require(Permission.WRITE_REGISTER))
                         ) -> None:
        """Which court a staff account belongs to (the register's knowledge of who owns what)."""
        if StaffRole.ADMIN not in p.roles:
            raise ApiError(403, "forbidden", "only an administrator sets which court an account belongs to")
        await service.sharing.set_court(body.staff_id, body.court_code, actor=(p.id, "staff"), now=ctx.clock())

    @router.post("/api/shared/resources", status_code=201)
    async def add_resource(body: ResourceIn, who: tuple[StaffPrincipal, str] = Depends(court_admin)
                           ) -> dict[str, Any]:
        r = await service.sharing.add_resource(who[1], body.kind, body.target_id, actor=(who[0].id, "staff"),
                                               now=ctx.clock())
        return _resource_out(r)

    @router.get("/api/shared/resources")
    async def list_resources(p: StaffPrincipal = Depends(staff.require(Permission.READ_REGISTER))
                             ) -> list[dict[str, Any]]:
        return [_resource_out(r) for r in await service.sharing.resources()]

    @router.post("/api/shared/bookings", status_code=201)
    async def request_booking(body: BookingIn, who: tuple[StaffPrincipal, str] = Depends(court_admin)
                              ) -> dict[str, Any]:
        b = await service.sharing.request(body.resource_id, who[1], body.hearing_id, _aware(body.starts_at),
                                          _aware(body.ends_at), actor=(who[0].id, "staff"), now=ctx.clock())
        return _booking_out(b)

    @router.post("/api/shared/bookings/{booking_id}/{decision}")
    async def decide_booking(booking_id: str, decision: Decision, body: DecisionIn,
                             who: tuple[StaffPrincipal, str] = Depends(court_admin)) -> dict[str, Any]:
        b = await service.sharing.decide(booking_id, decision, who[1], reason=body.reason,
                                         actor=(who[0].id, "staff"), now=ctx.clock())
        return _booking_out(b)

    @router.get("/api/shared/bookings")
    async def list_bookings(who: tuple[StaffPrincipal, str] = Depends(court_admin)) -> list[dict[str, Any]]:
        return [_booking_out(b) for b in await service.sharing.bookings(who[1])]

    return router


async def resolve_station(ctx: StationsContext, station_link: str, call_link: str,
                          credentials: HTTPAuthorizationCredentials | None, cookie_token: str | None) -> StationActor:
    """Who speaks for a station: a call link, a device link, or an operator's own login (in that order)."""
    service = ctx.service
    if call_link:
        person = await service.store.resolve_call_link(call_link, ctx.clock())
        return StationActor(None, person.id, "call_link", person.person_id, person.person_name, person.court_code)
    if station_link:
        link = await service.store.resolve_link(station_link)
        return StationActor(link.station_id, link.id, "station_link")
    try:
        principal = await StaffDeps(ctx.auth).current(credentials, cookie_token)
    except ApiError:
        raise ApiError(401, "station_not_signed_in",
                       "open the station page with the station's link, or log in as its operator") from None
    station_id = await service.store.station_of_operator(principal.id)
    if StaffRole.STATION_OPERATOR not in principal.roles or station_id is None:
        raise ApiError(403, "not_station_operator", "this account does not operate a station")
    return StationActor(station_id, principal.id, "station_operator")


def clip_authorizer(ctx: StationsContext) -> Callable[[Request], Awaitable[ClipActor]]:
    """Who may upload a recorded message (purpose `station` of /api/clips): the station's PC, its operator or a
    person with their own call link; the clip belongs to that station (or person) until it is attached to a call."""

    async def authorize(request: Request) -> ClipActor:
        auth_header = request.headers.get("authorization", "")
        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=auth_header[7:]) \
            if auth_header[:7].lower() == "bearer " else None
        try:
            actor = await resolve_station(ctx, request.headers.get("x-station-link", ""),
                                          request.headers.get("x-call-link", ""), creds,
                                          request.cookies.get(SESSION_COOKIE))
        except StationsRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message, **exc.extra) from None
        return ClipActor(actor.clip_owner, actor.actor_id, actor.actor_role)

    return authorize


def _resource_out(r: Any) -> dict[str, Any]:
    return {"id": r.id, "owner_court": r.owner_court, "kind": r.kind, "station_id": r.station_id,
            "staff_id": r.staff_id, "label": r.label}


def _booking_out(b: Any) -> dict[str, Any]:
    return {"id": b.id, "resource_id": b.resource_id, "borrower_court": b.borrower_court, "hearing_id": b.hearing_id,
            "starts_at": b.starts_at.isoformat(), "ends_at": b.ends_at.isoformat(), "state": b.state,
            "decided_by": b.decided_by, "reason": b.reason}


def _station_out(s: Any, now: datetime, service: StationsService) -> dict[str, Any]:
    return {"id": s.id, "kind": s.kind, "name": s.name, "area": s.area, "court_code": s.court_code,
            "opening_hours": s.opening_hours, "open_now": is_open(s.opening_hours, now, service.config.tz)}

