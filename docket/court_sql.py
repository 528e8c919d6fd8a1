"""`CourtRecords` on SQLAlchemy's async engine, over SQLite (embedded) or PostgreSQL (deployed).

References are checked inside the write transaction and reported as NotFound naming the missing record,
rather than left to foreign keys (whose errors differ by backend and name only a constraint). Uniqueness is
left to the database, which alone sees concurrent inserts; its refusal becomes DuplicateCaseNumber or
DuplicateParticipant.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from docket import id_documents
from docket.audit import AuditEntry, AuditEvent, SqlAuditLog, append_in
from docket.court import (
    Case,
    DuplicateCaseNumber,
    DuplicateParticipant,
    Hearing,
    HearingKind,
    InvalidRecord,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NewStation,
    NotFound,
    Participant,
    ParticipantStatus,
    Party,
    PartySide,
    Person,
    PrivateRoom,
    StaleState,
    Station,
    StationKind,
    Verification,
    VerificationMethod,
)
from docket.recording_rules import recorded_flag
from docket.room_ids import PRIVATE_KIND, RoomIdTaken, namespace_problem
from docket.sql import DEFAULT_CONNECT_TIMEOUT, display_url, make_engine, parse_url
from docket.tables import (
    CODE_LENGTH,
    ID_LENGTH,
    case_parties,
    cases,
    hearings,
    issued_tokens,
    panel_members,
    participants,
    persons,
    private_room_members,
    private_rooms,
    rooms,
    stations,
)
from docket.transactions import transaction


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex


def _text(what: str, value: str, limit: int | None = None) -> str:
    value = value.strip()
    if not value or (limit is not None and len(value) > limit):
        raise InvalidRecord(f"{what} must be 1 to {limit or 'any number of'} characters")
    return value


def _aware(what: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecord(f"{what} is a naive datetime; pass a timezone-aware one (UTC)")
    return value


def _enum(cls: type[Any], what: str, value: object) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InvalidRecord(f"{what} {value!r} is not one of {', '.join(m.value for m in cls)}") from None


def _station(r: Row[Any]) -> Station:
    return Station(r.id, StationKind(r.kind), r.name, r.location, r.latitude, r.longitude, r.created_at)


def _person(r: Row[Any]) -> Person:
    return Person(r.id, r.name, r.id_document_last4, r.birth_date, r.created_at)


def _participant(r: Row[Any]) -> Participant:
    verification = None
    if r.verification_method is not None:
        verification = Verification(VerificationMethod(r.verification_method), r.verified_by, r.verified_at)
    return Participant(r.id, r.hearing_id, r.person_id, r.role, ParticipantStatus(r.status), r.station_id,
                       r.token_jti, verification, r.created_at)


_PERSON_COLUMNS = (persons.c.id, persons.c.name, persons.c.id_document_last4, persons.c.birth_date,
                   persons.c.created_at)


class SqlCourtRecords:
    """`CourtRecords` over SQL. Build it with `open_court_records`, which also migrates the schema.

    `id_hash_iterations` is the PBKDF2 cost for new identity-document hashes (tests lower it; stored hashes
    carry their own cost). `audit` is the audit log on the same database and engine.
    """

    def __init__(self, url: str, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 id_hash_iterations: int = id_documents.DEFAULT_ITERATIONS) -> None:
        self._url = parse_url(url)
        self.engine = make_engine(url, connect_timeout=connect_timeout)
        self.audit = SqlAuditLog(self.engine, self._url)
        self._iterations = id_hash_iterations

    @property
    def url(self) -> str:
        return display_url(self._url)

    def __repr__(self) -> str:
        return f"SqlCourtRecords({self.url!r})"

    def _tx(self, doing: str, *, write: bool = False) -> AbstractAsyncContextManager[AsyncConnection]:
        return transaction(self.engine, self._url, doing, write=write)

    async def close(self) -> None:
        await self.engine.dispose()

    async def _require(self, conn: AsyncConnection, table: Any, what: str, key: str) -> None:
        if (await conn.execute(select(table.c.id).where(table.c.id == key))).first() is None:
            raise NotFound(what, key)

    # ---- stations --------------------------------------------------------------------------------------

    async def create_station(self, station: NewStation) -> Station:
        kind = _enum(StationKind, "station kind", station.kind)
        lat, lon = station.latitude, station.longitude
        if (lat is None) != (lon is None):
            raise InvalidRecord("give both latitude and longitude, or neither")
        if lat is not None and lon is not None and not (
            math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
        ):
            raise InvalidRecord(f"coordinates ({lat}, {lon}) are not a place on Earth")
        row = Station(_new_id(), kind, _text("station name", station.name), station.location.strip(), lat, lon,
                      _now())
        async with self._tx("creating a station", write=True) as conn:
            await conn.execute(stations.insert().values(
                id=row.id, kind=row.kind.value, name=row.name, location=row.location, latitude=lat, longitude=lon,
                created_at=row.created_at,
            ))
        return row

    async def get_station(self, station_id: str) -> Station:
        async with self._tx(f"reading station {station_id!r}") as conn:
            row = (await conn.execute(select(stations).where(stations.c.id == station_id))).first()
        if row is None:
            raise NotFound("station", station_id)
        return _station(row)

    async def list_stations(self, kind: StationKind | None = None) -> list[Station]:
        query = select(stations).order_by(stations.c.name, stations.c.id)
        if kind is not None:
            query = query.where(stations.c.kind == _enum(StationKind, "station kind", kind).value)
        async with self._tx("listing stations") as conn:
            return [_station(r) for r in await conn.execute(query)]

    # ---- persons ---------------------------------------------------------------------------------------

    async def create_person(self, person: NewPerson) -> Person:
        name = _text("name", person.name)
        doc_hash = last4 = None
        birth_date = person.birth_date
        if person.id_document is not None:
            try:
                last4 = id_documents.last4(person.id_document)
            except ValueError as exc:
                raise InvalidRecord(str(exc)) from None
            # Slow on purpose (PBKDF2): off the event loop.
            doc_hash = await asyncio.to_thread(id_documents.hash_document, person.id_document,
                                               iterations=self._iterations)
            if birth_date is None:
                birth_date = id_documents.birth_date_from_resident_id(person.id_document)
        row = Person(_new_id(), name, last4, birth_date, _now())
        async with self._tx("creating a person", write=True) as conn:
            await conn.execute(persons.insert().values(
                id=row.id, name=row.name, id_document_hash=doc_hash, id_document_last4=last4,
                birth_date=birth_date, created_at=row.created_at,
            ))
        return row

    async def get_person(self, person_id: str) -> Person:
        async with self._tx(f"reading person {person_id!r}") as conn:
            row = (await conn.execute(select(*_PERSON_COLUMNS).where(persons.c.id == person_id))).first()
        if row is None:
            raise NotFound("person", person_id)
        return _person(row)

    async def find_persons_by_id_document(self, number: str) -> list[Person]:
        """The last four characters narrow the search to a few candidates; each is then checked slowly."""
        try:
            tail = id_documents.last4(number)
        except ValueError as exc:
            raise InvalidRecord(str(exc)) from None
        async with self._tx("looking up a person by document") as conn:
            rows = (await conn.execute(
                select(*_PERSON_COLUMNS, persons.c.id_document_hash)
                .where(persons.c.id_document_last4 == tail)
                .order_by(persons.c.created_at, persons.c.id)
            )).all()
        found = []
        for r in rows:
            if await asyncio.to_thread(id_documents.matches, number, r.id_document_hash):
                found.append(_person(r))
        return found

    async def check_id_document(self, person_id: str, number: str) -> bool:
        async with self._tx(f"reading person {person_id!r}") as conn:
            row = (await conn.execute(
                select(persons.c.id_document_hash).where(persons.c.id == person_id)
            )).first()
        if row is None:
            raise NotFound("person", person_id)
        if row.id_document_hash is None:
            return False
        return await asyncio.to_thread(id_documents.matches, number, row.id_document_hash)

    # ---- cases -----------------------------------------------------------------------------------------

    async def _insert_party(self, conn: AsyncConnection, case_id: str, party: Party) -> None:
        side = _enum(PartySide, "party side", party.side)
        await self._require(conn, persons, "person", party.person_id)
        await conn.execute(case_parties.insert().values(case_id=case_id, person_id=party.person_id, side=side.value))

    async def _read_case(self, conn: AsyncConnection, row: Row[Any]) -> Case:
        parties = await conn.execute(
            select(case_parties.c.person_id, case_parties.c.side)
            .where(case_parties.c.case_id == row.id)
            .order_by(case_parties.c.side, case_parties.c.person_id)
        )
        return Case(row.id, row.case_number, row.cause, tuple(Party(p.person_id, PartySide(p.side)) for p in parties),
                    row.created_at)

    async def create_case(self, case: NewCase) -> Case:
        number = _text("case number", case.case_number, ID_LENGTH)
        cause = _text("cause", case.cause)
        if len({p.person_id for p in case.parties}) != len(case.parties):
            raise InvalidRecord("a person can be a party to a case only once")
        case_id = _new_id()
        async with self._tx(f"creating case {number!r}", write=True) as conn:
            try:
                await conn.execute(cases.insert().values(id=case_id, case_number=number, cause=cause,
                                                         created_at=_now()))
            except IntegrityError:
                raise DuplicateCaseNumber(number) from None
            for party in case.parties:
                await self._insert_party(conn, case_id, party)
            row = (await conn.execute(select(cases).where(cases.c.id == case_id))).one()
            return await self._read_case(conn, row)

    async def get_case(self, case_id: str) -> Case:
        async with self._tx(f"reading case {case_id!r}") as conn:
            row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
            if row is None:
                raise NotFound("case", case_id)
            return await self._read_case(conn, row)

    async def get_case_by_number(self, case_number: str) -> Case:
        async with self._tx(f"reading case {case_number!r}") as conn:
            row = (await conn.execute(select(cases).where(cases.c.case_number == case_number.strip()))).first()
            if row is None:
                raise NotFound("case", case_number)
            return await self._read_case(conn, row)

    async def list_cases(self) -> list[Case]:
        async with self._tx("listing cases") as conn:
            rows = (await conn.execute(select(cases).order_by(cases.c.created_at, cases.c.id))).all()
            return [await self._read_case(conn, r) for r in rows]

    async def add_party(self, case_id: str, party: Party) -> Case:
        async with self._tx(f"adding a party to case {case_id!r}", write=True) as conn:
            row = (await conn.execute(select(cases).where(cases.c.id == case_id))).first()
            if row is None:
                raise NotFound("case", case_id)
            exists = (await conn.execute(select(case_parties.c.side).where(
                case_parties.c.case_id == case_id, case_parties.c.person_id == party.person_id))).first()
            if exists is not None:
                raise InvalidRecord(f"person {party.person_id!r} is already a party ({exists.side}) to this case")
            await self._insert_party(conn, case_id, party)
            return await self._read_case(conn, row)

    # ---- hearings --------------------------------------------------------------------------------------

    async def _panels(self, conn: AsyncConnection, hearing_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not hearing_ids:
            return {}
        rows = await conn.execute(
            select(panel_members.c.hearing_id, panel_members.c.person_id)
            .where(panel_members.c.hearing_id.in_(hearing_ids))
            .order_by(panel_members.c.hearing_id, panel_members.c.position)
        )
        panels: dict[str, list[str]] = {}
        for r in rows:
            panels.setdefault(r.hearing_id, []).append(r.person_id)
        return {k: tuple(v) for k, v in panels.items()}

    @staticmethod
    def _hearing(r: Row[Any], panel: tuple[str, ...]) -> Hearing:
        return Hearing(r.id, r.case_id, HearingKind(r.kind), r.scheduled_start, r.scheduled_end, panel, r.state,
                       r.room_id, bool(r.recorded), r.created_at, r.state_changed_at, bool(r.locked))

    async def _read_hearing(self, conn: AsyncConnection, hearing_id: str) -> Hearing:
        row = (await conn.execute(select(hearings).where(hearings.c.id == hearing_id))).first()
        if row is None:
            raise NotFound("hearing", hearing_id)
        return self._hearing(row, (await self._panels(conn, [hearing_id])).get(hearing_id, ()))

    async def create_hearing(self, hearing: NewHearing) -> Hearing:
        kind = _enum(HearingKind, "hearing kind", hearing.kind)
        recorded = recorded_flag(kind, hearing.recorded)  # the kind's recording rule holds in the register
        start = _aware("scheduled_start", hearing.scheduled_start)
        end = _aware("scheduled_end", hearing.scheduled_end)
        if end <= start:
            raise InvalidRecord("a hearing must end after it starts")
        state = _text("state", hearing.state, CODE_LENGTH)
        if hearing.room_id is not None:
            _text("room id", hearing.room_id, ID_LENGTH)
            if (why := namespace_problem(hearing.room_id, kind.value)) is not None:
                raise RoomIdTaken(hearing.room_id, why)
        panel = list(hearing.panel)
        if len(set(panel)) != len(panel):
            raise InvalidRecord("a judge can sit on a panel only once")
        hearing_id, now = _new_id(), _now()
        async with self._tx("creating a hearing", write=True) as conn:
            await self._require(conn, cases, "case", hearing.case_id)
            for person_id in panel:
                await self._require(conn, persons, "person", person_id)
            if hearing.room_id is not None:
                await self._room_id_free(conn, hearing.room_id)
            try:
                await conn.execute(hearings.insert().values(
                    id=hearing_id, case_id=hearing.case_id, kind=kind.value, scheduled_start=start,
                    scheduled_end=end, state=state, room_id=hearing.room_id, recorded=recorded,
                    created_at=now, state_changed_at=now,
                ))
            except IntegrityError:
                raise RoomIdTaken(str(hearing.room_id), "already belongs to another hearing") from None
            for position, person_id in enumerate(panel):
                await conn.execute(panel_members.insert().values(hearing_id=hearing_id, person_id=person_id,
                                                                 position=position))
            return await self._read_hearing(conn, hearing_id)

    @staticmethod
    async def _room_id_free(conn: AsyncConnection, room_id: str) -> None:
        """RoomIdTaken unless no hearing, private room or other room (the rooms table: ad-hoc ones) has this id."""
        for column, what in ((hearings.c.room_id, "already belongs to another hearing"),
                             (private_rooms.c.room_id, "is a private room's"), (rooms.c.id, "is already a room")):
            if (await conn.execute(select(column).where(column == room_id).limit(1))).first() is not None:
                raise RoomIdTaken(room_id, what)

    async def get_hearing(self, hearing_id: str) -> Hearing:
        async with self._tx(f"reading hearing {hearing_id!r}") as conn:
            return await self._read_hearing(conn, hearing_id)

    async def find_hearing_by_room(self, room_id: str) -> Hearing | None:
        async with self._tx(f"finding the hearing of room {room_id!r}") as conn:
            row = (await conn.execute(select(hearings).where(hearings.c.room_id == room_id))).first()
            if row is None:
                return None
            return self._hearing(row, (await self._panels(conn, [row.id])).get(row.id, ()))

    async def set_hearing_locked(self, hearing_id: str, locked: bool, *, audit: AuditEvent | None = None) -> Hearing:
        async with self._tx(f"locking hearing {hearing_id!r}", write=True) as conn:
            result = await conn.execute(update(hearings).where(hearings.c.id == hearing_id).values(locked=locked))
            if not result.rowcount:
                raise NotFound("hearing", hearing_id)
            if audit is not None:
                await append_in(conn, audit)
            return await self._read_hearing(conn, hearing_id)

    async def list_hearings(
        self, *, case_id: str | None = None, kind: HearingKind | None = None, state: str | None = None
    ) -> list[Hearing]:
        query = select(hearings).order_by(hearings.c.scheduled_start, hearings.c.id)
        if case_id is not None:
            query = query.where(hearings.c.case_id == case_id)
        if kind is not None:
            query = query.where(hearings.c.kind == _enum(HearingKind, "hearing kind", kind).value)
        if state is not None:
            query = query.where(hearings.c.state == state)
        async with self._tx("listing hearings") as conn:
            rows = (await conn.execute(query)).all()
            panels = await self._panels(conn, [r.id for r in rows])
        return [self._hearing(r, panels.get(r.id, ())) for r in rows]

    async def set_hearing_state(
        self, hearing_id: str, expected: str, new: str, *, audit: AuditEvent | None = None
    ) -> tuple[Hearing, AuditEntry | None]:
        """A compare-and-set UPDATE, so of two concurrent changes from one state exactly one wins."""
        new = _text("state", new, CODE_LENGTH)
        async with self._tx(f"changing the state of hearing {hearing_id!r}", write=True) as conn:
            result = await conn.execute(
                update(hearings)
                .where(hearings.c.id == hearing_id, hearings.c.state == expected)
                .values(state=new, state_changed_at=_now())
            )
            if not result.rowcount:
                current = (await conn.execute(select(hearings.c.state).where(hearings.c.id == hearing_id))).first()
                if current is None:
                    raise NotFound("hearing", hearing_id)
                raise StaleState(hearing_id, expected, current.state)
            entry = await append_in(conn, audit) if audit is not None else None
            return await self._read_hearing(conn, hearing_id), entry

    # ---- participants ----------------------------------------------------------------------------------

    async def _read_participant(self, conn: AsyncConnection, participant_id: str) -> Participant:
        row = (await conn.execute(select(participants).where(participants.c.id == participant_id))).first()
        if row is None:
            raise NotFound("participant", participant_id)
        return _participant(row)

    async def add_participant(self, participant: NewParticipant) -> Participant:
        role = _text("role", participant.role, CODE_LENGTH)
        participant_id = _new_id()
        async with self._tx("adding a participant", write=True) as conn:
            await self._require(conn, hearings, "hearing", participant.hearing_id)
            await self._require(conn, persons, "person", participant.person_id)
            if participant.station_id is not None:
                await self._require(conn, stations, "station", participant.station_id)
            try:
                await conn.execute(participants.insert().values(
                    id=participant_id, hearing_id=participant.hearing_id, person_id=participant.person_id,
                    role=role, status=ParticipantStatus.WAITING.value, station_id=participant.station_id,
                    created_at=_now(),
                ))
            except IntegrityError:
                raise DuplicateParticipant(participant.hearing_id, participant.person_id) from None
            return await self._read_participant(conn, participant_id)

    async def get_participant(self, participant_id: str) -> Participant:
        async with self._tx(f"reading participant {participant_id!r}") as conn:
            return await self._read_participant(conn, participant_id)

    async def list_participants(self, hearing_id: str) -> list[Participant]:
        async with self._tx(f"listing participants of hearing {hearing_id!r}") as conn:
            await self._require(conn, hearings, "hearing", hearing_id)
            rows = await conn.execute(
                select(participants)
                .where(participants.c.hearing_id == hearing_id)
                .order_by(participants.c.created_at, participants.c.id)
            )
            return [_participant(r) for r in rows]

    async def _update_participant(self, participant_id: str, doing: str, audit: AuditEvent | None = None,
                                  **values: Any) -> Participant:
        async with self._tx(f"{doing} of participant {participant_id!r}", write=True) as conn:
            result = await conn.execute(update(participants).where(participants.c.id == participant_id)
                                        .values(**values))
            if not result.rowcount:
                raise NotFound("participant", participant_id)
            if audit is not None:
                await append_in(conn, audit)
            return await self._read_participant(conn, participant_id)

    async def record_verification(self, participant_id: str, verification: Verification, *,
                                  audit: AuditEvent | None = None) -> Participant:
        method = _enum(VerificationMethod, "verification method", verification.method)
        return await self._update_participant(
            participant_id, "recording the identity check", audit,
            verification_method=method.value,
            verified_by=_text("verified_by", verification.verified_by, ID_LENGTH),
            verified_at=_aware("verified_at", verification.verified_at),
        )

    async def set_participant_status(self, participant_id: str, status: ParticipantStatus, *,
                                     audit: AuditEvent | None = None) -> Participant:
        status = _enum(ParticipantStatus, "participant status", status)
        return await self._update_participant(participant_id, "setting the status", audit, status=status.value)

    # ---- private rooms ---------------------------------------------------------------------------------

    async def _read_private_room(self, conn: AsyncConnection, row: Row[Any]) -> PrivateRoom:
        members = await conn.execute(select(private_room_members.c.participant_id)
                                     .where(private_room_members.c.private_room_id == row.id)
                                     .order_by(private_room_members.c.participant_id))
        return PrivateRoom(row.id, row.hearing_id, row.room_id, row.label, tuple(m[0] for m in members),
                           row.opened_by, row.opened_at, row.closed_by, row.closed_at)

    async def open_private_room(self, hearing_id: str, room_id: str, label: str, members: Sequence[str],
                                opened_by: str, *, audit: AuditEvent | None = None) -> PrivateRoom:
        _text("room id", room_id, ID_LENGTH)
        label = _text("label", label, 200) if label else ""
        if not members:
            raise InvalidRecord("a private room needs at least one member")
        if (why := namespace_problem(room_id, PRIVATE_KIND)) is not None:
            raise RoomIdTaken(room_id, why)
        room_pk = _new_id()
        async with self._tx("opening a private room", write=True) as conn:
            await self._require(conn, hearings, "hearing", hearing_id)
            await self._room_id_free(conn, room_id)
            for pid in set(members):
                row = (await conn.execute(select(participants.c.hearing_id)
                                          .where(participants.c.id == pid))).first()
                if row is None or row.hearing_id != hearing_id:
                    raise NotFound("participant", pid)
            try:
                await conn.execute(private_rooms.insert().values(
                    id=room_pk, hearing_id=hearing_id, room_id=room_id, label=label, opened_by=opened_by,
                    opened_at=_now()))
            except IntegrityError:
                raise RoomIdTaken(room_id, "is a private room's") from None
            for pid in sorted(set(members)):
                await conn.execute(private_room_members.insert().values(private_room_id=room_pk, participant_id=pid))
            if audit is not None:
                await append_in(conn, audit)
            row = (await conn.execute(select(private_rooms).where(private_rooms.c.id == room_pk))).one()
            return await self._read_private_room(conn, row)

    async def find_private_room(self, room_id: str) -> PrivateRoom | None:
        async with self._tx(f"finding private room {room_id!r}") as conn:
            row = (await conn.execute(select(private_rooms).where(private_rooms.c.room_id == room_id))).first()
            return None if row is None else await self._read_private_room(conn, row)

    async def list_private_rooms(self, hearing_id: str, *, open_only: bool = True) -> list[PrivateRoom]:
        query = select(private_rooms).where(private_rooms.c.hearing_id == hearing_id)
        if open_only:
            query = query.where(private_rooms.c.closed_at.is_(None))
        async with self._tx(f"listing private rooms of hearing {hearing_id!r}") as conn:
            rows = (await conn.execute(query.order_by(private_rooms.c.opened_at, private_rooms.c.id))).all()
            return [await self._read_private_room(conn, r) for r in rows]

    async def close_private_room(self, private_room_id: str, closed_by: str, *,
                                 audit: AuditEvent | None = None) -> PrivateRoom:
        async with self._tx(f"closing private room {private_room_id!r}", write=True) as conn:
            result = await conn.execute(update(private_rooms)
                                        .where(private_rooms.c.id == private_room_id,
                                               private_rooms.c.closed_at.is_(None))
                                        .values(closed_by=closed_by, closed_at=_now()))
            if result.rowcount and audit is not None:
                await append_in(conn, audit)
            row = (await conn.execute(select(private_rooms).where(private_rooms.c.id == private_room_id))).first()
            if row is None:
                raise NotFound("private room", private_room_id)
            return await self._read_private_room(conn, row)

    async def bind_token(self, participant_id: str, jti: str) -> Participant:
        async with self._tx(f"binding a token to participant {participant_id!r}", write=True) as conn:
            if (await conn.execute(select(issued_tokens.c.jti).where(issued_tokens.c.jti == jti))).first() is None:
                raise NotFound("token", jti)
            try:
                result = await conn.execute(update(participants).where(participants.c.id == participant_id)
                                            .values(token_jti=jti))
            except IntegrityError:
                raise InvalidRecord(f"token {jti!r} is already bound to another participant") from None
            if not result.rowcount:
                raise NotFound("participant", participant_id)
            return await self._read_participant(conn, participant_id)


async def open_court_records(url: str, *, migrate: bool = True, **kwargs: Any) -> SqlCourtRecords:
    """Open the court register, first upgrading the schema to head unless `migrate=False`."""
    if migrate:
        from docket.migrate import upgrade

        await upgrade(url)
    return SqlCourtRecords(url, **kwargs)
