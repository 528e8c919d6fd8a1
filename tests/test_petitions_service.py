"""The petition service on SQLite and PostgreSQL (`court_url`): numbers, status codes, every move audited with its
history event, jobs kept in step, reminders and escalations fired once by two scheduler instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from docket.audit import SqlAuditLog
from docket.court_sql import SqlCourtRecords
from docket.jobs import JobScheduler
from docket.notifications import SqlInbox, staff_recipient
from docket.staff import NewStaff, StaffRole
from docket.staff_sql import SqlStaffStore
from docket.tables_petitions import petition_counters, petitions
from petitions.photos import Photo
from petitions.rules import (
    REOPEN_DAYS,
    Category,
    ContactChannel,
    HandlerKind,
    Outcome,
    PetitionClass,
    Rating,
    Refused,
    Status,
)
from petitions.service import AUTOCLOSE, ESCALATE, REMIND, Filing, PetitionService
from recordings.local_store import LocalObjectStore

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at


class World:
    def __init__(self, court: SqlCourtRecords) -> None:
        self.court = court
        self.clock = Clock(MONDAY)
        self.service = PetitionService(court.engine, court.url, code_key=b"k" * 32, clock=self.clock)
        self.inbox = SqlInbox(court.engine, court.url)
        self.audit = SqlAuditLog(court.engine, court.url)
        self.staff = SqlStaffStore(court.engine)

    async def account(self, username: str, *roles: StaffRole) -> str:
        made = await self.staff.create_staff(NewStaff(username, username.title(), frozenset(roles), "x"))
        return made.id

    def scheduler(self, name: str) -> JobScheduler:
        jobs = JobScheduler(self.court.engine, self.court.url, instance_id=name, clock=self.clock)
        for kind, handler in self.service.job_handlers().items():
            jobs.register(kind, handler)
        return jobs

    async def file(self, category: Category = Category.ENFORCEMENT, **kw: object) -> tuple[str, str, str]:
        record, code = await self.service.file(Filing("main", category, kw.pop("text", "执行款没有到账"),  # type: ignore[arg-type]
                                                      "张三", "13800000000", **kw))  # type: ignore[arg-type]
        return record.id, record.number, code


@pytest.fixture
async def world(court: SqlCourtRecords) -> AsyncIterator[World]:
    yield World(court)


async def _actions(world: World, petition_id: str) -> list[str]:
    entries = await world.audit.entries(limit=1000)
    return [e.action for e in entries if e.subject == f"petition:{petition_id}"]


async def test_numbers_are_gap_free_per_year_and_the_code_opens_only_its_petition(world: World) -> None:
    found = await asyncio.gather(*(world.file() for _ in range(6)))  # concurrent filings: no two share a number
    numbers = sorted(n for _, n, _ in found)
    assert numbers == [f"2026-{i:06d}" for i in range(1, 7)]
    pid, number, code = found[0]
    assert await world.service.find_for_citizen(number, code.lower()) == pid
    other_code = found[1][2]
    for n, c in ((number, other_code), ("2026-999999", code), ("nonsense", code), (number, "short")):
        with pytest.raises(Refused) as refused:
            await world.service.find_for_citizen(n, c)
        assert refused.value.code == "petition_not_found"
    async with world.court.engine.connect() as conn:  # only a keyed hash of the code is stored
        stored = (await conn.execute(select(petitions.c.code_hash).where(petitions.c.id == pid))).scalar_one()
    assert code not in stored and len(stored) == 64
    world.clock.at = datetime(2027, 1, 4, 3, tzinfo=UTC)  # a new year starts at 1 (2027 entered as complete first)
    async with world.court.engine.begin() as conn:
        from docket.tables_foundations import workday_years
        await conn.execute(workday_years.insert().values(year=2027, reason="test", set_by="t", set_at=world.clock.at))
    _, number, _ = await world.file()
    assert number == "2027-000001"


async def test_a_year_the_calendar_does_not_cover_is_refused_loudly_and_files_nothing(world: World) -> None:
    world.clock.at = datetime(2026, 12, 30, 2, tzinfo=UTC)  # 5 working days reach into 2027, not in the package
    with pytest.raises(Refused) as refused:
        await world.file(Category.SUGGESTION)
    assert refused.value.code == "calendar_not_covered" and refused.value.status == 503
    assert "2027" in str(refused.value)
    async with world.court.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(petitions))).scalar_one() == 0
        assert (await conn.execute(select(func.count()).select_from(petition_counters))).scalar_one() == 0
    assert await world.audit.count() == 0


async def test_a_refused_filing_leaves_nothing(world: World) -> None:
    for kwargs, code in (({"clip_ids": ["nope"]}, "clip_unknown"), ({"station_id": "nowhere"}, "station_unknown"),
                         ({"photos": [Photo("a.gif", b"GIF89a...")]}, "photo_unsupported"),
                         ({"text": " "}, "petition_empty")):
        with pytest.raises(Refused) as refused:
            await world.file(**kwargs)
        assert refused.value.code == code
    assert await world.audit.count() == 0
    assert await world.service.list() == []


async def test_the_whole_workflow_is_audited_and_the_jobs_follow(world: World) -> None:
    clerk = await world.account("clerk", StaffRole.CLERK)
    judge = await world.account("judge", StaffRole.JUDGE)
    other = await world.account("other", StaffRole.JUDGE)
    jobs = world.scheduler("one")
    pid, number, code = await world.file(Category.CASE_PROGRESS)
    record = await world.service.get(pid)
    assert record.rules.klass is PetitionClass.PERSONAL
    assert record.rules.due_at == datetime(2026, 3, 6, tzinfo=TZ)  # Tue, Wed, Thu: due at the end of Thu Mar 5
    remind, escalate = await jobs.get(f"{REMIND}:{pid}:0"), await jobs.get(f"{ESCALATE}:{pid}:0")
    assert remind is not None and escalate is not None
    assert remind.due_at == datetime(2026, 3, 5, tzinfo=TZ) and escalate.due_at == record.rules.due_at

    with pytest.raises(Refused) as refused:
        await world.service.close(pid, actor_id=clerk)
    assert refused.value.code == "wrong_state"
    record = await world.service.triage(pid, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.JUDGE)
    assert record.rules.status is Status.ASSIGNED
    assert [n.code for n in await world.inbox.list(staff_recipient(judge))] == ["petition.assigned"]
    # reclassified with a reason: the deadline (and its jobs) move, counted from the filing
    record = await world.service.reclassify(pid, actor_id=clerk, klass=PetitionClass.COMPLEX, reason="多方当事人")
    assert record.rules.due_at == datetime(2026, 3, 10, tzinfo=TZ)
    assert (await jobs.get(f"{ESCALATE}:{pid}:0")).due_at == record.rules.due_at  # type: ignore[union-attr]
    with pytest.raises(Refused) as refused:
        await world.service.contact(pid, actor_id=other, channel=ContactChannel.PHONE, note="hi")
    assert refused.value.code == "not_your_petition" and refused.value.status == 403
    world.clock.at += timedelta(hours=3)
    await world.service.contact(pid, actor_id=judge, channel=ContactChannel.PHONE, note="电话联系，已说明")
    world.clock.at += timedelta(hours=3)
    record = await world.service.reply(pid, actor_id=judge, outcome=Outcome.RESOLVED, resolution="执行款已发放",
                                       reply_text="您的执行款已于今日发放")
    assert record.rules.status is Status.REPLIED and record.light(world.clock()).value == "blue"
    assert (await jobs.get(f"{REMIND}:{pid}:0")).state == "cancelled"  # type: ignore[union-attr]
    assert (await jobs.get(f"{AUTOCLOSE}:{pid}:0")).due_at == record.rules.replied_at + timedelta(  # type: ignore
        days=REOPEN_DAYS)
    record = await world.service.rate(pid, Rating.NOT_SATISFIED)
    assert record.light(world.clock()).value == "green"
    world.clock.at += timedelta(days=1)
    record = await world.service.reopen(pid, "款项仍未到账")
    assert record.rules.status is Status.ASSIGNED and record.cycle == 1 and record.reply_text is None
    assert (await jobs.get(f"{AUTOCLOSE}:{pid}:0")).state == "cancelled"  # type: ignore[union-attr]
    assert (await jobs.get(f"{ESCALATE}:{pid}:1")).due_at == record.rules.due_at  # type: ignore[union-attr]
    with pytest.raises(Refused) as refused:
        await world.service.close(pid, actor_id=clerk)
    assert refused.value.code == "wrong_state"  # never closed without a (new) resolution
    await world.service.contact(pid, actor_id=judge, channel=ContactChannel.VIDEO, note="视频联系")
    await world.service.reply(pid, actor_id=judge, outcome=Outcome.EXPLAINED, resolution="已核实", reply_text="说明")
    with pytest.raises(Refused) as refused:
        await world.service.reopen(pid, "again")
    assert refused.value.code == "reopen_used"
    record = await world.service.close(pid, actor_id=clerk)
    assert record.rules.status is Status.CLOSED
    assert [e.kind for e in record.events] == ["filed", "triage", "reclassify", "contact", "reply", "rate", "reopen",
                                                "contact", "reply", "close"]
    assert record.events[2].details["reason"] == "多方当事人"
    assert await _actions(world, pid) == [f"petition.{e.kind}" for e in record.events]
    entries = [e for e in await world.audit.entries(limit=1000) if e.subject == f"petition:{pid}"]
    assert all("note" not in e.details and "reason" not in e.details for e in entries)  # notes stay out of the log
    assert (await world.audit.check()).broken is None
    assert await world.service.find_for_citizen(number, code) == pid


async def test_reminder_and_escalation_fire_once_with_two_schedulers(world: World) -> None:
    clerk = await world.account("clerk", StaffRole.CLERK)
    judge = await world.account("judge", StaffRole.JUDGE)
    boss = await world.account("boss", StaffRole.PRESIDING_JUDGE)
    pid, _, _ = await world.file(Category.SAFETY)  # urgent: due at the end of Tue Mar 3
    await world.service.triage(pid, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.JUDGE)
    one, two = world.scheduler("one"), world.scheduler("two")
    assert await one.run_due() + await two.run_due() == 0  # nothing due yet
    world.clock.at = datetime(2026, 3, 3, 0, 0, tzinfo=TZ).astimezone(UTC)  # the start of the last working day
    for _ in range(3):
        await asyncio.gather(one.run_due(), two.run_due())
    codes = [n.code for n in await world.inbox.list(staff_recipient(judge))]
    assert codes.count("petition.reminder") == 1
    assert await world.inbox.list(staff_recipient(boss)) == []
    world.clock.at = datetime(2026, 3, 4, 0, 0, tzinfo=TZ).astimezone(UTC)  # the deadline: overdue, 催办
    for _ in range(3):
        await asyncio.gather(one.run_due(), two.run_due())
    assert [n.code for n in await world.inbox.list(staff_recipient(boss))] == ["petition.overdue"]
    assert [n.code for n in await world.inbox.list(staff_recipient(judge))].count("petition.urged") == 1
    record = await world.service.get(pid)
    assert [e.kind for e in record.events].count("reminded") == 1
    assert [e.kind for e in record.events].count("escalated") == 1
    assert record.light(world.clock()).value == "red"
    assert (await world.audit.check()).broken is None


async def test_a_petition_answered_in_time_is_neither_escalated_and_closes_after_the_window(world: World) -> None:
    clerk = await world.account("clerk", StaffRole.CLERK)
    judge = await world.account("judge", StaffRole.MEDIATOR)
    boss = await world.account("boss", StaffRole.ADMIN)
    pid, _, _ = await world.file(Category.SAFETY)
    await world.service.triage(pid, actor_id=clerk, handler_id=judge, handler_kind=HandlerKind.MEDIATOR)
    await world.service.contact(pid, actor_id=judge, channel=ContactChannel.IN_PERSON, note="当面")
    await world.service.reply(pid, actor_id=judge, outcome=Outcome.RESOLVED, resolution="已处理", reply_text="好")
    jobs = world.scheduler("one")
    world.clock.at += timedelta(days=REOPEN_DAYS) - timedelta(minutes=1)
    await jobs.run_due()
    assert await world.inbox.list(staff_recipient(boss)) == []
    assert (await world.service.get(pid)).rules.status is Status.REPLIED
    world.clock.at += timedelta(minutes=2)
    assert await jobs.run_due() == 1
    record = await world.service.get(pid)
    assert record.rules.status is Status.CLOSED and record.events[-1].actor_role == "system"
    assert record.light(world.clock()).value == "green"


async def test_a_deadline_moved_after_its_escalation_is_watched_again(world: World) -> None:
    clerk = await world.account("clerk", StaffRole.CLERK)
    boss = await world.account("boss", StaffRole.PRESIDING_JUDGE)
    pid, _, _ = await world.file(Category.SAFETY)  # urgent: due at the end of Tue Mar 3
    jobs = world.scheduler("one")
    world.clock.at = datetime(2026, 3, 4, 0, 0, tzinfo=TZ).astimezone(UTC)
    while await jobs.run_due():
        pass
    assert [e.kind for e in (await world.service.get(pid)).events].count("escalated") == 1
    record = await world.service.reclassify(pid, actor_id=clerk, klass=PetitionClass.COMPLEX, reason="需要多部门协调")
    assert record.rules.due_at == datetime(2026, 3, 10, tzinfo=TZ) and record.light(world.clock()).value == "grey"
    world.clock.at = datetime(2026, 3, 10, 0, 0, tzinfo=TZ).astimezone(UTC)
    while await jobs.run_due():
        pass
    assert [e.kind for e in (await world.service.get(pid)).events].count("escalated") == 2
    codes = [n.code for n in await world.inbox.list(staff_recipient(boss))]  # unassigned: reminders go to them too
    assert codes.count("petition.overdue") == 2 and codes.count("petition.reminder") == 2


async def test_photos_of_a_refused_filing_do_not_stay_in_the_store(world: World, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", url_base="http://127.0.0.1", signing_key=b"s" * 32)
    world.service.objects = store
    with pytest.raises(Refused) as refused:
        await world.file(photos=[Photo("a.png", PNG)], clip_ids=["not-a-clip"])
    assert refused.value.code == "clip_unknown"
    assert await store.list("petitions/") == []
    pid, _, _ = await world.file(photos=[Photo("a.png", PNG)])
    [photo] = (await world.service.get(pid)).attachments
    assert photo.media_type == "image/png" and await store.get(photo.object_key) == PNG


async def test_a_petition_from_a_call_names_a_call_of_the_register_and_of_its_station(world: World) -> None:
    """A connect-a-judge call turned into a petition: the call must exist, and belong to the station named."""
    from docket.court import NewStation, VerificationMethod
    from stations.store_sql import SqlStations
    from stations.vocab import CallState
    from stations.vocab import Category as Topic

    here = await world.court.create_station(NewStation("village", "石桥村工作站", "石桥镇"))
    other = await world.court.create_station(NewStation("village", "河口村工作站", "河口镇"))
    call = await SqlStations(world.court.engine, world.court.url).create_call(
        court_code="main", station_id=here.id, requested_by="operator", actor_role="staff", caller_name="张三",
        verification_method=VerificationMethod.ID_CARD_AT_STATION.value, category=Topic.LEGAL_ADVICE.value,
        summary="工资被拖欠", state=CallState.WAITING, reason=None, now=world.clock())
    pid, _, _ = await world.file(station_id=here.id, source_call_id=call.id)
    assert (await world.service.get(pid)).source_call_id == call.id
    for kwargs in ({"source_call_id": "no-such-call"}, {"station_id": other.id, "source_call_id": call.id}):
        with pytest.raises(Refused) as refused:
            await world.file(**kwargs)
        assert refused.value.code == "source_call_unknown" and refused.value.status == 404
