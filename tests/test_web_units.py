"""The web client's pure parts, run in Chromium as ES modules: close-code policy, SDP alignment with the SFU,
layout choice, quality verdicts, link parsing, and that every close code has words in both languages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page

from signaling.closecodes import RETRYABLE, CloseCode
from tests.browser import chromium, fresh_context
from tests.live import live_server


@pytest.fixture
async def page(tmp_path) -> AsyncIterator[Page]:
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        p = await ctx.new_page()
        await p.goto(f"{server.base}/healthz")  # any page of the origin, to import the modules from
        yield p


async def run(page: Page, module: str, body: str, arg: Any = None) -> Any:
    """Evaluate `body` (an async function body with `m` = the module and `arg`) in the page."""
    return await page.evaluate(
        f"async ([arg]) => {{ const m = await import('/static/js/{module}'); {body} }}", [arg])


async def test_close_codes_map_to_the_documented_actions(page: Page) -> None:
    actions = await run(page, "signaling.js", "return Object.fromEntries(arg.map(c => [c, m.closeAction(c)]));",
                        [int(c) for c in CloseCode] + [1006, 4999, 4011])
    for code in CloseCode:
        action = actions[str(int(code))]
        if code in RETRYABLE:
            assert action == "resume", code
        elif code == CloseCode.RESUME_FAILED:
            assert action == "rejoin"
        elif code == CloseCode.RATE_LIMITED:
            assert action == "resume-slow"
        elif code in (CloseCode.NORMAL, CloseCode.REPLACED, CloseCode.REMOVED):
            assert action == "ended", code
        else:
            assert action == "error", code
    assert actions["1006"] == actions["4999"] == actions["4011"] == "resume"  # unknown: try to take the place back
    delays = await run(page, "signaling.js", "return [0, 1, 2, 3, 10, 50].map(n => m.backoffMs(n, () => 0.5));")
    assert delays == sorted(delays) and delays[0] == 250 and delays[-1] <= 4000


async def test_every_refusal_has_words_in_both_languages(page: Page) -> None:
    stop = [int(c) for c in CloseCode if c not in RETRYABLE and c not in (CloseCode.RESUME_FAILED,)]
    out = await run(page, "i18n.js", """
        const res = {};
        for (const lang of ['zh', 'en']) { m.setLang(lang, {remember: false});
          res[lang] = arg.map(c => m.closeMessage(c)); }
        const keys = l => Object.keys(m.STRINGS[l]).sort();
        res.same = JSON.stringify(keys('zh')) === JSON.stringify(keys('en'));
        res.roles = Object.keys(m.ROLES.zh).sort().join() === Object.keys(m.ROLES.en).sort().join();
        m.setLang('zh', {remember: false});
        res.vars = m.t('graceOver', {s: 30});
        return res;""", stop)
    assert all(out["zh"]) and all(out["en"]), out
    assert out["same"] and out["roles"]
    assert "30 秒" in out["vars"]
    from hearing.roles import Role

    roles = await run(page, "i18n.js", "return Object.keys(m.ROLES.zh);")
    assert sorted(roles) == sorted(r.value for r in Role)


async def test_stage_arrangement_and_ufrag(page: Page) -> None:
    people = [{"id": "a", "role": "plaintiff"}, {"id": "b", "role": "judge"}, {"id": "c", "role": "presiding_judge"},
              {"id": "d", "role": "clerk"}]
    out = await run(page, "room.js", "return [m.arrange(arg), m.arrange(arg.filter(p => !p.role.includes('judge'))),"
                    " m.arrange([{id: 'x', role: 'mediator'}, {id: 'y', role: 'plaintiff'}])];", people)
    assert out[0] == {"stage": ["c", "b"], "strip": ["a", "d"]}  # presiding judge first, then the judge
    assert out[1] == {"stage": ["a", "d"], "strip": []}  # nobody presiding: everyone equal
    assert out[2] == {"stage": ["x"], "strip": ["y"]}  # a mediation: the mediator is large
    ufrag = await run(page, "media.js", "return [m.iceUfrag('v=0\\r\\na=ice-ufrag:Ab+1\\r\\n'), m.iceUfrag('v=0')];")
    assert ufrag == ["Ab+1", None]


async def test_quality_verdicts(page: Page) -> None:
    out = await run(page, "quality.js", """return {
        good: m.verdict({rtt: 0.05, loss: 0, bitrate: 1e6}),
        slow: m.verdict({rtt: 0.3, loss: 0, bitrate: 1e6}),
        lossy: m.verdict({rtt: 0.05, loss: 0.1, bitrate: 1e6}),
        thin: m.verdict({rtt: 0.05, loss: 0, bitrate: 100000}),
        summary: m.summarise({received: 100, lost: 0, bytesIn: 0, at: 0},
                             {received: 190, lost: 10, bytesIn: 250000, at: 2000, rtt: 0.02, availableOut: 5e5}),
        net: [m.networkVerdict([20, 30, 25]), m.networkVerdict([null, null]), m.networkVerdict([500, 600, 450]),
              m.networkVerdict([20, null, 30])],
        fmt: [m.formatRtt(0.0456), m.formatLoss(0.012), m.formatBitrate(1.25e6), m.formatBitrate(3e5)]};""")
    assert (out["good"], out["slow"], out["lossy"], out["thin"]) == ("good", "fair", "poor", "fair")
    s = out["summary"]
    assert s["loss"] == pytest.approx(0.1) and s["level"] == "poor" and s["inKbps"] == pytest.approx(1000)
    assert [n["level"] for n in out["net"]] == ["good", "unreachable", "poor", "fair"]
    assert out["net"][0]["rtt"] == 25
    assert out["fmt"] == ["46 ms", "1.2%", "1.3 Mbps", "300 kbps"]


async def test_link_is_read_scrubbed_and_kept_for_this_tab(page: Page) -> None:
    payload = {"room": "法庭-1", "name": "张三", "role": "plaintiff", "grants": ["publish", "subscribe"]}
    import base64

    body = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode().rstrip("=")
    token = f"eyJhbGciOiJIUzI1NiJ9.{body}.sig"
    out = await run(page, "token.js", """
        const store = new Map(); const storage = {getItem: k => store.get(k) ?? null,
          setItem: (k, v) => store.set(k, v), removeItem: k => store.delete(k)};
        const replaced = []; const history = {state: null, replaceState: (s, t, url) => replaced.push(url)};
        const loc = {hash: '#token=' + arg + '&skipcheck=1', pathname: '/join', search: ''};
        const first = m.readLink(loc, storage, history);
        const again = m.readLink({hash: '', pathname: '/join', search: ''}, storage, history);
        return {first, again, replaced, bad: m.decodeJwt('nope'), stored: store.get('hearing.link')};""", token)
    assert out["first"]["claims"] == payload and out["first"]["skipCheck"] is True
    assert out["again"]["token"] == token and out["again"]["claims"]["name"] == "张三"
    assert out["replaced"] == ["/join"]  # the token leaves the address bar
    assert out["bad"] is None and token in out["stored"]
