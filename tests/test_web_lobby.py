"""The lobby and the court's controls in real Chromium: parties wait in the lobby with no media until a judge checks
their identity and admits them (then they see the judge's video); the procedure banner follows the judge's moves;
recess silences the parties; the judge can mute, send back to the lobby and remove, and a removed page stops."""

from __future__ import annotations

from playwright.async_api import Page

from hearing.roles import Role
from tests.browser import (
    ARTIFACTS,
    WAIT_MS,
    PageErrors,
    chromium,
    fresh_context,
    video_of,
    wait_frames,
    wait_state,
)
from tests.court import Seated, seat_hearing
from tests.live import LiveServer, live_server

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF}


def link(server: LiveServer, seated: Seated, label: str) -> str:
    return f"{server.base}/join#token={seated[label].token}"


async def open_seat(ctx, server: LiveServer, seated: Seated, label: str) -> Page:  # type: ignore[no-untyped-def]
    """Open a seat's link (pre-join check skipped), counting the WebSockets the page opens."""
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    page.sockets = []  # type: ignore[attr-defined]
    page.on("websocket", lambda ws: page.sockets.append(ws.url))  # type: ignore[attr-defined]
    await page.goto(link(server, seated, label) + "&skipcheck=1")
    return page


async def judge_and_waiting_party(server: LiveServer, seated: Seated, c1, c2) -> tuple[Page, Page]:  # type: ignore[no-untyped-def]
    judge = await open_seat(c1, server, seated, "judge")
    await wait_state(judge, "connected")
    party = await open_seat(c2, server, seated, "plaintiff")
    await wait_state(party, "lobby")
    return judge, party


async def admit(judge: Page, party: Page, pid: str, verification: str | None = "id_card_on_video") -> None:
    row = judge.locator(f'[data-lobby-participant="{pid}"]')
    await row.wait_for(timeout=WAIT_MS)
    if verification:
        await row.locator("select[data-verification]").select_option(verification)
    await row.locator('button[data-action="admit"]').click()
    await wait_state(party, "connected")


async def banner_state(page: Page, state: str) -> str:
    """Wait for the header banner to show a procedure state; returns its text."""
    banner = page.locator(f'#room-banner:not([hidden]) .rb-state[data-state="{state}"]')
    await banner.wait_for(timeout=WAIT_MS)
    return await page.locator("#room-banner").inner_text()


async def banner_has(page: Page, text: str) -> None:
    await page.locator("#room-banner:not([hidden])", has_text=text).wait_for(timeout=WAIT_MS)


async def test_a_judge_admits_a_party_from_the_lobby_and_the_party_then_sees_the_judges_video(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", PEOPLE, state="lobby_open")
        pid = seated["plaintiff"].participant_id
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge, party = await judge_and_waiting_party(server, seated, c1, c2)
            # The party waits: the lobby's words, the hearing's kind and state, no media, nobody to see.
            assert "请稍候，法官将核实您的身份后准许您进入" in await party.locator("#lobby-view").inner_text()
            assert await party.locator("#lobby-hearing").inner_text() == "庭审 · 候庭"
            assert await party.evaluate("hearing.place") == "lobby"
            assert await party.evaluate("hearing.permissions.actions") == []
            assert await party.evaluate("hearing.roomState.state") == "lobby_open"
            assert await party.evaluate("hearing.pc") is None
            assert await party.locator("video[data-participant-id]").count() == 0
            assert await party.locator("#room-view").is_hidden()
            assert await party.locator("#console").is_hidden()
            ARTIFACTS.mkdir(exist_ok=True)
            await party.screenshot(path=str(ARTIFACTS / "hearing-lobby.png"))
            # The judge has the court controls, the party waiting in the lobby and no tile for them yet.
            row = judge.locator(f'[data-lobby-participant="{pid}"]')
            await row.wait_for()
            assert seated["plaintiff"].name in await row.inner_text() and "原告" in await row.inner_text()
            assert await judge.locator(video_of("plaintiff")).count() == 0
            transitions = await judge.evaluate("hearing.permissions.transitions")
            shown = await judge.locator("#console [data-transition]").evaluate_all(
                "bs => bs.map(b => b.dataset.transition)")
            assert sorted(shown) == sorted(transitions) and "start_session" in shown
            # A locked room admits nobody: the waiting party is told, the judge's Admit is off until unlocked.
            lock = judge.locator('#console button[data-action="lock"]')
            await lock.click()
            await party.locator("#lobby-locked").wait_for()
            await banner_has(party, "已锁定")
            await judge.wait_for_function(
                "document.querySelector('[data-lobby-participant] [data-action=admit]').disabled")
            assert await lock.get_attribute("aria-pressed") == "true"
            await lock.click()
            await party.locator("#lobby-locked").wait_for(state="hidden")
            await row.locator('button[data-action="admit"]:not([disabled])').wait_for()
            # Admitting without saying how the identity was checked is refused, and the page says why.
            await row.locator('button[data-action="admit"]').click()
            # the code's words, not the server's sentence
            await judge.locator("#notice:not([hidden])", has_text="请先核验该参加人的身份").wait_for()
            assert await party.evaluate("hearing.place") == "lobby"
            # With the method chosen, the party is let in and sees and hears the judge.
            await admit(judge, party, pid)
            await wait_frames(party, "presiding_judge")
            await wait_frames(judge, "plaintiff")
            assert await party.evaluate("hearing.place") == "room"
            assert {"publish_audio", "publish_video", "subscribe"} <= set(
                await party.evaluate("hearing.permissions.actions"))
            await row.wait_for(state="detached")
            await judge.locator(f'[data-participant-row="{pid}"]').wait_for()
            assert await party.locator("#lobby-view").is_hidden()
            await judge.screenshot(path=str(ARTIFACTS / "hearing-judge-console.png"))
            for page in (judge, party):
                assert not page.errors.errors  # type: ignore[attr-defined]


async def test_procedure_banner_recess_mute_send_to_lobby_deny_and_remove(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", {**PEOPLE, "defendant": Role.DEFENDANT}, state="lobby_open")
        pid = seated["plaintiff"].participant_id
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            judge, party = await judge_and_waiting_party(server, seated, c1, c2)
            await banner_state(party, "lobby_open")

            # Turned away from the lobby (with a confirmation step): the page ends with the reason and stays ended;
            # opening the link again is refused by the court.
            other = await open_seat(c3, server, seated, "defendant")
            await wait_state(other, "lobby")
            drow = judge.locator(f'[data-lobby-participant="{seated["defendant"].participant_id}"]')
            await drow.locator('button[data-action="deny"]').click()
            await drow.locator("input[data-reason]").fill("身份不符")
            await drow.locator('button[data-action="confirm"]').click()
            await wait_state(other, "ended")
            assert "身份不符" in await other.locator("#msg-detail").inner_text()
            assert await other.locator("#msg-rejoin").is_hidden()
            assert await other.evaluate("hearing.app.sig.done") is True
            assert len(other.sockets) == 1  # type: ignore[attr-defined]
            await drow.wait_for(state="detached")
            await other.reload()  # the link is kept for this tab: the server refuses it now (4006)
            await wait_state(other, "error")
            assert "不允许您加入" in await other.locator("#msg-text").inner_text()
            assert await other.locator("#msg-rejoin").is_hidden()
            await admit(judge, party, pid, "id_card_at_station")
            await wait_frames(party, "presiding_judge")

            # 开庭: both pages show it, with the recording mark (trials are recorded in full).
            await judge.locator('#console button[data-transition="start_session"]').click()
            for page in (judge, party):
                text = await banner_state(page, "in_session")
                assert "开庭" in text and "录像中" in text
            await judge.locator('#console button[data-transition="recess"]').wait_for()

            # The judge mutes the party: the party's microphone button shows it, with who did it.
            prow = judge.locator(f'[data-participant-row="{pid}"]')
            await prow.locator('button[data-action="mute"]').click()
            mic = party.locator("#mute-audio")
            await party.wait_for_function("document.getElementById('mute-audio').ariaPressed === 'true'")
            muted = await party.locator("#media-notice").inner_text()
            assert "法庭已将您静音" in muted and "审判长" not in muted  # true whoever of the court muted
            assert await party.evaluate("hearing.app.local.audio.enabled") is False
            await prow.locator(".c-flags", has_text="麦克风已关").wait_for()
            await mic.click()  # unmuting oneself lifts the court's mute
            await party.wait_for_function("document.getElementById('mute-audio').ariaPressed === 'false'")
            assert await party.locator("#media-notice").inner_text() == ""
            await prow.locator(".c-flags", has_text="麦克风已关").wait_for(state="detached")

            # 休庭: parties do not speak; the controls say why. The judge still does.
            await judge.locator('#console button[data-transition="recess"]').click()
            await banner_state(party, "recess")
            await party.wait_for_function("document.getElementById('mute-audio').disabled")
            assert await mic.is_disabled() and await party.locator("#mute-video").is_disabled()
            assert "休庭中，当事人暂不发言" in await party.locator("#media-notice").inner_text()
            assert await party.evaluate("hearing.app.local.audio.enabled") is False
            assert "publish_audio" not in await party.evaluate("hearing.permissions.actions")
            assert not await judge.locator("#mute-audio").is_disabled()
            ARTIFACTS.mkdir(exist_ok=True)
            await party.screenshot(path=str(ARTIFACTS / "hearing-recess-party.png"))
            await judge.locator('#console button[data-transition="resume"]').click()
            await banner_state(party, "in_session")
            await party.wait_for_function("!document.getElementById('mute-audio').disabled")
            assert await party.evaluate("hearing.app.local.audio.enabled") is True

            # Back to the lobby: the party's media stops and the remote video goes.
            await prow.locator('button[data-action="send-to-lobby"]').click()
            await wait_state(party, "lobby")
            await party.locator("video[data-participant-id]").first.wait_for(state="detached")
            assert await party.evaluate("hearing.pc") is None
            assert "法庭已请您回到候庭区" in await party.locator("#lobby-reason").inner_text()
            await judge.locator(f'[data-lobby-participant="{pid}"]').wait_for()
            await judge.locator(video_of("plaintiff")).wait_for(state="detached")

            # Admitted again (the identity was checked already): media comes back on a new PeerConnection.
            await admit(judge, party, pid, None)
            await wait_frames(party, "presiding_judge")

            # Removed, with a confirmation step and a reason: the page ends, says why, and does not come back.
            await prow.locator('button[data-action="remove"]').click()
            await prow.locator("input[data-reason]").fill("扰乱法庭秩序")
            await prow.locator('button[data-action="confirm"]').click()
            await wait_state(party, "ended")
            assert "扰乱法庭秩序" in await party.locator("#msg-detail").inner_text()
            assert "移出" in await party.locator("#msg-text").inner_text()
            assert await party.locator("#msg-rejoin").is_hidden()
            assert await party.evaluate("hearing.app.sig.done") is True  # no reconnect is scheduled
            assert len(party.sockets) == 1, party.sockets  # type: ignore[attr-defined]
            await prow.wait_for(state="detached")
            assert await judge.locator(video_of("plaintiff")).count() == 0
            for page in (judge, party):
                assert not page.errors.errors  # type: ignore[attr-defined]


async def test_court_words_in_both_languages_and_the_rule_helpers(tmp_path) -> None:
    """Every kind, state, transition and verification method has words in both languages; the lobby speaks to a
    witness as one waiting to be called; the helpers read `permissions` as the server means them."""
    from docket.court import HearingKind, VerificationMethod
    from hearing.kinds import KIND_LABELS, STATE_LABELS, ProcedureState
    from hearing.procedure import Transition
    from petitions.calls import ROOM_KIND as PETITION_CALL_KIND
    from stations.call_rules import CALL_KIND, LIVE

    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        page = await ctx.new_page()
        await page.goto(f"{server.base}/healthz")  # any page of the origin, to import the modules from
        out = await page.evaluate("""async () => {
            const i18n = await import('/static/js/i18n.js');
            const rs = await import('/static/js/roomstate.js');
            const { Lobby } = await import('/static/js/lobby.js');
            const groups = {};
            for (const g of Object.keys(i18n.LABELS)) groups[g] = {zh: Object.keys(i18n.LABELS[g].zh).sort(),
                                                                en: Object.keys(i18n.LABELS[g].en).sort()};
            document.body.innerHTML = `<section id="lobby-view"><h2 id="lobby-h"></h2><p id="lobby-hearing"></p>
              <p id="lobby-reason"></p><p id="lobby-locked"></p><video id="lobby-self"></video><p id="lobby-hint"></p>
              </section>`;
            const lobby = new Lobby(document.getElementById('lobby-view'));
            const roomState = {state: 'lobby_open', kind: 'trial', locked: true};
            const words = {};
            for (const lang of ['zh', 'en']) {
              i18n.setLang(lang, {remember: false});
              lobby.render({me: {role: 'witness'}, roomState});
              words[lang] = {witness: document.getElementById('lobby-h').textContent,
                             hearing: document.getElementById('lobby-hearing').textContent,
                             locked: !document.getElementById('lobby-locked').hidden};
              lobby.render({me: {role: 'plaintiff'}, roomState: {...roomState, locked: false}, back: true,
                            reason: 'x'});
              words[lang].party = document.getElementById('lobby-h').textContent;
              words[lang].back = document.getElementById('lobby-reason').textContent;
              lobby.render({me: {role: 'plaintiff'}, roomState: {state: 'lobby_open', kind: 'mediation'}});
              words[lang].mediation = document.getElementById('lobby-h').textContent;
              words[lang].recess = i18n.t(...rs.silencedReason({state: 'recess'}));
            }
            i18n.setLang('zh', {remember: false});
            const party = {place: 'room', actions: ['subscribe'], transitions: []};
            const judge = {place: 'room', actions: ['admit_deny', 'publish_audio'], transitions: ['recess']};
            return {groups, words, labels: {kind: i18n.LABELS.kind, state: i18n.LABELS.state},
              helpers: [rs.hasConsole(party), rs.hasConsole(judge), rs.mayPublish(party, 'audio'),
                        rs.mayPublish(judge, 'audio'), rs.mayPublish(judge, 'video'), rs.mayPublish(null, 'audio'),
                        rs.isHearing({state: 'open'}), rs.isHearing({state: 'recess'})]};
        }""")
        # A connect-a-judge call room (stations/) reports its own kind and its live states in the same room state.
        expected = {"kind": {k.value for k in HearingKind} | {CALL_KIND, PETITION_CALL_KIND},
                    "state": {s.value for s in ProcedureState} | {"open"} | {s.value for s in LIVE},
                    "transition": {t.value for t in Transition},
                    "verification": {m.value for m in VerificationMethod}}
        for group, values in expected.items():
            assert set(out["groups"][group]["zh"]) == set(out["groups"][group]["en"]) == values, group
        # The same words as the server's (hearing/kinds.py).
        for group, table in (("kind", KIND_LABELS), ("state", STATE_LABELS)):
            for value, (zh_label, en_label) in table.items():
                assert out["labels"][group]["zh"][value] == zh_label and out["labels"][group]["en"][value] == en_label
        zh, en = out["words"]["zh"], out["words"]["en"]
        assert (zh["witness"], en["witness"]) == ("等候传唤", "Waiting to be called")
        assert zh["party"] == "请稍候，法官将核实您的身份后准许您进入"
        assert en["party"] == "Please wait: the court will check your identity and let you in"
        # a mediation's lobby names who checks: the mediator, not a judge
        assert zh["mediation"] == "请稍候，调解员将核实您的身份后准许您进入" and "mediator" in en["mediation"]
        assert (zh["hearing"], en["hearing"]) == ("庭审 · 候庭", "Trial · Lobby open")
        assert zh["locked"] and en["locked"]
        assert zh["back"].endswith("：x") and en["back"].endswith(": x")
        assert (zh["recess"], en["recess"]) == ("休庭中，当事人暂不发言", "In recess: parties do not speak")
        assert out["helpers"] == [False, True, False, True, False, True, False, True]
