"""The web client under its real Content-Security-Policy in Chromium (issue 14, item 8): every page loads with no
violation, a join link connects, and the join page may be framed by the platform's own pages (the stations' call
frame; other origins are refused by frame-ancestors 'self', checked on the header in tests/test_http_headers.py).
Waits use selectors (Playwright's wait_for_function needs eval, which the policy forbids)."""

from __future__ import annotations

from pathlib import Path

from hearing.roles import Role
from tests.browser import WAIT_MS, chromium, fresh_context
from tests.live import live_server

PAGES = ["/join", "/staff", "/station", "/duty", "/points", "/integrity", "/petitions", "/petitions/staff",
         "/async", "/async/inbox", "/async/inbox?as=staff", "/static/integrity/agency.html",
         "/static/integrity/appeals.html"]


async def test_pages_load_connect_and_frame_under_the_policy(tmp_path: Path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser, enforce_csp=True) as ctx:
            page = await ctx.new_page()
            violations: list[str] = []
            errors: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for path in PAGES:
                response = await page.goto(server.base + path, wait_until="load")
                assert response is not None and response.ok, path
                assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
            assert violations == [] and errors == [], (violations, errors)

            # A real join under the policy: the page's modules run, signalling connects.
            link = await server.link("csp-room", Role.PRESIDING_JUDGE, "王法官")
            await page.goto(link + "&skipcheck=1")
            await page.wait_for_selector('body[data-state="connected"]', state="attached", timeout=WAIT_MS)

            # Same-origin framing (the stations' #call-frame) works: the framed join page runs.
            await page.goto(f"{server.base}/duty", wait_until="load")
            await page.evaluate("""url => new Promise((resolve, reject) => {
                const f = document.createElement('iframe');
                f.id = 'probe'; f.src = url; f.onload = resolve; f.onerror = reject;
                document.body.append(f);
            })""", f"{server.base}/join")
            frame = page.frame_locator("#probe")
            await frame.locator("body").wait_for(state="attached", timeout=WAIT_MS)
            assert await page.evaluate("document.getElementById('probe').contentDocument.title") != ""
            assert violations == [] and errors == [], (violations, errors)
