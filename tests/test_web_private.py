"""Private rooms (caucus, 背靠背调解) in real Chromium: the mediator opens a private room with the plaintiff from the
console; the plaintiff's page opens a second connection to it (the main one stays), shows the private banner and
receives the mediator's video there; the defendant sees the plaintiff marked "in a private room" and gets none of
their media; the mediator closes it and the plaintiff is back in the main room, seeing the defendant again."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context, video_of, wait_frames, wait_state
from tests.court import Seated, seat_hearing
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.timeout(240)

MEDIATION = {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF, "defendant": Role.DEFENDANT}


async def open_seat(ctx, server: LiveServer, seated: Seated, label: str) -> Page:  # type: ignore[no-untyped-def]
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    page.sockets = []  # type: ignore[attr-defined]
    page.on("websocket", lambda ws: page.sockets.append(ws.url))  # type: ignore[attr-defined]
    await page.goto(f"{server.base}/join#token={seated[label].token}&skipcheck=1")
    await wait_state(page, "connected")
    return page


async def test_a_caucus_with_the_plaintiff_and_back(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "mediation", MEDIATION, state="in_session")
        for label in ("plaintiff", "defendant"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        pid = seated["plaintiff"].participant_id
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            mediator = await open_seat(c1, server, seated, "mediator")
            plaintiff = await open_seat(c2, server, seated, "plaintiff")
            defendant = await open_seat(c3, server, seated, "defendant")
            await wait_frames(plaintiff, "defendant")
            await wait_frames(defendant, "plaintiff")

            # The mediator ticks the plaintiff in the console, names the room and opens it.
            row = mediator.locator(f'[data-participant-row="{pid}"]')
            await row.locator("input[data-private-pick]").check()
            await mediator.locator("#console input[data-private-label]").fill("原告方")
            await mediator.locator('#console button[data-action="open-private"]').click()

            # The plaintiff is in the private room: banner, never recorded, a second connection, the mediator's video.
            banner = plaintiff.locator("#private-banner:not([hidden])")
            await banner.wait_for(timeout=WAIT_MS)
            text = await banner.inner_text()
            assert "私下调解室：原告方" in text and "不录音录像" in text
            await plaintiff.wait_for_function("hearing.place === 'private' && hearing.private?.joined")
            room_id = await plaintiff.evaluate("hearing.private.roomId")
            assert any(url.endswith(f"/ws/{room_id}") for url in plaintiff.sockets)  # type: ignore[attr-defined]
            assert await plaintiff.evaluate("hearing.ws.readyState") == 1  # the main connection stays open
            await wait_state(plaintiff, "connected")
            await wait_frames(plaintiff, "mediator")
            assert await plaintiff.locator(video_of("defendant")).count() == 0  # the other side is not here
            assert await plaintiff.evaluate("hearing.private.roomState.private") is True
            assert "录像中" not in await plaintiff.locator("#room-banner").inner_text()

            # The mediator sat in with them; the console lists the room.
            await mediator.locator("#private-banner:not([hidden])").wait_for(timeout=WAIT_MS)
            await wait_frames(mediator, "plaintiff")
            opened = await server.services.court.find_private_room(room_id)
            assert opened is not None  # the console lists the room by its id (issue 14: room ids go to members)
            room_row = mediator.locator(f'#console [data-private-room="{opened.id}"]')
            await room_row.wait_for(timeout=WAIT_MS)

            # The defendant sees the plaintiff stepped out, and receives nothing of theirs.
            await defendant.locator(f'.tile[data-tile-for="{pid}"] .badge.private', has_text="在私下调解室").wait_for(
                timeout=WAIT_MS)
            await defendant.wait_for_function(
                """pid => !window.hearing.media.remoteTracks.has(pid)
                         && document.querySelector(`video[data-participant-id="${pid}"]`)?.srcObject == null""",
                arg=pid, timeout=WAIT_MS)
            ARTIFACTS.mkdir(exist_ok=True)
            await plaintiff.screenshot(path=str(ARTIFACTS / "hearing-private-room.png"))

            # The mediator closes it: the plaintiff is back in the main room and sees the defendant again.
            await room_row.locator('button[data-action="close-private"]').click()
            await plaintiff.wait_for_function("hearing.place === 'room' && hearing.private === null",
                                              timeout=WAIT_MS)
            await plaintiff.locator("#private-banner").wait_for(state="hidden")
            await wait_state(plaintiff, "connected")
            await wait_frames(plaintiff, "defendant")
            await wait_frames(defendant, "plaintiff")
            await defendant.locator(f'.tile[data-tile-for="{pid}"] .badge.private').wait_for(state="detached")
            await room_row.wait_for(state="detached")
            assert [m["action"] for m in await plaintiff.evaluate("hearing.privateLog")] == ["enter", "leave"]
            for page in (mediator, plaintiff, defendant):
                assert not page.errors.errors  # type: ignore[attr-defined]


# ---- the interpreter channel (web/js/interpret.js) ---------------------------------------------------------------

async def test_interpretation_mode_logic(tmp_path) -> None:
    """The pure helpers: who interprets, which `subscription` messages a mode needs (only changes are sent), the
    volumes, and that the choice is kept in the browser (storage), defaulting to what the server does."""
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        page = await ctx.new_page()
        await page.goto(f"{server.base}/healthz")
        out = await page.evaluate("""async () => {
            const m = await import('/static/js/interpret.js');
            const people = [{id: 'i', role: 'interpreter'}, {id: 'j', role: 'presiding_judge'},
                            {id: 'w', role: 'interpreter', place: 'lobby'}, {id: 'me', role: 'interpreter'}];
            const ids = m.interpreterIds(people, 'me');
            const sent = new Map();
            const steps = [m.pendingSubscriptions('interpreted', ids, sent),
                           m.pendingSubscriptions('original', ids, sent),
                           m.pendingSubscriptions('original', ids, sent),
                           m.pendingSubscriptions('interpreted', ids, sent)];
            const store = new Map(); const storage = {getItem: k => store.get(k) ?? null,
                                                      setItem: (k, v) => store.set(k, v)};
            const before = m.loadMode(storage);
            m.saveMode('original', storage);
            return {ids, steps, before, after: m.loadMode(storage), bad: m.normaliseMode('x'),
                    vol: [m.volumeFor('interpreted', {role: 'judge'}, true), m.volumeFor('interpreted',
                          {role: 'interpreter'}, true), m.volumeFor('original', {role: 'judge'}, true),
                          m.volumeFor('interpreted', {role: 'judge'}, false)]};
        }""")
        assert out["ids"] == ["i"]
        off = {"type": "subscription", "publisher_id": "i", "kind": "audio", "paused": True}
        assert out["steps"] == [[], [off], [], [{**off, "paused": False}]]
        assert (out["before"], out["after"], out["bad"]) == ("interpreted", "original", "interpreted")
        assert out["vol"] == [0.3, 1, 1, 1]


async def test_a_listener_chooses_original_or_interpreted(tmp_path) -> None:
    """A party in a trial with an interpreter: the control appears; Original tells the server to stop forwarding
    the interpreter's audio (and the choice survives a reload of the page); Interpreted lowers the judge's audio."""
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF,
                                                      "interpreter": Role.INTERPRETER}, state="in_session")
        for label in ("plaintiff", "interpreter"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        iid = seated["interpreter"].participant_id
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            await open_seat(c1, server, seated, "judge")
            interpreter = await open_seat(c2, server, seated, "interpreter")
            party = await open_seat(c3, server, seated, "plaintiff")
            await wait_frames(party, "interpreter")
            assert await interpreter.locator("#interp").is_hidden()  # the interpreter does not choose
            await party.locator("#interp:not([hidden])").wait_for(timeout=WAIT_MS)
            assert await party.evaluate("hearing.interpretation.mode") == "interpreted"
            await party.wait_for_function(
                "document.querySelector('audio[data-participant-id]')"
                " && [...document.querySelectorAll('audio[data-participant-id]')].every(a => a.volume === "
                f"(a.dataset.participantId === '{iid}' ? 1 : 0.3))", timeout=WAIT_MS)

            await party.locator("#listen-original").click()
            assert await party.locator("#listen-original").get_attribute("aria-pressed") == "true"
            assert (await party.evaluate("hearing.interpretation.sent")) == {iid: True}
            await party.wait_for_function(
                "[...document.querySelectorAll('audio[data-participant-id]')].every(a => a.volume === 1)")
            await party.reload()  # kept by this browser, and told to the new media session
            await wait_state(party, "connected")
            await party.wait_for_function(f"hearing.interpretation.sent['{iid}'] === true", timeout=WAIT_MS)
            assert await party.evaluate("hearing.interpretation.mode") == "original"
            await party.locator("#listen-interpreted").click()
            assert (await party.evaluate("hearing.interpretation.sent")) == {iid: False}


async def test_a_presiding_judge_closes_a_room_they_did_not_enter(tmp_path) -> None:
    """In a trial the presiding judge opens a counsel room for the plaintiff but does not go in: the console lists
    the hearing's open rooms as the server says them (`private-rooms`: label, who is in it) and closes it from
    there; the plaintiff is back in the main room."""
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF},
                                    state="in_session")
        await server.services.court.set_participant_status(seated["plaintiff"].participant_id,
                                                           ParticipantStatus.ADMITTED)
        pid = seated["plaintiff"].participant_id
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await open_seat(c1, server, seated, "judge")
            plaintiff = await open_seat(c2, server, seated, "plaintiff")
            await judge.locator(f'[data-participant-row="{pid}"] input[data-private-pick]').check()
            await judge.locator("#console input[data-private-label]").fill("原告与代理人")
            await judge.locator('#console button[data-action="open-private"]').click()
            await plaintiff.wait_for_function("hearing.place === 'private' && hearing.private?.joined",
                                              timeout=WAIT_MS)
            room_id = await plaintiff.evaluate("hearing.private.roomId")
            assert await judge.evaluate("hearing.place") == "room"  # the judge stayed in the main room
            opened = await server.services.court.find_private_room(room_id)
            assert opened is not None
            # The judge, not a member, sees the room by its id, never the signalling room id its members got.
            room_row = judge.locator(f'#console [data-private-room="{opened.id}"]')
            await room_row.wait_for(timeout=WAIT_MS)
            assert room_id not in await judge.locator("#console").inner_html()
            assert "原告与代理人" in await room_row.locator(".c-name").inner_text()
            assert seated["plaintiff"].name in await room_row.locator(".c-members").inner_text()
            await room_row.locator('button[data-action="close-private"]').click()
            await plaintiff.wait_for_function("hearing.place === 'room' && hearing.private === null",
                                              timeout=WAIT_MS)
            await room_row.wait_for(state="detached", timeout=WAIT_MS)
            await judge.locator("#console-private .c-empty").wait_for(timeout=WAIT_MS)
            for page in (judge, plaintiff):
                assert not page.errors.errors  # type: ignore[attr-defined]
