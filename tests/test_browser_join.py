"""The join page in real Chromium: two people join one room and see each other; a bad link shows why."""

from __future__ import annotations

import time

from hearing.roles import Role
from signaling.tokens import TokenService
from tests.browser import ARTIFACTS, chromium, fresh_context
from tests.live import live_server

TILE = '[data-tile-for][data-role="{}"]'


async def test_two_browsers_join_and_see_each_other(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        judge_link = await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长")
        party_link = await server.link("court-1", Role.PLAINTIFF, "张原告")
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await c1.new_page(), await c2.new_page()
            await judge.goto(judge_link + "&skipcheck=1")
            await judge.wait_for_function("document.body.dataset.state === 'connected'", timeout=20_000)
            await party.goto(party_link + "&skipcheck=1")
            await party.wait_for_function("document.body.dataset.state === 'connected'", timeout=20_000)
            await judge.locator(TILE.format("plaintiff")).wait_for(timeout=20_000)
            assert "张原告" in await judge.locator(TILE.format("plaintiff")).inner_text()
            assert "王审判长" in await party.locator(TILE.format("presiding_judge")).inner_text()
            assert "张原告" in await judge.locator("#participants").inner_text()
            await party.get_by_role("button", name="静音麦克风").click()
            await judge.locator(TILE.format("plaintiff"), has_text="麦克风已关").wait_for(timeout=20_000)
            ARTIFACTS.mkdir(exist_ok=True)
            await judge.screenshot(path=str(ARTIFACTS / "join-page-judge.png"))
            await party.get_by_role("button", name="离开").click()
            await judge.locator(TILE.format("plaintiff")).wait_for(state="detached", timeout=20_000)


async def test_expired_link_shows_the_reason(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        old = TokenService(server.settings.signing_secret(), clock=lambda: time.time() - 7200)
        token, _ = old.issue_join(room_id="court-1", role="plaintiff", name="x", grants=["publish"], ttl_seconds=60)
        async with fresh_context(browser) as ctx:
            page = await ctx.new_page()
            await page.goto(f"{server.base}/join#token={token}&skipcheck=1")
            await page.wait_for_function("document.body.dataset.state === 'error'", timeout=20_000)
            assert "链接已过期" in await page.locator("#status").inner_text()
            shown = await page.locator("#message-view").inner_text()
            assert "获取新的链接" in shown and "expired" not in shown  # what to do, in Chinese; no server English
