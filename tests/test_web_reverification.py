"""The transcript's re-verification rule in real Chromium: the clerk's panel offers one checkbox per role that signs
this hearing's transcript, ticked as the rule in force says; a refusal (`not_a_signer`, here provoked by rewriting
the request on its way) is shown as the server says it; "restore the default" sends null; the clerk requires
counsel to re-verify, so once the hearing is closed counsel is not offered `none` (and the server refuses it),
while the clerk, not named, still is; once the clerk has signed, the rule can no longer change."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Route

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.browser import ARTIFACTS, WAIT_MS, chromium, fresh_context
from tests.court import room_api, seat_hearing
from tests.live import live_server
from tests.test_web_transcript import open_seat

pytestmark = pytest.mark.timeout(240)

TRIAL = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "counsel": Role.COUNSEL}
DEFAULT = ["defendant", "detainee", "interpreter", "plaintiff", "witness"]

METHODS_JS = """() => { const s = document.querySelector('#transcript-sign:not([hidden]) select[data-sign-method]');
                        return s ? [...s.options].map(o => o.value) : null; }"""


async def test_clerk_requires_counsel_to_reverify(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        seated = await seat_hearing(server, "trial", TRIAL, state="in_session")
        for label in ("counsel", "clerk"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, \
                room_api(server, seated, "judge") as judge_api, room_api(server, seated, "counsel") as counsel_api:
            clerk = await open_seat(c1, server, seated, "clerk")
            counsel = await open_seat(c2, server, seated, "counsel")

            # The clerk writes the transcript (something to sign later).
            await clerk.locator("#transcript-toggle").click()
            await clerk.locator('#transcript[data-loaded="true"] #transcript-text').wait_for(timeout=WAIT_MS)
            await clerk.locator("#transcript-text").type("审判长：现在开庭。")
            await clerk.locator("#transcript-text").blur()
            await clerk.locator("#transcript-status", has_text="已保存 第1版").wait_for(timeout=WAIT_MS)

            # The rule's checkboxes: the roles that sign a trial's transcript, ticked as the court's default says.
            rule = clerk.locator("#transcript-reverify:not([hidden])")
            await rule.wait_for(timeout=WAIT_MS)
            stored = (await judge_api.get("/transcript")).json()
            assert sorted(stored["reverify_roles"]) == DEFAULT
            assert "counsel" in stored["signer_roles"] and "observer" not in stored["signer_roles"]
            offered = await rule.locator("input[data-reverify-role]").evaluate_all(
                "bs => bs.map(b => [b.dataset.reverifyRole, b.checked])")
            assert [r for r, _ in offered] == stored["signer_roles"]
            assert sorted(r for r, ticked in offered if ticked) == DEFAULT
            box = rule.locator('input[data-reverify-role="counsel"]')
            counsel_label = rule.locator('label:has(input[data-reverify-role="counsel"])')
            assert "代理人" in await counsel_label.inner_text()  # role names in the page's language

            # A refusal is shown by its code, in the page's language: the request is rewritten on its way to name the
            # observer, who does not sign a trial's transcript (not_a_signer); the checkbox goes back to the rule.
            async def name_the_observer(route: Route) -> None:
                body = json.loads(route.request.post_data or "{}")
                await route.continue_(post_data=json.dumps({"roles": [*body["roles"], "observer"]}))

            await clerk.route("**/transcript/reverification", name_the_observer)
            await box.click()  # not check(): the refusal may put the box back before Playwright looks at it
            await clerk.locator("#transcript-error", has_text="这类庭审的笔录不由该角色签署") \
                .wait_for(timeout=WAIT_MS)
            await clerk.locator('#transcript-reverify[data-saving="false"] '
                                'input[data-reverify-role="counsel"]:not(:checked)').wait_for(timeout=WAIT_MS)
            await clerk.unroute("**/transcript/reverification")
            assert sorted((await judge_api.get("/transcript")).json()["reverify_roles"]) == DEFAULT

            # Ticking counsel saves at once; "restore the default" sends null; tick it again.
            await box.check()
            await clerk.locator('#transcript-reverify[data-saving="false"][data-roles~="counsel"]') \
                .wait_for(timeout=WAIT_MS)
            assert await clerk.locator("#transcript-error").inner_text() == ""
            assert sorted((await judge_api.get("/transcript")).json()["reverify_roles"]) == sorted([*DEFAULT,
                                                                                                    "counsel"])
            await rule.locator('button[data-action="reverify-default"]').click()
            await rule.locator(".tr-status", has_text="已恢复法院默认规则").wait_for(timeout=WAIT_MS)
            assert not await box.is_checked()
            assert "counsel" not in (await judge_api.get("/transcript")).json()["reverify_roles"]
            await box.check()
            await clerk.locator('#transcript-reverify[data-saving="false"][data-roles~="counsel"]') \
                .wait_for(timeout=WAIT_MS)
            await rule.locator(".tr-status", has_text="核验规则已保存").wait_for(timeout=WAIT_MS)
            ARTIFACTS.mkdir(exist_ok=True)
            await clerk.screenshot(path=str(ARTIFACTS / "hearing-transcript-reverify.png"))

            # The presiding judge closes the hearing; counsel's panel opens to sign, without `none`.
            judge_ws = await server.client(seated.room, seated["judge"].token)
            await judge_ws.expect("joined")
            await judge_ws.send({"type": "procedure", "transition": "close"})
            await counsel.locator('#room-banner[data-state="closed"]').wait_for(timeout=WAIT_MS)
            await counsel.locator("#transcript-sign:not([hidden])").wait_for(timeout=WAIT_MS)
            await counsel.wait_for_function(f"() => ({METHODS_JS})()?.join() === 'staff_confirmed,id_document'",
                                            timeout=WAIT_MS)
            assert "none" not in await counsel.evaluate(METHODS_JS)
            final = (await counsel_api.get("/transcript")).json()
            r = await counsel_api.post("/transcript/sign", json={"sha256": final["sha256"], "method": "none"})
            assert r.status_code == 422 and r.json()["error"] == "reverification_required", r.text

            # The clerk, whom the rule does not name, is still offered `none` and signs with it; signing has begun,
            # so the rule can no longer change (the boxes stay as they were, disabled).
            await clerk.wait_for_function(f"() => ({METHODS_JS})()?.[0] === 'none'", timeout=WAIT_MS)
            await clerk.locator('#transcript-sign button[data-action="sign"]').click()
            await clerk.locator("#transcript-signed:not([hidden])", has_text="已签名").wait_for(timeout=WAIT_MS)
            await clerk.locator('#transcript-reverify input[data-reverify-role="counsel"]:checked:disabled') \
                .wait_for(timeout=WAIT_MS)
            assert "不能再更改" in await rule.locator(".c-hint").first.inner_text()
            assert await rule.locator('button[data-action="reverify-default"]').is_hidden()
            await judge_ws.close()
            for page in (clerk, counsel):
                assert not page.errors.errors  # type: ignore[attr-defined]
