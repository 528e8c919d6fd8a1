"""The in-app inbox on SQLite and PostgreSQL, and the SMS adapter point's test fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from docket.migrate import upgrade
from docket.notifications import (
    LoggingSms,
    SmsGateway,
    SmsMessage,
    SqlInbox,
    person_recipient,
    staff_recipient,
)
from docket.sql import make_engine


@pytest.fixture
async def engine(court_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(court_url)
    e = make_engine(court_url)
    try:
        yield e
    finally:
        await e.dispose()


async def test_codes_and_parameters_per_recipient_newest_first(engine: AsyncEngine, court_url: str) -> None:
    inbox = SqlInbox(engine, court_url)
    judge, citizen = staff_recipient("j1"), person_recipient("p1")
    first = await inbox.notify(judge, "petition.assigned", {"petition_no": "2026-000001"}, subject="petition:a")
    second = await inbox.notify(judge, "petition.reminder", {"petition_no": "2026-000001", "workdays_left": 1})
    await inbox.notify(citizen, "petition.answered", {"petition_no": "2026-000001"})
    listed = await inbox.list(judge)
    assert [n.id for n in listed] == [second, first]
    assert listed[0].params == {"petition_no": "2026-000001", "workdays_left": 1}
    assert listed[1].as_json()["subject"] == "petition:a" and listed[1].as_json()["read"] is False
    assert [n.code for n in await inbox.list(citizen)] == ["petition.answered"]
    assert await inbox.unread_count(judge) == 2


async def test_mark_read_touches_only_the_recipients_own(engine: AsyncEngine, court_url: str) -> None:
    inbox = SqlInbox(engine, court_url)
    mine = await inbox.notify(staff_recipient("j1"), "petition.reminder", {})
    theirs = await inbox.notify(staff_recipient("j2"), "petition.reminder", {})
    assert await inbox.mark_read(staff_recipient("j1"), [mine, theirs]) == 1
    assert await inbox.unread_count(staff_recipient("j2")) == 1
    assert await inbox.mark_read(staff_recipient("j1"), [mine]) == 0  # already read
    assert [n.id for n in await inbox.list(staff_recipient("j1"), unread_only=True)] == []
    await inbox.notify(staff_recipient("j1"), "petition.overdue", {})
    await inbox.notify(staff_recipient("j1"), "petition.overdue", {"again": True})
    assert await inbox.mark_read(staff_recipient("j1")) == 2
    assert await inbox.mark_read(staff_recipient("j1"), []) == 0


async def test_an_idempotency_key_makes_one_notification(engine: AsyncEngine, court_url: str) -> None:
    inbox = SqlInbox(engine, court_url)
    a = await inbox.notify(staff_recipient("s1"), "petition.escalated", {"petition_no": "x"}, idempotency_key="esc:x")
    b = await inbox.notify(staff_recipient("s1"), "petition.escalated", {"petition_no": "x"}, idempotency_key="esc:x")
    assert a == b and len(await inbox.list(staff_recipient("s1"))) == 1


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("recipient", "code", "params"), [
    ("judge-1", "petition.reminder", {}),  # not staff:/person:
    ("staff:j1", "Your petition is due tomorrow", {}),  # a sentence, not a code
    ("staff:j1", "petition.reminder", {"when": 1.5}),  # floats print differently across languages
    ("staff:j1", "petition.reminder", {"text": "x" * 3000}),
])
async def test_sentences_and_bad_recipients_are_refused(engine: AsyncEngine, court_url: str, recipient: str,
                                                        code: str, params: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        await SqlInbox(engine, court_url).notify(recipient, code, params)


async def test_the_sms_fake_satisfies_the_adapter_point_and_dedupes() -> None:
    sms = LoggingSms()
    assert isinstance(sms, SmsGateway)
    message = SmsMessage("13800001234", "petition.answered", {"petition_no": "2026-000001"}, "n1")
    await sms.send(message)
    await sms.send(message)  # a retried job
    assert sms.sent == [message]


class FlakyGateway(LoggingSms):
    """Fails its first call, as a gateway that is briefly down."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def send(self, message: SmsMessage) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("gateway unreachable")
        await super().send(message)


async def test_an_sms_goes_out_once_through_a_job_retried_after_a_gateway_failure(
        engine: AsyncEngine, court_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.ext.asyncio import AsyncConnection

    from docket.jobs import JobScheduler
    from docket.notifications import SMS_KIND, notify_in, sms_handler
    from docket.transactions import transaction

    phones = {"person:p1": "13800001234"}

    async def phone_of(recipient: str, conn: AsyncConnection) -> str | None:
        return phones.get(recipient)

    now = [datetime(2026, 12, 7, 9, tzinfo=UTC)]
    jobs = JobScheduler(engine, court_url, clock=lambda: now[0])
    gateway = FlakyGateway()
    jobs.register(SMS_KIND, sms_handler(gateway, phone_of))
    async with transaction(engine, jobs._url, "answering", write=True) as conn:
        nid = await notify_in(conn, person_recipient("p1"), "petition.answered", {"petition_no": "2026-000001"},
                              sms=True, now=now[0])
        await notify_in(conn, person_recipient("p2"), "petition.answered", {}, sms=True, now=now[0])  # no phone
        await notify_in(conn, person_recipient("p1"), "petition.answered", {"petition_no": "2026-000001"},
                        sms=True, idempotency_key="answered:1", now=now[0])
        await notify_in(conn, person_recipient("p1"), "petition.answered", {"petition_no": "2026-000001"},
                        sms=True, idempotency_key="answered:1", now=now[0])  # the same notice again: one SMS
    assert await jobs.run_due() == 2  # p1's first fails once; p2 has no phone; the keyed one goes
    now[0] += timedelta(minutes=5)
    assert await jobs.run_due() == 1
    assert await jobs.run_due() == 0
    assert [(m.phone, m.code, m.params) for m in gateway.sent] == [("13800001234", "petition.answered",
                                                                    {"petition_no": "2026-000001"})] * 2
    assert nid in {m.idempotency_key for m in gateway.sent} and len({m.idempotency_key for m in gateway.sent}) == 2
    sms_jobs = await jobs.list(kind=SMS_KIND)
    assert sorted(j.attempts for j in sms_jobs) == [1, 1, 2] and {j.state for j in sms_jobs} == {"done"}
    assert all("13800001234" not in json.dumps(j.payload) for j in sms_jobs)  # ids and codes, never the number
