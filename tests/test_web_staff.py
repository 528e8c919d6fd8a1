"""The court staff's pages (/staff) in real Chromium against a live server: login (wrong password, then right),
register a person, open a case, schedule a trial with the logged-in judge-clerk presiding, add the plaintiff (and see
the API's 422 for a role the hearing does not admit), issue the plaintiff's join link, make a procedure move, find the
hearing in the list, read the statistics; a lost session brings the login form back."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page

from docket.court import NewPerson
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context
from tests.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"


async def staff_account(server: LiveServer, username: str, roles: str) -> str:
    """A staff account with its own register person (a judge must be one to sit on a panel); returns the person id.
    Created through StaffAuth on the server's database, with the cheap test hasher (logins then verify fast)."""
    services = server.services
    person = await services.court.create_person(NewPerson(f"{username} 法官"))
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    auth.hasher = cheap_hasher()
    await auth.create_account(username, "李审判长", roles.split(","), PASSWORD, person_id=person.id)
    return person.id


async def view(page: Page, name: str) -> None:
    await page.wait_for_function("v => document.body.dataset.view === v", arg=name, timeout=WAIT_MS)


async def test_staff_pages_login_schedule_link_list_and_stats(tmp_path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server:
        me = await staff_account(server, "li", "clerk,presiding_judge")
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{server.base}/staff")
            assert r.status_code == 200 and "no-store" in r.headers["cache-control"]
        async with chromium() as browser, fresh_context(browser) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            requests: list[str] = []
            page.on("request", lambda req: requests.append(req.url))
            try:
                await page.goto(f"{server.base}/staff")
                await view(page, "login")

                # a wrong password: the API's message is shown, the form stays
                await page.fill("#login-user", "li")
                await page.fill("#login-pass", "wrong password")
                await page.click("#login-submit")
                await page.wait_for_function(
                    "() => { const e = document.getElementById('login-error');"
                    " return e.textContent && !e.textContent.includes('…'); }", timeout=WAIT_MS)
                assert await page.evaluate("document.body.dataset.view") == "login"

                await page.fill("#login-pass", PASSWORD)
                await page.click("#login-submit")
                await view(page, "hearings")
                assert "李审判长" in await page.text_content("#whoami")
                petitions = page.locator("#nav-petitions")  # the way to the petitions desk (接诉即办)
                assert await petitions.is_visible() and await petitions.get_attribute("href") == "/petitions/staff"
                assert "接诉即办" in await petitions.inner_text()
                inbox = page.locator("#nav-async-inbox")  # the asynchronous trials' to-do list (异步审理待办)
                assert await inbox.is_visible() and await inbox.get_attribute("href") == "/async/inbox?as=staff"
                assert "异步审理待办" in await inbox.inner_text()
                async with httpx.AsyncClient() as http:
                    assert (await http.get(f"{server.base}/petitions/staff")).status_code == 200

                # register the plaintiff (ID number goes only in the POST body), open the case
                await page.click("[data-nav=create]")
                await view(page, "create")
                await page.fill("#person-name", "张原告")
                await page.fill("#person-doc", "11010519800103005X")
                await page.click("#person-form button[type=submit]")
                item = page.locator("#known-persons li", has_text="张原告")
                await item.wait_for(timeout=WAIT_MS)
                plaintiff = await item.get_attribute("data-person-id")
                await page.select_option(f"#side-{plaintiff}", "plaintiff")
                await page.fill("#case-number", "(2026)京0101民初7号")
                await page.fill("#case-cause", "合同纠纷")
                await page.click("#case-form button[type=submit]")
                await page.locator("#hearing-case option", has_text="(2026)京0101民初7号").wait_for(
                    state="attached", timeout=WAIT_MS)

                # a trial presided over by the logged-in account's person
                await page.select_option("#hearing-kind", "trial")
                await page.check(f"#panel-{me}")
                await page.click("#hearing-form button[type=submit]")
                await view(page, "detail")
                assert "(2026)京0101民初7号" in await page.text_content("#detail-h")
                await page.locator("#procedure-buttons [data-transition=open_lobby]").wait_for(timeout=WAIT_MS)

                # a role the hearing does not admit for this person: the API's 422 message is shown
                await page.select_option("#participant-person", plaintiff)
                await page.select_option("#participant-role", "judge")
                await page.click("#participant-form button[type=submit]")
                await page.wait_for_function("() => document.getElementById('participant-error').textContent.length",
                                             timeout=WAIT_MS)
                refusal = await page.text_content("#participant-error")
                assert "该角色不参加这类庭审" in refusal and "panel" not in refusal  # the code's words, not the API's

                await page.select_option("#participant-role", "plaintiff")
                await page.click("#participant-form button[type=submit]")
                row = page.locator("#participant-table tr[data-role=plaintiff]")
                await row.wait_for(timeout=WAIT_MS)
                assert "张原告" in await row.text_content()
                assert await row.get_attribute("data-status") == "waiting"

                # the plaintiff's join link, shown once
                await row.locator("button.issue-link").click()
                await page.wait_for_function(
                    "() => document.getElementById('link-url').value.includes('/join#token=')", timeout=WAIT_MS)
                link = await page.input_value("#link-url")
                assert link.startswith(server.base)
                # its short code and QR code, for the summons (issue 15, item 6)
                await page.locator("#link-summons").wait_for(state="visible", timeout=WAIT_MS)
                code = await page.text_content("#summons-code")
                assert len(code) == 11 and code[5] == "-"
                assert await page.locator("#summons-qr svg").count() == 1
                assert f"{server.base}/c" in await page.text_content("#summons-how")
                ARTIFACTS.mkdir(exist_ok=True)
                for size in ({"width": 1280, "height": 720}, {"width": 1024, "height": 600}):
                    await page.set_viewport_size(size)
                    await page.locator("#link-summons").scroll_into_view_if_needed()
                    await page.screenshot(path=str(ARTIFACTS / f"staff-summons-{size['width']}x{size['height']}.png"))
                await page.set_viewport_size({"width": 1280, "height": 720})

                # the presiding judge's own seat: its link comes from their own login (and is listed as theirs)
                async with page.expect_popup() as popup_info:
                    await page.click("#open-room")
                popup = await popup_info.value
                assert popup.url.startswith(f"{server.base}/join")
                await popup.close()
                await page.wait_for_function(
                    "() => document.getElementById('link-url').value.includes('/join#token=')", timeout=WAIT_MS)
                seat = page.locator("#participant-table tr[data-role=presiding_judge]")
                await seat.wait_for(timeout=WAIT_MS)
                # nobody issues a staff seat's link for its holder, not even a clerk: the page says why, in Chinese
                assert "本人登录后获取" in await seat.text_content()
                assert await seat.locator("button.issue-link").count() == 0
                assert "任何人不能代为生成" in await seat.locator(".staff-seat").get_attribute("title")

                # procedure moves the API says are open to the presiding judge: lobby, session, close
                for move, state in (("open_lobby", "lobby_open"), ("start_session", "in_session"), ("close", "closed")):
                    await page.click(f"#procedure-buttons [data-transition={move}]")
                    await page.wait_for_function(
                        "s => document.getElementById('detail-view').dataset.state === s", arg=state, timeout=WAIT_MS)

                # the hearing in the list; the link is gone once the detail view is left
                await page.click("[data-nav=hearings]")
                await view(page, "hearings")
                listed = page.locator("#hearing-table tbody tr", has_text="(2026)京0101民初7号")
                await listed.wait_for(timeout=WAIT_MS)
                assert await listed.get_attribute("data-state") == "closed"
                assert "闭庭" in await listed.text_content()
                assert await page.input_value("#link-url") == ""

                # the statistics table, one row per kind
                await page.click("[data-nav=dashboard]")
                await view(page, "dashboard")
                await page.locator("#stats-table tbody tr[data-kind=trial]").wait_for(timeout=WAIT_MS)
                assert await page.locator("#stats-table tbody tr").count() == 6
                held = page.locator("#stats-table tbody tr[data-kind=trial] td .num").first
                assert await held.text_content() == "1"
                await page.fill("#stats-since", "2020-01-01")
                await page.fill("#stats-until", "2099-12-31")
                await page.click("#stats-form button[type=submit]")
                await page.wait_for_function(
                    "() => document.getElementById('stats-range').textContent.includes('2020')", timeout=WAIT_MS)

                # English
                await page.click("#lang")
                await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=WAIT_MS)
                assert "Trial" in await page.text_content("#stats-table tbody tr[data-kind=trial]")

                # nothing secret in storage or URLs
                stored = await page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
                assert "token" not in stored and "005X" not in stored
                assert not [u for u in requests if "token=" in u or "005X" in u or "11010519800103005X" in u]

                # the session ends (cookie gone): the next request's 401 brings back the login form
                await ctx.clear_cookies()
                await page.click("[data-nav=hearings]")
                await view(page, "login")
                assert errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_staff_failure.png"), full_page=True)
                raise


async def test_staff_detail_lists_a_recording_and_plays_a_track(tmp_path) -> None:
    """The detail view's recording section: tracks and verification status, and a track played segment after segment
    through the presigned URLs (a synthetic recording written as the recorder would, so no media stack is needed)."""
    from datetime import UTC, datetime, timedelta

    from docket.court import NewCase, NewHearing
    from tests.test_recording_export import synthetic_recording

    async with live_server(tmp_path, media_enabled=False) as server:
        me = await staff_account(server, "li", "clerk,presiding_judge")
        court = server.services.court
        case = await court.create_case(NewCase("(2026)京0101民初8号", "合同纠纷", []))
        start = datetime.now(UTC)
        hearing = await court.create_hearing(NewHearing(case.id, "trial", start, start + timedelta(hours=1),
                                                        panel=[me], state="closed"))
        await synthetic_recording(server.services.objects, hearing.id, tmp_path / "work",
                                  start_us=int(start.timestamp() * 1e6), pause=(2.0, 3.0), stop=5.0)
        async with chromium() as browser, fresh_context(browser) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            try:
                await page.goto(f"{server.base}/staff")
                await view(page, "login")
                await page.fill("#login-user", "li")
                await page.fill("#login-pass", PASSWORD)
                await page.click("#login-submit")
                await view(page, "hearings")
                await page.click(f"#hearing-table tr[data-hearing-id='{hearing.id}'] button.open-hearing")
                await view(page, "detail")
                rows = page.locator("#recording-tracks tbody tr")
                await rows.first.wait_for(timeout=WAIT_MS)
                assert await rows.count() == 4
                assert await page.get_attribute("#recording-status", "data-verified") == "true"
                assert await page.locator("#recording-pauses li").count() == 1
                await page.click("#recording-tracks tr[data-track-id='p-judge.video.0'] button.play-track")
                # the second segment starts only after the first ended: playback went segment after segment
                await page.wait_for_function(
                    "() => { const v = document.getElementById('recording-video');"
                    " return v.dataset.segment === '1' && v.currentTime > 0; }", timeout=WAIT_MS)
                assert errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_staff_recording_failure.png"), full_page=True)
                raise
