"""Response models of the staff API and their conversion from the register's records.

Identity-document numbers never leave the register: a person shows only the last four characters.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from docket.court import Case, Hearing, Participant, Person, Station


class PersonOut(BaseModel):
    id: str
    name: str
    id_document_last4: str | None
    birth_date: date | None
    created_at: datetime


class StationOut(BaseModel):
    id: str
    kind: str
    name: str
    location: str
    latitude: float | None
    longitude: float | None
    created_at: datetime


class PartyOut(BaseModel):
    person_id: str
    side: str


class CaseOut(BaseModel):
    id: str
    case_number: str
    cause: str
    parties: list[PartyOut]
    created_at: datetime


class HearingOut(BaseModel):
    id: str
    case_id: str
    kind: str
    scheduled_start: datetime
    scheduled_end: datetime
    panel: list[str]
    state: str
    room_id: str | None
    recorded: bool
    created_at: datetime
    state_changed_at: datetime
    case_number: str | None = None  # the case's number, so pages name a hearing without reading the register


class ParticipantOut(BaseModel):
    id: str
    hearing_id: str
    person_id: str
    role: str
    status: str
    station_id: str | None
    token_id: str | None  # the join link currently bound (its id, not the token)
    verified_by: str | None
    verification_method: str | None
    created_at: datetime


class HearingDetail(HearingOut):
    participants: list[ParticipantOut]
    your_role: str | None  # the role the caller acts in for this hearing, if any
    available_transitions: list[str]  # procedure moves the caller may make now


def person_out(p: Person) -> PersonOut:
    return PersonOut(id=p.id, name=p.name, id_document_last4=p.id_document_last4, birth_date=p.birth_date,
                     created_at=p.created_at)


def station_out(s: Station) -> StationOut:
    return StationOut(id=s.id, kind=s.kind.value, name=s.name, location=s.location, latitude=s.latitude,
                      longitude=s.longitude, created_at=s.created_at)


def case_out(c: Case) -> CaseOut:
    return CaseOut(id=c.id, case_number=c.case_number, cause=c.cause,
                   parties=[PartyOut(person_id=p.person_id, side=p.side.value) for p in c.parties],
                   created_at=c.created_at)


def hearing_out(h: Hearing) -> HearingOut:
    return HearingOut(**_hearing_fields(h))


def _hearing_fields(h: Hearing) -> dict[str, object]:
    return {
        "id": h.id, "case_id": h.case_id, "kind": h.kind.value, "scheduled_start": h.scheduled_start,
        "scheduled_end": h.scheduled_end, "panel": list(h.panel), "state": h.state, "room_id": h.room_id,
        "recorded": h.recorded, "created_at": h.created_at, "state_changed_at": h.state_changed_at,
    }


def participant_out(p: Participant) -> ParticipantOut:
    v = p.verification
    return ParticipantOut(id=p.id, hearing_id=p.hearing_id, person_id=p.person_id, role=p.role,
                          status=p.status.value, station_id=p.station_id, token_id=p.token_jti,
                          verified_by=v.verified_by if v else None,
                          verification_method=v.method.value if v else None, created_at=p.created_at)


def hearing_detail(h: Hearing, participants: list[Participant], your_role: str | None,
                   transitions: list[str]) -> HearingDetail:
    return HearingDetail(**_hearing_fields(h), participants=[participant_out(p) for p in participants],  # type: ignore[arg-type]
                         your_role=your_role, available_transitions=transitions)
