"""The transcript (笔录) in real Chromium: the clerk types and the editor autosaves (the server has it), a newer
version saved meanwhile shows as a conflict the clerk can take, the party reads the latest text; the presiding judge
closes the hearing from the console; the party sees the final text with its SHA-256, a wrong ID number is refused
with the server's words; the party asks for the clerk's confirmation and cannot sign until the clerk, in their own
panel, confirms them for signing; then they sign; the PDF downloads."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.browser import ARTIFACTS, WAIT_MS, PageErrors, chromium, fresh_context, wait_state
from tests.court import Seated, room_api, seat_hearing
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.timeout(240)

TRIAL = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF}


async def open_seat(ctx, server: LiveServer, seated: Seated, label: str) -> Page:  # type: ignore[no-untyped-def]
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    await page.goto(f"{server.base}/join#token={seated[label].token}&skipcheck=1")
    await wait_state(page, "connected")
    return page



async def test_autosave_read_close_sign_and_pdf(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", TRIAL, state="in_session")
        for label in ("plaintiff", "clerk"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3, \
                room_api(server, seated, "judge") as judge_api:
            clerk = await open_seat(c1, server, seated, "clerk")
            plaintiff = await open_seat(c2, server, seated, "plaintiff")
            judge = await open_seat(c3, server, seated, "judge")

            # The clerk writes; the editor autosaves after typing stops and says which version is stored.
            await clerk.locator("#transcript-toggle").click()
            editor = clerk.locator("#transcript-text")
            await clerk.locator('#transcript[data-loaded="true"] #transcript-text').wait_for(timeout=WAIT_MS)
            await editor.type("审判长：现在开庭。")
            status = clerk.locator("#transcript-status")
            await status.filter(has_text="已保存 第1版").wait_for(timeout=WAIT_MS)
            stored = (await judge_api.get("/transcript")).json()
            assert (stored["version"], stored["text"]) == (1, "审判长：现在开庭。")

            # The party reads it, and the next version arrives by itself (transcript-updated).
            await plaintiff.locator("#transcript-toggle").click()
            read = plaintiff.locator("#transcript-read")
            await read.filter(has_text="现在开庭").wait_for(timeout=WAIT_MS)
            assert await plaintiff.locator("#transcript-text").is_hidden()
            await editor.press("End")
            await editor.type("\n原告：请求支付货款。")
            await editor.blur()  # saves at once
            await status.filter(has_text="已保存 第2版").wait_for(timeout=WAIT_MS)
            await read.filter(has_text="请求支付货款").wait_for(timeout=WAIT_MS)

            # The presiding judge saves meanwhile (another editor): the clerk's next save is a conflict showing
            # the newer text, which the clerk takes.
            await editor.type("\n被告：")
            newer = "审判长：现在开庭。\n原告：请求支付货款。\n审判长：被告答辩。"
            r = await judge_api.put("/transcript", json={"text": newer, "base_version": 2})
            assert r.status_code == 200 and r.json()["version"] == 3
            conflict = clerk.locator("#transcript-conflict:not([hidden])")
            await conflict.wait_for(timeout=WAIT_MS)
            assert "被告答辩" in await conflict.locator(".tc-text").inner_text()
            await conflict.locator('button[data-action="take-latest"]').click()
            await conflict.wait_for(state="hidden")
            assert "被告答辩" in await editor.input_value()
            await read.filter(has_text="被告答辩").wait_for(timeout=WAIT_MS)

            # While in session the clerk's panel lists who still has to sign and is in the room; the clerk confirms
            # the party, seen on video (after the close there is no video to confirm on).
            pid = seated["plaintiff"].participant_id
            row = clerk.locator(f'#transcript-confirm:not([hidden]) li[data-confirm-participant="{pid}"]')
            await row.wait_for(timeout=WAIT_MS)
            assert seated["plaintiff"].name in await row.inner_text()
            await row.locator('button[data-action="confirm-identity"]').click()
            await clerk.locator(f'#transcript-confirm li[data-confirm-participant="{pid}"][data-confirmed="true"]') \
                .wait_for(timeout=WAIT_MS)

            # The judge closes the hearing (close asks once more).
            close = judge.locator('#console button[data-transition="close"]')
            await close.click()
            await judge.locator('#console button[data-transition="close"][data-armed="true"]').click()
            await plaintiff.locator('#room-banner[data-state="closed"]').wait_for(timeout=WAIT_MS)

            # The party sees the final text with its version and full hash, and signs.
            final = (await judge_api.get("/transcript")).json()
            sign = plaintiff.locator("#transcript-sign:not([hidden])")
            await sign.wait_for(timeout=WAIT_MS)
            assert final["sha256"] in await sign.locator(".ts-sha").inner_text()
            assert "第3版" in await sign.locator(".ts-version").inner_text()
            await sign.locator("select[data-sign-method]").select_option("id_document")
            await sign.locator("input[data-id-document]").fill("110101199001011234")
            await sign.locator('button[data-action="sign"]').click()
            error = plaintiff.locator("#transcript-error")
            await error.filter(has_text="身份证号与登记的不一致").wait_for(timeout=WAIT_MS)  # its code, in Chinese
            await sign.locator("select[data-sign-method]").select_option("staff_confirmed")
            assert seated["clerk"].name in await sign.locator(".ts-clerk").inner_text()

            # Closed: no video any more, so the clerk's panel offers no on-video confirmation.
            await clerk.locator("#transcript-confirm").wait_for(state="hidden", timeout=WAIT_MS)
            # The party's panel sees the confirmation by itself and may sign now.
            await sign.locator('.ts-clerk[data-confirmed="true"]').wait_for(timeout=WAIT_MS)
            assert seated["clerk"].name in await sign.locator(".ts-clerk").inner_text()
            await sign.locator('button[data-action="sign"]:not([disabled])').click()
            signed = plaintiff.locator("#transcript-signed:not([hidden])")
            await signed.filter(has_text="已签名").wait_for(timeout=WAIT_MS)
            await sign.wait_for(state="hidden")
            after = (await judge_api.get("/transcript")).json()
            assert seated["plaintiff"].participant_id in after["signed_by"] and after["frozen"]
            assert after["confirmations"] == []  # the confirmation served this one signature
            assert await clerk.locator("#transcript-confirm").is_hidden()

            # The PDF downloads through the page (bearer header, blob link).
            async with plaintiff.expect_download(timeout=WAIT_MS) as info:
                await plaintiff.locator('#transcript button[data-action="download-pdf"]').click()
            download = await info.value
            path = await download.path()
            assert path is not None and path.read_bytes().startswith(b"%PDF")
            assert download.suggested_filename == "transcript.pdf"
            ARTIFACTS.mkdir(exist_ok=True)
            await plaintiff.screenshot(path=str(ARTIFACTS / "hearing-transcript-signed.png"))
            for page in (clerk, plaintiff, judge):
                assert not page.errors.errors  # type: ignore[attr-defined]


async def test_pure_helpers(tmp_path) -> None:
    """transcript.js: who edits, the sign methods offered, the clerk in the room, our confirmation, whom a clerk can
    confirm, the sign body (never naming a clerk), who sets the re-verification rule and its checkboxes;
    exhibits.js: turning pages, each participant's latest opinion, who viewed an exhibit."""
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        page = await ctx.new_page()
        await page.goto(f"{server.base}/healthz")
        out = await page.evaluate("""async () => {
            const m = await import('/static/js/transcript.js');
            const x = await import('/static/js/exhibits.js');
            const people = [{id: 'c0', role: 'clerk', place: 'lobby'}, {id: 'j', role: 'presiding_judge'},
                            {id: 'c2', role: 'clerk', place: 'room', connection: 'reconnecting'},
                            {id: 'c1', role: 'clerk', name: 'C'}];
            const now = Date.parse('2026-06-01T10:00:00Z');
            const data = {pending: ['p1', 'p2', 'p3', 'c1'], confirmations: [
              {participant_id: 'p1', confirmed_by: 'c1', expires_at: '2026-06-01T10:05:00Z'},
              {participant_id: 'p1', confirmed_by: 'c1', expires_at: '2026-06-01T10:08:00Z'},
              {participant_id: 'p2', confirmed_by: 'c1', expires_at: '2026-06-01T09:59:00Z'}]};
            const room = [{id: 'p1', place: 'room'}, {id: 'p2', place: 'room'}, {id: 'p3', place: 'lobby'},
                          {id: 'p4', place: 'room'}, {id: 'c1', place: 'room'}];
            return {
              edit: [m.mayEdit('clerk', 'in_session', false), m.mayEdit('presiding_judge', 'closed', false),
                     m.mayEdit('clerk', 'closed', true), m.mayEdit('plaintiff', 'in_session', false),
                     m.mayEdit('clerk', 'record_sealed', false)],
              methods: [m.signMethods('plaintiff'), m.signMethods('counsel'), m.signMethods('plaintiff', ['witness']),
                        m.signMethods('counsel', ['counsel'])],
              clerk: m.confirmingClerk(people, 'me')?.id, self: m.confirmingClerk(people, 'c1'),
              mine: [m.myConfirmation(data, 'p1', now)?.expires_at, m.myConfirmation(data, 'p2', now),
                     m.myConfirmation(data, 'p9', now), m.myConfirmation(null, 'p1', now)],
              targets: m.confirmTargets(data, room, 'c1', now).map(x => [x.person.id, !!x.confirmation]),
              confirm: [m.mayConfirm('clerk', 'closed'), m.mayConfirm('clerk', 'lobby_open'),
                        m.mayConfirm('presiding_judge', 'closed')],
              bodies: [m.signBody({sha256: 'h', method: 'staff_confirmed', clerkId: 'c1'}),
                       m.signBody({sha256: 'h', method: 'id_document', idDocument: ' 11 '}),
                       m.signBody({sha256: 'h', method: 'none'})],
              pages: [x.turnPage(1, 3, -1), x.turnPage(1, 3, 1), x.turnPage(3, 3, 1), x.turnPage(2, 3, -1)],
              reverify: [m.mayConfigureReverify('clerk', 'scheduled', false),
                         m.mayConfigureReverify('presiding_judge', 'closed', false),
                         m.mayConfigureReverify('clerk', 'closed', true),
                         m.mayConfigureReverify('judge', 'in_session', false),
                         m.mayConfigureReverify('clerk', 'record_sealed', false)],
              choices: [m.reverifyChoices({signer_roles: ['clerk', 'counsel', 'plaintiff'],
                                           reverify_roles: ['counsel']}),
                        m.reverifyChoices({signer_roles: ['counsel', 'plaintiff']}), m.reverifyChoices(null)],
              viewers: x.viewersOf([
                {participant_id: 'd', name: 'D', role: 'defendant', at: '2026-06-01T10:00:00Z'},
                {participant_id: 'j', name: null, role: 'presiding_judge', at: '2026-06-01T10:01:00Z'},
                {participant_id: 'd', name: 'D', role: 'defendant', at: '2026-06-01T10:02:00Z'}]),
              latest: x.latestOpinions([{participant_id: 'a', revision: 1, created_at: '1'},
                                        {participant_id: 'a', revision: 2, created_at: '3'},
                                        {participant_id: 'b', revision: 1, created_at: '2'}])
                        .map(o => o.participant_id + o.revision),
            };
        }""")
        assert out["edit"] == [True, True, False, False, False]
        by_clerk, free = ["staff_confirmed", "id_document"], ["none", "id_document", "staff_confirmed"]
        assert out["methods"] == [by_clerk, free, free, by_clerk]
        assert out["clerk"] == "c1" and out["self"] is None  # c0 waits, c2's link dropped
        assert out["mine"] == ["2026-06-01T10:08:00Z", None, None, None]  # the latest; p2's expired
        assert out["targets"] == [["p1", True], ["p2", False]]  # in the room, still to sign, not the clerk
        assert out["confirm"] == [False, False, False]  # closed: no video any more to confirm anyone on
        assert out["bodies"] == [{"sha256": "h", "method": "staff_confirmed"},  # a clerk is never named
                                 {"sha256": "h", "method": "id_document", "id_document": "11"},
                                 {"sha256": "h", "method": "none"}]
        assert out["pages"] == [None, 2, None, 1]
        assert out["latest"] == ["b1", "a2"]
        assert out["reverify"] == [True, True, False, False, False]
        assert out["choices"] == [
            [{"role": "clerk", "checked": False}, {"role": "counsel", "checked": True},
             {"role": "plaintiff", "checked": False}],
            [{"role": "counsel", "checked": False}, {"role": "plaintiff", "checked": True}],  # the default rule
            []]
        assert out["viewers"] == [  # one line per viewer, in the order of their first view, with the latest
            {"participant_id": "d", "name": "D", "role": "defendant", "count": 2, "last": "2026-06-01T10:02:00Z"},
            {"participant_id": "j", "name": None, "role": "presiding_judge", "count": 1,
             "last": "2026-06-01T10:01:00Z"}]
