"""The petition jobs in the running app (uvicorn, lifespan on): the scheduler the app starts has the petition
handlers, so a reminder that comes due reaches the handler's inbox without anything else running."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from docket.jobs import reschedule_in
from docket.notifications import staff_recipient
from docket.staff_sql import SqlStaffStore
from docket.transactions import transaction
from hearing.staff_auth import StaffAuth, cheap_hasher
from petitions.service import REMIND
from tests.conftest import until
from tests.live import live_server

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery"


async def test_a_due_reminder_fires_in_the_running_app(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False, JOBS_POLL_SECONDS=0.2) as server, \
            httpx.AsyncClient(base_url=server.base) as http:
        s = server.services
        assert s.jobs is not None and s.inbox is not None
        auth = StaffAuth(SqlStaffStore(s.court.engine), s.audit, hasher=cheap_hasher())
        judge = (await auth.create_account("judge", "李法官", ["judge"], PASSWORD)).id
        await auth.create_account("clerk", "王书记员", ["clerk"], PASSWORD)
        clerk = (await http.post("/api/login", json={"username": "clerk", "password": PASSWORD})).json()["token"]
        http.cookies.clear()
        session = (await http.post("/api/petitions/filing-sessions")).json()["token"]
        r = await http.post("/api/petitions", headers={"X-Petition-Filing": session}, json={
            "category": "safety", "description": "紧急", "contact_name": "张三", "contact_phone": "13800000000"})
        assert r.status_code == 201, r.text
        staff = {"Authorization": f"Bearer {clerk}"}
        [row] = (await http.get("/api/petitions/queue", headers=staff)).json()
        r = await http.post(f"/api/petitions/{row['id']}/triage", headers=staff,
                            json={"handler_id": judge, "handler_kind": "judge"})
        assert r.status_code == 200, r.text
        # Time passes: the reminder (due at the start of the last working day) comes due now.
        async with transaction(s.court.engine, s.court.url, "moving a job", write=True) as conn:
            assert await reschedule_in(conn, f"{REMIND}:{row['id']}:0", datetime.now(UTC))
        s.jobs.wake()

        async def reminded() -> bool:
            return "petition.reminder" in [n.code for n in await s.inbox.list(staff_recipient(judge))]

        await until(reminded, what="the reminder in the judge's inbox")
        job = await s.jobs.get(f"{REMIND}:{row['id']}:0")
        assert job is not None and job.state == "done"
