"""The court register (`CourtRecords`) on a real SQLite file and a real PostgreSQL database, and its migration."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from docket import id_documents
from docket.court import (
    CourtRecords,
    DuplicateCaseNumber,
    DuplicateParticipant,
    HearingKind,
    InvalidRecord,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NewStation,
    NotFound,
    ParticipantStatus,
    Party,
    PartySide,
    Person,
    StaleState,
    StationKind,
    Verification,
    VerificationMethod,
)
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.migrate import upgrade
from docket.records import IssuedToken
from docket.room_ids import RoomIdTaken
from docket.sql import make_engine, open_records
from docket.tables import persons
from tests.test_records import _differences_at

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
# A well-formed PRC resident ID (valid check digit) for someone born 2010-03-07: a minor in 2026.
MINOR_ID = "11010520100307005X"
TWIN_TAIL_ID = "11010519800103005X"  # another valid ID with the same last four


def resident_id(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


async def _case_with_people(court: SqlCourtRecords, number: str = "(2026)示例民初1号") -> tuple[str, list[Person]]:
    people = [await court.create_person(NewPerson(n)) for n in ("张原告", "赵被告", "王审判长", "李审判员")]
    case = await court.create_case(NewCase(number, "contract dispute", [
        Party(people[0].id, PartySide.PLAINTIFF), Party(people[1].id, PartySide.DEFENDANT),
    ]))
    return case.id, people


def test_id_documents_are_hashed_slowly_with_salt() -> None:
    assert MINOR_ID == resident_id(MINOR_ID[:17]) and TWIN_TAIL_ID == resident_id(TWIN_TAIL_ID[:17])
    a = id_documents.hash_document("1101 0520 1003 07005x", iterations=1000)
    b = id_documents.hash_document(MINOR_ID, iterations=1000)
    assert a != b and MINOR_ID not in a  # salted: the same number never hashes the same twice
    assert id_documents.matches(MINOR_ID, a) and id_documents.matches("110105201003070 05X", b)
    assert not id_documents.matches(resident_id("11010520100307002"), a)
    assert not id_documents.matches(MINOR_ID, "garbage") and not id_documents.matches(MINOR_ID, "md5$1$00$00")
    assert id_documents.last4(MINOR_ID) == "005X"
    assert id_documents.birth_date_from_resident_id(MINOR_ID) == date(2010, 3, 7)
    assert id_documents.birth_date_from_resident_id(MINOR_ID[:17] + "1") is None  # bad check digit
    assert id_documents.birth_date_from_resident_id("E12345678") is None  # a passport number
    with pytest.raises(ValueError):
        id_documents.normalise("  ")


def test_repr_of_a_new_person_hides_the_document() -> None:
    assert MINOR_ID not in repr(NewPerson("张三", MINOR_ID))


async def test_satisfies_the_protocol(court: SqlCourtRecords) -> None:
    assert isinstance(court, CourtRecords)


async def test_stations(court: SqlCourtRecords) -> None:
    village = await court.create_station(NewStation(StationKind.VILLAGE, "东村服务站", "东村村委会二楼", 39.9, 116.4))
    jail = await court.create_station(NewStation(StationKind.DETENTION_CENTRE, "市看守所", "北路1号"))
    assert village.latitude == pytest.approx(39.9) and village.longitude == pytest.approx(116.4)
    assert jail.latitude is None and jail.created_at.tzinfo is not None
    assert await court.get_station(village.id) == village
    assert {s.id for s in await court.list_stations()} == {village.id, jail.id}
    assert await court.list_stations(StationKind.DETENTION_CENTRE) == [jail]
    with pytest.raises(NotFound, match="station"):
        await court.get_station("nope")
    with pytest.raises(InvalidRecord, match="both"):
        await court.create_station(NewStation(StationKind.ENTERPRISE, "厂", latitude=1.0))
    with pytest.raises(InvalidRecord, match="Earth"):
        await court.create_station(NewStation(StationKind.ENTERPRISE, "厂", latitude=91.0, longitude=0.0))
    with pytest.raises(InvalidRecord, match="station kind"):
        await court.create_station(NewStation("spaceport", "x"))  # type: ignore[arg-type]


async def test_persons_keep_only_a_hash_and_the_last_four(court: SqlCourtRecords) -> None:
    minor = await court.create_person(NewPerson("小明", MINOR_ID))
    adult = await court.create_person(NewPerson("老王", "E1234567", birth_date=date(1970, 1, 2)))
    unknown = await court.create_person(NewPerson("无名"))
    assert minor.id_document_last4 == "005X" and minor.birth_date == date(2010, 3, 7)  # derived from the ID
    assert minor.is_minor(date(2026, 6, 1)) is True and minor.is_minor(date(2028, 3, 7)) is False
    assert minor.is_minor(date(2028, 3, 6)) is True
    assert adult.is_minor(date(2026, 6, 1)) is False and unknown.is_minor(date(2026, 6, 1)) is None
    assert await court.get_person(minor.id) == minor

    async with court.engine.connect() as conn:
        stored = (await conn.execute(select(persons.c.id_document_hash).where(persons.c.id == minor.id))).scalar()
        dump = " ".join(str(v) for row in await conn.execute(select(persons)) for v in row)
    assert stored.startswith("pbkdf2_sha256$1000$") and MINOR_ID not in dump and "E1234567" not in dump

    assert await court.find_persons_by_id_document("110105 20100307 005x") == [minor]
    twin = await court.create_person(NewPerson("同尾号", TWIN_TAIL_ID))
    assert twin.id_document_last4 == minor.id_document_last4 and twin.birth_date == date(1980, 1, 3)
    assert await court.find_persons_by_id_document(TWIN_TAIL_ID) == [twin]
    assert await court.find_persons_by_id_document(resident_id("99999919990101001")) == []
    assert await court.check_id_document(minor.id, MINOR_ID) is True
    assert await court.check_id_document(minor.id, "E1234567") is False
    assert await court.check_id_document(unknown.id, MINOR_ID) is False
    with pytest.raises(NotFound, match="person"):
        await court.check_id_document("nope", MINOR_ID)
    with pytest.raises(NotFound):
        await court.get_person("nope")
    with pytest.raises(InvalidRecord):
        await court.create_person(NewPerson("   "))


async def test_cases_and_parties(court: SqlCourtRecords) -> None:
    case_id, people = await _case_with_people(court)
    case = await court.get_case(case_id)
    assert case.case_number == "(2026)示例民初1号" and case.cause == "contract dispute"
    assert set(case.parties) == {Party(people[0].id, PartySide.PLAINTIFF), Party(people[1].id, PartySide.DEFENDANT)}
    assert await court.get_case_by_number("(2026)示例民初1号") == case

    third = await court.create_person(NewPerson("钱第三人"))
    updated = await court.add_party(case_id, Party(third.id, PartySide.THIRD_PARTY))
    assert Party(third.id, PartySide.THIRD_PARTY) in updated.parties and len(updated.parties) == 3
    with pytest.raises(InvalidRecord, match="already a party"):
        await court.add_party(case_id, Party(third.id, PartySide.PLAINTIFF))
    with pytest.raises(NotFound, match="person"):
        await court.add_party(case_id, Party("ghost", PartySide.PLAINTIFF))
    with pytest.raises(NotFound, match="case"):
        await court.add_party("nope", Party(third.id, PartySide.PLAINTIFF))

    other = await court.create_case(NewCase("(2026)示例民初2号", "loan dispute"))
    assert other.parties == ()
    assert [c.id for c in await court.list_cases()] == [case_id, other.id]
    with pytest.raises(NotFound, match="case"):
        await court.get_case_by_number("(1999)无此号")


async def test_duplicate_case_number_is_refused_and_leaves_nothing_behind(court: SqlCourtRecords) -> None:
    await _case_with_people(court)
    with pytest.raises(DuplicateCaseNumber, match="already registered"):
        await court.create_case(NewCase("(2026)示例民初1号", "another"))
    assert len(await court.list_cases()) == 1
    with pytest.raises(NotFound, match="person 'ghost'"):  # the whole case is refused, not half-written
        await court.create_case(NewCase("(2026)示例民初3号", "x", [Party("ghost", PartySide.PLAINTIFF)]))
    assert len(await court.list_cases()) == 1


async def test_concurrent_duplicate_case_numbers_one_wins(court: SqlCourtRecords) -> None:
    results = await asyncio.gather(*(court.create_case(NewCase("(2026)并发1号", f"c{i}")) for i in range(6)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, DuplicateCaseNumber) for r in results if isinstance(r, BaseException))


async def test_hearings(court: SqlCourtRecords) -> None:
    case_id, people = await _case_with_people(court)
    trial = await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=2),
                                                  panel=[people[2].id, people[3].id], room_id="room-t1"))
    assert trial.state == "scheduled" and trial.recorded and trial.panel == (people[2].id, people[3].id)
    assert trial.presiding_judge_id == people[2].id and trial.room_id == "room-t1"
    assert trial.scheduled_start == START and trial.state_changed_at == trial.created_at
    deliberation = await court.create_hearing(NewHearing(case_id, HearingKind.DELIBERATION,
                                                         START + timedelta(hours=3), START + timedelta(hours=4),
                                                         panel=[people[2].id], recorded=False))
    assert not deliberation.recorded and deliberation.room_id is None
    assert await court.get_hearing(trial.id) == trial
    assert [h.id for h in await court.list_hearings()] == [trial.id, deliberation.id]
    assert await court.list_hearings(kind=HearingKind.DELIBERATION) == [deliberation]
    assert await court.list_hearings(case_id="other") == []
    assert await court.list_hearings(state="scheduled", case_id=case_id) == [trial, deliberation]

    with pytest.raises(NotFound, match="case"):
        await court.create_hearing(NewHearing("nope", HearingKind.TRIAL, START, START + timedelta(hours=1)))
    with pytest.raises(NotFound, match="person"):
        await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=1),
                                              panel=["ghost"]))
    with pytest.raises(InvalidRecord, match="end after"):
        await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START))
    with pytest.raises(InvalidRecord, match="naive"):
        await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START.replace(tzinfo=None),
                                              START + timedelta(hours=1)))
    with pytest.raises(InvalidRecord, match="hearing kind"):
        await court.create_hearing(NewHearing(case_id, "duel", START, START + timedelta(hours=1)))  # type: ignore[arg-type]
    with pytest.raises(RoomIdTaken, match="room"):  # rooms of every kind share one namespace (docket.room_ids)
        await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=1),
                                              room_id="room-t1"))
    with pytest.raises(NotFound, match="hearing"):
        await court.get_hearing("nope")


async def test_hearing_state_is_compare_and_set(court: SqlCourtRecords) -> None:
    case_id, _ = await _case_with_people(court)
    h = await court.create_hearing(NewHearing(case_id, HearingKind.MEDIATION, START, START + timedelta(hours=1)))
    moved, entry = await court.set_hearing_state(h.id, "scheduled", "lobby_open")
    assert moved.state == "lobby_open" and entry is None and moved.state_changed_at >= h.state_changed_at
    with pytest.raises(StaleState) as caught:
        await court.set_hearing_state(h.id, "scheduled", "lobby_open")
    assert caught.value.actual == "lobby_open"
    with pytest.raises(NotFound):
        await court.set_hearing_state("nope", "scheduled", "lobby_open")
    results = await asyncio.gather(*(court.set_hearing_state(h.id, "lobby_open", "in_session") for _ in range(5)),
                                   return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, StaleState) for r in results if isinstance(r, BaseException))


async def test_participants(court: SqlCourtRecords) -> None:
    case_id, people = await _case_with_people(court)
    station = await court.create_station(NewStation(StationKind.VILLAGE, "东村服务站"))
    h = await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=1),
                                              room_id="room-p"))
    p = await court.add_participant(NewParticipant(h.id, people[0].id, "plaintiff", station_id=station.id))
    assert p.status is ParticipantStatus.WAITING and p.verification is None and p.token_jti is None
    assert p.station_id == station.id and p.role == "plaintiff"
    judge = await court.add_participant(NewParticipant(h.id, people[2].id, "presiding_judge"))
    assert [x.id for x in await court.list_participants(h.id)] == [p.id, judge.id]

    with pytest.raises(DuplicateParticipant):
        await court.add_participant(NewParticipant(h.id, people[0].id, "counsel"))
    for bad, what in ((NewParticipant("nope", people[1].id, "defendant"), "hearing"),
                      (NewParticipant(h.id, "ghost", "defendant"), "person"),
                      (NewParticipant(h.id, people[1].id, "defendant", station_id="nope"), "station")):
        with pytest.raises(NotFound, match=what):
            await court.add_participant(bad)

    at = datetime(2026, 6, 1, 8, 55, 1, 250000, tzinfo=UTC)
    checked = await court.record_verification(p.id, Verification(VerificationMethod.ID_CARD_AT_STATION, "staff-7", at))
    assert checked.verification == Verification(VerificationMethod.ID_CARD_AT_STATION, "staff-7", at)
    admitted = await court.set_participant_status(p.id, ParticipantStatus.ADMITTED)
    assert admitted.status is ParticipantStatus.ADMITTED and admitted.verification == checked.verification
    assert await court.get_participant(p.id) == admitted

    # Tokens are recorded by the existing Records adapter; a participant is then bound to one.
    token_db = await open_records(_plain_url(court), migrate=False)
    try:
        await token_db.create_room("room-p", "trial", "trial")
        await token_db.record_token(IssuedToken("jti-1", "room-p", p.id, "plaintiff", START,
                                                START + timedelta(hours=2)))
    finally:
        await token_db.close()
    bound = await court.bind_token(p.id, "jti-1")
    assert bound.token_jti == "jti-1"
    with pytest.raises(InvalidRecord, match="already bound"):
        await court.bind_token(judge.id, "jti-1")
    with pytest.raises(NotFound, match="token"):
        await court.bind_token(p.id, "jti-unknown")
    with pytest.raises(NotFound, match="participant"):
        await court.set_participant_status("nope", ParticipantStatus.DENIED)
    with pytest.raises(NotFound, match="hearing"):
        await court.list_participants("nope")
    with pytest.raises(InvalidRecord, match="verification method"):
        await court.record_verification(p.id, Verification("telepathy", "staff-7", at))  # type: ignore[arg-type]


def _plain_url(court: SqlCourtRecords) -> str:
    return court.engine.url.render_as_string(hide_password=False)


async def test_court_tables_come_from_migration_0003(court_url: str) -> None:
    """The drift check is not vacuous for these tables: one revision short, they are all missing."""
    behind = await _differences_at(court_url, "0002_tokens")
    missing = {d[1].name for d in behind if isinstance(d, tuple) and d[0] == "add_table"}
    assert missing >= {"stations", "persons", "cases", "case_parties", "hearings", "panel_members", "participants",
                       "audit_log", "audit_head"}  # later revisions add their own tables
    assert await _differences_at(court_url, "head") == []


async def test_upgrading_a_0002_database_keeps_rooms_and_tokens(court_url: str) -> None:
    await upgrade(court_url, "0002_tokens")
    engine = make_engine(court_url)
    try:
        async with engine.begin() as conn:
            stamp = "'2024-01-02 03:04:05'" if conn.dialect.name == "sqlite" else "'2024-01-02 03:04:05+00'"
            await conn.execute(text(f"INSERT INTO rooms (id, title, kind, created_at) VALUES "
                                    f"('old', 'Old', 'trial', {stamp})"))
            await conn.execute(text(f"INSERT INTO issued_tokens (jti, room_id, participant_id, role, issued_at, "
                                    f"expires_at) VALUES ('old-jti', 'old', 'p', 'clerk', {stamp}, {stamp})"))
    finally:
        await engine.dispose()
    court = await open_court_records(court_url, id_hash_iterations=1000)
    try:
        case_id, people = await _case_with_people(court)
        with pytest.raises(RoomIdTaken):  # the old ad-hoc room keeps its id to itself (docket.room_ids)
            await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=1),
                                                  room_id="old"))
        h = await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, START + timedelta(hours=1)))
        p = await court.add_participant(NewParticipant(h.id, people[0].id, "clerk"))
        assert (await court.bind_token(p.id, "old-jti")).token_jti == "old-jti"
        assert await court.audit.head() == (0, "0" * 64)
    finally:
        await court.close()


def test_the_register_knows_nothing_of_court_rules() -> None:
    """Dependencies point down: docket/ never imports hearing/ (hearing/ hands rules in, never the reverse)."""
    from tests.test_layering import imports_of  # parses imports: prose mentioning hearing/ is fine

    root = Path(__file__).resolve().parent.parent / "docket"
    for path in root.rglob("*.py"):
        assert "hearing" not in imports_of(path), path
