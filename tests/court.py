"""Shared test helpers for the court: seat a hearing in the register of a live server (persons, a case, the hearing,
participants and their links), read the one error envelope, and log staff accounts in on an app under test."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from docket.court import Hearing, NewCase, NewHearing, NewParticipant, NewPerson, Party, PartySide
from docket.records import IssuedToken
from hearing.roles import ROLE_GRANTS, Role
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.live import LiveServer

_counter = iter(range(1, 1_000_000))


@dataclass
class Seat:
    role: Role
    name: str
    participant_id: str
    person_id: str
    token: str


@dataclass
class Seated:
    hearing: Hearing
    seats: dict[str, Seat] = field(default_factory=dict)  # by a short label, e.g. "judge", "plaintiff"

    @property
    def room(self) -> str:
        assert self.hearing.room_id is not None
        return self.hearing.room_id

    def __getitem__(self, label: str) -> Seat:
        return self.seats[label]


async def seat_hearing(server: LiveServer, kind: str, people: dict[str, Role], *, state: str = "lobby_open",
                       room: str | None = None) -> Seated:
    """A hearing of `kind` in `state`, one participant per label; the first presiding judge sits on the panel."""
    court, records = server.services.court, server.services.records
    n = next(_counter)
    persons = {label: await court.create_person(NewPerson(f"{label}-{n}")) for label in people}
    parties = [Party(p.id, PartySide(role.value)) for label, p in persons.items()
               if (role := people[label]) in (Role.PLAINTIFF, Role.DEFENDANT)]
    case = await court.create_case(NewCase(f"(2026)测{n}号", "contract dispute", parties))
    panel = [persons[label].id for wanted in (Role.PRESIDING_JUDGE, Role.JUDGE)
             for label, role in people.items() if role is wanted]  # the presiding judge first
    start = datetime.now(UTC)
    room_id = room or f"hearing-{n}"
    hearing = await court.create_hearing(NewHearing(case.id, kind, start, start + timedelta(hours=2), panel=panel,
                                                    room_id=room_id, state=state))
    await records.create_room(room_id, case.case_number, kind)
    seated = Seated(hearing)
    for label, role in people.items():
        participant = await court.add_participant(NewParticipant(hearing.id, persons[label].id, role.value))
        token = await bind_new_link(server, room_id, participant.id, role, persons[label].name)
        seated.seats[label] = Seat(role, persons[label].name, participant.id, persons[label].id, token)
    return seated


async def bind_new_link(server: LiveServer, room_id: str, participant_id: str, role: Role, name: str) -> str:
    """Sign a join token for a register participant, record it and bind it (what a staff "issue link" does)."""
    token, claims = server.services.tokens.issue_join(room_id=room_id, role=role.value, name=name,
                                                      grants=ROLE_GRANTS[role], ttl_seconds=3600,
                                                      participant_id=participant_id)
    await server.services.records.record_token(IssuedToken(
        jti=claims.jti, room_id=room_id, participant_id=participant_id, role=role.value,
        issued_at=datetime.fromtimestamp(claims.issued_at, UTC),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC)))
    await server.services.court.bind_token(participant_id, claims.jti)
    return token


def room_api(server: LiveServer, seated: Seated, label: str | None) -> httpx.AsyncClient:
    """The in-hearing HTTP API (`/api/rooms/{room}`) as `label` (their join link as bearer), or anonymous (None)."""
    headers = {"Authorization": f"Bearer {seated[label].token}"} if label else {}
    return httpx.AsyncClient(base_url=f"{server.base}/api/rooms/{seated.room}", headers=headers, timeout=30)


STAFF_PASSWORD = "correct horse battery"


def error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the one error envelope: `status`, the stable `code` and a message; returns the body (its params)."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code and body["message"], body
    return body


@dataclass
class StaffLogin:
    account_id: str
    token: str  # the session token, sent as `Authorization: Bearer`


async def log_in_staff(auth: StaffAuth, client: httpx.AsyncClient, accounts: Iterable[tuple[str, str]], *,
                       persons: Mapping[str, str] | None = None) -> dict[str, StaffLogin]:
    """Create each (username, role) account (its register person from `persons`, by username, if given) with cheap
    password hashing and log it in through `/api/login`; the client's cookies are cleared afterwards, so every call
    says who it is by its bearer token."""
    auth.hasher = cheap_hasher()
    logins = {}
    for username, role in accounts:
        account = await auth.create_account(username, username.title(), [role], STAFF_PASSWORD,
                                            person_id=(persons or {}).get(username))
        r = await client.post("/api/login", json={"username": username, "password": STAFF_PASSWORD})
        assert r.status_code == 200, r.text
        logins[username] = StaffLogin(account.id, r.json()["token"])
    client.cookies.clear()
    return logins
