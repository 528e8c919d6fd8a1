"""The page on a weak link: the SFU's `link-quality` notices are shown in Chinese (English with the toggle)."""

from __future__ import annotations

import asyncio

from hearing.roles import Role
from signaling.protocol import LinkQuality
from tests.browser import chromium, fresh_context, join, wait_frames
from tests.live import live_server

ROOM = "court-1"


async def test_paused_and_resumed_video_is_explained_on_the_page(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await wait_frames(party, "presiding_judge")
            pid = await party.evaluate("hearing.me.id")
            sfu = server.services.sfu
            assert sfu is not None
            await sfu.signals.send_to(ROOM, pid, LinkQuality(video_paused=True, estimate_kbps=60))
            await party.wait_for_function(
                "document.getElementById('notice-text').textContent.includes('已自动暂停接收视频')")
            assert await party.evaluate("!document.getElementById('notice').hidden")
            await sfu.signals.send_to(ROOM, pid, LinkQuality(video_paused=False, estimate_kbps=400))
            await party.wait_for_function(
                "document.getElementById('notice-text').textContent.includes('已恢复接收视频')")
            for page in (judge, party):
                assert not page.errors.errors


async def test_chromium_subscribers_send_transport_cc_feedback_that_drives_their_estimate(tmp_path) -> None:
    async with live_server(tmp_path, transport_cc=True) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await wait_frames(party, "presiding_judge")
            pid = await party.evaluate("hearing.me.id")
            sdp = await party.evaluate("hearing.pc.remoteDescription.sdp")
            assert "transport-wide-cc-extensions-01" in sdp and "transport-cc" in sdp  # offered on what we send
            sfu = server.services.sfu
            assert sfu is not None
            async with asyncio.timeout(30):  # its feedback reaches the estimator: the estimate now counts audio too
                while not ((link := sfu.links.get((ROOM, pid))) is not None
                           and link.estimator.covers_audio(sfu._clock())):
                    await asyncio.sleep(0.1)
            estimate = link.estimator.estimate(sfu._clock())
            assert estimate is not None and estimate > 100_000  # the loopback is not a village link
            await wait_frames(party, "presiding_judge")  # and media still flows with the extension stamped
            await wait_frames(judge, "plaintiff")
            for page in (judge, party):
                assert not page.errors.errors
