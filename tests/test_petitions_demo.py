"""The demo petitions (`hearing demo`): every light on the board, real codes, staff who can log in; safe to run
twice; the overdue one is escalated by the scheduler."""

from __future__ import annotations

import pytest

from docket.court_sql import SqlCourtRecords
from docket.jobs import JobScheduler
from docket.notifications import SqlInbox, staff_recipient
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from petitions.demo import seed_demo_petitions
from petitions.service import PetitionService


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)
async def test_demo_petitions_show_every_light_once(court: SqlCourtRecords) -> None:
    service = PetitionService(court.engine, court.url, code_key=b"k" * 32)
    auth = StaffAuth(SqlStaffStore(court.engine), court.audit, hasher=cheap_hasher())
    demo = await seed_demo_petitions(service, auth.create_account, "main")
    assert demo.staff_password is not None
    now = service.clock()
    lights = {}
    for p in demo.petitions:
        lights[p.number] = (await service.get(await service.find_for_citizen(p.number, p.status_code))).light(now)
    assert sorted(v.value for v in lights.values()) == sorted(p.state for p in demo.petitions)
    assert {p.state for p in demo.petitions} == {"grey", "blue", "green", "red"}
    token, principal = await auth.login("demo-supervisor", demo.staff_password)
    assert token and "presiding_judge" in {r.value for r in principal.roles}
    again = await seed_demo_petitions(service, auth.create_account, "main")
    assert again.petitions == () and again.staff_password is None
    jobs = JobScheduler(court.engine, court.url)
    for kind, handler in service.job_handlers().items():
        jobs.register(kind, handler)
    while await jobs.run_due():
        pass
    codes = [n.code for n in await SqlInbox(court.engine, court.url).list(staff_recipient(principal.id))]
    assert codes == ["petition.overdue"]
    assert (await court.audit.check()).broken is None
