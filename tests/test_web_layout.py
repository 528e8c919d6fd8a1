"""The room page's layout in real Chromium (issue 15, items 2 and 3), with screenshots in test-artifacts/.

A trial in session: the presiding judge presents an exhibit with the exhibits panel open; nothing covers the judge's
console (庭审管理) or the videos, and the judge admits the witness from the console while the evidence is open. The
witness, admitted after the exhibit was presented, sees it. At 1280x720 and 1024x600 (and a phone for the party)
no element overflows, the bottom bar does not wrap and every video is in sight. Then the presiding judge's 离开
asks "leave" or "end for all"; ending closes the hearing, and the clerk can no longer confirm identities on video.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context, wait_state
from tests.court import Seated, room_api, seat_hearing
from tests.live import LiveServer, live_server
from tests.test_exhibits_core import make_pdf  # reportlab

pytestmark = pytest.mark.timeout(300)

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF, "witness": Role.WITNESS}
SIZES = {"1280x720": {"width": 1280, "height": 720}, "1024x600": {"width": 1024, "height": 600}}
PHONE = {"width": 390, "height": 780}

# What overflows: boxes leaving the viewport, and content spilling out of an element that does not scroll or clip.
OVERFLOWS_JS = """() => {
  const out = [];
  const W = innerWidth, H = innerHeight;
  const name = (e) => e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.className ? '.' + String(e.className)
    .split(' ')[0] : '') + (e.parentElement?.id ? ' in #' + e.parentElement.id : '');
  const clipped = (e) => {  // inside a scrolling or clipping ancestor: judged by that ancestor
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') return true;
    }
    return false;
  };
  if (document.documentElement.scrollWidth > W + 1) out.push('page scrolls sideways');
  if (document.documentElement.scrollHeight > H + 1) out.push('page scrolls down');
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(e).visibility === 'hidden') continue;
    if (e.closest('#audio-sink, .sr-only, dialog:not([open])')) continue;
    const off = r.right > W + 1 || r.bottom > H + 1 || r.left < -1 || r.top < -1;
    if (!clipped(e) && off) out.push(name(e) + ' off screen');
    const s = getComputedStyle(e);
    const scrolls = s.overflowX !== 'visible';
    if (!scrolls && e.scrollWidth > e.clientWidth + 2 && e.clientWidth > 0 && !['VIDEO', 'IFRAME', 'IMG', 'METER',
      'SELECT', 'INPUT', 'TEXTAREA', 'svg'].includes(e.tagName)) out.push(name(e) + ' content wider than its box');
  }
  return out;
}"""

# Every video tile shown (and the console) is on screen and on top at its centre: nothing covers it.
COVERED_JS = """() => {
  const out = [];
  const targets = [...document.querySelectorAll('#stage .tile, #strip .tile')];
  if (document.getElementById('console') && !document.getElementById('console').hidden) {
    targets.push(document.getElementById('console'));
  }
  for (const e of targets) {
    const r = e.getBoundingClientRect();
    const host = e.closest('#stage, #strip') ?? e;
    const box = host.getBoundingClientRect();
    // A tile scrolled out of its strip is reachable by scrolling; one inside it must be uncovered.
    if (r.bottom <= box.top || r.top >= box.bottom || r.right <= box.left || r.left >= box.right) continue;
    const x = Math.min(Math.max(r.left + r.width / 2, box.left + 2), box.right - 2);
    const y = Math.min(Math.max(r.top + Math.min(r.height / 2, 20), box.top + 2), box.bottom - 2);
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(e === hit || e.contains(hit))) {
      out.push((e.dataset.tileFor ?? e.id) + ' covered by ' + (hit ? (hit.id || hit.tagName) : 'nothing'));
    }
  }
  return out;
}"""

BAR_JS = """() => {
  const bar = document.getElementById('controls');
  const tops = [...bar.querySelectorAll('button, #quality')].filter(b => b.getBoundingClientRect().width > 0)
    .map(b => Math.round(b.getBoundingClientRect().top + b.getBoundingClientRect().height / 2));
  return {height: bar.getBoundingClientRect().height, rows: new Set(tops.map(t => Math.round(t / 8))).size,
          spread: Math.max(...tops) - Math.min(...tops)};
}"""


async def open_seat(ctx, server: LiveServer, seated: Seated, label: str, state: str = "connected") -> Page:  # type: ignore[no-untyped-def]
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    await page.goto(f"{server.base}/join#token={seated[label].token}&skipcheck=1")
    await wait_state(page, state)
    return page


async def check_layout(page: Page, shot: str, *, videos: bool = True) -> None:
    """Screenshot it, then: nothing overflows, the bottom bar is one row, every video (and the console) is in sight."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
    assert await page.evaluate(OVERFLOWS_JS) == [], shot
    if await page.locator("#controls").is_visible():
        bar = await page.evaluate(BAR_JS)
        assert bar["spread"] <= 4, (shot, bar)  # one row of buttons: the bar does not wrap
    if videos:
        assert await page.evaluate(COVERED_JS) == [], shot


async def test_evidence_beside_the_people_and_the_state_newcomers_get(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
        await server.services.court.set_participant_status(seated["plaintiff"].participant_id,
                                                           ParticipantStatus.ADMITTED)
        async with room_api(server, seated, "plaintiff") as plaintiff_api, \
                room_api(server, seated, "clerk") as clerk_api:
            r = await plaintiff_api.post("/exhibits", files={"file": ("合同.pdf", make_pdf(3), "application/pdf")})
            assert r.status_code == 201, r.text
            exhibit_id = r.json()["id"]
            r = await clerk_api.put("/transcript", json={"text": "审判长：现在开庭。\n原告：请求支付货款。",
                                                         "base_version": 0})
            assert r.status_code == 200, r.text
            async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3, \
                    fresh_context(browser) as c4:
                judge = await open_seat(c1, server, seated, "judge")
                clerk = await open_seat(c2, server, seated, "clerk")
                plaintiff = await open_seat(c3, server, seated, "plaintiff")
                witness = await open_seat(c4, server, seated, "witness", "lobby")
                wid = seated["witness"].participant_id

                # The party's lobby (the witness waits), at both station sizes and on a phone.
                for size, viewport in [*SIZES.items(), ("phone", PHONE)]:
                    await witness.set_viewport_size(viewport)
                    await check_layout(witness, f"layout-{size}-witness-lobby", videos=False)

                # The judge presents the exhibit from the panel, which stays open beside it.
                await judge.locator("#exhibits-toggle").click()
                row = judge.locator(f'#exhibits [data-exhibit="{exhibit_id}"]')
                await row.locator('button[data-action="present"]').click()
                await judge.locator(f'#exhibit-view:not([hidden])[data-exhibit-id="{exhibit_id}"]').wait_for(
                    timeout=WAIT_MS)
                assert await judge.locator("#exhibits").is_visible() and await judge.locator("#console").is_visible()
                await plaintiff.locator(f'#exhibit-view:not([hidden])[data-exhibit-id="{exhibit_id}"]').wait_for(
                    timeout=WAIT_MS)

                # The console works while the evidence is open: the judge admits the witness with clicks there.
                lobby_row = judge.locator(f'#console [data-lobby-participant="{wid}"]')
                await lobby_row.locator("select[data-verification]").select_option("id_card_on_video")
                await lobby_row.locator('button[data-action="admit"]').click(timeout=5000)
                await wait_state(witness, "connected")
                # Admitted after it was presented, the witness is shown the exhibit too.
                await witness.locator(f'#exhibit-view:not([hidden])[data-exhibit-id="{exhibit_id}"]').wait_for(
                    timeout=WAIT_MS)
                await judge.locator(f'#stage [data-tile-for="{wid}"], #strip [data-tile-for="{wid}"]').wait_for(
                    timeout=WAIT_MS)

                for size, viewport in SIZES.items():
                    for page in (judge, clerk, plaintiff, witness):
                        await page.set_viewport_size(viewport)
                    await check_layout(judge, f"layout-{size}-judge-exhibit-panel")
                    await judge.locator("#exhibits-toggle").click()  # panel closed: the exhibit beside the people
                    await judge.locator("#exhibits").wait_for(state="hidden")
                    await check_layout(judge, f"layout-{size}-judge-exhibit")
                    await judge.locator("#exhibits-toggle").click()
                    await judge.locator("#exhibits").wait_for()
                    await check_layout(clerk, f"layout-{size}-clerk-console")
                    await check_layout(plaintiff, f"layout-{size}-plaintiff-exhibit")
                    await check_layout(witness, f"layout-{size}-witness-exhibit")
                await plaintiff.set_viewport_size(PHONE)
                await check_layout(plaintiff, "layout-phone-plaintiff-exhibit")

                # 离开 for the presiding judge asks: leave alone, or end for everyone. Cancel keeps them in.
                await judge.locator("#leave").click()
                dialog = judge.locator("dialog#leave-dialog[open]")
                await dialog.wait_for(timeout=WAIT_MS)
                assert "仅我离开" in await dialog.inner_text() and "对所有人结束" in await dialog.inner_text()
                await dialog.locator('button[data-choice="cancel"]').click()
                await dialog.wait_for(state="detached")
                assert await judge.evaluate("document.body.dataset.state") == "connected"
                await judge.locator("#leave").click()
                await dialog.locator('button[data-choice="end"]').click()
                await plaintiff.locator('#room-banner [data-state="closed"]').wait_for(timeout=WAIT_MS)
                await wait_state(judge, "ended")

                # Closed: no video any more, so the clerk's on-video confirmation is refused, with its code.
                r = await clerk_api.post("/transcript/confirmations", json={
                    "participant_id": seated["plaintiff"].participant_id})
                assert r.status_code == 409 and r.json()["error"] == "no_video_after_close"
                await clerk.locator("#transcript:not([hidden])").wait_for(timeout=WAIT_MS)
                assert await clerk.locator("#transcript-confirm").is_hidden()
                zh = await clerk.evaluate(
                    "async () => (await import('/static/js/i18n.js')).errorText({error: 'no_video_after_close'})")
                assert "闭庭" in zh

                # The party's signing view, at both sizes and on a phone.
                sign = plaintiff.locator("#transcript-sign:not([hidden])")
                await sign.wait_for(timeout=WAIT_MS)
                for size, viewport in [*SIZES.items(), ("phone", PHONE)]:
                    await plaintiff.set_viewport_size(viewport)
                    await check_layout(plaintiff, f"layout-{size}-plaintiff-signing", videos=False)
                for page in (judge, clerk, plaintiff, witness):
                    assert page.errors.errors == []  # type: ignore[attr-defined]
