"""Short codes in real Chromium (issue 15, item 6): the clerk's page shows the code and its QR code; a person types
the code at /c (or opens the QR's /c#CODE) and reaches the pre-join check of the same seat; a withdrawn code says in
Chinese what to do, on the code page, before any camera is asked for. Screenshots at 1024x600 and 1280x720."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page

from hearing.roles import Role
from tests.browser import ARTIFACTS, STATION, WAIT_MS, PageErrors, chromium, fresh_context
from tests.court import seat_hearing
from tests.live import live_server
from tests.test_web_staff import PASSWORD, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

COUNT_CAMERA = """
window.__gum = 0;
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (c) => { window.__gum += 1; return gum(c); };
"""


async def _code_page(page: Page, base: str, code: str) -> None:
    await page.goto(f"{base}/c")
    await page.fill("#code-input", code)
    await page.click("#code-submit")


async def test_a_typed_code_reaches_the_prejoin_check_and_a_withdrawn_one_says_what_to_do(tmp_path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with live_server(tmp_path, media_enabled=False) as server:
        await staff_account(server, "clerk1", "clerk")
        seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF})
        hid, pid = seated.hearing.id, seated["plaintiff"].participant_id
        async with httpx.AsyncClient(base_url=server.base) as http:
            assert (await http.post("/api/login", json={"username": "clerk1", "password": PASSWORD})).status_code == 200
            first = (await http.post(f"/api/hearings/{hid}/participants/{pid}/link")).json()
        code = first["short_code"]["code"]
        async with chromium() as browser:
            for viewport, tag in ((STATION, "1024x600"), ({"width": 1280, "height": 720}, "1280x720")):
                async with fresh_context(browser, viewport) as ctx:
                    await ctx.add_init_script(COUNT_CAMERA)
                    page = await ctx.new_page()
                    errors = PageErrors(page)
                    await page.goto(f"{server.base}/c")
                    assert "输入参加码" in await page.text_content("h1")
                    await page.fill("#code-input", code.lower().replace("-", " "))  # as people type it
                    await page.screenshot(path=str(ARTIFACTS / f"seat-code-entry-{tag}.png"))
                    await page.click("#code-submit")
                    await page.wait_for_url(f"{server.base}/join**", timeout=WAIT_MS)
                    await page.locator("#prejoin-view").wait_for(state="visible", timeout=WAIT_MS)
                    assert "token=" not in page.url  # the join page scrubs the token from the address bar
                    kept = await page.evaluate("JSON.parse(sessionStorage.getItem('hearing.link')).token")
                    assert kept == first["url"].split("#token=", 1)[1]  # the very seat of the link
                    assert seated["plaintiff"].name in await page.text_content("#pj-who")
                    await page.screenshot(path=str(ARTIFACTS / f"seat-code-prejoin-{tag}.png"))
                    assert errors.errors == []

            # the QR code's address opens the same seat without typing
            async with fresh_context(browser, STATION) as ctx:
                page = await ctx.new_page()
                await page.goto(first["short_code"]["code_url"])
                await page.locator("#prejoin-view").wait_for(state="visible", timeout=WAIT_MS)

            # a newer link withdraws the first: its code says so, in Chinese, before any camera check
            async with httpx.AsyncClient(base_url=server.base) as http:
                await http.post("/api/login", json={"username": "clerk1", "password": PASSWORD})
                second = (await http.post(f"/api/hearings/{hid}/participants/{pid}/link")).json()
            assert second["short_code"]["code"] != code
            for viewport, tag in ((STATION, "1024x600"), ({"width": 1280, "height": 720}, "1280x720")):
                async with fresh_context(browser, viewport) as ctx:
                    await ctx.add_init_script(COUNT_CAMERA)
                    page = await ctx.new_page()
                    await _code_page(page, server.base, code)
                    await page.wait_for_function(
                        "() => document.getElementById('code-page').dataset.state === 'withdrawn'", timeout=WAIT_MS)
                    text = await page.text_content("#code-error")
                    assert "收回" in text and "法院" in text and "withdrawn" not in text
                    assert page.url == f"{server.base}/c" and await page.evaluate("window.__gum") == 0
                    await page.screenshot(path=str(ARTIFACTS / f"seat-code-withdrawn-{tag}.png"))
                    # the English toggle
                    await page.click("#code-lang")
                    await page.click("#code-submit")
                    await page.wait_for_function(
                        "() => document.getElementById('code-error').textContent.includes('withdrew')",
                        timeout=WAIT_MS)
                    await page.click("#code-lang")  # back to Chinese for the next context's screenshot

            # the withdrawn long link itself: the join page says so too, before its camera check
            for viewport, tag in ((STATION, "1024x600"), ({"width": 1280, "height": 720}, "1280x720")):
                async with fresh_context(browser, viewport) as ctx:
                    await ctx.add_init_script(COUNT_CAMERA)
                    page = await ctx.new_page()
                    errors = PageErrors(page)
                    await page.goto(first["url"])
                    await page.wait_for_function("() => document.body.dataset.state === 'error'", timeout=WAIT_MS)
                    assert await page.evaluate("document.body.dataset.link") == "link_withdrawn"
                    text = await page.text_content("#msg-text")
                    assert "收回" in text and "法院" in text and "withdrawn" not in text
                    assert await page.evaluate("window.__gum") == 0 and await page.is_hidden("#prejoin-view")
                    await page.screenshot(path=str(ARTIFACTS / f"link-withdrawn-{tag}.png"))
                    assert errors.errors == []
