"""What people see and touch: keyboard access, screen-reader labels, contrast, the station-screen layout
(1024x600) with the judge large, and the language toggle."""

from __future__ import annotations

from hearing.roles import Role
from tests.browser import ARTIFACTS, STATION, chromium, fresh_context, join, open_page, video_of, wait_frames
from tests.live import live_server

ROOM = "court-1"
CONTROLS = ["lang", "mute-audio", "mute-video", "audio-only", "roster-toggle", "leave"]

# WCAG relative luminance and contrast of an element's text against what is really behind it (blending
# translucent backgrounds up the tree).
CONTRAST_JS = """
el => {
  const parse = c => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const blend = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const layers = [];
  for (let n = el; n; n = n.parentElement) {
    const bg = parse(getComputedStyle(n).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] === 1) break;
  }
  let bg = [255, 255, 255, 1];
  for (const layer of layers.reverse()) bg = blend(layer, bg);
  const fg = blend(parse(getComputedStyle(el).color), bg);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""


async def test_keyboard_reaches_every_control_and_toggles_mute(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await judge.locator(video_of("plaintiff")).wait_for(state="attached")
            reached: list[str] = []
            for _ in range(30):
                await party.keyboard.press("Tab")
                reached.append(await party.evaluate("document.activeElement.id"))
            assert set(CONTROLS) <= set(reached), f"not reachable by Tab: {set(CONTROLS) - set(reached)}"
            # Every visible button has a name for screen readers; toggles expose their state.
            for button in await party.get_by_role("button").all():
                if await button.is_visible():
                    name = (await button.get_attribute("aria-label")) or (await button.inner_text()).strip()
                    assert name, await button.evaluate("b => b.outerHTML")
            for toggle in ("mute-audio", "mute-video", "audio-only"):
                assert await party.get_attribute(f"#{toggle}", "aria-pressed") == "false"
            assert await party.get_attribute("#roster-toggle", "aria-expanded") == "false"
            assert await party.get_attribute("#status", "role") == "status"
            assert await party.get_attribute("#status", "aria-live") == "polite"
            # Enter and Space both toggle the microphone; the others see it.
            await party.focus("#mute-audio")
            await party.keyboard.press("Enter")
            assert await party.get_attribute("#mute-audio", "aria-pressed") == "true"
            await judge.locator('[data-tile-for][data-role="plaintiff"] .badge.mic-off').wait_for()
            await party.keyboard.press("Space")
            assert await party.get_attribute("#mute-audio", "aria-pressed") == "false"
            await judge.locator('[data-tile-for][data-role="plaintiff"] .badge.mic-off').wait_for(state="detached")
            # The roster opens from the keyboard and lists everyone with their state.
            await party.focus("#roster-toggle")
            await party.keyboard.press("Enter")
            assert await party.get_attribute("#roster-toggle", "aria-expanded") == "true"
            roster = await party.locator("#participants").inner_text()
            assert "王审判长（审判长）" in roster and "张原告（您）（原告）" in roster
            # Text on controls, status and captions meets WCAG AA (4.5:1).
            for selector in ["#status", "#lang", "#mute-audio", "#audio-only", "#leave", "#quality .q-text",
                             '[data-tile-for][data-role="presiding_judge"] .name',
                             '[data-tile-for][data-role="presiding_judge"] .role', "#participants li"]:
                ratio = await party.locator(selector).first.evaluate(CONTRAST_JS)
                assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f}"


async def test_station_screen_layout_keeps_the_judge_large(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with (fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3,
                    fresh_context(browser, viewport=STATION) as c4):
            await join(c1, await server.link(ROOM, Role.CLERK, "刘书记员"))
            await join(c2, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
            await join(c3, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            station = await join(c4, await server.link(ROOM, Role.DEFENDANT, "李被告"))
            for role in ("presiding_judge", "clerk", "plaintiff"):
                await wait_frames(station, role, more=1)
            areas = await station.evaluate(
                """[...document.querySelectorAll('[data-tile-for]')].map(t => {
                     const r = t.getBoundingClientRect(); return [t.dataset.role, r.width * r.height]; })""")
            assert len(areas) == 4  # three remote tiles and the own preview
            largest = max(areas, key=lambda a: a[1])
            assert largest[0] == "presiding_judge", areas
            others = [a for r, a in areas if r != "presiding_judge"]
            assert largest[1] >= 3 * max(others), areas
            overflow = await station.evaluate(
                """({doc: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                     body: document.body.scrollWidth - document.body.clientWidth,
                     bottom: document.getElementById('leave').getBoundingClientRect().bottom,
                     strip: [...document.querySelectorAll('#strip .tile')].every(t =>
                       t.getBoundingClientRect().right <= innerWidth)})""")
            assert overflow["doc"] <= 0 and overflow["body"] <= 0, overflow  # no horizontal scrollbar
            assert overflow["bottom"] <= STATION["height"] and overflow["strip"], overflow
            ARTIFACTS.mkdir(exist_ok=True)
            await station.screenshot(path=str(ARTIFACTS / "room-station-1024x600.png"))


async def test_language_toggle_switches_and_is_remembered(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as ctx:
            page = await open_page(ctx, await server.link(ROOM, Role.PLAINTIFF, "张原告"), skipcheck=False)
            assert await page.evaluate("document.documentElement.lang") == "zh-CN"
            await page.get_by_role("button", name="Switch to English").click()
            assert await page.evaluate("document.documentElement.lang") == "en"
            await page.get_by_role("button", name="Join the hearing").wait_for()
            assert "Plaintiff" in await page.locator("#pj-who").inner_text()
            assert await page.locator("#title").inner_text() == "Remote hearing"
            await page.reload()  # the token survives (sessionStorage), the language too (localStorage)
            await page.get_by_role("button", name="Join the hearing").click()
            await page.wait_for_function("document.body.dataset.state === 'connected'", timeout=30_000)
            assert await page.get_by_role("button", name="Mute microphone").is_visible()
            await page.get_by_role("button", name="切换到中文").click()
            await page.get_by_role("button", name="静音麦克风").wait_for()
            assert await page.locator("#status").inner_text() == "已连接"
