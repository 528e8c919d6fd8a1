"""The staff page's tools in real Chromium against a live server (issue 15, item 4): a clerk schedules a hearing
picking the judges by name (the clerk is not offered, and the server refuses her as the panel), issues an integrity
and a points link for a party picked by name, an admin creates an agency and filters the audit log, and a mediator
starts and stops the recording of a mediation. Screenshots at 1024x600 and 1280x720 go to test-artifacts/; no text
on the page is a hex id."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page

from docket.audit import AuditQuery
from docket.court import NewCase, NewHearing, NewParticipant, NewPerson, Party, PartySide
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context
from tests.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PASSWORD = "correct horse battery"
SIZES = ({"width": 1024, "height": 600}, {"width": 1280, "height": 720})
HEX = re.compile(r"\b[0-9a-f]{16,}\b")


async def account(server: LiveServer, username: str, name: str, roles: str, *, person: bool = True) -> str | None:
    services = server.services
    person_id = (await services.court.create_person(NewPerson(name))).id if person else None
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit)
    auth.hasher = cheap_hasher()
    await auth.create_account(username, name, roles.split(","), PASSWORD, person_id=person_id)
    return person_id


async def view(page: Page, name: str) -> None:
    await page.wait_for_function("v => document.body.dataset.view === v", arg=name, timeout=WAIT_MS)


async def login(page: Page, base: str, username: str) -> None:
    await page.goto(f"{base}/staff")
    await view(page, "login")
    await page.fill("#login-user", username)
    await page.fill("#login-pass", PASSWORD)
    await page.click("#login-submit")
    await view(page, "hearings")


async def no_hex(page: Page) -> None:
    text = await page.evaluate("document.body.innerText")
    assert not HEX.findall(text), HEX.findall(text)


async def shots(page: Page, name: str, selector: str) -> None:
    """Both sizes; the element in view; nothing wider than the window."""
    ARTIFACTS.mkdir(exist_ok=True)
    for size in SIZES:
        await page.set_viewport_size(size)
        await page.locator(selector).scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / f"staff-{name}-{size['width']}x{size['height']}.png"))
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, size, overflow)
    await page.set_viewport_size(SIZES[1])


async def test_clerk_schedules_by_name_and_issues_links_admin_agency_and_audit(tmp_path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server:
        clerk = await account(server, "wang", "王书记员", "clerk")
        await account(server, "zhao", "赵审判长", "presiding_judge")
        qian = await account(server, "qian", "钱法官", "judge")
        await account(server, "admin", "系统管理员", "admin", person=False)
        async with chromium() as browser, fresh_context(browser) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            try:
                await login(page, server.base, "wang")
                assert await page.locator("[data-nav=audit]").is_hidden()  # admins only
                await page.click("[data-nav=create]")
                await view(page, "create")
                # the panel is picked from the court's judges, by name; the clerk is not among them
                panel = page.locator("#hearing-panel")
                await panel.locator("label", has_text="赵审判长").wait_for(timeout=WAIT_MS)
                assert "钱法官" in await panel.inner_text() and "王书记员" not in await panel.inner_text()

                await page.fill("#person-name", "张原告")
                await page.click("#person-form button[type=submit]")
                item = page.locator("#known-persons li", has_text="张原告")
                await item.wait_for(timeout=WAIT_MS)
                plaintiff = await item.get_attribute("data-person-id")
                await page.select_option(f"#side-{plaintiff}", "plaintiff")
                await page.fill("#case-number", "(2026)京0101民初15号")
                await page.fill("#case-cause", "借款合同纠纷")
                await page.click("#case-form button[type=submit]")
                await page.locator("#hearing-case option", has_text="(2026)京0101民初15号").wait_for(
                    state="attached", timeout=WAIT_MS)
                await page.select_option("#hearing-kind", "trial")
                await page.check(f"#panel-{qian}")  # ticked first: presides
                await page.locator("#hearing-panel label", has_text="赵审判长").click()
                assert "审判长" in await page.locator(f"label[for=panel-{qian}]").inner_text()
                await no_hex(page)
                await shots(page, "schedule", "#hearing-form")
                await page.click("#hearing-form button[type=submit]")
                await view(page, "detail")
                assert await page.text_content("#detail-panel") == "合议庭 / 审判人员: 钱法官、赵审判长"
                await no_hex(page)
                # the server refuses the clerk as the panel, with a code the page translates
                refused = await page.evaluate("""async (panel) => {
                    const cases = await (await fetch('/api/cases')).json();
                    const start = new Date(Date.now() + 3600e3);
                    const r = await fetch('/api/hearings', {method: 'POST',
                      headers: {'Content-Type': 'application/json'},
                      body: JSON.stringify({case_id: cases[0].id, kind: 'trial', scheduled_start: start.toISOString(),
                        scheduled_end: new Date(start.getTime() + 3600e3).toISOString(), panel})});
                    const i18n = await import('/static/js/i18n.js');
                    const body = await r.json();
                    return [r.status, body.error, i18n.errorText(body)];
                }""", [clerk])
                assert refused[:2] == [422, "panel_not_judge"] and "不是本院法官" in refused[2]

                # integrity and points links for the party, picked by name
                await page.click("[data-nav=links]")
                await view(page, "links")
                await page.select_option("#links-case", label="(2026)京0101民初15号 · 借款合同纠纷")
                assert "张原告" in await page.locator("#links-person option").first.inner_text()
                await page.click("#links-integrity")
                await page.wait_for_selector("#links-out:not([hidden])", timeout=WAIT_MS)
                integrity = await page.input_value("#links-field .link-url")
                assert integrity.startswith(f"{server.base}/integrity#access=")
                assert "张原告" in await page.text_content("#links-for")
                await page.click("#links-points")
                await page.wait_for_selector("#links-out[data-kind=points]", timeout=WAIT_MS)
                points = await page.input_value("#links-field .link-url")
                assert points.startswith(f"{server.base}/points#t=")
                await shots(page, "links", "#links-out")
                # the links work: the person's own integrity page and points page open with them
                person = await ctx.new_page()
                await person.goto(integrity)
                await person.wait_for_selector("#code:not([hidden])", timeout=WAIT_MS)
                await person.goto(points)
                await person.wait_for_selector("#signed-in:not([hidden])", timeout=WAIT_MS)
                await person.close()
                await page.click("#links-revoke-points")
                await page.wait_for_function("() => document.getElementById('notice-text').textContent"
                                             ".includes('已撤回 1 个链接')", timeout=WAIT_MS)
                await page.click("#logout")
                await view(page, "login")

                # the admin: an agency, then the audit log
                await login(page, server.base, "admin")
                await page.click("[data-nav=agencies]")
                await view(page, "agencies")
                await page.fill("#agency-name", "市公共资源交易中心")
                await page.click("#agency-form button[type=submit]")
                assert await page.text_content("#agency-error") == "请至少选择一个查询范围。"
                await page.check("#scope-procurement")
                await page.check("#scope-licensing")
                await page.click("#agency-form button[type=submit]")
                await page.wait_for_selector("#agency-key:not([hidden])", timeout=WAIT_MS)
                assert len(await page.input_value("#agency-key-field .link-url")) > 20
                row = page.locator("#agency-table tr[data-agency=市公共资源交易中心]")
                assert "政府采购、行政许可" in await row.inner_text()
                await shots(page, "agencies", "#agency-key")

                await page.click("[data-nav=audit]")
                await view(page, "audit")
                await page.locator("#audit-table tbody tr").first.wait_for(timeout=WAIT_MS)
                await page.select_option("#audit-category", "register.")
                await page.select_option("#audit-actor", label="王书记员")
                loaded = await page.get_attribute("#audit-view", "data-loaded")
                await page.click("#audit-form button[type=submit]")
                await page.wait_for_function("v => document.getElementById('audit-view').dataset.loaded !== v",
                                             arg=loaded, timeout=WAIT_MS)
                rows = page.locator("#audit-table tbody tr")
                actions = {await r.get_attribute("data-action") for r in await rows.all()}
                assert actions == {"register.person_created", "register.case_created", "register.hearing_created"}
                scheduled = page.locator("#audit-table tbody tr[data-action='register.hearing_created']")
                text = await scheduled.inner_text()
                assert "王书记员" in text and "排期" in text and "庭审 · (2026)京0101民初15号" in text
                assert "类型：庭审" in text
                await no_hex(page)
                await shots(page, "audit", "#audit-table")
                # another filter: the integrity category, the admin's own agency entry
                await page.select_option("#audit-category", "integrity.")
                await page.select_option("#audit-actor", "")
                loaded = await page.get_attribute("#audit-view", "data-loaded")
                await page.click("#audit-form button[type=submit]")
                await page.wait_for_function("v => document.getElementById('audit-view').dataset.loaded !== v",
                                             arg=loaded, timeout=WAIT_MS)
                texts = await rows.all_inner_texts()
                assert any("添加协查单位" in x and "系统管理员" in x for x in texts), texts
                assert any("发放诚信码链接" in x and "张原告" in x for x in texts), texts
                # English: the same entries in the other language
                await page.click("#lang")
                await page.wait_for_function("() => document.getElementById('audit-h').textContent === 'Audit log'",
                                             timeout=WAIT_MS)
                await page.locator("#audit-table tbody tr", has_text="Agency added").wait_for(timeout=WAIT_MS)
                await page.click("#lang")
                assert errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_staff_tools_failure.png"), full_page=True)
                raise


async def test_a_mediator_starts_and_stops_the_recording_of_a_mediation(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        mediator = await account(server, "sun", "孙调解员", "mediator")
        court = server.services.court
        party = await court.create_person(NewPerson("周申请人"))
        case = await court.create_case(NewCase("(2026)京0101民调3号", "邻里纠纷",
                                               [Party(party.id, PartySide.PLAINTIFF)]))
        start = datetime.now(UTC)
        hearing = await court.create_hearing(NewHearing(case.id, "mediation", start, start + timedelta(hours=1),
                                                        room_id="mediation-3", state="in_session"))
        await server.services.records.create_room("mediation-3", case.case_number, "mediation")
        assert mediator is not None
        await court.add_participant(NewParticipant(hearing.id, mediator, "mediator"))
        async with chromium() as browser, fresh_context(browser) as ctx:
            page = await ctx.new_page()
            errors = PageErrors(page)
            try:
                await login(page, server.base, "sun")
                await page.locator("#hearing-table tr", has_text="(2026)京0101民调3号").locator("button").click()
                await view(page, "detail")
                await page.wait_for_selector("#live-recording:not([hidden])", timeout=WAIT_MS)
                assert await page.text_content("#live-status") == "未在录像"
                await page.click("#live-toggle")
                await page.wait_for_selector("#live-recording[data-recording=true]", timeout=WAIT_MS)
                assert await page.text_content("#live-status") == "● 正在录像"
                assert await page.text_content("#live-toggle") == "停止录像"
                recorder = server.services.recorder
                assert recorder is not None and recorder.is_recording("mediation-3")
                await no_hex(page)
                await shots(page, "mediation-recording", "#live-recording")
                await page.click("#live-toggle")
                await page.wait_for_selector("#live-recording[data-recording=false]", timeout=WAIT_MS)
                assert await page.text_content("#notice-text") == "录像已停止。"
                found = await server.services.audit.search(AuditQuery(subject=f"hearing:{hearing.id}",
                                                                       action="recording."))
                assert [e.action for e in found] == ["recording.paused", "recording.started"]
                async with httpx.AsyncClient(base_url=server.base) as http:  # the page's API refuses anonymous
                    assert (await http.put(f"/api/hearings/{hearing.id}/recording/live",
                                           json={"on": True})).status_code == 401
                assert errors.errors == []
            except BaseException:
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "web_staff_tools_mediation_failure.png"), full_page=True)
                raise
