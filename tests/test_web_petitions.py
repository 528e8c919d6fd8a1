"""Video petitions in real Chromium (fake camera) against a live server.

A citizen at a 1024x600 station screen records a clip with MediaRecorder, it uploads through web/js/clip_upload.js
(the shared resumable upload), files the petition and gets its number and status code; the clerk assigns it; the
judge logs in on the staff page, sees it in the queue, opens it and plays the clip (frames decoded); contacts the
citizen and replies with a text and a recorded video answer; the citizen opens the status page with number + code,
sees the answer, plays the video answer and rates it; the
supervisor's board shows the light and the rates. Screenshots at 1024x600 and 1280x720 (and a phone) go to
test-artifacts/. Every wait is on a selector or a condition, never a sleep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.browser import ARTIFACTS, STATION, WAIT_MS, PageErrors, chromium, fresh_context
from tests.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}


async def account(server: LiveServer, http: httpx.AsyncClient, username: str, name: str, role: str) -> tuple[str, str]:
    """A staff account on the server's database (cheap test hasher): its id and a session token."""
    auth = StaffAuth(SqlStaffStore(server.services.court.engine), server.services.audit, hasher=cheap_hasher())
    made = await auth.create_account(username, name, [role], PASSWORD)
    r = await http.post(f"{server.base}/api/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    http.cookies.clear()
    return made.id, r.json()["token"]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"petitions-{name}.png"), full_page=False)


async def no_horizontal_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def staff_login(page: Page, username: str) -> None:
    await page.fill("#login-user", username)
    await page.fill("#login-pass", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)


async def test_record_upload_handle_play_and_rate(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server, httpx.AsyncClient() as http, chromium() as browser:
        _, clerk = await account(server, http, "clerk", "王书记员", "clerk")
        judge_id, _ = await account(server, http, "judge", "李法官", "judge")
        await account(server, http, "boss", "赵庭长", "presiding_judge")

        # ---- the citizen at a station screen records and files ------------------------------------------------
        async with fresh_context(browser, STATION) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            await page.goto(f"{server.base}/petitions")
            await page.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)
            assert await page.locator("#tab-file").inner_text() == "我要反映"  # Chinese first
            await page.set_viewport_size(DESKTOP)
            await shot(page, "citizen-form-1280x720")
            await page.set_viewport_size(STATION)
            await no_horizontal_scroll(page)
            await page.select_option("#category", "enforcement")
            await page.click("#rec-start")
            await page.wait_for_selector("#rec-stop:visible", timeout=WAIT_MS)
            await page.wait_for_function("/[2-9]|\\d\\d/.test(document.querySelector('#rec-status').textContent)",
                                         timeout=WAIT_MS)  # at least two seconds recorded
            await shot(page, "citizen-recording-1024x600")
            await page.click("#rec-stop")
            await page.wait_for_function("document.querySelector('#upload-status').textContent.includes('已上传')",
                                         timeout=WAIT_MS)
            await page.fill("#description", "执行款三个月没有到账")
            await page.fill("#contact-name", "王五")
            await page.fill("#contact-phone", "13900001111")
            await no_horizontal_scroll(page)
            await page.click("#submit")
            await page.wait_for_selector("#filed-view:visible", timeout=WAIT_MS)
            number = (await page.locator("#filed-number").inner_text()).strip()
            code = (await page.locator("#filed-code").inner_text()).strip()
            assert number.count("-") == 1 and len(code) == 12
            await shot(page, "citizen-filed-1024x600")
            assert errors.errors == []

        # ---- the clerk assigns it (API), the judge handles it on the staff page ---------------------------------
        staff = {"Authorization": f"Bearer {clerk}"}
        queue = (await http.get(f"{server.base}/api/petitions/queue", headers=staff)).json()
        [row] = [q for q in queue if q["number"] == number]
        r = await http.post(f"{server.base}/api/petitions/{row['id']}/triage", headers=staff,
                            json={"handler_id": judge_id, "handler_kind": "judge"})
        assert r.status_code == 200, r.text
        async with fresh_context(browser, DESKTOP) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            await page.goto(f"{server.base}/petitions/staff")
            await page.wait_for_selector("#login-view:visible", timeout=WAIT_MS)
            await staff_login(page, "judge")
            await page.wait_for_selector(f"#queue-table tr[data-number='{number}']", timeout=WAIT_MS)
            await page.wait_for_selector("#inbox li", timeout=WAIT_MS)
            assert "新分派" in await page.locator("#inbox").inner_text()
            await shot(page, "handler-queue-1280x720")
            await page.click(f"#queue-table button[data-number='{number}']")
            await page.wait_for_selector("#detail-view:visible", timeout=WAIT_MS)
            await page.click("#d-attachments button[data-kind='clip']")
            # the recorded clip plays: decoded frames from the stored object
            await page.wait_for_function(
                "(() => { const v = document.querySelector('#ps-player');"
                " return v && !v.hidden && v.videoWidth > 0 && v.currentTime > 0.3 &&"
                " v.getVideoPlaybackQuality().totalVideoFrames > 3; })()", timeout=WAIT_MS)
            await shot(page, "handler-detail-1280x720")
            await page.select_option("#k-channel", "phone")
            await page.fill("#k-note", "已电话联系，说明执行款发放时间")
            await page.click("#contact-form button[type=submit]")
            await page.wait_for_selector("#reply-form:visible", timeout=WAIT_MS)
            await page.select_option("#r-outcome", "resolved")
            await page.fill("#r-resolution", "执行款已发放")
            await page.fill("#r-text", "您的执行款已于今日发放，请查收。")
            await page.click("#r-rec-start")  # a recorded video answer too, through the same clip upload
            await page.wait_for_selector("#r-rec-stop:visible", timeout=WAIT_MS)
            await page.wait_for_function("/[2-9]|\\d\\d/.test(document.querySelector('#r-rec-status').textContent)",
                                         timeout=WAIT_MS)
            await page.click("#r-rec-stop")
            await page.wait_for_function("document.querySelector('#r-rec-status').textContent.includes('已上传')",
                                         timeout=WAIT_MS)
            await page.click("#reply-form button[type=submit]")
            await page.wait_for_function("document.querySelector('#d-status').textContent === '已答复'",
                                         timeout=WAIT_MS)
            await page.set_viewport_size(STATION)
            await no_horizontal_scroll(page)
            await shot(page, "handler-detail-1024x600")
            assert errors.errors == []

        # ---- the citizen checks with number + code on a phone and rates ----------------------------------------
        async with fresh_context(browser, PHONE) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            await page.goto(f"{server.base}/petitions")
            await page.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)
            await page.click("#tab-status")
            await page.fill("#lookup-number", number)
            await page.fill("#lookup-code", code.lower())
            await page.click("#lookup-form button[type=submit]")
            await page.wait_for_selector("#status-view:visible", timeout=WAIT_MS)
            assert "执行款已发放" in await page.locator("#st-resolution").inner_text()
            await page.click("#st-media button:has-text('法院的答复视频')")
            await page.wait_for_function(
                "(() => { const v = document.querySelector('#st-player');"
                " return v && !v.hidden && v.videoWidth > 0 && v.currentTime > 0.3; })()", timeout=WAIT_MS)
            await page.click("[data-rating='satisfied']")
            await page.wait_for_function("document.querySelector('#st-rated').textContent.includes('满意')",
                                         timeout=WAIT_MS)
            await no_horizontal_scroll(page)
            await shot(page, "citizen-status-phone")
            await page.click("#lang")  # the English toggle
            await page.wait_for_function("document.querySelector('#tab-status').textContent === 'Check my petition'",
                                         timeout=WAIT_MS)
            assert errors.errors == []

        # ---- the supervisor's board -----------------------------------------------------------------------------
        for viewport, name in ((DESKTOP, "1280x720"), (STATION, "1024x600")):
            async with fresh_context(browser, viewport) as ctx:
                page = await ctx.new_page()
                errors = PageErrors(page)
                await page.goto(f"{server.base}/petitions/staff#view=board")
                await page.wait_for_selector("#login-view:visible", timeout=WAIT_MS)
                await staff_login(page, "boss")
                await page.wait_for_selector(f"#board-table tr[data-number='{number}'] .light-green", timeout=WAIT_MS)
                rates: Any = await page.locator("#rates-table").inner_text()
                assert "100.0%" in rates
                await shot(page, f"board-{name}")
                assert errors.errors == []


async def test_a_clip_recorded_while_offline_uploads_when_the_link_is_back(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server, httpx.AsyncClient() as http, chromium() as browser:
        _, clerk = await account(server, http, "clerk", "王书记员", "clerk")
        async with fresh_context(browser, PHONE) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            await page.goto(f"{server.base}/petitions")
            await page.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)
            await page.select_option("#category", "filing")
            await page.click("#rec-start")
            await page.wait_for_function("sessionStorage.getItem('petition.filing')", timeout=WAIT_MS)
            await page.wait_for_function("/[2-9]|\\d\\d/.test(document.querySelector('#rec-status').textContent)",
                                         timeout=WAIT_MS)
            await ctx.set_offline(True)  # the village link drops while the citizen is recording
            await page.click("#rec-stop")
            await page.wait_for_function("document.querySelector('#upload-status').textContent.includes('续传')",
                                         timeout=WAIT_MS)
            await shot(page, "citizen-offline-phone")
            await ctx.set_offline(False)
            await page.wait_for_function("document.querySelector('#upload-status').textContent.includes('已上传')",
                                         timeout=WAIT_MS)
            await page.fill("#contact-name", "吴某")
            await page.fill("#contact-phone", "13500000000")
            await page.click("#submit")
            await page.wait_for_selector("#filed-view:visible", timeout=WAIT_MS)
            number = (await page.locator("#filed-number").inner_text()).strip()
            assert errors.errors == []
        staff = {"Authorization": f"Bearer {clerk}"}
        [row] = [q for q in (await http.get(f"{server.base}/api/petitions/queue", headers=staff)).json()
                 if q["number"] == number]
        view = (await http.get(f"{server.base}/api/petitions/{row['id']}", headers=staff)).json()
        assert [a["kind"] for a in view["attachments"]] == ["clip"]  # one clip, stored once
