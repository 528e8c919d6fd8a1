"""Perfect negotiation in real Chromium, with the crossing made deterministic: the page's own offer is held
back in a WebSocket proxy until the server's offer has gone out, so the two really cross (glare). The server
(impolite) ignores ours; the page (polite) rolls back, answers, offers again, and nothing is lost."""

from __future__ import annotations

import json
import re

from playwright.async_api import WebSocketRoute

from hearing.roles import Role
from tests.browser import chromium, fresh_context, join, open_page, wait_frames, wait_state
from tests.live import live_server

ROOM = "court-1"


async def test_crossing_offers_roll_back_and_renegotiate(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            sent: list[dict] = []
            received: list[dict] = []
            held: list[str] = []
            hold = {"offers": False}

            async def proxy(ws: WebSocketRoute) -> None:
                upstream = ws.connect_to_server()

                def from_page(message: str | bytes) -> None:
                    msg = json.loads(message)
                    sent.append(msg)
                    if hold["offers"] and msg["type"] == "offer":
                        held.append(str(message))  # keep it until the server's own offer is on its way
                        return
                    upstream.send(message)

                def from_server(message: str | bytes) -> None:
                    msg = json.loads(message)
                    received.append(msg)
                    ws.send(message)
                    if msg["type"] == "offer" and held:
                        hold["offers"] = False
                        for m in held:  # reaches the server while its offer is outstanding: glare
                            upstream.send(m)
                        held.clear()

                ws.on_message(from_page)
                upstream.on_message(from_server)

            c2_link = await server.link(ROOM, Role.PLAINTIFF, "张原告")
            await c2.route_web_socket(re.compile(r".*/ws/.*"), proxy)
            party = await open_page(c2, c2_link)
            await wait_state(party, "connected")
            await wait_frames(party, "presiding_judge")
            # Trickle ICE: the page sent its candidates separately from its offer.
            assert any(m["type"] == "ice-candidate" and m["candidate"] for m in sent)

            # A local change makes the page offer; hold that offer, then make the server offer too.
            hold["offers"] = True
            await party.evaluate("hearing.pc.addTransceiver('video', {direction: 'recvonly'})")
            await party.wait_for_function("hearing.pc.signalingState === 'have-local-offer'")
            offers_before = await party.evaluate("hearing.media.stats.offers")
            await join(c3, await server.link(ROOM, Role.DEFENDANT, "李被告"))

            await party.wait_for_function("hearing.media.stats.rollbacks >= 1")
            # The page offered again after rolling back, the server answered, and everything settled.
            await party.wait_for_function(
                "n => hearing.media.stats.offers > n && hearing.pc.signalingState === 'stable'", arg=offers_before)
            assert await party.evaluate("hearing.media.stats.restarts") == 0
            answers = [m for m in received if m["type"] == "answer"]
            assert len(answers) < await party.evaluate("hearing.media.stats.offers")  # the held offer was ignored
            assert not [m for m in received if m["type"] == "error"], received
            # The newcomer's tracks were announced and mapped to the m-lines the server's offer added.
            defendant = await party.evaluate(
                "[...hearing.media.mids.values()].filter(i => i.participantId !== hearing.me.id).length")
            assert defendant == 4  # judge and defendant, audio and video each
            assert not party.errors.errors


async def test_media_keeps_flowing_after_a_client_reoffer(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await wait_frames(party, "presiding_judge")
            offers = await party.evaluate("hearing.media.stats.offers")
            await party.evaluate("hearing.pc.addTransceiver('video', {direction: 'recvonly'})")
            await party.wait_for_function(
                "n => hearing.media.stats.offers > n && hearing.pc.signalingState === 'stable'", arg=offers)
            await wait_frames(party, "presiding_judge", timeout=6_000)
