"""The asynchronous trial's page in real Chromium (fake camera): a party consents on a phone; the judge opens a stage
at 1024x600 and asks in text and on video; the party plays the question, records an answer with MediaRecorder and
submits it through the one clip upload; the judge plays it back (decoded frames). Chinese first; screenshots in
test-artifacts/."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page

from docket.court import ParticipantStatus
from docket.jobs import JobScheduler
from hearing.async_trial_deadlines import DeadlineJobs
from hearing.procedure import Refused
from hearing.roles import Role
from hearing.staff_auth import cheap_hasher
from tests.browser import ARTIFACTS, STATION, WAIT_MS, PageErrors, chromium, fresh_context, join
from tests.court import STAFF_PASSWORD, room_api, seat_hearing
from tests.live import live_server
from tests.test_async_trial_api import PEOPLE, consented_in_session, move, ok

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PHONE = {"width": 390, "height": 844}


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"async-trial-{name}.png"), full_page=False)


async def no_horizontal_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def test_a_party_records_and_submits_an_answer_and_the_judge_plays_it(tmp_path: Path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server, chromium() as browser, \
            fresh_context(browser, PHONE) as phone, fresh_context(browser, STATION) as desk:
        seated = await seat_hearing(server, "async_trial", PEOPLE, state="scheduled")
        party = await phone.new_page()
        party_errors = PageErrors(party)
        await party.goto(f"{server.base}/async#token={seated['plaintiff'].token}")
        await party.wait_for_selector("#at-consent-yes", timeout=WAIT_MS)
        assert "是否同意异步审理" in await party.inner_text("#at-consent")  # Chinese first
        await shot(party, "party-consent-phone")
        await party.click("#at-consent-yes")
        await party.wait_for_selector("#at-consented", timeout=WAIT_MS)
        async with room_api(server, seated, "defendant") as defendant:
            ok(await defendant.post("/async/consent", json={"given": True}))
        assert not isinstance(await move(server, seated, "open_lobby"), Refused)
        for label in ("judge", "clerk", "plaintiff", "defendant"):
            await server.services.court.set_participant_status(seated[label].participant_id,
                                                               ParticipantStatus.ADMITTED)
        assert not isinstance(await move(server, seated, "start_session"), Refused)

        judge = await desk.new_page()
        judge_errors = PageErrors(judge)
        await judge.goto(f"{server.base}/async#token={seated['judge'].token}")
        await judge.wait_for_selector("#at-open", timeout=WAIT_MS)
        await judge.select_option("#at-visibility", "at_once")
        await judge.fill("#at-workdays", "3")
        await judge.click("#at-open")
        await judge.wait_for_selector("#at-post", timeout=WAIT_MS)
        await judge.fill("#at-ask-text", "请陈述您的诉讼请求")
        await judge.click("#at-stages button.record")  # the judge also asks on video
        await judge.wait_for_function("document.querySelector('#at-stages .rec-info').textContent.includes('1 秒')",
                                      timeout=WAIT_MS)
        await judge.click("#at-stages button.record")
        await judge.wait_for_function("document.querySelector('#at-stages .rec-info').dataset.ready === '1'",
                                      timeout=WAIT_MS)
        await judge.click("#at-post")
        await judge.wait_for_selector(".question .at-waiting", timeout=WAIT_MS)
        await shot(judge, "judge-1024x600")
        await no_horizontal_scroll(judge)

        # no reload: the party's page hears of the question over the room bus (async-trial-updated) and refetches
        await party.wait_for_selector(".question button.record", timeout=WAIT_MS)
        assert await party.evaluate("window.asyncTrial.updates") >= 1
        assert "请在" in await party.inner_text(".question .due")
        await party.click(".question button.play-question")  # the judge's recorded question plays
        await party.wait_for_function(
            "(() => { const v = document.querySelector('.question .player video');"
            " return v && v.videoWidth > 0 && v.currentTime > 0.3; })()", timeout=WAIT_MS)
        await no_horizontal_scroll(party)
        await party.click(".question button.record")
        # the recording's own length (two seconds of the fake camera), read from the page's own counter
        await party.wait_for_function("document.querySelector('.rec-info').textContent.includes('2 秒')",
                                      timeout=WAIT_MS)
        await party.click(".question button.record")
        await party.wait_for_function("document.querySelector('.rec-info').dataset.ready === '1'", timeout=WAIT_MS)
        await party.fill(".question textarea", "请求被告支付货款两万元")
        await shot(party, "party-recorded-phone")
        await party.click(".question button.submit")
        await party.wait_for_selector(".question .answered", timeout=WAIT_MS)
        assert party_errors.errors == []

        await judge.wait_for_selector(".answer button.play", timeout=WAIT_MS)  # pushed, not reloaded
        assert "请求被告支付货款两万元" in await judge.inner_text(".answer")
        await judge.click(".answer button.play")
        await judge.wait_for_function(
            "(() => { const v = document.querySelector('.answer video');"
            " return v && v.videoWidth > 0 && v.currentTime > 0.3; })()", timeout=WAIT_MS)
        await shot(judge, "judge-plays-1024x600")
        await judge.click("#lang")  # the English toggle
        await judge.wait_for_function("document.querySelector('#at-stages h2').textContent === 'Stages'",
                                      timeout=WAIT_MS)
        assert "Claims and defence" in await judge.inner_text("#at-stages")
        assert judge_errors.errors == []
    assert server.services.async_trial is not None
    trial = await server.services.async_trial.store.snapshot(seated.hearing.id)
    assert len(trial.answers) == 1 and trial.answers[0].clip is not None
    assert trial.answers[0].participant_id == seated["plaintiff"].participant_id
    assert Role(trial.parties[trial.answers[0].participant_id]) is Role.PLAINTIFF


async def test_the_inbox_shows_a_party_and_the_judge_what_waits_with_deadlines_flags_and_notices(
        tmp_path: Path) -> None:
    """/async/inbox in Chromium: the party, from their /async page, sees the questions waiting for them with the
    deadline, the reminder flag and the reminder notice (phone and 1024x600); the presiding judge, by their staff
    login, sees the overdue answers flagged with the overdue notice and the extension, and opens the trial's page."""
    async with live_server(tmp_path, media_enabled=False) as server, chromium() as browser, \
            fresh_context(browser, PHONE) as phone, fresh_context(browser, STATION, enforce_csp=True) as desk:
        seated = await consented_in_session(server)
        services = server.services
        assert services.async_trial is not None and server.app is not None
        async with room_api(server, seated, "judge") as judge_api:
            stage = ok(await judge_api.post("/async/stages", json={"kind": "claims_defence", "workdays": 2}),
                       201)["trial"]["stages"][0]
            for text in ("请陈述诉讼请求及事实理由", "请说明货款的支付方式"):
                ok(await judge_api.post(f"/async/stages/{stage['id']}/questions", json={"text": text}), 201)
        due = datetime.fromisoformat(stage["due_at"])
        now = [due - timedelta(hours=23)]
        services.async_trial.clock = lambda: now[0]
        scheduler = JobScheduler(services.court.engine, services.court.url, clock=lambda: now[0])
        DeadlineJobs(services.async_trial.store).register(scheduler)  # type: ignore[arg-type]
        await scheduler.run_due()  # the reminders, a day before

        party = await phone.new_page()
        party_errors = PageErrors(party)
        await party.goto(f"{server.base}/async#token={seated['defendant'].token}")
        await party.click("#at-inbox")  # from their own page; the link stays in the tab's session
        await party.wait_for_selector(".ib-item", timeout=WAIT_MS)
        text = await party.inner_text("#ib-view")
        assert "需要您回答的问题" in text and "请陈述诉讼请求及事实理由" in text and "明天到期" in text
        assert await party.locator(".ib-item").count() == 2
        assert "距回答期限只剩一个工作日" in await party.inner_text("#ib-notices")
        await shot(party, "inbox-party-phone")
        await no_horizontal_scroll(party)
        await party.set_viewport_size(STATION)
        await shot(party, "inbox-party-1024x600")
        await no_horizontal_scroll(party)
        await party.click(".ib-item a.open")
        await party.wait_for_selector(".question textarea", timeout=WAIT_MS)  # back where they answer
        assert party_errors.errors == []

        now[0] = due + timedelta(minutes=1)
        await scheduler.run_due()  # overdue, flagged to the presiding judge
        auth = server.app.state.staff_auth
        auth.hasher = cheap_hasher()
        await auth.create_account("pres", "审判长", ["presiding_judge"], STAFF_PASSWORD,
                                  person_id=seated["judge"].person_id)
        login = await desk.request.post(f"{server.base}/api/login",
                                        data={"username": "pres", "password": STAFF_PASSWORD})
        assert login.ok, await login.text()
        judge = await desk.new_page()
        judge_errors = PageErrors(judge)
        await judge.goto(f"{server.base}/async/inbox?as=staff")
        await judge.wait_for_selector(".ib-item.is-overdue", timeout=WAIT_MS)
        text = await judge.inner_text("#ib-view")
        assert "等待当事人回答" in text and "已逾期" in text and seated["plaintiff"].name in text
        assert await judge.locator(".ib-item.is-overdue").count() == 4  # two questions × two parties
        assert "有当事人超过期限未回答" in await judge.inner_text("#ib-notices")
        await shot(judge, "inbox-judge-1024x600")
        await no_horizontal_scroll(judge)

        async with room_api(server, seated, "judge") as judge_api:
            ok(await judge_api.post(f"/async/stages/{stage['id']}/extensions", json={
                "participants": [seated["defendant"].participant_id],
                "due_at": (due + timedelta(days=2)).isoformat(), "reason": "村里网络中断"}), 201)
        await judge.reload()
        await judge.wait_for_selector(".ib-item .extended", timeout=WAIT_MS)
        assert await judge.locator(".ib-item.is-overdue").count() == 2  # the plaintiff's only
        assert "村里网络中断" in await judge.inner_text(".ib-item .extended")
        await judge.click("#lang")
        await judge.wait_for_function("document.querySelector('#ib-items h2').textContent === 'Answers awaited'",
                                      timeout=WAIT_MS)
        await judge.click(".ib-item button.open")  # their own seat's link: the trial's /async page
        await judge.wait_for_selector("#at-stages", timeout=WAIT_MS)
        assert judge_errors.errors == []


async def test_live_only_actions_on_the_join_page_of_an_asynchronous_trial_are_refused_as_not_live(
        tmp_path: Path) -> None:
    """The presiding judge opens the courtroom page (/join) of an asynchronous trial with their own link and presses
    the console's lock: the server refuses it `not_live` and the page says so in Chinese (the court's wording, not
    the server's sentence); the room stays unlocked. A recording switch sent from the page is refused the same way."""
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser, STATION) as desk:
        seated = await seat_hearing(server, "async_trial", {"judge": Role.PRESIDING_JUDGE,
                                                            "plaintiff": Role.PLAINTIFF}, state="in_session")
        judge = await join(desk, f"{server.base}/join#token={seated['judge'].token}")
        lock = judge.locator('[data-action="lock"]')
        await lock.wait_for(state="visible", timeout=WAIT_MS)
        await lock.click()
        await judge.wait_for_function(
            "() => !document.getElementById('notice').hidden"
            " && document.getElementById('notice-text').textContent.includes('异步审理')", timeout=WAIT_MS)
        text = await judge.text_content("#notice-text") or ""
        assert "本案为异步审理，没有同步进行的庭审" in text and "asynchronous" not in text, text
        assert await lock.get_attribute("aria-pressed") != "true"
        await shot(judge, "join-not-live-1024x600")
        await judge.evaluate("() => document.getElementById('notice').hidden = true")
        await judge.evaluate("m => window.hearing.ws.send(JSON.stringify(m))", {"type": "recording", "on": False})
        await judge.wait_for_function(
            "() => !document.getElementById('notice').hidden"
            " && document.getElementById('notice-text').textContent.includes('异步审理')", timeout=WAIT_MS)
        assert judge.errors.errors == []  # type: ignore[attr-defined]
    actions = [e.action for e in await server.services.audit.entries(0, 1000)]
    assert "hearing.locked" not in actions
    assert not (await server.services.court.get_hearing(seated.hearing.id)).locked
