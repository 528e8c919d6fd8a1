"""The station page and the duty page in real Chromium: the station requests a judge for a person, the judge's page
shows it in the queue and accepts, both pages are in the call (the join page in a frame) and decode each other's
video; the judge records, everyone sees the light, the judge ends the call and the recording verifies. Screenshots
at 1024x600 (a station screen) and 1280x720 go to test-artifacts/."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Frame, Page

from petitions.service import PetitionService
from recordings.manifest import verify_store
from tests.browser import ARTIFACTS, STATION, chromium, frames, fresh_context, wait_state
from tests.conftest import until
from tests.live import live_server
from tests.stations_env import PASSWORD, seat_desk

WAIT = 30_000


async def call_frame(page: Page) -> Frame:
    handle = await page.wait_for_selector("#call-frame", state="attached")
    frame = await handle.content_frame()
    assert frame is not None
    await frame.wait_for_url("**/join**", timeout=WAIT)
    return frame


async def test_station_requests_judge_accepts_both_see_each_other_and_the_call_is_recorded(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with live_server(tmp_path) as server, chromium() as browser:
        desk = await seat_desk(server.services, server.base)
        async with fresh_context(browser, STATION) as sctx, fresh_context(browser) as jctx:
            station = await sctx.new_page()
            errors: list[str] = []
            station.on("pageerror", lambda e: errors.append(str(e)))
            await station.goto(f"{server.base}/station#link={desk.link}")
            await station.wait_for_function("document.body.dataset.view === 'request'", timeout=WAIT)
            assert "link=" not in station.url  # the token left the address bar for localStorage
            assert await station.text_content("h1") == "连线法官 · 工作站"  # Chinese first
            await station.click("#request-submit")  # nothing filled in: a typed refusal, in Chinese
            await station.wait_for_function("document.querySelector('#request-error').textContent.length > 0")
            assert (await station.text_content("#request-error")) == "请选择咨询类别。"
            await station.fill("#caller-name", "王村民")
            await station.select_option("#id-method", "id_card_at_station")
            await station.select_option("#category", "legal_advice")
            await station.fill("#summary", "土地承包合同纠纷")
            await station.click("#request-submit")
            await station.wait_for_function("document.body.dataset.view === 'waiting'", timeout=WAIT)
            assert "第 1 位" in (await station.text_content("#waiting-text") or "")
            await station.screenshot(path=str(ARTIFACTS / "stations-station-waiting-1024x600.png"))

            judge = await jctx.new_page()
            judge.on("pageerror", lambda e: errors.append(str(e)))
            await judge.goto(f"{server.base}/duty")
            await judge.wait_for_function("document.body.dataset.view === 'login'", timeout=WAIT)
            await judge.fill("#login-user", "judge1")
            await judge.fill("#login-pass", PASSWORD)
            await judge.click("#login-view button[type=submit]")
            await judge.wait_for_selector("#queue button.accept", timeout=WAIT)
            assert "王村民" in (await judge.text_content("#queue") or "")
            await judge.screenshot(path=str(ARTIFACTS / "stations-duty-queue-1280x720.png"))
            await judge.click("#queue button.accept")
            await judge.wait_for_function("document.body.dataset.view === 'call'", timeout=WAIT)
            await station.wait_for_function("document.body.dataset.view === 'call'", timeout=WAIT)

            jframe, sframe = await call_frame(judge), await call_frame(station)
            await wait_state(jframe, "connected")  # type: ignore[arg-type]
            await wait_state(sframe, "connected")  # type: ignore[arg-type]
            await until(lambda: frames(jframe, "caller"), what="the judge to see the caller")  # type: ignore[arg-type]
            await until(lambda: frames(sframe, "judge"), what="the station to see the judge")  # type: ignore[arg-type]
            seen_by_judge, seen_by_station = await frames(jframe, "caller"), await frames(sframe, "judge")  # type: ignore[arg-type]

            await judge.click("#record")
            await judge.wait_for_selector("#rec-light", state="visible", timeout=WAIT)
            await sframe.wait_for_selector('#room-banner[data-recording="true"]', timeout=WAIT)  # the light
            for f in (sframe, jframe):  # a call is not a hearing: no exhibits or transcript panels
                assert await f.is_hidden("#exhibits-toggle") and await f.is_hidden("#transcript-toggle")
            room = "call-" + await judge.evaluate("window.dutyPage.active.id")
            recorder = server.services.recorder
            assert recorder is not None and recorder.is_recording(room)
            await until(lambda: len(recorder.sessions[room].tracks) >= 4, what="four tracks recorded")
            # decoded frames keep coming both ways while recorded
            await sframe.wait_for_function(
                "([n]) => { const v = document.querySelector('video[data-participant-id][data-role=\"judge\"]');"
                " return v && window.hearing.framesOf(v.dataset.participantId) > n + 60; }",
                arg=[seen_by_station], timeout=WAIT)
            assert await frames(jframe, "caller") > seen_by_judge  # type: ignore[arg-type]
            await station.screenshot(path=str(ARTIFACTS / "stations-station-call-1024x600.png"))
            await judge.screenshot(path=str(ARTIFACTS / "stations-duty-call-1280x720.png"))
            await station.set_viewport_size({"width": 1280, "height": 720})
            await station.screenshot(path=str(ARTIFACTS / "stations-station-call-1280x720.png"))
            await judge.set_viewport_size(STATION)
            await judge.screenshot(path=str(ARTIFACTS / "stations-duty-call-1024x600.png"))

            await judge.fill("#note", "已解答，建议申请调解")
            # The judge files the call as a video petition (接诉即办) naming it; the call records the outcome.
            await judge.click("#to-petition summary")
            await judge.click("#petition-file")  # no category chosen: said in Chinese, nothing sent
            await judge.wait_for_function("document.querySelector('#petition-status').textContent.length > 0")
            assert await judge.text_content("#petition-status") == "请选择诉求类别。"
            await judge.select_option("#petition-category", "dispute")
            await judge.fill("#petition-phone", "13900000000")
            await judge.click("#petition-file")
            await judge.wait_for_function("document.querySelector('#petition-status').textContent.includes('编号')",
                                          timeout=WAIT)
            number = (await judge.text_content("#petition-status") or "").rsplit(" ", 1)[-1]
            assert await judge.is_disabled("#petition-file")
            await judge.screenshot(path=str(ARTIFACTS / "stations-duty-petition-1024x600.png"))
            call_id = room.removeprefix("call-")
            court = server.services.court
            register = PetitionService(court.engine, court.url, code_key=b"k" * 32)  # type: ignore[attr-defined]
            [filed] = [p for p in await register.list() if p.number == number]
            assert (filed.source_call_id, filed.station_id, filed.contact_name) == (call_id, desk.station_id, "王村民")
            assert filed.description == "已解答，建议申请调解"
            await judge.click("#end")
            await judge.wait_for_function("document.body.dataset.view === 'queue'", timeout=WAIT)
            await station.wait_for_function("document.body.dataset.view === 'outcome'", timeout=WAIT)
            assert "通话已结束" in (await station.text_content("#outcome-text") or "")
            await station.wait_for_selector("#history tbody tr[data-state=ended]", timeout=WAIT)
            await station.screenshot(path=str(ARTIFACTS / "stations-station-ended-1280x720.png"))
            await until(lambda: room not in recorder.sessions, what="the recording to stop")
            await asyncio.wait_for(recorder.spool.drain(), 60)
            call_id = room.removeprefix("call-")
            entries, broken = await verify_store(server.services.objects, call_id)
            assert broken is None, broken
            assert entries[0].type == "start" and entries[-1].type == "stop"
            assert sum(e.type == "segment" for e in entries) >= 4
            ended = await server.services.stations.store.get_call(call_id)  # type: ignore[union-attr]
            assert ended.note == "已解答，建议申请调解" and ended.recorded
            assert (ended.outcome_kind, ended.outcome_ref) == ("petition", number)
            assert errors == []


async def test_a_person_with_the_courts_call_link_requests_from_home(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from docket.court import NewPerson

    async with live_server(tmp_path, media_enabled=False) as server, chromium() as browser:
        desk = await seat_desk(server.services, server.base)
        person = await server.services.court.create_person(NewPerson("孙当事人", None, None))
        store = server.services.stations.store  # type: ignore[union-attr]
        now = datetime.now(UTC)
        _, token = await store.issue_call_link(person.id, "demo-court", expires_at=now + timedelta(days=1),
                                               actor=(desk.staff_ids["clerk"], "staff"), now=now)
        async with fresh_context(browser) as ctx:
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{server.base}/station#call={token}")
            await page.wait_for_function("document.body.dataset.view === 'request'", timeout=WAIT)
            assert await page.is_hidden("#caller-name") and await page.is_hidden("#id-method")
            assert "呼叫链接" in (await page.text_content("#open-now") or "")
            await page.select_option("#category", "case_query")
            await page.click("#request-submit")
            await page.wait_for_function("document.body.dataset.view === 'waiting'", timeout=WAIT)
            await page.screenshot(path=str(ARTIFACTS / "stations-person-waiting-1280x720.png"))
            waiting = await store.waiting({"demo-court"})
            assert [(c.caller_name, c.verification_method, c.station_id) for c in waiting] == [
                ("孙当事人", "known_to_court", None)]
            assert errors == []


async def test_nobody_answers_so_the_station_leaves_a_video_message_and_a_judge_plays_it(tmp_path: Path) -> None:
    """Nobody on duty: the operator records the person's message in the page (camera → MediaRecorder), it uploads
    through the resumable clip upload and reaches the court; a judge on duty plays it and takes it in hand."""
    from datetime import UTC, datetime

    from stations.vocab import DutyStatus

    ARTIFACTS.mkdir(exist_ok=True)
    async with live_server(tmp_path, media_enabled=False) as server, chromium() as browser:
        desk = await seat_desk(server.services, server.base)
        store = server.services.stations.store  # type: ignore[union-attr]
        judge_id = desk.staff_ids["judge1"]
        await store.set_status(judge_id, DutyStatus.AWAY, actor=(judge_id, "staff"), now=datetime.now(UTC))
        async with fresh_context(browser, STATION) as sctx, fresh_context(browser) as jctx:
            station = await sctx.new_page()
            errors: list[str] = []
            station.on("pageerror", lambda e: errors.append(str(e)))
            await station.goto(f"{server.base}/station#link={desk.link}")
            await station.wait_for_function("document.body.dataset.view === 'request'", timeout=WAIT)
            await station.fill("#caller-name", "王村民")
            await station.select_option("#id-method", "id_card_at_station")
            await station.select_option("#category", "legal_advice")
            await station.fill("#summary", "宅基地纠纷")
            await station.click("#request-submit")
            await station.wait_for_function("document.body.dataset.view === 'outcome'", timeout=WAIT)
            assert "没有值班法官" in (await station.text_content("#outcome-text") or "")
            await station.click("#message")
            await station.wait_for_function("document.body.dataset.view === 'message'", timeout=WAIT)
            await station.click("#message-record")
            await station.wait_for_function(  # two seconds of camera and microphone recorded
                "document.querySelector('#message-status').textContent.includes('2 秒')", timeout=WAIT)
            await station.screenshot(path=str(ARTIFACTS / "stations-station-message-1024x600.png"))
            await station.click("#message-send")
            await station.wait_for_function("document.body.dataset.view === 'outcome'", timeout=WAIT)
            assert "留言已送达法院" in (await station.text_content("#outcome-text") or "")

            await store.set_status(judge_id, DutyStatus.AVAILABLE, actor=(judge_id, "staff"), now=datetime.now(UTC))
            judge = await jctx.new_page()
            judge.on("pageerror", lambda e: errors.append(str(e)))
            await judge.goto(f"{server.base}/duty")
            await judge.wait_for_function("document.body.dataset.view === 'login'", timeout=WAIT)
            await judge.fill("#login-user", "judge1")
            await judge.fill("#login-pass", PASSWORD)
            await judge.click("#login-view button[type=submit]")
            await judge.wait_for_selector("#messages button.play", timeout=WAIT)
            assert "宅基地纠纷" in (await judge.text_content("#messages") or "")
            await judge.click("#messages button.play")
            await judge.wait_for_function(  # the recorded video decodes in the judge's browser
                "(() => { const v = document.querySelector('#message-player');"
                " return v && v.readyState >= 2 && v.videoWidth > 0; })()", timeout=WAIT)
            await judge.screenshot(path=str(ARTIFACTS / "stations-duty-message-1280x720.png"))
            await judge.click("#messages button.heard")
            await judge.wait_for_function(
                "!document.querySelector('#messages tbody tr[data-call-id]')", timeout=WAIT)
            calls = await store.calls_of_station(desk.station_id)
            assert calls[0].message_clip_id and calls[0].message_heard_by == judge_id
            assert await server.services.clips.verify(calls[0].message_clip_id)  # type: ignore[union-attr]
            assert errors == []
