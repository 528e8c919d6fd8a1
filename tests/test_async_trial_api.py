"""The asynchronous trial over HTTP on a live server, on SQLite and PostgreSQL (conftest's `court_url`): consent
guarding the procedure, stages, questions, recorded answers through the one clip upload, visibility, deadlines,
extensions, reminders and overdue flags through the one scheduler and notifier."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from docket.court import ParticipantStatus
from docket.jobs import JobScheduler
from docket.notifications import SqlInbox, person_recipient
from hearing.async_trial_deadlines import DeadlineJobs
from hearing.async_trial_record import clip_hashes as assemble_hashes
from hearing.procedure import RefusalCode, Refused
from hearing.procedure_service import Actor
from hearing.roles import Role
from tests.clip_files import make_clip
from tests.clips import upload_clip
from tests.court import Seated, log_in_staff, room_api, seat_hearing
from tests.live import LiveServer, live_server
from tests.test_clips_http import raw_request
from tests.test_exhibits_core import make_pdf

pytestmark = pytest.mark.timeout(180)

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
          "defendant": Role.DEFENDANT}


@pytest.fixture
async def server(court_url: str, tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False, database_url=court_url) as s:
        yield s


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def refused(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code and body["message"], body
    return body


async def move(server: LiveServer, seated: Seated, transition: str) -> Any:
    return await server.services.procedure.transition(
        seated.hearing.id, Actor(seated["judge"].participant_id, Role.PRESIDING_JUDGE), transition)


async def actions(server: LiveServer, after: int = 0) -> list[Any]:
    return [e for e in await server.services.audit.entries(after, 1000) if e.action.startswith("async_trial.")]


async def consented_in_session(server: LiveServer) -> Seated:
    seated = await seat_hearing(server, "async_trial", PEOPLE, state="scheduled")
    for label in ("plaintiff", "defendant"):
        async with room_api(server, seated, label) as me:
            ok(await me.post("/async/consent", json={"given": True}))
    assert not isinstance(await move(server, seated, "open_lobby"), Refused)
    for label in ("plaintiff", "defendant"):  # parties admitted after an identity check; the judge and clerk take
        # part by their seat (no live room admits them in an asynchronous trial) and still sign the transcript
        await server.services.court.set_participant_status(seated[label].participant_id, ParticipantStatus.ADMITTED)
    assert not isinstance(await move(server, seated, "start_session"), Refused)
    return seated


async def test_scheduling_waits_for_every_partys_consent_and_names_who_is_missing(server: LiveServer) -> None:
    seated = await seat_hearing(server, "async_trial", PEOPLE, state="scheduled")
    outcome = await move(server, seated, "open_lobby")
    assert isinstance(outcome, Refused) and outcome.code is RefusalCode.CONSENT_MISSING
    assert sorted(outcome.params["missing"]) == sorted([seated["plaintiff"].name, seated["defendant"].name])
    async with room_api(server, seated, "plaintiff") as plaintiff, room_api(server, seated, "clerk") as clerk:
        trial = ok(await plaintiff.post("/async/consent", json={"given": True}))["trial"]  # before admission
        assert trial["missing_consent"] == [seated["defendant"].name]
        refused(await plaintiff.post("/async/consent", json={"given": True}), 409, "unchanged")
        refused(await plaintiff.post(f"/async/consents/{seated['defendant'].participant_id}",
                                     json={"given": True, "method": "written", "note": "x"}), 403, "not_admitted")
        refused(await clerk.post(f"/async/consents/{seated['defendant'].participant_id}",
                                 json={"given": True, "method": "written", "note": " "}), 422, "note_required")
        outcome = await move(server, seated, "open_lobby")
        assert isinstance(outcome, Refused) and outcome.params["missing"] == [seated["defendant"].name]
        trial = ok(await clerk.post(f"/async/consents/{seated['defendant'].participant_id}",
                                    json={"given": True, "method": "written", "note": "同意书 卷3第12页"}))["trial"]
        assert trial["missing_consent"] == [] and all(p["consented"] for p in trial["parties"])
        assert {p["method"] for p in trial["parties"]} == {"online", "written"}
    assert not isinstance(await move(server, seated, "open_lobby"), Refused)
    entries = await actions(server)
    assert [(e.action, e.actor_id, e.details["party"]) for e in entries] == [
        ("async_trial.consent", seated["plaintiff"].participant_id, seated["plaintiff"].participant_id),
        ("async_trial.consent", seated["clerk"].participant_id, seated["defendant"].participant_id)]
    refusals = [e for e in await server.services.audit.entries(0, 1000) if e.action == "procedure.refused"]
    assert [e.details["code"] for e in refusals] == ["consent_missing", "consent_missing"]


async def test_roles_an_asynchronous_trial_never_admits_see_nothing(server: LiveServer) -> None:
    seated = await seat_hearing(server, "async_trial", {**PEOPLE, "witness": Role.WITNESS}, state="scheduled")
    async with room_api(server, seated, "witness") as witness, room_api(server, seated, None) as anonymous:
        refused(await witness.get("/async"), 403, "forbidden")
        refused(await anonymous.get("/async"), 401, "not_authenticated")


async def test_a_withdrawal_before_the_first_stage_makes_it_a_live_trial(server: LiveServer) -> None:
    seated = await seat_hearing(server, "async_trial", PEOPLE, state="scheduled")
    async with room_api(server, seated, "plaintiff") as plaintiff, room_api(server, seated, "defendant") as d:
        ok(await plaintiff.post("/async/consent", json={"given": True}))
        trial = ok(await d.post("/async/consent", json={"given": False}))["trial"]
        assert trial["kind"] == "trial" and trial["reverted_to_live"]
        assert (await server.services.court.get_hearing(seated.hearing.id)).kind.value == "trial"
        refused(await plaintiff.post("/async/consent", json={"given": True}), 409, "not_async_trial")
        assert ok(await plaintiff.get("/async"))["reverted_to_live"]
    assert not isinstance(await move(server, seated, "open_lobby"), Refused)  # a live trial needs no consent
    withdrawn = [e for e in await actions(server) if e.action == "async_trial.consent_withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0].details["reverted_to_live"] is True
    inbox = SqlInbox(server.services.court.engine, server.services.court.url)
    for label in PEOPLE:  # everyone in the hearing hears of it
        got = await inbox.list(person_recipient(seated[label].person_id))
        assert [(n.code, n.params["party"]) for n in got] == [
            ("async_trial.reverted", seated["defendant"].participant_id)]


async def test_the_full_flow_with_recorded_answers(server: LiveServer) -> None:
    seated = await consented_in_session(server)
    services = server.services
    assert services.async_trial is not None
    room_header = {"X-Hearing-Room": seated.room}
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff, \
            room_api(server, seated, "defendant") as defendant, \
            httpx.AsyncClient(base_url=server.base, timeout=30) as raw:
        refused(await plaintiff.post("/async/stages", json={"kind": "claims_defence", "workdays": 3}), 403,
                "not_permitted")
        trial = ok(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 3,
                                                           "visibility": "after_deadline"}), 201)["trial"]
        stage = trial["stages"][0]
        due = datetime.fromisoformat(stage["due_at"])
        assert due > datetime.now(UTC) + timedelta(days=2)  # three working days, the filing day not counted
        refused(await plaintiff.post("/async/consent", json={"given": False}), 409, "consent_locked")
        q1 = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "请陈述诉讼请求及理由"}),
                201)["trial"]["questions"][0]
        assert sorted(q1["to"]) == sorted([seated["plaintiff"].participant_id, seated["defendant"].participant_id])
        mine = ok(await plaintiff.get("/async"))
        assert [q["text"] for q in mine["questions"]] == ["请陈述诉讼请求及理由"]
        assert mine["questions"][0]["due_at"] == stage["due_at"]

        # the plaintiff records an answer and uploads it through the one resumable clip upload
        data = make_clip(seconds=1.0, seed=1)
        auth = {"Authorization": f"Bearer {seated['plaintiff'].token}", **room_header}
        clip = await upload_clip(raw, "async_trial", data, headers=auth, chunk=5000)
        assert clip["sha256"] == hashlib.sha256(data).hexdigest()
        other = await upload_clip(raw, "async_trial", make_clip(seconds=1.0, seed=2), headers={
            "Authorization": f"Bearer {seated['defendant'].token}", **room_header})
        refused(await plaintiff.post(f"/async/questions/{q1['id']}/answer", json={"clip_id": other["id"]}), 422,
                "bad_clip")  # someone else's clip
        refused(await plaintiff.post(f"/async/questions/{q1['id']}/answer", json={"text": " "}), 422, "empty")
        answered = ok(await plaintiff.post(f"/async/questions/{q1['id']}/answer",
                                           json={"text": "请求被告支付货款", "clip_id": clip["id"]}), 201)["trial"]
        sealed = answered["answers"][0]
        assert sealed["clip"]["sha256"] == clip["sha256"] and len(sealed["sha256"]) == 64
        refused(await plaintiff.post(f"/async/questions/{q1['id']}/answer", json={"text": "改一下"}), 409,
                "already_answered")

        # after_deadline: the defendant does not see it yet; the judge does, and who is still to answer
        assert ok(await defendant.get("/async"))["answers"] == []
        refused(await defendant.get(f"/async/answers/{sealed['id']}/clip"), 404, "no_such_answer")
        seen = ok(await judge.get("/async"))
        assert [a["id"] for a in seen["answers"]] == [sealed["id"]]
        assert seen["questions"][0]["waiting_for"] == [seated["defendant"].participant_id]
        play = ok(await judge.get(f"/async/answers/{sealed['id']}/clip"))
        played = await raw.get(play["url"])
        assert played.status_code == 200 and hashlib.sha256(played.content).hexdigest() == clip["sha256"]

        # past the deadline: refused until the judge extends it with a reason
        services.async_trial.clock = lambda: due + timedelta(minutes=1)
        late = refused(await defendant.post(f"/async/questions/{q1['id']}/answer", json={"text": "迟到"}), 409,
                       "past_deadline")
        assert datetime.fromisoformat(late["due_at"]) == due
        assert ok(await judge.get("/async"))["questions"][0]["overdue"] == [seated["defendant"].participant_id]
        refused(await judge.post(f"/async/stages/{stage['id']}/extensions", json={
            "participants": [seated["defendant"].participant_id], "due_at": (due + timedelta(days=2)).isoformat(),
            "reason": "  "}), 422, "reason_required")
        ok(await judge.post(f"/async/stages/{stage['id']}/extensions", json={
            "participants": [seated["defendant"].participant_id], "due_at": (due + timedelta(days=2)).isoformat(),
            "reason": "当事人所在村网络中断"}), 201)
        ok(await defendant.post(f"/async/questions/{q1['id']}/answer", json={"text": "货物质量不合格"}), 201)
        before = len(await actions(server))
        mine = ok(await defendant.get("/async"))  # the plaintiff's deadline has passed, the defendant's answered
        assert {a["name"] for a in mine["answers"]} == {seated["plaintiff"].name, seated["defendant"].name}
        viewed = [e for e in (await actions(server))[before:] if e.action == "async_trial.answers_viewed"]
        assert viewed and viewed[-1].actor_id == seated["defendant"].participant_id
        assert viewed[-1].details["answers"] == [sealed["id"]]
        defendant_play = ok(await defendant.get(f"/async/answers/{sealed['id']}/clip"))
        assert defendant_play["clip"]["sha256"] == clip["sha256"]

        # the next stage opens only once this one is closed
        refused(await judge.post("/async/stages", json={"kind": "debate", "workdays": 2}), 409, "stage_open")
        ok(await judge.post(f"/async/stages/{stage['id']}/close"))
        refused(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 2}), 409,
                "stage_order")
        ok(await judge.post("/async/stages", json={"kind": "debate", "workdays": 2}), 201)
    done = [e.action for e in await actions(server)]
    for action in ("async_trial.stage_opened", "async_trial.question_posted", "async_trial.answered",
                   "async_trial.extended", "async_trial.stage_closed", "async_trial.clip_viewed"):
        assert action in done, action
    assert await services.audit.verify() is None


async def test_reminders_a_day_before_and_overdue_flagged_to_the_judge(server: LiveServer) -> None:
    seated = await consented_in_session(server)
    services = server.services
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff:
        stage = ok(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 1}),
                   201)["trial"]["stages"][0]
        q = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "答辩"}),
               201)["trial"]["questions"][0]
        ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={  # no new jobs: one per addressee
            "text": "补充答辩", "to": [seated["defendant"].participant_id]}), 201)
        due = datetime.fromisoformat(stage["due_at"])
        now = [due - timedelta(hours=23)]
        scheduler = JobScheduler(services.court.engine, services.court.url, clock=lambda: now[0])
        assert services.async_trial is not None
        DeadlineJobs(services.async_trial.store).register(scheduler)  # type: ignore[arg-type]
        inbox = SqlInbox(services.court.engine, services.court.url)
        assert await scheduler.run_due() == 2  # the two parties' reminders; the overdue flags wait
        for label in ("plaintiff", "defendant"):
            got = await inbox.list(person_recipient(seated[label].person_id))
            assert [(n.code, datetime.fromisoformat(n.params["due_at"])) for n in got] == [
                ("async_trial.reminder", due)]
        ok(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={"text": "已答"}), 201)
    now[0] = due
    assert await scheduler.run_due() == 2  # both overdue jobs run; only the defendant's still applies
    flagged = await inbox.list(person_recipient(seated["judge"].person_id))
    assert [(n.code, n.params["participant"]) for n in flagged] == [
        ("async_trial.overdue", seated["defendant"].participant_id)]
    overdue = [e for e in await actions(server) if e.action == "async_trial.overdue"]
    assert [e.details["participant"] for e in overdue] == [seated["defendant"].participant_id]


async def test_the_record_is_assembled_from_the_stages_and_its_hashes_match_the_clips(server: LiveServer) -> None:
    seated = await consented_in_session(server)
    services = server.services
    assert services.clips is not None
    room_header = {"X-Hearing-Room": seated.room}
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "clerk") as clerk, \
            httpx.AsyncClient(base_url=server.base, timeout=30) as raw:
        stage = ok(await judge.post("/async/stages", json={"kind": "evidence", "workdays": 2,
                                                           "visibility": "at_once"}), 201)["trial"]["stages"][0]
        q = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "对证据有何意见？"}),
               201)["trial"]["questions"][0]
        clips = {}
        for n, label in enumerate(("plaintiff", "defendant")):
            headers = {"Authorization": f"Bearer {seated[label].token}", **room_header}
            clip = await upload_clip(raw, "async_trial", make_clip(seconds=1.0, seed=10 + n), headers=headers)
            clips[clip["id"]] = clip["sha256"]
            async with room_api(server, seated, label) as me:
                ok(await me.post(f"/async/questions/{q['id']}/answer", json={"text": f"{label} 的意见",
                                                                          "clip_id": clip["id"]}), 201)
        ok(await judge.post(f"/async/stages/{stage['id']}/close"))
        assert not isinstance(await move(server, seated, "close"), Refused)
        saved = ok(await clerk.post("/async/record"), 201)
        assert saved["changed"] and saved["version"] == 1
        assert not ok(await clerk.post("/async/record"), 201)["changed"]  # nothing new: no new version
        text = ok(await clerk.get("/transcript"))["text"]
        assert "举证质证阶段" in text and "对证据有何意见？" in text and "plaintiff 的意见" in text
        written = assemble_hashes(text)
        assert written == clips
        for clip_id, sha in written.items():  # the bytes in the object store, hashed here, match the record
            stored = await services.clips.clip(clip_id)
            assert hashlib.sha256(await services.objects.get(stored.object_key)).hexdigest() == sha
        for label in ("judge", "clerk"):  # never admitted by a lobby: seated staff of this asynchronous trial
            assert (await services.court.get_participant(seated[label].participant_id)).status \
                is ParticipantStatus.WAITING
        signed = ok(await judge.post("/transcript/sign", json={"sha256": saved["sha256"], "method": "none"}), 201)
        assert signed["version"] == 1
        ok(await clerk.post("/transcript/sign", json={"sha256": saved["sha256"], "method": "none"}), 201)
        status = ok(await clerk.get("/transcript"))
        assert set(status["signed_by"]) == {seated["judge"].participant_id, seated["clerk"].participant_id}
        assert status["complete"] is False  # the parties have not signed yet
        pdf = await judge.get("/transcript.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        printed = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        printed = re.sub(r"\s+", "", printed)  # a hash may wrap across lines in the PDF
        for clip_id, sha in clips.items():  # the exported PDF carries each clip's SHA-256 as stored
            assert sha in printed, (clip_id, sha)


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)  # the exhibit and clip stores: tested on both
async def test_a_recorded_question_and_an_answer_with_an_exhibit_the_other_side_answers(server: LiveServer) -> None:
    seated = await consented_in_session(server)
    room_header = {"X-Hearing-Room": seated.room}
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff, \
            room_api(server, seated, "defendant") as defendant, \
            httpx.AsyncClient(base_url=server.base, timeout=30) as raw:
        stage = ok(await judge.post("/async/stages", json={"kind": "evidence", "workdays": 2,
                                                           "visibility": "at_once"}), 201)["trial"]["stages"][0]
        asked = await upload_clip(raw, "async_trial", make_clip(seconds=1.0, seed=30), headers={
            "Authorization": f"Bearer {seated['judge'].token}", **room_header})
        q = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"clip_id": asked["id"]}),
               201)["trial"]["questions"][0]
        assert q["has_clip"] and q["text"] == ""
        heard = ok(await plaintiff.get(f"/async/questions/{q['id']}/clip"))
        assert heard["clip"]["sha256"] == asked["sha256"]
        pdf = make_pdf(1)
        exhibit = ok(await plaintiff.post("/exhibits", files={"file": ("合同.pdf", pdf, "application/pdf")}), 201)
        theirs = ok(await defendant.post("/exhibits", files={"file": ("收据.pdf", make_pdf(2), "application/pdf")}),
                    201)
        refused(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={
            "text": "见合同", "exhibit_ids": [theirs["id"]]}), 422, "bad_exhibit")
        answer = ok(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={
            "text": "见合同", "exhibit_ids": [exhibit["id"]]}), 201)["trial"]["answers"][0]
        assert answer["exhibit_ids"] == [exhibit["id"]]
        seen = ok(await defendant.get("/async"))["answers"]  # at_once: the other side sees it and the exhibit
        assert [a["exhibit_ids"] for a in seen] == [[exhibit["id"]]]
        ok(await defendant.post(f"/exhibits/{exhibit['id']}/opinion", json={"stance": "object",
                                                                           "text": "合同未经签字"}), 201)
        opinions = ok(await plaintiff.get(f"/exhibits/{exhibit['id']}/opinions"))
        assert [(o["stance"], o["text"]) for o in opinions] == [("object", "合同未经签字")]


async def test_the_staff_api_refuses_to_schedule_without_consent_naming_who(court_url: str, tmp_path: Path) -> None:
    from tests.test_staff_api import _api, _case_and_trial, _error

    async for api in _api(tmp_path, court_url):
        for username in ("clerk", "pres"):
            await api.login(username)
        made = await _case_and_trial(api, kind="async_trial")
        hearing = made["hearing"]
        for who in ("plaintiff", "defendant"):
            r = await api.call("POST", f"/api/hearings/{hearing['id']}/participants", "clerk",
                               json={"person_id": made[who]["id"], "role": who})
            assert r.status_code == 201, r.text
        body = _error(await api.call("POST", f"/api/hearings/{hearing['id']}/procedure", "pres",
                                     json={"transition": "open_lobby"}), 409, "consent_missing")
        assert sorted(body["missing"]) == sorted([made["plaintiff"]["name"], made["defendant"]["name"]])
        assert (await api.call("GET", f"/api/hearings/{hearing['id']}", "pres")).json()["state"] == "scheduled"


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)  # the push is the room bus, not the records
async def test_people_on_the_page_hear_of_stages_and_answers_over_the_room_bus(server: LiveServer) -> None:
    """A stage opening or closing, a question and an answer reach everyone connected to the hearing's signalling
    room as `async-trial-updated` (no content: each page refetches its own view), the waiting lobby included."""
    seated = await consented_in_session(server)
    judge_ws = await server.client(seated.room, seated["judge"].token)
    party_ws = await server.client(seated.room, seated["defendant"].token)
    await judge_ws.expect("joined")
    await party_ws.expect("joined")
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff:
        stage = ok(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 2,
                                                           "visibility": "at_once"}), 201)["trial"]["stages"][0]
        for ws in (judge_ws, party_ws):
            pushed = await ws.expect("async-trial-updated", event="async_trial.stage_opened")
            assert pushed["stage_id"] == stage["id"] and set(pushed) == {"type", "event", "stage_id"}
        q = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "请陈述诉讼请求"}),
               201)["trial"]["questions"][0]
        await party_ws.expect("async-trial-updated", event="async_trial.question_posted", stage_id=stage["id"])
        ok(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={"text": "请求判令被告还款"}), 201)
        await judge_ws.expect("async-trial-updated", event="async_trial.answered")
        await party_ws.expect("async-trial-updated", event="async_trial.answered")
        refused(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={"text": "再答一次"}), 409,
                "already_answered")
        ok(await plaintiff.get("/async"))
        assert not [m for m in party_ws.seen if m["type"] == "async-trial-updated"
                    and m["event"] not in {"async_trial.stage_opened", "async_trial.question_posted",
                                           "async_trial.answered"}]  # a refusal or a read pushes nothing
    for ws in (judge_ws, party_ws):
        await ws.close()


async def test_the_inbox_lists_what_waits_for_each_person_with_deadlines_flags_and_extensions(
        server: LiveServer) -> None:
    """/async/inbox's API: a party by their link sees what waits for their answer (deadline, reminder window,
    overdue, extension) and their notices; the presiding judge by their login sees every awaited answer of their
    asynchronous trials, overdue ones flagged, and the overdue notices; someone without a seat sees none."""
    seated = await consented_in_session(server)
    services = server.services
    assert services.async_trial is not None and server.app is not None
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff, \
            room_api(server, seated, "defendant") as defendant, \
            httpx.AsyncClient(base_url=server.base, timeout=30) as raw:
        logins = await log_in_staff(server.app.state.staff_auth, raw, (("pres", "presiding_judge"),
                                                                       ("elsewhere", "judge")),
                                    persons={"pres": seated["judge"].person_id})

        async def staff_inbox(username: str) -> dict[str, Any]:
            return ok(await raw.get("/api/me/async-inbox",
                                    headers={"Authorization": f"Bearer {logins[username].token}"}))

        stage = ok(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 2}),
                   201)["trial"]["stages"][0]
        q1 = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "请陈述诉讼请求"}),
                201)["trial"]["questions"][0]
        q2 = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={
            "text": "请提交答辩意见", "to": [seated["defendant"].participant_id]}), 201)["trial"]["questions"][-1]
        ok(await plaintiff.post(f"/async/questions/{q1['id']}/answer", json={"text": "请求还款"}), 201)
        due = datetime.fromisoformat(stage["due_at"])

        mine = ok(await plaintiff.get("/async/inbox"))
        assert mine["items"] == [] and not mine["staff"]
        case_number = (await services.court.get_case(seated.hearing.case_id)).case_number
        assert [h["case_number"] for h in mine["hearings"]] == [case_number]
        theirs = ok(await defendant.get("/async/inbox"))
        assert [(i["question_id"], i["text"], i["overdue"], i["due_soon"], i["extended"]) for i in theirs["items"]] \
            == [(q1["id"], "请陈述诉讼请求", False, False, False), (q2["id"], "请提交答辩意见", False, False, False)]
        assert {datetime.fromisoformat(i["due_at"]) for i in theirs["items"]} == {due}

        # a day before: the reminder (the scheduler's job) is in their notices, the items are in the window
        now = [due - timedelta(hours=23)]
        scheduler = JobScheduler(services.court.engine, services.court.url, clock=lambda: now[0])
        DeadlineJobs(services.async_trial.store).register(scheduler)  # type: ignore[arg-type]
        services.async_trial.clock = lambda: now[0]
        await scheduler.run_due()
        theirs = ok(await defendant.get("/async/inbox"))
        assert [n["code"] for n in theirs["notices"]] == ["async_trial.reminder"]
        assert theirs["notices"][0]["case_number"] == case_number
        assert [i["due_soon"] for i in theirs["items"]] == [True, True]
        assert ok(await plaintiff.get("/async/inbox"))["notices"] == []  # answered: nothing to remind of

        # past the deadline: overdue for the party, flagged to the presiding judge (items and the overdue notice)
        now[0] = due + timedelta(minutes=1)
        await scheduler.run_due()
        assert [(i["overdue"], i["due_soon"]) for i in ok(await defendant.get("/async/inbox"))["items"]] == [
            (True, False), (True, False)]
        flagged = await staff_inbox("pres")
        assert flagged["staff"] and [h["role"] for h in flagged["hearings"]] == ["presiding_judge"]
        assert [(i["question_id"], i["name"], i["overdue"]) for i in flagged["items"]] == [
            (q1["id"], seated["defendant"].name, True), (q2["id"], seated["defendant"].name, True)]
        assert [(n["code"], n["params"]["participant"]) for n in flagged["notices"]] == [
            ("async_trial.overdue", seated["defendant"].participant_id)]
        assert (await staff_inbox("elsewhere"))["hearings"] == []  # no seat in that hearing: nothing of it

        # extended with a reason: the new deadline, not overdue, the reason shown to the party
        later = due + timedelta(days=2)
        ok(await judge.post(f"/async/stages/{stage['id']}/extensions", json={
            "participants": [seated["defendant"].participant_id], "due_at": later.isoformat(),
            "reason": "村里网络中断"}), 201)
        theirs = ok(await defendant.get("/async/inbox"))
        assert [(i["overdue"], i["extended"], i["extension_reason"]) for i in theirs["items"]] == [
            (False, True, "村里网络中断")] * 2
        assert {datetime.fromisoformat(i["due_at"]) for i in theirs["items"]} == {later}
        assert [i["overdue"] for i in (await staff_inbox("pres"))["items"]] == [False, False]

        refused(await judge.get("/async/inbox"), 403, "forbidden")  # staff use their login
        refused(await raw.get("/api/me/async-inbox"), 401, "not_authenticated")
        async with httpx.AsyncClient(base_url=f"{server.base}/api/rooms/{seated.room}", timeout=30) as anonymous:
            refused(await anonymous.get("/async/inbox"), 401, "not_authenticated")


async def test_an_answer_clip_cut_mid_upload_resumes_and_a_clip_failing_its_checks_is_refused(
        server: LiveServer) -> None:
    """The party's recorded answer goes through the one resumable clip upload (`/api/clips/async_trial`): the link
    drops twice inside a chunk, the client asks where to resume (HEAD) and goes on; the clip is whole (its SHA-256)
    and answers the question. Bytes that are not a video are refused at completion (`clip_not_media`), and such an
    upload cannot be used as an answer (`bad_clip`)."""
    seated = await consented_in_session(server)
    port = int(server.base.rsplit(":", 1)[1])
    auth = {"Authorization": f"Bearer {seated['plaintiff'].token}", "X-Hearing-Room": seated.room}
    data = make_clip(seconds=3, width=320, height=240, bitrate=1_000_000, seed=7)
    digest = hashlib.sha256(data).hexdigest()
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "plaintiff") as plaintiff, \
            httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        stage = ok(await judge.post("/async/stages", json={"kind": "claims_defence", "workdays": 2}),
                   201)["trial"]["stages"][0]
        q = ok(await judge.post(f"/async/stages/{stage['id']}/questions", json={"text": "请陈述"}),
               201)["trial"]["questions"][0]
        created = ok(await http.post("/api/clips/async_trial/uploads", headers=auth, json={
            "size": len(data), "content_type": "video/webm", "sha256": digest}), 201)
        path = f"/api/clips/async_trial/uploads/{created['id']}"
        chunk, offset, cuts = 64 * 1024, 0, 0
        while offset < len(data):
            body = data[offset:offset + chunk]
            head = (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth['Authorization']}\r\n"
                    f"X-Hearing-Room: {seated.room}\r\nUpload-Offset: {offset}\r\nContent-Length: {len(body)}\r\n"
                    "Content-Type: application/offset+octet-stream\r\nConnection: close\r\n")
            if cuts < 2 and len(body) > 1:
                await raw_request(port, head, body, cut_after=len(body) // 2)  # the link drops mid-chunk
                cuts += 1
            else:
                status, _, payload = await raw_request(port, head, body)
                assert status in (200, 409), payload  # 409: the cut bytes were committed after a HEAD answered
            answer = await http.head(path, headers=auth)
            assert answer.status_code == 200
            offset = int(answer.headers["upload-offset"])
        assert cuts == 2
        clip = ok(await http.post(f"{path}/complete", headers=auth), 201)["clip"]
        assert clip["sha256"] == digest and clip["size"] == len(data)
        sealed = ok(await plaintiff.post(f"/async/questions/{q['id']}/answer", json={"clip_id": clip["id"]}),
                    201)["trial"]["answers"][0]
        assert sealed["clip"]["sha256"] == digest

        junk = bytes(range(256)) * 64  # declared a WebM video, but no video at all
        bad = ok(await http.post("/api/clips/async_trial/uploads", headers=auth, json={
            "size": len(junk), "content_type": "video/webm", "sha256": hashlib.sha256(junk).hexdigest()}), 201)
        ok(await http.patch(f"/api/clips/async_trial/uploads/{bad['id']}", content=junk,
                            headers={**auth, "Upload-Offset": "0"}))
        refused(await http.post(f"/api/clips/async_trial/uploads/{bad['id']}/complete", headers=auth), 422,
                "clip_not_media")
        async with room_api(server, seated, "defendant") as defendant:
            refused(await defendant.post(f"/async/questions/{q['id']}/answer", json={"clip_id": bad["id"]}), 422,
                    "bad_clip")
