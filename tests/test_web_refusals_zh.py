"""Server refusals inside the room read as Chinese (issue 15, item 1), in real Chromium: the known examples — admit
before the identity check, a private room with both sides — come back as `error` {code, reason, params} and the page
shows the reason's translation (roles in words), never the server's English sentence. Screenshots at 1024x600 and
1280x720."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page

from hearing.roles import Role
from tests.browser import ARTIFACTS, STATION, WAIT_MS, chromium, fresh_context, open_page, wait_state
from tests.court import seat_hearing
from tests.live import live_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ENGLISH_SENTENCE = re.compile(r"(?=[A-Za-z]*[a-z])[A-Za-z]{2,}(?:[\s,;:'-]+(?=[A-Za-z]*[a-z])[A-Za-z]{2,})+")


async def _send(page: Page, msg: dict) -> None:
    await page.evaluate("m => window.hearing.ws.send(JSON.stringify(m))", msg)


async def _notice(page: Page, contains: str) -> str:
    await page.wait_for_function(
        "s => !document.getElementById('notice').hidden && document.getElementById('notice-text').textContent"
        ".includes(s)", arg=contains, timeout=WAIT_MS)
    return await page.text_content("#notice-text") or ""


async def _waiting(page: Page, participant_id: str) -> None:
    await page.locator(f'[data-lobby-participant="{participant_id}"]').wait_for(timeout=WAIT_MS)


async def test_room_refusals_are_translated_codes(tmp_path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with live_server(tmp_path) as server:
        base = f"{server.base}/join#token="
        for viewport, tag in ((STATION, "1024x600"), ({"width": 1280, "height": 720}, "1280x720")):
            seated = await seat_hearing(server, "mediation", {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF,
                                                              "defendant": Role.DEFENDANT}, state="in_session")
            async with chromium() as browser, fresh_context(browser, viewport) as mctx, \
                    fresh_context(browser) as pctx, fresh_context(browser) as dctx:
                mediator = await open_page(mctx, base + seated["mediator"].token)
                await wait_state(mediator, "connected")
                parties = {}
                for label, ctx in (("plaintiff", pctx), ("defendant", dctx)):
                    parties[label] = await open_page(ctx, base + seated[label].token)
                    await _waiting(mediator, seated[label].participant_id)

                # admitting before the identity is checked (the "操作未执行：check the participant's ...")
                await _send(mediator, {"type": "admit", "participant_id": seated["plaintiff"].participant_id})
                text = await _notice(mediator, "核验")
                assert "请先核验该参加人的身份" in text and not ENGLISH_SENTENCE.search(text), text
                await mediator.screenshot(path=str(ARTIFACTS / f"refusal-identity-{tag}.png"))

                for label in ("plaintiff", "defendant"):
                    await _send(mediator, {"type": "admit", "participant_id": seated[label].participant_id,
                                           "verification": "known_to_court"})
                    await parties[label].wait_for_function("() => document.body.dataset.place === 'room'",
                                                           timeout=WAIT_MS)

                # a caucus with both sides (the "a private room holds one side only...")
                await _send(mediator, {"type": "open-private-room", "participant_ids": [
                    seated["plaintiff"].participant_id, seated["defendant"].participant_id]})
                text = await _notice(mediator, "私下调解室")
                assert "分属被告、原告" in text and not ENGLISH_SENTENCE.search(text), text  # sides in words
                await mediator.screenshot(path=str(ARTIFACTS / f"refusal-one-side-{tag}.png"))

                # the English toggle translates the same code, with the parameters in words
                await mediator.click("#lang")
                await _send(mediator, {"type": "open-private-room", "participant_ids": [
                    seated["plaintiff"].participant_id, seated["defendant"].participant_id]})
                text = await _notice(mediator, "one side only")
                assert "plaintiff" in text and "defendant" in text
                assert mediator.errors.errors == []  # type: ignore[attr-defined]
