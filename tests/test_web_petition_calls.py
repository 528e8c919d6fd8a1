"""The handler's recorded video call with the citizen in real Chromium (fake cameras): the handler starts it from the
staff petitions page, the citizen's petition page shows the invitation and joins, both decode each other's video
through the SFU with the recording light on; the handler ends it, the petition's history has the call and the
contact, the staff page verifies the stored recording, and the stored manifest verifies. Screenshots at 1280x720
(handler) and 1024x600 (citizen) go to test-artifacts/."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Frame, Page

from docket.notifications import LoggingSms
from recordings.manifest import verify_store
from tests.browser import ARTIFACTS, STATION, chromium, frames, fresh_context, wait_state
from tests.conftest import until
from tests.live import live_server
from tests.test_web_petitions import DESKTOP, account, staff_login

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
WAIT = 30_000


async def call_frame(page: Page, selector: str) -> Frame:
    handle = await page.wait_for_selector(selector, state="attached")
    frame = await handle.content_frame()
    assert frame is not None
    await frame.wait_for_url("**/join**", timeout=WAIT)
    return frame


async def test_handler_and_citizen_meet_on_recorded_video_and_the_recording_verifies(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    sms = LoggingSms()
    async with live_server(tmp_path, sms=sms) as server, httpx.AsyncClient(base_url=server.base, timeout=30) as http, \
            chromium() as browser:
        judge_id, _ = await account(server, http, "judge", "李法官", "judge")
        _, clerk = await account(server, http, "clerk", "书记员", "clerk")
        session = (await http.post("/api/petitions/filing-sessions")).json()["token"]
        filed = await http.post("/api/petitions", headers={"X-Petition-Filing": session}, json={
            "category": "enforcement", "description": "执行款三个月没有到账", "contact_name": "王五",
            "contact_phone": "13900001111"})
        assert filed.status_code == 201, filed.text
        number, access = filed.json()["number"], filed.json()["access"]
        queue = (await http.get("/api/petitions/queue", headers={"Authorization": f"Bearer {clerk}"})).json()
        petition_id = queue[0]["id"]
        r = await http.post(f"/api/petitions/{petition_id}/triage", headers={"Authorization": f"Bearer {clerk}"},
                            json={"handler_id": judge_id, "handler_kind": "judge"})
        assert r.status_code == 200, r.text

        async with fresh_context(browser, DESKTOP) as jctx, fresh_context(browser, STATION) as cctx:
            errors: list[str] = []
            judge = await jctx.new_page()
            judge.on("pageerror", lambda e: errors.append(str(e)))
            await judge.goto(f"{server.base}/petitions/staff")
            await judge.wait_for_selector("#login-view:visible", timeout=WAIT)
            await staff_login(judge, "judge")
            await judge.click(f"#queue-table button[data-number='{number}']")
            await judge.wait_for_selector("#call-start:visible", timeout=WAIT)
            assert await judge.text_content("#call-start") == "发起视频通话"
            await judge.click("#call-start")
            jframe = await call_frame(judge, "#call-frame")
            await wait_state(jframe, "connected")  # type: ignore[arg-type]

            citizen = await cctx.new_page()
            citizen.on("pageerror", lambda e: errors.append(str(e)))
            await citizen.goto(f"{server.base}/petitions#access={access}")
            await citizen.wait_for_selector("#st-call-join:visible", timeout=WAIT)  # the page saw the invitation
            assert "全程录像" in (await citizen.text_content("#st-call") or "")
            await citizen.click("#st-call-join")
            cframe = await call_frame(citizen, "#st-call-frame")
            await wait_state(cframe, "connected")  # type: ignore[arg-type]

            await until(lambda: frames(jframe, "petitioner"), what="the handler to see the citizen")  # type: ignore[arg-type]
            await until(lambda: frames(cframe, "handler"), what="the citizen to see the handler")  # type: ignore[arg-type]
            await cframe.wait_for_selector('#room-banner[data-recording="true"]', timeout=WAIT)  # the light
            await jframe.wait_for_selector('#room-banner[data-recording="true"]', timeout=WAIT)
            for f in (cframe, jframe):  # a call: no exhibits or transcript panels, its own Chinese banner
                assert await f.is_hidden("#exhibits-toggle") and await f.is_hidden("#transcript-toggle")
                banner = await f.text_content("#room-banner") or ""
                assert "视频接访" in banner and "通话中" in banner and "live" not in banner
            seen = await frames(cframe, "handler")  # type: ignore[arg-type]
            await cframe.wait_for_function(  # frames keep coming while recorded
                "([n]) => { const v = document.querySelector('video[data-participant-id][data-role=\"handler\"]');"
                " return v && window.hearing.framesOf(v.dataset.participantId) > n + 60; }", arg=[seen], timeout=WAIT)
            recorder = server.services.recorder
            assert recorder is not None
            live = [r for r in recorder.sessions if r.startswith("petition-call-")]
            assert len(live) == 1  # one recorded petition call
            room = live[0]
            await until(lambda: len(recorder.sessions[room].tracks) >= 4, what="four tracks recorded")
            await judge.wait_for_function("document.querySelector('#call-status').textContent.includes('群众已加入')",
                                          timeout=WAIT)
            await judge.screenshot(path=str(ARTIFACTS / "petitions-call-handler-1280x720.png"))
            await citizen.screenshot(path=str(ARTIFACTS / "petitions-call-citizen-1024x600.png"))
            await judge.set_viewport_size(STATION)
            await judge.screenshot(path=str(ARTIFACTS / "petitions-call-handler-1024x600.png"))

            await judge.fill("#call-note", "视频中说明了执行进度")
            await judge.click("#call-end")
            await judge.wait_for_selector("#call-list li button.verify", timeout=WAIT)
            assert await judge.is_hidden("#call-live")
            await citizen.wait_for_selector("#st-call", state="hidden", timeout=WAIT)
            await until(lambda: room not in recorder.sessions, what="the recording to stop")
            await asyncio.wait_for(recorder.spool.drain(), 60)
            await judge.click("#call-list li button.verify")
            await judge.wait_for_selector('#call-list .verdict[data-verified="true"]', timeout=WAIT)
            history = await judge.text_content("#d-history") or ""
            assert "发起视频通话" in history and "视频通话结束" in history and "视频中说明了执行进度" in history
            await judge.screenshot(path=str(ARTIFACTS / "petitions-call-ended-1024x600.png"))

            call_id = room.removeprefix("petition-call-")
            entries, broken = await verify_store(server.services.objects, call_id)
            assert broken is None, broken
            assert entries[0].type == "start" and entries[-1].type == "stop"
            assert sum(e.type == "segment" for e in entries) >= 4
            assert {m.code for m in sms.sent} >= {"petition.accepted", "petition.call_invited"}
            assert errors == []
