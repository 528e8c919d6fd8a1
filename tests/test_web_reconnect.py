"""Reconnection in real Chromium: a dropped WebSocket resumes the same place (no new admission) and media comes
back; a dead media path is rebuilt on a new PeerConnection; after the grace window the page says it is over."""

from __future__ import annotations

import re

from playwright.async_api import WebSocketRoute

from hearing.roles import Role
from tests.browser import chromium, fresh_context, join, video_of, wait_audio, wait_frames, wait_state
from tests.live import live_server

ROOM = "court-1"


async def _pair(server, browser, c1, c2):  # type: ignore[no-untyped-def]
    judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
    party = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
    await wait_frames(judge, "plaintiff")
    await wait_frames(party, "presiding_judge")
    return judge, party


async def _reconnected(page) -> None:  # type: ignore[no-untyped-def]
    """Wait for the drop to be noticed and then for the page to be back (the state log is cleared before the drop)."""
    await page.wait_for_function(
        "hearing.stateLog.includes('reconnecting') && document.body.dataset.state === 'connected'", timeout=30_000)


async def _media_flows_both_ways(judge, party) -> None:  # type: ignore[no-untyped-def]
    await wait_frames(party, "presiding_judge")
    await wait_frames(judge, "plaintiff")
    await wait_audio(party)
    await wait_audio(judge)


async def test_client_side_websocket_drop_resumes_and_media_returns(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)
            pid = await party.evaluate("hearing.me.id")
            await party.evaluate("hearing.stateLog.length = 0; hearing.ws.close(4999, 'test drop')")
            await _reconnected(party)
            assert await party.evaluate("hearing.stateLog") == ["reconnecting", "connected"]
            # The same place, taken back with the resume token: no new admission.
            assert await party.evaluate("hearing.joins.at(-1)") == {"id": pid, "resumed": True}
            assert await party.evaluate("hearing.joins.length") == 2
            await _media_flows_both_ways(judge, party)
            # The judge's page kept the same participant (same id) all along, never saw them leave.
            assert await judge.locator(video_of("plaintiff")).get_attribute("data-participant-id") == pid
            assert not judge.errors.errors and not party.errors.errors


async def test_server_side_drop_resumes(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)
            pid = await party.evaluate("hearing.me.id")
            conn = (await server.services.bus.members(ROOM))[pid]["conn"]
            await party.evaluate("hearing.stateLog.length = 0")
            # As a restarting server does: close with 1001 "going away".
            await server.services.bus.publish(ROOM, {"kind": "kick", "conn": conn, "code": 1001,
                                                     "reason": "server restarting; reconnecting"})
            await _reconnected(party)
            assert await party.evaluate("hearing.stateLog") == ["reconnecting", "connected"]
            assert await party.evaluate("hearing.joins.at(-1)") == {"id": pid, "resumed": True}
            await _media_flows_both_ways(judge, party)


async def test_resume_refused_joins_again_with_the_link(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)
            pid = await party.evaluate("hearing.me.id")
            # The server forgot the place (as after a restart with the in-process bus): resume gets 4007.
            await server.services.bus.remove_member(ROOM, pid)
            await party.evaluate("hearing.ws.close(4999, 'test drop')")
            await party.wait_for_function("hearing.joins.length === 2")
            await wait_state(party, "connected")
            assert await party.evaluate("hearing.joins.at(-1)") == {"id": pid, "resumed": False}
            await _media_flows_both_ways(judge, party)


async def test_new_peer_connection_on_request_brings_media_back(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)
            old_pc = await party.evaluate_handle("hearing.pc")
            await party.evaluate("hearing.stateLog.length = 0; hearing.restartMedia()")
            await _reconnected(party)
            await party.wait_for_function("old => hearing.pc !== old && hearing.pc.connectionState === 'connected'",
                                          arg=old_pc)
            assert await party.evaluate("old => old.connectionState", old_pc) == "closed"
            assert "reconnecting" in await party.evaluate("hearing.stateLog")
            assert await party.evaluate("hearing.media.stats.restarts") == 1
            assert await party.evaluate("hearing.joins.length") == 1  # signalling untouched
            await _media_flows_both_ways(judge, party)
            assert server.services.sfu is not None and server.services.sfu.peer_count() == 2


async def test_ice_loss_is_detected_and_media_rebuilt(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)
            pid = await party.evaluate("hearing.me.id")
            sfu = server.services.sfu
            assert sfu is not None
            peer = sfu.rooms[ROOM].peers[pid]
            await party.evaluate("hearing.stateLog.length = 0")
            # The server's end of the transport dies: the browser only notices through ICE consent checks.
            await peer.pc.close()
            await party.wait_for_function("hearing.media.stats.restarts >= 1", timeout=40_000)
            await _reconnected(party)
            assert "reconnecting" in await party.evaluate("hearing.stateLog")
            await _media_flows_both_ways(judge, party)


async def test_after_the_grace_window_the_page_says_the_session_ended(tmp_path) -> None:
    async with live_server(tmp_path, resume_grace_seconds=3) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await _pair(server, browser, c1, c2)

            async def refuse(ws: WebSocketRoute) -> None:  # the server stays unreachable for this page
                await ws.close(code=1011, reason="unreachable")

            await party.route_web_socket(re.compile(r".*/ws/.*"), refuse)
            await party.evaluate("hearing.ws.close(4999, 'test drop')")
            await wait_state(party, "reconnecting")
            await wait_state(party, "ended")
            text = await party.locator("#message-view").inner_text()
            assert "会话已结束" in text and "3 秒" in text
            assert "会话已结束" in await party.locator("#status").inner_text()
            assert await party.get_by_role("button", name="重新加入").is_visible()
            # The others see the place released after the same window.
            await judge.locator(video_of("plaintiff")).wait_for(state="detached")
