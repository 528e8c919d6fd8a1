"""Exhibits (证据, 电子质证) in real Chromium: the plaintiff uploads a PDF from the side panel (a file the server
refuses shows the server's message), the presiding judge presents it, and the defendant's page shows it; the
defendant's opinion is listed under the exhibit, and the judge (not the parties) sees that the defendant viewed it;
the judge turns the pages and stops presenting."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context, wait_state
from tests.court import Seated, seat_hearing
from tests.live import LiveServer, live_server
from tests.test_exhibits_core import make_pdf  # reportlab

pytestmark = pytest.mark.timeout(180)

TRIAL = {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF, "defendant": Role.DEFENDANT}


async def open_seat(ctx, server: LiveServer, seated: Seated, label: str) -> Page:  # type: ignore[no-untyped-def]
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    await page.goto(f"{server.base}/join#token={seated[label].token}&skipcheck=1")
    await wait_state(page, "connected")
    return page


async def test_upload_present_and_everyone_sees_it(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", TRIAL, state="in_session")
        for label in ("plaintiff", "defendant"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            judge = await open_seat(c1, server, seated, "judge")
            plaintiff = await open_seat(c2, server, seated, "plaintiff")
            defendant = await open_seat(c3, server, seated, "defendant")

            # The plaintiff opens the panel: nothing yet. A file that is not a PDF or an image is refused (415).
            await plaintiff.locator("#exhibits-toggle").click()
            panel = plaintiff.locator("#exhibits:not([hidden])")
            await panel.wait_for(timeout=WAIT_MS)
            await panel.locator(".c-empty", has_text="暂无证据").wait_for()
            await plaintiff.set_input_files("#exhibit-file", files=[
                {"name": "notes.txt", "mimeType": "application/pdf", "buffer": b"just some words, not a PDF"}])
            await plaintiff.locator("#exhibit-upload").click()
            error = plaintiff.locator("#exhibits-error")
            await plaintiff.wait_for_function("document.getElementById('exhibits-error').textContent.length > 5",
                                              timeout=WAIT_MS)
            assert "未完成" in await error.inner_text()
            assert await panel.locator("[data-exhibit]").count() == 0

            # A real PDF goes up and is listed; Present shows as the permissions say; a party may give an opinion.
            await plaintiff.set_input_files("#exhibit-file", files=[
                {"name": "合同.pdf", "mimeType": "application/pdf", "buffer": make_pdf(3)}])
            await plaintiff.locator("#exhibit-upload").click()
            row = panel.locator("[data-exhibit]", has_text="合同.pdf")
            await row.wait_for(timeout=WAIT_MS)
            assert await error.inner_text() == ""
            assert "3" in await row.locator(".x-meta").inner_text()
            may_present = "present_exhibit" in await plaintiff.evaluate("hearing.permissions.actions")
            assert await row.locator('button[data-action="present"]').is_visible() == may_present
            assert await row.locator(".x-opinion").is_visible()
            exhibit_id = await row.get_attribute("data-exhibit")

            # The presiding judge presents it; the defendant's page (panel closed) shows the PDF at page 1.
            await judge.locator("#exhibits-toggle").click()
            jrow = judge.locator(f'#exhibits [data-exhibit="{exhibit_id}"]')
            await jrow.wait_for(timeout=WAIT_MS)
            assert await jrow.locator(".x-opinion").is_hidden()
            await jrow.locator('button[data-action="present"]').click()
            view = defendant.locator(f'#exhibit-view:not([hidden])[data-exhibit-id="{exhibit_id}"]')
            await view.wait_for(timeout=WAIT_MS)
            assert "合同.pdf" in await view.locator(".xv-title").inner_text()
            src = await view.locator("iframe").get_attribute("src")
            assert src and src.endswith("#page=1")
            fetched = await defendant.evaluate(
                "async u => { const r = await fetch(u); return [r.status, (await r.arrayBuffer()).byteLength]; }",
                src.split("#")[0])
            assert fetched[0] == 200 and fetched[1] > 100
            await plaintiff.locator(f'#exhibit-view:not([hidden])[data-exhibit-id="{exhibit_id}"]').wait_for(
                timeout=WAIT_MS)

            # The defendant's opinion on it.
            await defendant.locator("#exhibits-toggle").click()
            drow = defendant.locator(f'#exhibits [data-exhibit="{exhibit_id}"]')
            await drow.wait_for(timeout=WAIT_MS)
            # no stance is preset: sending without choosing one asks for it, and sends nothing
            assert await drow.locator("select[data-stance]").input_value() == ""
            await drow.locator('button[data-action="opinion"]').click()
            await defendant.locator("#exhibits-error", has_text="请先选择质证意见").wait_for(timeout=WAIT_MS)
            await drow.locator("select[data-stance]").select_option("object")
            await drow.locator("input[data-opinion-text]").fill("签名不真实")
            await drow.locator('button[data-action="opinion"]').click()
            await defendant.locator("#exhibits .x-status", has_text="意见已提交").wait_for(timeout=WAIT_MS)
            did = seated["defendant"].participant_id
            await drow.locator(f'.x-opinions li[data-opinion-by="{did}"]', has_text="签名不真实").wait_for(
                timeout=WAIT_MS)
            ARTIFACTS.mkdir(exist_ok=True)
            await defendant.screenshot(path=str(ARTIFACTS / "hearing-exhibit-shown.png"))

            # Opinions given so far show under the exhibit for everyone (the judge opens the panel again).
            await judge.locator("#exhibits-toggle").click()
            await judge.locator("#exhibits-toggle").click()
            opinion = jrow.locator(f'.x-opinions li[data-opinion-by="{did}"][data-stance="object"]')
            await opinion.wait_for(timeout=WAIT_MS)
            assert seated["defendant"].name in await opinion.inner_text()

            # Court staff see who viewed it (the audited views): the defendant's page opened it when presented.
            viewed = jrow.locator(f'.x-views:not([hidden]) li[data-viewed-by="{did}"]')
            await viewed.wait_for(timeout=WAIT_MS)
            assert seated["defendant"].name in await viewed.inner_text()
            assert "被告" in await viewed.inner_text()
            assert int(await viewed.get_attribute("data-views") or 0) >= 1
            assert await judge.locator("#exhibit-views-refresh").is_visible()
            await judge.screenshot(path=str(ARTIFACTS / "hearing-exhibit-views.png"))
            # Parties do not (nor the refresh button).
            assert await row.locator(".x-views").is_hidden()
            assert await plaintiff.locator("#exhibit-views-refresh").is_hidden()

            # The presenter turns the pages (within 1..3) and stops presenting; only presenters get the buttons.
            await judge.locator("#exhibits-toggle").click()  # close the panel: the viewer's buttons are free
            jview = judge.locator("#exhibit-view:not([hidden])")
            assert await jview.locator('button[data-action="page-prev"]').is_disabled()
            assert await defendant.locator('#exhibit-view button[data-action="page-next"]').is_hidden() == (
                "present_exhibit" not in await defendant.evaluate("hearing.permissions.actions"))
            await jview.locator('button[data-action="page-next"]').click()
            await defendant.locator('#exhibit-view:not([hidden])[data-page="2"]').wait_for(timeout=WAIT_MS)
            await judge.locator('#exhibit-view[data-page="2"] button[data-action="page-next"]').click()
            await defendant.locator('#exhibit-view:not([hidden])[data-page="3"]').wait_for(timeout=WAIT_MS)
            assert (await defendant.locator("#exhibit-view iframe").get_attribute("src") or "").endswith("#page=3")
            assert await judge.locator('#exhibit-view[data-page="3"] button[data-action="page-next"]').is_disabled()
            await judge.locator('#exhibit-view button[data-action="stop-presenting"]').click()
            await defendant.locator("#exhibit-view").wait_for(state="hidden", timeout=WAIT_MS)
            await judge.locator("#exhibit-view").wait_for(state="hidden", timeout=WAIT_MS)
            assert await defendant.locator("#exhibit-view").get_attribute("data-exhibit-id") is None
            for page in (judge, plaintiff, defendant):
                assert not page.errors.errors  # type: ignore[attr-defined]
