"""The demo court `make run` and `hearing demo` set up: one case heard as a trial, a mediation, a deliberation and an
asynchronous trial (异步审理, scheduled: the parties consent on its page first, each by their own /async link).

Everything is real register data (persons, a case, hearings with their panel, participants) and real one-time
links, so the demo goes through the same lobby, admission and permissions as a real hearing. Running it again
reuses the case and its hearings and issues fresh links (the previous ones are revoked); a demo hearing that
has been closed is replaced by a new one in a new room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from docket.audit import AuditLog
from docket.court import (
    CourtRecords,
    Hearing,
    HearingKind,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NotFound,
    Party,
    PartySide,
)
from docket.records import Records
from hearing.join_links import JOINABLE_STATES, IssuedLink, RoomAssigner, issue_participant_link
from hearing.kinds import ProcedureState
from hearing.roles import Role
from signaling.tokens import TokenService

DEMO_CASE_NUMBER = "(2026)示例民初1号"
DEMO_CAUSE = "合同纠纷 (contract dispute)"
DEMO_TITLE = f"{DEMO_CASE_NUMBER} 张某诉赵某合同纠纷"
DEMO_LINK_TTL = 12 * 3600

R = Role


@dataclass(frozen=True, slots=True)
class DemoHearingSpec:
    room_base: str
    kind: HearingKind
    seats: tuple[tuple[Role, str], ...]  # (role, name); panel judges first, the presiding judge first of all
    state: ProcedureState = ProcedureState.LOBBY_OPEN  # where a new demo hearing starts
    page: str = "join"  # the page each person's link opens: the room (/join) or the asynchronous trial's (/async)


DEMO_HEARINGS: tuple[DemoHearingSpec, ...] = (
    DemoHearingSpec("demo-trial", HearingKind.TRIAL, (
        (R.PRESIDING_JUDGE, "王审判长"), (R.JUDGE, "刘审判员"), (R.CLERK, "李书记员"), (R.PLAINTIFF, "张原告"),
        (R.DEFENDANT, "赵被告"), (R.COUNSEL, "陈律师"), (R.WITNESS, "孙证人"), (R.OBSERVER, "旁听群众"),
    )),
    DemoHearingSpec("demo-mediation", HearingKind.MEDIATION, (
        (R.MEDIATOR, "周调解员"), (R.CLERK, "李书记员"), (R.PLAINTIFF, "张原告"), (R.DEFENDANT, "赵被告"),
        (R.COUNSEL, "陈律师"),
    )),
    DemoHearingSpec("demo-deliberation", HearingKind.DELIBERATION, (
        (R.PRESIDING_JUDGE, "王审判长"), (R.JUDGE, "刘审判员"), (R.CLERK, "李书记员"),
    )),
    DemoHearingSpec("demo-async", HearingKind.ASYNC_TRIAL, (
        (R.PRESIDING_JUDGE, "王审判长"), (R.CLERK, "李书记员"), (R.PLAINTIFF, "张原告"), (R.DEFENDANT, "赵被告"),
    ), state=ProcedureState.SCHEDULED, page="async"),
)
DEMO_PEOPLE = sorted({name for spec in DEMO_HEARINGS for _, name in spec.seats})
_SIDES = {"张原告": PartySide.PLAINTIFF, "赵被告": PartySide.DEFENDANT}


@dataclass(frozen=True, slots=True)
class DemoLink:
    role: Role
    name: str
    link: IssuedLink
    page: str = "join"

    @property
    def url(self) -> str:
        """The link on the page this hearing is held on (the token is the same: one link per seat)."""
        return self.link.url.replace("/join#", f"/{self.page}#", 1)


@dataclass(frozen=True, slots=True)
class DemoHearing:
    spec: DemoHearingSpec
    hearing: Hearing
    links: tuple[DemoLink, ...]


class _NoRooms:
    async def assign_room(self, hearing_id: str, room_id: str) -> str:  # demo hearings always have their room
        raise AssertionError("demo hearings are created with a room")


async def seed_demo_court(court: CourtRecords, records: Records, tokens: TokenService, base_url: str, *,
                          audit: AuditLog | None = None, rooms: RoomAssigner | None = None) -> list[DemoHearing]:
    """Create (or reuse) the demo case and hearings and issue one link per seat."""
    persons, case_id, existing = await _demo_case(court)
    out: list[DemoHearing] = []
    now = datetime.now(UTC)
    for spec in DEMO_HEARINGS:
        hearing = await _current_hearing(court, spec, existing)
        if hearing is None:
            panel = [persons[name] for role, name in spec.seats if role in (R.PRESIDING_JUDGE, R.JUDGE)]
            room_id = await _free_room(court, spec.room_base)
            hearing = await court.create_hearing(NewHearing(
                case_id, spec.kind, now, now + timedelta(hours=3), panel=panel, room_id=room_id,
                recorded=spec.kind is not HearingKind.DELIBERATION, state=spec.state.value))
            for role, name in spec.seats:
                await court.add_participant(NewParticipant(hearing.id, persons[name], role.value))
        by_person = {p.person_id: p for p in await court.list_participants(hearing.id)}
        links = []
        for role, name in spec.seats:
            participant = by_person[persons[name]]
            link = await issue_participant_link(
                court, records, tokens, rooms or _NoRooms(), base_url, hearing_id=hearing.id,
                participant_id=participant.id, ttl_seconds=DEMO_LINK_TTL, audit=audit)
            links.append(DemoLink(role, name, link, spec.page))
        out.append(DemoHearing(spec, hearing, tuple(links)))
    return out


async def _demo_case(court: CourtRecords) -> tuple[dict[str, str], str, list[Hearing]]:
    try:
        case = await court.get_case_by_number(DEMO_CASE_NUMBER)
    except NotFound:
        persons = {name: (await court.create_person(NewPerson(name))).id for name in DEMO_PEOPLE}
        parties = [Party(persons[name], side) for name, side in _SIDES.items()]
        case = await court.create_case(NewCase(DEMO_CASE_NUMBER, DEMO_CAUSE, parties))
        return persons, case.id, []
    hearings = await court.list_hearings(case_id=case.id)
    persons: dict[str, str] = {}
    for hearing in hearings:
        for p in await court.list_participants(hearing.id):
            persons.setdefault((await court.get_person(p.person_id)).name, p.person_id)
    for name in DEMO_PEOPLE:
        if name not in persons:
            persons[name] = (await court.create_person(NewPerson(name))).id
    return persons, case.id, hearings


async def _current_hearing(court: CourtRecords, spec: DemoHearingSpec, existing: list[Hearing]) -> Hearing | None:
    """The newest demo hearing of this kind that can still be joined."""
    for hearing in sorted(existing, key=lambda h: h.created_at, reverse=True):
        if hearing.kind is spec.kind and (hearing.room_id or "").startswith(spec.room_base):
            return hearing if hearing.state in JOINABLE_STATES else None
    return None


async def _free_room(court: CourtRecords, base: str) -> str:
    room, n = base, 1
    while await court.find_hearing_by_room(room) is not None:
        n += 1
        room = f"{base}-{n}"
    return room
