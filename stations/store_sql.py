"""The stations register on SQL (SQLite or PostgreSQL): stations, operators, device links, the roster, calls.

Thin: every audited change and its audit entry share one write transaction (`docket.audit.append_in`). A call
moves only by `UPDATE ... WHERE id = :id AND state IN (<the move's sources>)` — the database, not this process,
decides which of two racing judges accepted first; the loser's UPDATE touches no row and becomes `call_taken`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.court import InvalidRecord, NotFound, VerificationMethod
from docket.tables import persons, stations
from docket.tables_staff import staff_accounts
from docket.tables_stations import (
    call_links,
    duty_shifts,
    duty_status,
    station_calls,
    station_links,
    station_operators,
)
from docket.transactions import transaction
from stations import errors
from stations.hours import BadHours, OpeningHours
from stations.queue import MOVES, Move
from stations.roster import Shift
from stations.stats import CallFacts
from stations.vocab import CallState, Category, DutyRole, DutyStatus

LINK_PREFIX = "sl_"
CALL_LINK_PREFIX = "cl_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StationInfo:
    id: str
    kind: str
    name: str
    area: str
    court_code: str | None
    opening_hours: str | None


@dataclass(frozen=True, slots=True)
class StationLink:
    id: str
    station_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class CallLink:
    id: str
    person_id: str
    person_name: str
    court_code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    court_code: str
    station_id: str | None
    person_id: str | None
    requested_by: str
    caller_name: str
    verification_method: str
    category: str
    summary: str
    state: CallState
    reason: str | None
    requested_at: datetime
    queued_at: datetime
    last_seen_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    judge_joined_at: datetime | None
    ended_at: datetime | None
    room_id: str | None
    requeues: int
    recorded: bool
    note: str | None
    callback_at: datetime | None
    outcome_kind: str | None
    outcome_ref: str | None
    message_clip_id: str | None = None
    message_heard_by: str | None = None
    message_heard_at: datetime | None = None


def _station(r: Row[Any]) -> StationInfo:
    return StationInfo(r.id, r.kind, r.name, r.area or r.location, r.court_code, r.opening_hours)


def _call(r: Row[Any]) -> Call:
    d = r._mapping
    return Call(**{k: d[k] for k in Call.__dataclass_fields__ if k != "state"} | {"state": CallState(d["state"])})


def _shift(r: Row[Any]) -> Shift:
    return Shift(r.id, r.court_code, r.staff_id, r.duty_role, r.starts_at, r.ends_at)


async def _roles_of(conn: AsyncConnection, staff_id: str) -> set[str]:
    row = (await conn.execute(select(staff_accounts.c.roles).where(staff_accounts.c.id == staff_id))).first()
    if row is None:
        raise NotFound("staff account", staff_id)
    return set(row.roles.split(","))


class SqlStations:
    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine
        self.url = url

    def _tx(self, doing: str, *, write: bool = False):  # type: ignore[no-untyped-def]
        return transaction(self.engine, self.url, doing, write=write)

    # ---- stations ---------------------------------------------------------------------------------------

    async def configure_station(self, station_id: str, *, court_code: str, area: str | None,
                                opening_hours: str | None, actor: tuple[str, str], now: datetime) -> StationInfo:
        """Attach a register station to a court's call queue, with its area and opening hours (None: always open)."""
        if not court_code.strip():
            raise InvalidRecord("a station's calls go to a court: give its court code")
        hours = None
        if opening_hours:
            try:
                hours = OpeningHours.parse(opening_hours).text()
            except BadHours as exc:
                raise errors.StationsRefused(422, "bad_opening_hours", str(exc)) from None
        async with self._tx("configuring a station", write=True) as conn:
            await self._get_station(conn, station_id)
            values: dict[str, Any] = {"court_code": court_code.strip(), "opening_hours": hours}
            if area is not None:
                values["area"] = area.strip()
            await conn.execute(update(stations).where(stations.c.id == station_id).values(**values))
            await append_in(conn, AuditEvent(actor[0], actor[1], "station.configured", f"station:{station_id}",
                                             {"court": court_code, "hours": hours}), at=now)
            return await self._get_station(conn, station_id)

    async def _get_station(self, conn: AsyncConnection, station_id: str) -> StationInfo:
        row = (await conn.execute(select(stations).where(stations.c.id == station_id))).first()
        if row is None:
            raise NotFound("station", station_id)
        return _station(row)

    async def get_station(self, station_id: str) -> StationInfo:
        async with self._tx("reading a station") as conn:
            return await self._get_station(conn, station_id)

    async def list_stations(self) -> list[StationInfo]:
        async with self._tx("listing stations") as conn:
            return [_station(r) for r in await conn.execute(select(stations).order_by(stations.c.name))]

    # ---- operators and device links -----------------------------------------------------------------------

    async def add_operator(self, staff_id: str, station_id: str, *, actor: tuple[str, str], now: datetime) -> None:
        async with self._tx("making a staff account a station operator", write=True) as conn:
            await self._get_station(conn, station_id)
            account = await _roles_of(conn, staff_id)
            if "station_operator" not in account:
                raise InvalidRecord("the account needs the station_operator staff role to operate a station")
            await conn.execute(station_operators.delete().where(station_operators.c.staff_id == staff_id))
            await conn.execute(station_operators.insert().values(staff_id=staff_id, station_id=station_id,
                                                                 created_at=now))
            await append_in(conn, AuditEvent(actor[0], actor[1], "station.operator_added", f"station:{station_id}",
                                             {"staff_id": staff_id}))

    async def station_of_operator(self, staff_id: str) -> str | None:
        async with self._tx("finding an operator's station") as conn:
            row = (await conn.execute(select(station_operators.c.station_id)
                                      .where(station_operators.c.staff_id == staff_id))).first()
        return None if row is None else str(row.station_id)

    async def issue_link(self, station_id: str, label: str, *, actor: tuple[str, str],
                         now: datetime) -> tuple[StationLink, str]:
        """A new device link; the token is returned once and only its hash is kept."""
        token = LINK_PREFIX + secrets.token_urlsafe(32)
        link_id = uuid.uuid4().hex
        async with self._tx("issuing a station link", write=True) as conn:
            await self._get_station(conn, station_id)
            await conn.execute(station_links.insert().values(
                id=link_id, station_id=station_id, token_hash=hash_token(token), label=label.strip() or "PC",
                created_by=actor[0], created_at=now))
            await append_in(conn, AuditEvent(actor[0], actor[1], "station.link_issued", f"station:{station_id}",
                                             {"link_id": link_id}))
        return StationLink(link_id, station_id, label, now, None), token

    async def revoke_link(self, link_id: str, *, actor: tuple[str, str], now: datetime) -> StationLink:
        async with self._tx("withdrawing a station link", write=True) as conn:
            row = (await conn.execute(select(station_links).where(station_links.c.id == link_id))).first()
            if row is None:
                raise NotFound("station link", link_id)
            if row.revoked_at is None:
                await conn.execute(update(station_links).where(station_links.c.id == link_id)
                                   .values(revoked_at=now, revoked_by=actor[0]))
                await append_in(conn, AuditEvent(actor[0], actor[1], "station.link_revoked",
                                                 f"station:{row.station_id}", {"link_id": link_id}))
            return StationLink(row.id, row.station_id, row.label, row.created_at, row.revoked_at or now)

    async def live_links(self, station_id: str) -> list[StationLink]:
        async with self._tx("listing a station's links") as conn:
            rows = await conn.execute(select(station_links).where(station_links.c.station_id == station_id,
                                                                  station_links.c.revoked_at.is_(None)))
            return [StationLink(r.id, r.station_id, r.label, r.created_at, None) for r in rows]

    async def resolve_link(self, token: str) -> StationLink:
        """The live link a token belongs to; `station_link_unknown` / `station_link_revoked` otherwise."""
        if not token.startswith(LINK_PREFIX):
            raise errors.link_unknown()
        async with self._tx("checking a station link") as conn:
            row = (await conn.execute(select(station_links)
                                      .where(station_links.c.token_hash == hash_token(token)))).first()
        if row is None:
            raise errors.link_unknown()
        if row.revoked_at is not None:
            raise errors.link_revoked()
        return StationLink(row.id, row.station_id, row.label, row.created_at, None)

    async def issue_call_link(self, person_id: str, court_code: str, *, expires_at: datetime,
                              actor: tuple[str, str], now: datetime) -> tuple[str, str]:
        """A person's own link to call a judge of `court_code` (no station); (link id, token), the token once."""
        token = CALL_LINK_PREFIX + secrets.token_urlsafe(32)
        link_id = uuid.uuid4().hex
        async with self._tx("issuing a call link", write=True) as conn:
            if (await conn.execute(select(persons.c.id).where(persons.c.id == person_id))).first() is None:
                raise NotFound("person", person_id)
            await conn.execute(call_links.insert().values(
                id=link_id, person_id=person_id, court_code=court_code, token_hash=hash_token(token),
                created_by=actor[0], created_at=now, expires_at=expires_at))
            await append_in(conn, AuditEvent(actor[0], actor[1], "call.link_issued", f"person:{person_id}",
                                             {"link_id": link_id, "court": court_code}), at=now)
        return link_id, token

    async def revoke_call_link(self, link_id: str, *, actor: tuple[str, str], now: datetime) -> None:
        async with self._tx("withdrawing a call link", write=True) as conn:
            done = await conn.execute(update(call_links).where(
                call_links.c.id == link_id, call_links.c.revoked_at.is_(None)).values(revoked_at=now))
            if done.rowcount:
                await append_in(conn, AuditEvent(actor[0], actor[1], "call.link_revoked", f"call_link:{link_id}", {}),
                                at=now)
            elif (await conn.execute(select(call_links.c.id).where(call_links.c.id == link_id))).first() is None:
                raise NotFound("call link", link_id)

    async def resolve_call_link(self, token: str, now: datetime) -> CallLink:
        refused = errors.StationsRefused(401, "call_link_unknown", "this call link is not valid; ask the court")
        if not token.startswith(CALL_LINK_PREFIX):
            raise refused
        async with self._tx("checking a call link") as conn:
            row = (await conn.execute(
                select(call_links, persons.c.name.label("person_name"))
                .join(persons, persons.c.id == call_links.c.person_id)
                .where(call_links.c.token_hash == hash_token(token)))).first()
        if row is None:
            raise refused
        if row.revoked_at is not None or row.expires_at <= now:
            raise errors.StationsRefused(401, "call_link_revoked",
                                         "this call link was withdrawn or has expired; ask the court for a new one")
        return CallLink(row.id, row.person_id, row.person_name, row.court_code, row.expires_at)

    # ---- the duty roster ----------------------------------------------------------------------------------

    async def add_shift(self, *, court_code: str, staff_id: str, duty_role: str, starts_at: datetime,
                        ends_at: datetime, actor: tuple[str, str], now: datetime) -> Shift:
        if duty_role not in DutyRole._value2member_map_:
            raise InvalidRecord(f"duty role is judge or mediator, not {duty_role!r}")
        if ends_at <= starts_at:
            raise InvalidRecord("a shift must end after it starts")
        shift_id = uuid.uuid4().hex
        async with self._tx("adding a duty shift", write=True) as conn:
            account = await _roles_of(conn, staff_id)
            roles = account
            needed = {"judge", "presiding_judge"} if duty_role == "judge" else {"judge", "presiding_judge", "mediator"}
            if not roles & needed:
                raise InvalidRecord(f"the account holds no staff role that may take {duty_role} duty")
            await conn.execute(duty_shifts.insert().values(
                id=shift_id, court_code=court_code, staff_id=staff_id, duty_role=duty_role, starts_at=starts_at,
                ends_at=ends_at, created_by=actor[0], created_at=now))
            await append_in(conn, AuditEvent(actor[0], actor[1], "duty.shift_added", f"staff:{staff_id}",
                                             {"court": court_code, "role": duty_role, "shift_id": shift_id}))
        return Shift(shift_id, court_code, staff_id, duty_role, starts_at, ends_at)

    async def shifts(self, *, around: datetime, court_code: str | None = None,
                     staff_id: str | None = None) -> list[Shift]:
        """Shifts still running or starting after `around` (what the roster decisions need)."""
        query = select(duty_shifts).where(duty_shifts.c.ends_at > around)
        if court_code is not None:
            query = query.where(duty_shifts.c.court_code == court_code)
        if staff_id is not None:
            query = query.where(duty_shifts.c.staff_id == staff_id)
        async with self._tx("reading the duty roster") as conn:
            return [_shift(r) for r in await conn.execute(query.order_by(duty_shifts.c.starts_at))]

    async def set_status(self, staff_id: str, status: DutyStatus, *, actor: tuple[str, str], now: datetime,
                         conn: AsyncConnection | None = None) -> None:
        async def apply(c: AsyncConnection) -> None:
            done = await c.execute(update(duty_status).where(duty_status.c.staff_id == staff_id)
                                   .values(status=status.value, changed_at=now))
            if not done.rowcount:
                await c.execute(duty_status.insert().values(staff_id=staff_id, status=status.value, changed_at=now))
            await append_in(c, AuditEvent(actor[0], actor[1], "duty.status", f"staff:{staff_id}",
                                          {"status": status.value}))

        if conn is not None:
            await apply(conn)
            return
        async with self._tx("setting a duty status", write=True) as c:
            await apply(c)

    async def statuses(self) -> dict[str, DutyStatus]:
        async with self._tx("reading duty statuses") as conn:
            return {r.staff_id: DutyStatus(r.status) for r in await conn.execute(select(duty_status))}

    # ---- calls --------------------------------------------------------------------------------------------

    async def create_call(self, *, court_code: str, station_id: str | None, requested_by: str, actor_role: str,
                          caller_name: str, verification_method: str, category: str, summary: str,
                          state: CallState, reason: str | None, now: datetime,
                          person_id: str | None = None) -> Call:
        if category not in Category._value2member_map_:
            raise errors.StationsRefused(422, "unknown_category",
                                         f"unknown topic {category!r}; choose one of the listed topics",
                                         choices=[c.value for c in Category])
        if verification_method not in VerificationMethod._value2member_map_ or not caller_name.strip():
            raise errors.StationsRefused(422, "identity_missing",
                                         "check the person's identity first and say how (e.g. ID card at the station)",
                                         choices=[m.value for m in VerificationMethod])
        call_id = uuid.uuid4().hex
        async with self._tx("recording a call request", write=True) as conn:
            await conn.execute(station_calls.insert().values(
                id=call_id, court_code=court_code, station_id=station_id, person_id=person_id,
                requested_by=requested_by,
                caller_name=caller_name.strip(), verification_method=verification_method, category=category,
                summary=summary.strip(), state=state.value, reason=reason, requested_at=now, queued_at=now,
                last_seen_at=now, requeues=0, recorded=False))
            await append_in(conn, AuditEvent(requested_by, actor_role, "call.requested", f"call:{call_id}",
                                             {"station_id": station_id, "person_id": person_id,
                                              "court": court_code, "category": category,
                                              "verification": verification_method, "state": state.value,
                                              "reason": reason}))
            return await self._get_call(conn, call_id)

    async def _get_call(self, conn: AsyncConnection, call_id: str) -> Call:
        row = (await conn.execute(select(station_calls).where(station_calls.c.id == call_id))).first()
        if row is None:
            raise errors.call_not_found(call_id)
        return _call(row)

    async def get_call(self, call_id: str) -> Call:
        async with self._tx("reading a call") as conn:
            return await self._get_call(conn, call_id)

    async def find_by_room(self, room_id: str) -> Call | None:
        async with self._tx("finding a call by its room") as conn:
            row = (await conn.execute(select(station_calls).where(station_calls.c.room_id == room_id))).first()
        return None if row is None else _call(row)

    async def waiting(self, court_codes: set[str] | None = None) -> list[Call]:
        query = select(station_calls).where(station_calls.c.state == CallState.WAITING.value)
        if court_codes is not None:
            query = query.where(station_calls.c.court_code.in_(sorted(court_codes)))
        async with self._tx("reading the call queue") as conn:
            rows = await conn.execute(query.order_by(station_calls.c.queued_at, station_calls.c.id))
            return [_call(r) for r in rows]

    async def calls_of_station(self, station_id: str | None, limit: int = 50, *,
                               person_id: str | None = None) -> list[Call]:
        """A station's calls, or (station_id None) the calls a person made with their own link."""
        where = (station_calls.c.station_id == station_id if station_id is not None
                 else (station_calls.c.person_id == person_id) & station_calls.c.station_id.is_(None))
        async with self._tx("reading a station's calls") as conn:
            rows = await conn.execute(select(station_calls).where(where)
                                      .order_by(station_calls.c.requested_at.desc()).limit(limit))
            return [_call(r) for r in rows]

    async def leave_message(self, call_id: str, clip_id: str, *, actor: tuple[str, str], now: datetime,
                            details: dict[str, Any]) -> Call:
        """Attach the recorded message to a call that asked for one; once only, and a clip to one call only."""
        async with self._tx("leaving a recorded message", write=True) as conn:
            taken = (await conn.execute(select(station_calls.c.id).where(
                station_calls.c.message_clip_id == clip_id))).first()
            if taken is not None:
                raise errors.message_left_already()
            done = await conn.execute(update(station_calls).where(
                station_calls.c.id == call_id, station_calls.c.state == CallState.MESSAGE_PENDING.value,
                station_calls.c.message_clip_id.is_(None)).values(message_clip_id=clip_id))
            if done.rowcount != 1:
                current = await self._get_call(conn, call_id)
                if current.message_clip_id is not None:
                    raise errors.message_left_already()
                raise errors.wrong_state(current.state.value, "leave_message")
            await append_in(conn, AuditEvent(actor[0], actor[1], "call.message_left", f"call:{call_id}", details),
                            at=now)
            return await self._get_call(conn, call_id)

    async def messages(self, court_codes: set[str], limit: int = 50) -> list[Call]:
        """Recorded messages of these courts nobody has heard yet, oldest first (the duty page's list)."""
        async with self._tx("reading recorded messages") as conn:
            rows = await conn.execute(select(station_calls).where(
                station_calls.c.court_code.in_(sorted(court_codes)), station_calls.c.message_clip_id.is_not(None),
                station_calls.c.message_heard_at.is_(None)).order_by(station_calls.c.requested_at).limit(limit))
            return [_call(r) for r in rows]

    async def mark_heard(self, call_id: str, staff_id: str, *, now: datetime) -> Call:
        """A judge took the message in hand (the first to do so is recorded; marking again changes nothing)."""
        async with self._tx("marking a message heard", write=True) as conn:
            done = await conn.execute(update(station_calls).where(
                station_calls.c.id == call_id, station_calls.c.message_clip_id.is_not(None),
                station_calls.c.message_heard_at.is_(None)).values(message_heard_by=staff_id, message_heard_at=now))
            if done.rowcount == 1:
                await append_in(conn, AuditEvent(staff_id, "staff", "call.message_heard", f"call:{call_id}", {}),
                                at=now)
            return await self._get_call(conn, call_id)

    async def calls_of_judge(self, staff_id: str, limit: int = 20) -> list[Call]:
        async with self._tx("reading a judge's calls") as conn:
            rows = await conn.execute(select(station_calls).where(station_calls.c.accepted_by == staff_id)
                                      .order_by(station_calls.c.accepted_at.desc()).limit(limit))
            return [_call(r) for r in rows]

    async def facts(self) -> list[CallFacts]:
        cols = station_calls.c
        async with self._tx("reading call statistics") as conn:
            rows = await conn.execute(select(cols.station_id, cols.court_code, cols.state, cols.requested_at,
                                             cols.accepted_at, cols.ended_at))
            return [CallFacts(*r) for r in rows]

    async def judge_joined(self, call_id: str, now: datetime) -> None:
        async with self._tx("noting the judge joined a call", write=True) as conn:
            await conn.execute(update(station_calls).where(station_calls.c.id == call_id,
                                                           station_calls.c.judge_joined_at.is_(None))
                               .values(judge_joined_at=now))

    async def touch(self, call_id: str, now: datetime) -> None:
        """The station is still there (it polled): keeps a waiting call's place."""
        async with self._tx("noting a station poll", write=True) as conn:
            await conn.execute(update(station_calls).where(station_calls.c.id == call_id,
                                                           station_calls.c.last_seen_at < now)
                               .values(last_seen_at=now))

    async def move(self, call_id: str, move: Move, *, actor: tuple[str, str], now: datetime,
                   details: dict[str, Any] | None = None, judge_status: DutyStatus | None = None,
                   **values: Any) -> Call:
        """Apply `move` if the call is in one of its source states, audited in the same transaction.

        `call_taken` / `call_state` (409) when it is not; `judge_status` also sets the acting judge's duty status."""
        sources, to = MOVES[move]
        async with self._tx(f"moving a call ({move.value})", write=True) as conn:
            done = await conn.execute(
                update(station_calls)
                .where(station_calls.c.id == call_id, station_calls.c.state.in_([s.value for s in sources]))
                .values(state=to.value, **values))
            if done.rowcount != 1:
                current = await self._get_call(conn, call_id)
                raise errors.wrong_state(current.state.value, move.value)
            await append_in(conn, AuditEvent(actor[0], actor[1], f"call.{move.value}", f"call:{call_id}",
                                             {"to": to.value, **(details or {})}, ), at=now)
            if judge_status is not None:
                await self.set_status(actor[0], judge_status, actor=actor, now=now, conn=conn)
            return await self._get_call(conn, call_id)

    async def annotate(self, call_id: str, action: str, *, actor: tuple[str, str], now: datetime,
                       details: dict[str, Any], **values: Any) -> Call:
        """A change that is not a move (note, recording flag, outcome link), audited with it."""
        async with self._tx(f"updating a call ({action})", write=True) as conn:
            done = await conn.execute(update(station_calls).where(station_calls.c.id == call_id).values(**values))
            if not done.rowcount:
                raise errors.call_not_found(call_id)
            await append_in(conn, AuditEvent(actor[0], actor[1], action, f"call:{call_id}", details), at=now)
            return await self._get_call(conn, call_id)

    async def audit(self, action: str, subject: str, *, actor: tuple[str, str], details: dict[str, Any]) -> None:
        async with self._tx(f"auditing {action}", write=True) as conn:
            await append_in(conn, AuditEvent(actor[0], actor[1], action, subject, details))
