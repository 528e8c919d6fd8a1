"""The petitions' remaining pieces over real HTTP and WebSocket on a live server, on SQLite and PostgreSQL: the
handler's recorded video call with the citizen (start, the citizen's invitation by SMS and their link, joining the
call room, the end attached to the history as a contact, the stored recording verified), the daily filing limit and
the citizen's SMS notifications through the one notifier. The SMS gateway is the only fake (none can run here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from docket.notifications import LoggingSms
from hearing.staff_auth import cheap_hasher
from tests.conftest import until
from tests.live import LiveServer, live_server

PASSWORD = "correct horse battery"
PHONE = "13900001111"


@dataclass
class Env:
    server: LiveServer
    http: httpx.AsyncClient
    sms: LoggingSms
    staff: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff[username]}"}

    async def session(self) -> str:
        return str((await self.http.post("/api/petitions/filing-sessions")).json()["token"])

    async def file(self, session: str | None = None, phone: str = PHONE) -> httpx.Response:
        return await self.http.post("/api/petitions", headers={"X-Petition-Filing": session or await self.session()},
                                    json={"category": "enforcement", "description": "执行款三个月没有到账",
                                          "contact_name": "王五", "contact_phone": phone})

    async def sms_sent(self, *codes: str, phone: str = PHONE) -> None:
        """Wait until exactly these SMS went to `phone` (the scheduler's jobs send them after the commit)."""
        jobs = self.server.services.jobs
        assert jobs is not None

        async def sent() -> bool:
            await jobs.run_due()  # this instance's scheduler would also run them on its own
            return sorted(m.code for m in self.sms.sent if m.phone == phone) == sorted(codes)

        await until(sent, what=f"SMS {codes} to the citizen; sent: {[m.code for m in self.sms.sent]}")


@pytest.fixture
async def env(tmp_path: Path, court_url: str) -> AsyncIterator[Env]:
    sms = LoggingSms()
    async with live_server(tmp_path, sms=sms, database_url=court_url) as server:
        assert server.app is not None
        auth = server.app.state.staff_auth
        auth.hasher = cheap_hasher()
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            e = Env(server, http, sms)
            for username, role in (("clerk", "clerk"), ("judge", "judge"), ("other", "judge")):
                e.ids[username] = (await auth.create_account(username, f"{username} 法官", [role], PASSWORD)).id
                r = await http.post("/api/login", json={"username": username, "password": PASSWORD})
                e.staff[username] = r.json()["token"]
            http.cookies.clear()
            yield e


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    return body


async def _actions(env: Env, prefix: str) -> list[str]:
    return [e.action for e in await env.server.services.audit.entries(limit=1000) if e.action.startswith(prefix)]


async def test_the_handler_calls_the_citizen_on_video_recorded_and_attached_to_the_petition(env: Env) -> None:
    filed = await env.file()
    assert filed.status_code == 201, filed.text
    citizen = {"X-Petition-Access": filed.json()["access"]}
    petition_id = (await env.http.get("/api/petitions/queue", headers=env.as_("clerk"))).json()[0]["id"]
    await env.sms_sent("petition.accepted")  # filed: the citizen is told its number by SMS
    r = await env.http.post(f"/api/petitions/{petition_id}/calls", headers=env.as_("judge"))
    _error(r, 403, "not_your_petition")  # not assigned to anyone yet
    r = await env.http.post(f"/api/petitions/{petition_id}/triage", headers=env.as_("clerk"),
                            json={"handler_id": env.ids["judge"], "handler_kind": "judge"})
    assert r.status_code == 200, r.text
    assert r.json()["may_call"] is True and r.json()["calls"] == []
    _error(await env.http.post("/api/petitions/mine/call", headers=citizen), 409, "petition_call_none")
    _error(await env.http.post(f"/api/petitions/{petition_id}/calls", headers=env.as_("other")), 403,
           "not_your_petition")

    r = await env.http.post(f"/api/petitions/{petition_id}/calls", headers=env.as_("judge"))
    assert r.status_code == 201, r.text
    call, handler_link = r.json()["call"], r.json()["link"]
    assert call["state"] == "live" and call["recorded"] is True
    room = f"petition-call-{call['id']}"
    recorder = env.server.services.recorder
    assert recorder is not None and recorder.is_recording(room)  # recorded from the start
    again = await env.http.post(f"/api/petitions/{petition_id}/calls", headers=env.as_("judge"))
    assert again.json()["call"]["id"] == call["id"]  # one live call per petition: starting again rejoins it
    await env.sms_sent("petition.accepted", "petition.call_invited")
    me = (await env.http.get("/api/petitions/mine", headers=citizen)).json()
    assert me["call_waiting"] is True

    r = await env.http.post("/api/petitions/mine/call", headers=citizen)
    assert r.status_code == 200, r.text
    citizen_token = r.json()["link"].split("#token=", 1)[1]
    claims = jwt.decode(citizen_token, options={"verify_signature": False})
    assert claims["room"] == room and claims["role"] == "petitioner" and "moderate" not in claims["grants"]
    handler = await env.server.client(room, handler_link.split("#token=", 1)[1])
    person = await env.server.client(room, citizen_token)
    try:
        for c in (handler, person):
            await c.expect("joined")
            state = await c.expect("room-state")
            assert state["kind"] == "petition_call" and state["state"] == "in_call"
            assert state["recording"] is True  # everyone sees the light
        await person.send({"type": "recording", "on": False})  # the citizen cannot switch it off
        refused = await person.expect("error")
        assert refused["code"] == "forbidden"  # no moderate grant: the hub refuses before the rules
        await handler.send({"type": "recording", "on": False})  # nor the handler: the call is evidence
        assert (await handler.expect("error"))["reason"] == "call_recording_fixed"
        await until(lambda: _joined(env, petition_id), what="the citizen's join to be noted")

        r = await env.http.post(f"/api/petitions/{petition_id}/calls/{call['id']}/end", headers=env.as_("judge"),
                                json={"note": "视频中说明了执行进度"})
        assert r.status_code == 200, r.text
        await person.wait_closed()
    finally:
        for c in (handler, person):
            if not c.closed.is_set():
                await c.close()
    ended = r.json()
    assert ended["call"]["state"] == "ended" and ended["call"]["citizen_joined_at"]
    petition = ended["petition"]
    assert petition["status"] == "contacted" and petition["first_contact_at"]  # a joined call is the contact
    kinds = [e["kind"] for e in petition["events"]]
    assert kinds[-3:] == ["call_started", "call_ended", "contact"]
    assert petition["events"][-2]["details"]["recording"] == call["id"]
    assert not recorder.is_recording(room)
    _error(await env.http.post(f"/api/petitions/{petition_id}/calls/{call['id']}/end", headers=env.as_("judge"),
                               json={}), 409, "petition_call_over")
    _error(await env.http.post("/api/petitions/mine/call", headers=citizen), 409, "petition_call_none")

    await asyncio.wait_for(recorder.spool.drain(), 60)
    r = await env.http.get(f"/api/petitions/{petition_id}/calls/{call['id']}/recording", headers=env.as_("judge"))
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["verified"] is True and rec["complete"] is True and rec["broken"] is None
    assert await _actions(env, "petition.call") == ["petition.call_started", "petition.call_recording",
                                                     "petition.call_link", "petition.call_joined",
                                                     "petition.call_ended", "petition.call_recording_viewed"]


async def _joined(env: Env, petition_id: str) -> bool:
    calls = env.server.app.state.petition_calls  # type: ignore[union-attr]
    return any(c.citizen_joined_at for c in await calls.calls_of(petition_id))


async def test_a_call_needs_an_assigned_open_petition_and_its_recording(env: Env) -> None:
    filed = await env.file()
    petition_id = (await env.http.get("/api/petitions/queue", headers=env.as_("clerk"))).json()[0]["id"]
    await env.http.post(f"/api/petitions/{petition_id}/triage", headers=env.as_("clerk"),
                        json={"handler_id": env.ids["judge"], "handler_kind": "judge"})
    await env.http.post(f"/api/petitions/{petition_id}/contacts", headers=env.as_("judge"),
                        json={"channel": "phone", "note": "电话联系"})
    r = await env.http.post(f"/api/petitions/{petition_id}/reply", headers=env.as_("judge"),
                            json={"outcome": "resolved", "resolution": "已到账", "reply_text": "执行款已发放"})
    assert r.status_code == 200, r.text
    assert r.json()["may_call"] is False
    body = _error(await env.http.post(f"/api/petitions/{petition_id}/calls", headers=env.as_("judge")), 409,
                  "petition_call_state")
    assert body["state"] == "replied"
    _error(await env.http.get(f"/api/petitions/{petition_id}/calls/nope/recording", headers=env.as_("judge")), 404,
           "petition_call_unknown")
    assert filed.status_code == 201
    await env.sms_sent("petition.accepted", "petition.answered")


async def test_the_daily_filing_limit_per_session_and_per_phone(env: Env) -> None:
    session = await env.session()
    for _ in range(3):
        assert (await env.file(session)).status_code == 201
    body = _error(await env.file(session), 429, "filing_limit")  # the session's fourth today
    assert body["scope"] == "session" and body["limit"] == 3 and body["retry_at"].endswith("+08:00")
    for _ in range(2):  # other sessions, same phone: the person's limit is 5
        assert (await env.file()).status_code == 201
    body = _error(await env.file(), 429, "filing_limit")
    assert body["scope"] == "phone" and body["limit"] == 5
    assert (await env.file(phone="13700000000")).status_code == 201  # another person files on
    queue = (await env.http.get("/api/petitions/queue", headers=env.as_("clerk"))).json()
    assert len(queue) == 6  # the refused filings stored nothing
    await env.sms_sent(*["petition.accepted"] * 5)  # one SMS per petition filed, none for the refusals
