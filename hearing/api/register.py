"""The court register through the staff API: persons, stations, cases with parties, hearings, participants.

Writing needs `register.write` (admins and clerks), reading persons, cases and stations `register.read`. Every
record created is audited (`register.*`, ids only). Adding a participant is refused when the hearing's kind admits
that role at all (hearing.join_links.admission_problem): e.g. a party to a deliberation (合议), or a judge who is
not on the panel.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from docket.audit import AuditEvent
from docket.court import (
    HearingKind,
    InvalidRecord,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NewStation,
    Party,
    PartySide,
    StationKind,
)
from hearing.api.deps import AUDIT_ROLE, ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.api.schemas import (
    CaseOut,
    HearingOut,
    ParticipantOut,
    PersonOut,
    StationOut,
    case_out,
    hearing_out,
    participant_out,
    person_out,
    station_out,
)
from hearing.join_links import admission_problem
from hearing.roles import Role
from hearing.staff_auth import Permission, StaffPrincipal, panel_problem

Id = Annotated[str, Field(min_length=1, max_length=64)]
RoomId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_In):
    name: str = Field(min_length=1, max_length=200)
    id_document: str | None = Field(None, max_length=64, repr=False,
                                    description="Identity-document number: stored only as a salted hash and its "
                                                "last four characters; never returned")
    birth_date: date | None = Field(None, description="Taken from a PRC resident ID number when not given")


class PersonSearch(_In):
    id_document: str = Field(min_length=1, max_length=64, repr=False)


class StationIn(_In):
    kind: StationKind
    name: str = Field(min_length=1, max_length=200)
    location: str = Field("", max_length=500)
    latitude: float | None = None
    longitude: float | None = None


class PartyIn(_In):
    person_id: Id
    side: PartySide


class CaseIn(_In):
    case_number: str = Field(min_length=1, max_length=64, description="e.g. (2026)京0101民初123号")
    cause: str = Field(min_length=1, max_length=500, description="案由, e.g. contract dispute")
    parties: list[PartyIn] = Field(default_factory=list, max_length=200)


class HearingIn(_In):
    case_id: Id
    kind: HearingKind
    scheduled_start: AwareDatetime
    scheduled_end: AwareDatetime
    panel: list[Id] = Field(default_factory=list, max_length=15,
                            description="Person ids of the court's judges (GET /api/court-staff); the first "
                                        "presides. Anyone else is 422 panel_not_judge")
    room_id: RoomId | None = Field(None, description="Signalling room; default: the hearing id, at the first link")
    recorded: bool | None = Field(None, description="Default: the kind's rule (docket.recording_rules). Trials, "
                                                    "interviews, arraignments and asynchronous trials are always "
                                                    "recorded, a deliberation (合议) never at scheduling (the panel "
                                                    "chooses in the room), a mediation either (default recorded); "
                                                    "a flag against the rule is 422 recording_required / "
                                                    "recording_forbidden")


class ParticipantIn(_In):
    person_id: Id
    role: Role
    station_id: Id | None = None


def register_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["register"], responses=ERROR_RESPONSES)
    reader = Depends(deps.require(Permission.READ_REGISTER))
    writer = Depends(deps.require(Permission.WRITE_REGISTER))

    async def audit(principal: StaffPrincipal, action: str, subject: str, **details: Any) -> None:
        await ctx.audit.append(AuditEvent(principal.id, AUDIT_ROLE, action, subject, details))

    # ---- persons ----

    @router.post("/persons", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
    async def create_person(body: PersonIn, principal: StaffPrincipal = writer) -> PersonOut:
        """Register a person. The identity-document number is kept only hashed; responses show its last four."""
        person = await ctx.court.create_person(NewPerson(body.name, body.id_document, body.birth_date))
        await audit(principal, "register.person_created", f"person:{person.id}",
                    with_document=body.id_document is not None)
        return person_out(person)

    @router.get("/persons/{person_id}", response_model=PersonOut)
    async def get_person(person_id: str, principal: StaffPrincipal = reader) -> PersonOut:
        return person_out(await ctx.court.get_person(person_id))

    @router.post("/persons/search", response_model=list[PersonOut])
    async def search_persons(body: PersonSearch, principal: StaffPrincipal = reader) -> list[PersonOut]:
        """Find persons by identity-document number (in the body, so it stays out of URLs and access logs)."""
        return [person_out(p) for p in await ctx.court.find_persons_by_id_document(body.id_document)]

    # ---- stations ----

    @router.post("/stations", response_model=StationOut, status_code=status.HTTP_201_CREATED)
    async def create_station(body: StationIn, principal: StaffPrincipal = writer) -> StationOut:
        """Register a service station (village, enterprise, detention centre) people join from."""
        station = await ctx.court.create_station(NewStation(body.kind, body.name, body.location, body.latitude,
                                                            body.longitude))
        await audit(principal, "register.station_created", f"station:{station.id}", kind=station.kind.value)
        return station_out(station)

    @router.get("/stations", response_model=list[StationOut])
    async def list_stations(kind: StationKind | None = Query(None), principal: StaffPrincipal = reader,
                            ) -> list[StationOut]:
        return [station_out(s) for s in await ctx.court.list_stations(kind)]

    # ---- cases ----

    @router.post("/cases", response_model=CaseOut, status_code=status.HTTP_201_CREATED)
    async def create_case(body: CaseIn, principal: StaffPrincipal = writer) -> CaseOut:
        """Register a case with its parties (409 if the case number is taken)."""
        case = await ctx.court.create_case(NewCase(body.case_number, body.cause,
                                                   [Party(p.person_id, p.side) for p in body.parties]))
        await audit(principal, "register.case_created", f"case:{case.id}",
                    parties=[p.person_id for p in case.parties])
        return case_out(case)

    @router.get("/cases", response_model=list[CaseOut])
    async def list_cases(principal: StaffPrincipal = reader) -> list[CaseOut]:
        return [case_out(c) for c in await ctx.court.list_cases()]

    @router.get("/cases/{case_id}", response_model=CaseOut)
    async def get_case(case_id: str, principal: StaffPrincipal = reader) -> CaseOut:
        return case_out(await ctx.court.get_case(case_id))

    @router.post("/cases/{case_id}/parties", response_model=CaseOut, status_code=status.HTTP_201_CREATED)
    async def add_party(case_id: str, body: PartyIn, principal: StaffPrincipal = writer) -> CaseOut:
        case = await ctx.court.add_party(case_id, Party(body.person_id, body.side))
        await audit(principal, "register.party_added", f"case:{case.id}", person_id=body.person_id,
                    side=body.side.value)
        return case_out(case)

    # ---- hearings and participants ----

    @router.post("/hearings", response_model=HearingOut, status_code=status.HTTP_201_CREATED)
    async def create_hearing(body: HearingIn, principal: StaffPrincipal = writer) -> HearingOut:
        """Schedule a hearing of a case: kind, time, panel (first presides), optional room id."""
        if body.kind is HearingKind.DELIBERATION and not body.panel:
            raise InvalidRecord("a deliberation (合议) is the panel's: give the panel's person ids")
        if body.panel and (position := panel_problem(body.panel, await ctx.auth.store.list_staff())) is not None:
            raise ApiError(422, "panel_not_judge", f"panel member {position} is not one of the court's judges (a "
                           "staff account with the presiding_judge or judge role): pick the panel from the court's "
                           "judges (GET /api/court-staff)", position=position)
        hearing = await ctx.court.create_hearing(NewHearing(
            body.case_id, body.kind, body.scheduled_start, body.scheduled_end, body.panel, body.room_id,
            body.recorded,  # the register applies the kind's recording rule (docket.recording_rules): 422 if broken
        ))
        await audit(principal, "register.hearing_created", f"hearing:{hearing.id}", case_id=hearing.case_id,
                    kind=hearing.kind.value, panel=list(hearing.panel), recorded=hearing.recorded)
        return hearing_out(hearing)

    @router.post("/hearings/{hearing_id}/participants", response_model=ParticipantOut,
                 status_code=status.HTTP_201_CREATED)
    async def add_participant(hearing_id: str, body: ParticipantIn, principal: StaffPrincipal = writer,
                              ) -> ParticipantOut:
        """Add a person to a hearing in a role; refused (422) when the hearing's kind never admits that role."""
        hearing = await ctx.court.get_hearing(hearing_id)
        problem = admission_problem(hearing, body.role, body.person_id)
        if problem:
            raise ApiError(422, "role_not_admitted", problem, role=body.role.value, kind=hearing.kind.value)
        participant = await ctx.court.add_participant(NewParticipant(hearing.id, body.person_id, body.role.value,
                                                                     body.station_id))
        await audit(principal, "register.participant_added", f"participant:{participant.id}",
                    hearing_id=hearing.id, person_id=body.person_id, role=body.role.value)
        return participant_out(participant)

    return router
