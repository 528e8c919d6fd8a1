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
        elif code == CloseCode.MOVED:
            assert action == "redirect"
        else:
            assert action == "error", code
    assert actions["1006"] == actions["4999"] == actions["4011"] == "resume"  # unknown: try to take the place back
    delays = await run(page, "signaling.js", "return [0, 1, 2, 3, 10, 50].map(n => m.backoffMs(n, () => 0.5));")
    assert delays == sorted(delays) and delays[0] == 250 and delays[-1] <= 4000

async def test_reconnects_start_again_at_the_entry_url_except_a_redirect(page: Page) -> None:
    """After a redirect the client talks to the owner node; when that node dies (1006) or drains (1001) it goes back
    to the entry URL (the proxy), which sends it to wherever the room lives now, instead of the dead node."""
    entry, owner = "wss://court.example/ws/r1", "wss://node-b.example:8443/ws/r1"
    urls = await run(page, "signaling.js", """
        return arg.codes.map(c => m.urlAfterClose(m.closeAction(c), arg.entry, arg.owner));""",
                     {"entry": entry, "owner": owner, "codes": [4015, 1006, 1001, 1011, 4007, 4008]})
    assert urls == [owner, entry, entry, entry, entry, entry]



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
    from petitions.calls import HANDLER_ROLE, PETITIONER_ROLE
    from stations.vocab import CallRole

    roles = await run(page, "i18n.js", "return Object.keys(m.ROLES.zh);")
    calls = {r.value for r in CallRole} | {HANDLER_ROLE, PETITIONER_ROLE}  # station calls and petition calls
    assert sorted(roles) == sorted({r.value for r in Role} | calls)


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


async def test_weak_links_adapt_instead_of_rebuilding(page: Page) -> None:
    out = await run(page, "quality.js", """
        const gone = [
          m.transportGone({ice: "failed"}), m.transportGone({ice: "closed"}),
          m.transportGone({ice: "disconnected", disconnectedForMs: 5000}),
          m.transportGone({ice: "disconnected", disconnectedForMs: 20000, bytesMoved: true}),
          m.transportGone({ice: "disconnected", disconnectedForMs: 20000, bytesMoved: false}),
          m.transportGone({ice: "connected"})];
        const walk = (samples, every = 2000) => {  // one sample per `every` ms, as the quality timer takes them
          let st = {}; const sends = [];
          samples.forEach((x, i) => { st = m.uplinkVideo(st, x, i * every).state; sends.push(st.sendVideo); });
          return sends;
        };
        return {gone,
          steady: walk([25e3, 400e3, 25e3, 400e3, 25e3, 400e3]),
          village: walk([...Array(20).fill(58e3), ...Array(20).fill(30e3)]),  // 150 kbit/s: the quarter layer fits
          low: walk([25e3, 20e3, 20e3, 60e3, 90e3, 95e3, 100e3, 105e3, 110e3, null], 1000),
          lowThenOk: walk([20e3, 20e3, 20e3, 400e3, 400e3, 400e3, 400e3, 400e3]),
          stuck: walk(Array(60).fill(20e3))};""")
    assert out["gone"] == [True, True, False, False, True, False]  # bad stats alone never rebuild
    assert all(out["steady"])  # a wobbling estimate does not flap the camera
    assert all(out["village"])
    assert out["low"] == [True, True, False, False, False, False, False, False, True, True]
    assert out["lowThenOk"][-1] is True and out["lowThenOk"][2] is False
    # Paused, the estimate cannot rise by itself: video is tried again after 10 s, then 20 s, 40 s (samples 2 s apart)
    stuck = out["stuck"]
    tries = [i for i in range(1, len(stuck)) if stuck[i] and not stuck[i - 1]]
    assert stuck[2] is False and tries[:3] == [7, 20, 43]


async def test_an_insecure_origin_says_why_the_camera_is_missing(page: Page) -> None:
    out = await run(page, "devices.js", "return m.failureKey({name: 'InsecureContextError'});")
    assert out == "whyInsecure"


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


async def test_a_connected_session_with_no_inbound_media_counts_as_starved(page: Page) -> None:
    cases = {
        # (samples as [at ms, bytesIn, tracks announced], expected)
        "nothing for 10 s while others publish": ([[0, 500, 1], [4000, 500, 1], [8000, 500, 1], [10000, 500, 1]], True),
        "media arrives": ([[0, 500, 1], [4000, 900, 1], [8000, 1500, 1], [10000, 2000, 1]], False),
        "nobody publishes": ([[0, 0, 0], [4000, 0, 0], [8000, 0, 0], [10000, 0, 0]], False),
        "not yet 10 s": ([[0, 0, 1], [4000, 0, 1], [8000, 0, 1]], False),
        "a publisher arrived 2 s ago": ([[0, 0, 0], [4000, 0, 0], [8000, 0, 1], [10000, 0, 1]], False),
    }
    got = await run(page, "media.js", """
        const out = {};
        for (const [name, [samples]] of Object.entries(arg))
          out[name] = m.starved(samples.map(([at, bytesIn, tracks]) => ({ at, bytesIn, tracks })));
        return out;""", cases)
    assert got == {name: expected for name, (_, expected) in cases.items()}


async def test_a_media_notice_refusing_video_is_said_in_words_and_video_is_not_offered_again(page: Page) -> None:
    got = await page.evaluate("""async () => {
        const media = await import('/static/js/media.js');
        const i18n = await import('/static/js/i18n.js');
        const s = new media.MediaSession({ send: () => true, publish: true });
        const seen = [];
        s.addEventListener("notice", ({ detail }) => seen.push(detail.code));
        const msg = { type: "media-notice", code: "no_common_video_codec", params: { offered: "VP8", room: "H264" } };
        const handled = s.handle(msg);
        i18n.setLang("zh", { remember: false });
        const zh = i18n.t("noCommonVideoCodec", msg.params);
        i18n.setLang("en", { remember: false });
        const en = i18n.t("noCommonVideoCodec", msg.params);
        i18n.setLang("zh", { remember: false });
        return { handled, seen, refused: s.videoRefused?.code ?? null, zh, en };
    }""")
    assert got["handled"] and got["seen"] == ["no_common_video_codec"] and got["refused"] == "no_common_video_codec"
    assert "视频" in got["zh"] and "H264" in got["zh"] and "VP8" in got["zh"] and "{" not in got["zh"]
    assert "video" in got["en"] and "H264" in got["en"] and "{" not in got["en"]


async def test_room_layout_leave_choice_and_staff_presence(page: Page) -> None:
    """Issue 15 items 2 and 3: an exhibit or a panel takes the doc area; only someone who may close asks before
    leaving; the staff table says 候庭中 only for people connected to the lobby now."""
    classes = await run(page, "layout.js", """return [m.layoutClasses({}), m.layoutClasses({exhibit: true}),
        m.layoutClasses({panel: true}), m.layoutClasses({exhibit: true, panel: true})];""")
    assert [c["doc"] for c in classes] == [False, True, True, True]
    assert [c["doc-exhibit"] for c in classes] == [False, True, False, True]
    modes = await run(page, "leave.js", """return [m.leaveMode({transitions: ['recess', 'close']}),
        m.leaveMode({transitions: ['recess']}), m.leaveMode(null)];""")
    assert modes == ["ask", "leave", "leave"]
    shown = await run(page, "staff/presence.js", """const lobby = new Set(['p1']);
        return [m.shownStatus({id: 'p1', status: 'waiting'}, lobby),
                m.shownStatus({id: 'p2', status: 'waiting'}, lobby),
                m.shownStatus({id: 'p3', status: 'admitted'}, lobby)];""")
    assert shown == ["waiting", "not_connected", "admitted"]
