"""Getting in, in real Chromium: the pre-join check, refused links with their reasons, denied devices, an
unreachable server, and the token kept out of the address bar but surviving a reload."""

from __future__ import annotations

import re
import time

import jwt
from playwright.async_api import Route, WebSocketRoute

from hearing.roles import Role
from signaling.tokens import TokenService, new_id
from tests.browser import (
    audio_packets,
    chromium,
    decoded_video,
    fresh_context,
    join,
    open_page,
    wait_audio,
    wait_frames,
    wait_state,
)
from tests.live import live_server

ROOM = "court-1"
DENY_CAMERA = """
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = c => (c && c.video)
  ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError')) : gum(c);
"""
DENY_ALL = """
navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
"""


async def test_prejoin_check_previews_measures_and_joins(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            page = await open_page(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"), skipcheck=False)
            assert await page.evaluate("document.body.dataset.state") == "prejoin"
            assert "token" not in page.url  # scrubbed from the address bar at once
            await page.get_by_text("原告「张原告」").wait_for()
            # The camera preview renders frames.
            await page.wait_for_function(
                "document.getElementById('pj-video').getVideoPlaybackQuality().totalVideoFrames > 10")
            # The level meter moves with the fake microphone (a periodic beep): up, and then different.
            await page.wait_for_function("document.getElementById('pj-level').value > 0.2")
            first = await page.evaluate("document.getElementById('pj-level').value")
            await page.wait_for_function("v => Math.abs(document.getElementById('pj-level').value - v) > 0.05",
                                         arg=first)
            # Device pickers list the fake devices; the network check gives a verdict from /healthz round trips.
            assert await page.locator("#pj-camera option").count() >= 1
            assert await page.locator("#pj-mic option").count() >= 1
            await page.locator('#pj-net[data-level="good"]').wait_for()
            assert re.search(r"往返时延 \d+ 毫秒", await page.locator("#pj-net").inner_text())
            preview_track = await page.evaluate("document.getElementById('pj-video').srcObject.getTracks()[0].id")
            await page.get_by_role("button", name="加入庭审").click()
            await wait_state(page, "connected")
            # The previewed camera is the one published (no second getUserMedia prompt).
            assert await page.evaluate("hearing.app.local.video.id") == preview_track
            await wait_frames(page, "presiding_judge")
            await wait_frames(judge, "plaintiff")
            assert not page.errors.errors


async def test_camera_denied_offers_audio_only(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            await c2.add_init_script(DENY_CAMERA)
            page = await open_page(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"), skipcheck=False)
            await page.get_by_text("无法使用摄像头").wait_for()
            assert "浏览器未获准使用" in await page.locator("#pj-notice").inner_text()
            await page.wait_for_function("document.getElementById('pj-level').value > 0.2")
            await page.get_by_role("button", name="仅用麦克风加入").click()
            await wait_state(page, "connected")
            assert await page.get_by_role("button", name="关闭摄像头").is_disabled()
            await wait_frames(page, "presiding_judge")
            await wait_audio(judge)  # the judge hears the party, who sends no video
            tile = judge.locator('[data-tile-for][data-role="plaintiff"]')
            await tile.wait_for()
            assert "no-video" in (await tile.get_attribute("class") or "")


async def test_no_devices_offers_watch_only(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            await c2.add_init_script(DENY_ALL)
            page = await open_page(c2, await server.link(ROOM, Role.WITNESS, "赵证人"), skipcheck=False)
            await page.get_by_text("无法使用摄像头和麦克风").wait_for()
            assert await page.get_by_role("button", name="重试使用设备").is_visible()
            await page.get_by_role("button", name="仅观看加入").click()
            await wait_state(page, "connected")
            await wait_frames(page, "presiding_judge")
            await wait_audio(page)


async def test_observer_watches_without_devices(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            page = await open_page(c2, await server.link(ROOM, Role.OBSERVER, "旁听者"), skipcheck=False)
            await page.get_by_text("您是旁听人员").wait_for()
            assert not await page.locator("#pj-devices").is_visible()
            await page.get_by_role("button", name="加入庭审").click()
            await wait_state(page, "connected")
            await wait_frames(page, "presiding_judge")
            assert await audio_packets(page) >= 0
            await wait_audio(page)
            # Observers get no tile on the others' pages (they send nothing) but are in the roster.
            await judge.locator('#participants li[data-role="observer"]').wait_for(state="attached")
            assert await judge.locator('[data-tile-for][data-role="observer"]').count() == 0


async def _refused(server, browser, token: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    async with fresh_context(browser) as ctx:
        page = await open_page(ctx, f"{server.base}/join#token={token}", skipcheck=True)
        await wait_state(page, "error")
        return await page.locator("#status").inner_text(), await page.locator("#message-view").inner_text()


async def test_refused_links_show_the_reason(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        old = TokenService(server.settings.signing_secret(), clock=lambda: time.time() - 7200)
        expired, _ = old.issue_join(room_id=ROOM, role="plaintiff", name="x", grants=["publish"], ttl_seconds=60)
        status, view = await _refused(server, browser, expired)
        # the join page asks before its camera check; the code's Chinese words, never the server's English
        assert "链接已过期" in status and "过期" in view and "expired" not in view

        good = await server.token(ROOM, Role.PLAINTIFF, "张原告")
        head, body, sig = good.split(".")
        tampered = f"{head}.{body}.{sig[:-4]}{'AAAA' if not sig.endswith('AAAA') else 'BBBB'}"
        status, view = await _refused(server, browser, tampered)
        assert "链接无效" in status and "改动" in view and "altered" not in view

        revoked_link = await server.link(ROOM, Role.DEFENDANT, "李被告")
        revoked = revoked_link.split("#token=", 1)[1]
        jti = jwt.decode(revoked, options={"verify_signature": False})["jti"]
        assert await server.services.records.revoke_token(jti, "test")
        status, _ = await _refused(server, browser, revoked)
        assert "已被法院收回" in status

        forged = TokenService("another-secret-" + "y" * 30).issue_join(
            room_id=ROOM, role="judge", name="x", grants=["publish"], ttl_seconds=600)[0]
        status, _ = await _refused(server, browser, forged)
        assert "链接无效" in status

        async with fresh_context(browser) as ctx:
            page = await open_page(ctx, f"{server.base}/join", skipcheck=False)
            await wait_state(page, "error")
            assert "缺少参会凭证" in await page.locator("#status").inner_text()
            page = await open_page(ctx, f"{server.base}/join#token=not-a-jwt-{new_id('x')}", skipcheck=False)
            await wait_state(page, "error")
            assert "无法识别" in await page.locator("#status").inner_text()


async def test_unreachable_server_is_said_clearly(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        link = await server.link(ROOM, Role.PLAINTIFF, "张原告")
        async with fresh_context(browser) as ctx:
            async def down(route: Route) -> None:
                await route.abort("connectionrefused")

            await ctx.route(re.compile(r".*/healthz.*"), down)
            page = await open_page(ctx, link, skipcheck=False)
            await page.locator('#pj-net[data-level="unreachable"]').wait_for()
            assert "无法连接服务器" in await page.locator("#pj-net").inner_text()

            async def refuse(ws: WebSocketRoute) -> None:
                await ws.close(code=1011, reason="unreachable")

            await page.route_web_socket(re.compile(r".*/ws/.*"), refuse)
            await page.get_by_role("button", name="加入庭审").click()
            await page.wait_for_function("document.getElementById('status').textContent.includes('无法连接服务器')")
            assert await page.evaluate("document.body.dataset.state") == "connecting"
            # The server comes back: the page gets in by itself.
            await page.unroute_all()
            await page.route_web_socket(re.compile(r".*/ws/.*"), lambda ws: ws.connect_to_server())
            await wait_state(page, "connected")


async def test_token_leaves_the_address_bar_and_a_reload_resumes(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            page = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            assert page.url == f"{server.base}/join"
            assert await page.evaluate("history.length") == 1 or "token" not in page.url
            pid = await page.evaluate("hearing.me.id")
            await page.reload()
            await wait_state(page, "connected")
            assert await page.evaluate("hearing.joins") == [{"id": pid, "resumed": True}]
            await wait_frames(page, "presiding_judge")
            await wait_frames(judge, "plaintiff")


async def test_joining_in_audio_only_mode_from_the_check(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            page = await open_page(c2, await server.link(ROOM, Role.DETAINEE, "在押人员甲"), skipcheck=False)
            await page.get_by_label("以仅音频模式加入").check()
            await page.get_by_role("button", name="加入庭审").click()
            await wait_state(page, "connected")
            assert await page.get_attribute("#audio-only", "aria-pressed") == "true"
            await wait_audio(page, 50)
            decoded = await decoded_video(page)
            await wait_audio(page, 100)
            assert await decoded_video(page) - decoded <= 1
