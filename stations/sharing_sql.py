"""Shared courts on SQL: court membership of staff, lendable resources, bookings and their decisions.

Approving re-reads the resource's approved bookings inside the write transaction after locking the resource row
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises writers), so two approvals of
overlapping bookings cannot both pass. Every change is audited in its transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.court import InvalidRecord, NotFound
from docket.tables import hearings, stations
from docket.tables_staff import staff_accounts
from docket.tables_stations import court_bookings, court_resources, staff_courts
from docket.transactions import transaction
from stations.errors import StationsRefused
from stations.sharing import DECISIONS, BookingState, Decision, ResourceKind, conflicting, who_decides


@dataclass(frozen=True, slots=True)
class Resource:
    id: str
    owner_court: str
    kind: str
    station_id: str | None
    staff_id: str | None
    label: str


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    resource_id: str
    borrower_court: str
    hearing_id: str
    starts_at: datetime
    ends_at: datetime
    state: str
    requested_by: str
    decided_by: str | None
    reason: str | None


def _booking(r: Row[Any]) -> Booking:
    return Booking(r.id, r.resource_id, r.borrower_court, r.hearing_id, r.starts_at, r.ends_at, r.state,
                   r.requested_by, r.decided_by, r.reason)


class SqlSharing:
    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url

    def _tx(self, doing: str, *, write: bool = False):  # type: ignore[no-untyped-def]
        return transaction(self.engine, self.url, doing, write=write)

    async def set_court(self, staff_id: str, court_code: str, *, actor: tuple[str, str], now: datetime) -> None:
        async with self._tx("setting a staff member's court", write=True) as conn:
            if (await conn.execute(select(staff_accounts.c.id).where(staff_accounts.c.id == staff_id))).first() is None:
                raise NotFound("staff account", staff_id)
            await conn.execute(staff_courts.delete().where(staff_courts.c.staff_id == staff_id))
            await conn.execute(staff_courts.insert().values(staff_id=staff_id, court_code=court_code))
            await append_in(conn, AuditEvent(actor[0], actor[1], "court.member", f"staff:{staff_id}",
                                             {"court": court_code}), at=now)

    async def court_of(self, staff_id: str) -> str | None:
        async with self._tx("reading a staff member's court") as conn:
            row = (await conn.execute(select(staff_courts.c.court_code)
                                      .where(staff_courts.c.staff_id == staff_id))).first()
        return None if row is None else str(row.court_code)

    async def add_resource(self, owner_court: str, kind: str, target_id: str, *, actor: tuple[str, str],
                           now: datetime) -> Resource:
        if kind not in ResourceKind._value2member_map_:
            raise InvalidRecord("a court lends a courtroom or a judge")
        resource_id = uuid.uuid4().hex
        async with self._tx("registering a lendable resource", write=True) as conn:
            if kind == ResourceKind.COURTROOM:
                row = (await conn.execute(select(stations.c.kind, stations.c.court_code)
                                          .where(stations.c.id == target_id))).first()
                if row is None:
                    raise NotFound("station", target_id)
                if row.kind != "courtroom" or row.court_code != owner_court:
                    raise StationsRefused(422, "not_a_courtroom", "lend a courtroom station of your own court")
            else:
                row = (await conn.execute(select(staff_accounts.c.roles, staff_courts.c.court_code)
                                          .join(staff_courts, staff_courts.c.staff_id == staff_accounts.c.id,
                                                isouter=True).where(staff_accounts.c.id == target_id))).first()
                if row is None:
                    raise NotFound("staff account", target_id)
                if row.court_code != owner_court or not {"judge", "presiding_judge"} & set(row.roles.split(",")):
                    raise StationsRefused(422, "not_your_judge", "lend a judge of your own court")
            await conn.execute(court_resources.insert().values(
                id=resource_id, owner_court=owner_court, kind=kind,
                station_id=target_id if kind == ResourceKind.COURTROOM else None,
                staff_id=target_id if kind == ResourceKind.JUDGE else None, created_at=now))
            await append_in(conn, AuditEvent(actor[0], actor[1], "court.resource_added", f"resource:{resource_id}",
                                             {"court": owner_court, "kind": kind}), at=now)
        return (await self.resources(resource_id=resource_id))[0]

    async def resources(self, *, resource_id: str | None = None) -> list[Resource]:
        cr = court_resources.c
        query = (select(court_resources, stations.c.name.label("station_name"),
                        staff_accounts.c.display_name.label("staff_name"))
                 .join(stations, stations.c.id == cr.station_id, isouter=True)
                 .join(staff_accounts, staff_accounts.c.id == cr.staff_id, isouter=True))
        if resource_id is not None:
            query = query.where(cr.id == resource_id)
        async with self._tx("listing lendable resources") as conn:
            rows = await conn.execute(query.order_by(cr.owner_court, cr.created_at))
            out = [Resource(r.id, r.owner_court, r.kind, r.station_id, r.staff_id,
                            r.station_name or r.staff_name or "") for r in rows]
        if resource_id is not None and not out:
            raise NotFound("resource", resource_id)
        return out

    async def request(self, resource_id: str, borrower_court: str, hearing_id: str, starts_at: datetime,
                      ends_at: datetime, *, actor: tuple[str, str], now: datetime) -> Booking:
        if ends_at <= starts_at:
            raise InvalidRecord("a booking must end after it starts")
        booking_id = uuid.uuid4().hex
        async with self._tx("requesting a booking", write=True) as conn:
            resource = await self._resource(conn, resource_id)
            if resource.owner_court == borrower_court:
                raise StationsRefused(422, "own_resource", "this is your own court's; no booking is needed")
            if (await conn.execute(select(hearings.c.id).where(hearings.c.id == hearing_id))).first() is None:
                raise NotFound("hearing", hearing_id)
            await conn.execute(court_bookings.insert().values(
                id=booking_id, resource_id=resource_id, borrower_court=borrower_court, hearing_id=hearing_id,
                starts_at=starts_at, ends_at=ends_at, state=BookingState.REQUESTED.value, requested_by=actor[0],
                requested_at=now))
            await append_in(conn, AuditEvent(actor[0], actor[1], "court.booking_requested", f"booking:{booking_id}",
                                             {"resource_id": resource_id, "borrower": borrower_court,
                                              "owner": resource.owner_court, "hearing_id": hearing_id}), at=now)
            return await self._get(conn, booking_id)

    async def _resource(self, conn: AsyncConnection, resource_id: str, *, lock: bool = False) -> Any:
        query = select(court_resources).where(court_resources.c.id == resource_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound("resource", resource_id)
        return row

    async def _get(self, conn: AsyncConnection, booking_id: str) -> Booking:
        row = (await conn.execute(select(court_bookings).where(court_bookings.c.id == booking_id))).first()
        if row is None:
            raise NotFound("booking", booking_id)
        return _booking(row)

    async def decide(self, booking_id: str, decision: Decision, acting_court: str, *, reason: str,
                     actor: tuple[str, str], now: datetime) -> Booking:
        sources, to = DECISIONS[decision]
        async with self._tx(f"deciding a booking ({decision.value})", write=True) as conn:
            booking = await self._get(conn, booking_id)
            resource = await self._resource(conn, booking.resource_id, lock=True)
            if who_decides(decision, owner_court=resource.owner_court,
                           borrower_court=booking.borrower_court) != acting_court:
                raise StationsRefused(403, "not_your_decision",
                                      "the lending court approves or declines; the borrowing court cancels")
            if decision is Decision.APPROVE:
                approved = await conn.execute(select(court_bookings.c.starts_at, court_bookings.c.ends_at).where(
                    court_bookings.c.resource_id == booking.resource_id,
                    court_bookings.c.state == BookingState.APPROVED.value, court_bookings.c.id != booking_id))
                if conflicting([(r.starts_at, r.ends_at) for r in approved], (booking.starts_at, booking.ends_at)):
                    raise StationsRefused(409, "resource_busy", "already lent for an overlapping time")
            done = await conn.execute(update(court_bookings).where(
                court_bookings.c.id == booking_id, court_bookings.c.state.in_([s.value for s in sources]))
                .values(state=to.value, decided_by=actor[0], decided_at=now, reason=reason or None))
            if not done.rowcount:
                raise StationsRefused(409, "booking_state", f"the booking is {booking.state}", state=booking.state)
            await append_in(conn, AuditEvent(actor[0], actor[1], f"court.booking_{decision.value}",
                                             f"booking:{booking_id}", {"to": to.value}), at=now)
            return await self._get(conn, booking_id)

    async def bookings(self, court_code: str) -> list[Booking]:
        """Bookings the court asked for or must decide."""
        query = (select(court_bookings).join(court_resources, court_resources.c.id == court_bookings.c.resource_id)
                 .where((court_bookings.c.borrower_court == court_code) | (court_resources.c.owner_court == court_code))
                 .order_by(court_bookings.c.starts_at))
        async with self._tx("listing bookings") as conn:
            return [_booking(r) for r in await conn.execute(query)]
