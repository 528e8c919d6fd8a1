"""Connect-a-judge over the real HTTP API on SQLite and PostgreSQL: stations, links, the roster, the call queue,
accepting, the judge's note, outcome link and end, and every refusal with its typed code (nothing lost)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from stations.queue import FRESH
from tests.stations_env import COURT, Env, stations_env


@pytest.fixture
async def env(court_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with stations_env(tmp_path, court_url) as e:
        yield e


async def test_a_call_from_request_to_accept_to_end(env: Env) -> None:
    await env.on_duty("judge1")
    await env.on_duty("judge2")
    me = await env.ok("GET", "/api/stations/me", station=True)
    assert me["name"] == "石桥村工作站" and me["open_now"] is True and me["kind"] == "village"
    r = await env.request()
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["state"] == "waiting" and call["position"] == 1
    env.clock.advance(seconds=1)
    second = (await env.request(caller_name="李四", category="mediation")).json()
    assert second["position"] == 2
    env.clock.advance(seconds=25)
    duty = await env.ok("GET", "/api/duty", "judge1")
    assert duty["on_duty"] and duty["courts"] == [COURT]
    assert [q["id"] for q in duty["queue"]] == [call["id"], second["id"]]
    assert duty["queue"][0]["waited_seconds"] == 26.0 and duty["queue"][0]["station_name"] == "石桥村工作站"
    assert duty["queue"][0]["caller_presence"] == "reconnecting"  # the station has not polled for 25 s
    accepted = await env.ok("POST", f"/api/duty/calls/{call['id']}/accept", "judge1")
    assert accepted["state"] == "in_call" and "/join#token=" in accepted["link"]
    late = await env.call("POST", f"/api/duty/calls/{call['id']}/accept", "judge2")
    assert late.status_code == 409 and late.json()["error"] == "call_taken"
    assert (await env.ok("GET", "/api/duty", "judge1"))["status"] == "busy"
    seen = await env.ok("GET", f"/api/stations/me/calls/{call['id']}", station=True)
    assert seen["state"] == "in_call"
    assert "/join#token=" in (await env.ok("POST", f"/api/stations/me/calls/{call['id']}/join", station=True))["link"]
    other = await env.call("POST", f"/api/duty/calls/{call['id']}/note", "judge2", json={"note": "x"})
    assert other.status_code == 403 and other.json()["error"] == "not_your_call"
    await env.ok("POST", f"/api/duty/calls/{call['id']}/note", "judge1", json={"note": "已解答，建议调解"})
    bad = await env.call("POST", f"/api/duty/calls/{call['id']}/outcome", "judge1", json={"kind": "x", "ref": "1"})
    assert bad.status_code == 422 and bad.json()["error"] == "outcome_kind"
    linked = await env.ok("POST", f"/api/duty/calls/{call['id']}/outcome", "judge1",
                          json={"kind": "mediation", "ref": "hearing-42"})
    assert (linked["outcome_kind"], linked["outcome_ref"]) == ("mediation", "hearing-42")
    invited = await env.ok("POST", f"/api/duty/calls/{call['id']}/invite", "judge1", status=201,
                           json={"role": "interpreter", "name": "翻译员"})
    assert "/join#token=" in invited["link"]
    env.clock.advance(minutes=5)
    ended = await env.ok("POST", f"/api/duty/calls/{call['id']}/end", "judge1", json={})
    assert ended["state"] == "ended" and ended["note"] == "已解答，建议调解"
    assert (await env.ok("GET", "/api/duty", "judge1"))["status"] == "available"
    history = await env.ok("GET", "/api/stations/me/calls", station=True)
    assert {h["id"] for h in history} == {call["id"], second["id"]}
    actions = [e.action for e in await env.audit("call.")]
    assert actions == ["call.requested", "call.requested", "call.accept", "call.station_joined", "call.note",
                       "call.outcome", "call.invited", "call.end", "call.abandon"]  # the second caller gave up
    assert not any("王村民" in str(e.details) for e in await env.audit())  # names never reach the audit log
    stats = await env.ok("GET", "/api/stations/stats", "clerk")
    assert stats["total"]["calls"] == 2 and stats["total"]["answered"] == 1 and stats["total"]["pickup_rate"] == 0.5
    assert stats["by_court"][COURT]["wait_p50_seconds"] == 26.0 and stats["total"]["minutes"] == 5.0
    assert stats["by_station"][env.station_id]["name"] == "石桥村工作站"
    everything = await env.ok("GET", "/api/stats", "clerk")  # the staff dashboard's figures include the calls
    assert everything["calls"] == stats and "by_kind" in everything


async def test_bad_requests_get_typed_errors_and_nothing_is_lost(env: Env) -> None:
    await env.on_duty("judge1")
    r = await env.request(category="astrology")
    assert r.status_code == 422 and r.json()["error"] == "unknown_category" and "legal_advice" in r.json()["choices"]
    r = await env.request(verification_method="")
    assert r.status_code == 422 and r.json()["error"] == "identity_missing"
    r = await env.request(caller_name="  ")
    assert r.status_code == 422 and r.json()["error"] == "identity_missing"
    env.clock.advance(hours=12)  # Monday 22:00 local: the station is closed
    r = await env.request()
    assert r.status_code == 409 and r.json()["error"] == "station_closed"
    assert await env.ok("GET", "/api/stations/me/calls", station=True) == []
    r = await env.call("GET", "/api/stations/me", headers={"X-Station-Link": "sl_nonsense"})
    assert r.status_code == 401 and r.json()["error"] == "station_link_unknown"
    r = await env.call("GET", "/api/stations/me")
    assert r.status_code == 401 and r.json()["error"] == "station_not_signed_in"
    await env.ok("POST", f"/api/stations/links/{env.link_id}/revoke", "clerk")
    r = await env.call("GET", "/api/stations/me", station=True)
    assert r.status_code == 401 and r.json()["error"] == "station_link_revoked"
    service = f"/api/stations/{env.station_id}/service"
    r = await env.call("PUT", service, "judge1", json={"court_code": "c"})
    assert r.status_code == 403
    r = await env.call("PUT", service, "admin", json={"court_code": "c", "opening_hours": "mon 25:00-26:00"})
    assert r.status_code == 422 and r.json()["error"] == "bad_opening_hours"
    r = await env.call("POST", "/api/stations", "admin", json={"kind": "community", "name": "社区站", "location": "x"})
    assert r.status_code == 201  # the register knows community stations now


async def test_nobody_on_duty_offers_a_callback_slot(env: Env) -> None:
    await env.on_duty("judge1", starts_in=3)  # the next shift starts in three hours
    r = await env.request()
    assert r.status_code == 201
    call = r.json()
    assert (call["state"], call["reason"]) == ("unanswered", "nobody_on_duty")
    slot = call["callback_slot"]
    assert slot is not None
    booked = await env.ok("POST", f"/api/stations/me/calls/{call['id']}/callback", station=True)
    assert booked["state"] == "callback_requested" and booked["callback_at"] == slot
    again = await env.call("POST", f"/api/stations/me/calls/{call['id']}/requeue", station=True)
    assert again.status_code == 409 and again.json()["error"] == "call_state"


async def test_no_pickup_in_time_then_requeue_and_away_judges(env: Env) -> None:
    await env.on_duty("judge1")
    call = (await env.request()).json()
    for _ in range(13):  # the station keeps polling while nobody picks up
        env.clock.advance(seconds=10)
        seen = await env.ok("GET", f"/api/stations/me/calls/{call['id']}", station=True)
    assert (seen["state"], seen["reason"]) == ("unanswered", "no_pickup")
    requeued = await env.ok("POST", f"/api/stations/me/calls/{call['id']}/requeue", station=True)
    assert requeued["state"] == "waiting" and requeued["requeues"] == 1 and requeued["position"] == 1
    await env.ok("PUT", "/api/duty/status", "judge1", status=204, json={"status": "away"})
    r = await env.call("POST", f"/api/duty/calls/{call['id']}/accept", "judge1")
    assert r.status_code == 409 and r.json()["error"] == "duty_away"
    r = await env.call("POST", f"/api/duty/calls/{call['id']}/accept", "judge2")
    assert r.status_code == 403 and r.json()["error"] == "not_on_duty"
    other = (await env.request()).json()
    assert (other["state"], other["reason"]) == ("unanswered", "nobody_on_duty")  # the only judge is away


async def test_a_quiet_station_keeps_its_place_for_the_grace_window(env: Env) -> None:
    await env.on_duty("judge1")
    first = (await env.request()).json()
    env.clock.advance(seconds=1)
    second = (await env.request(caller_name="李四")).json()
    env.clock.advance(seconds=(FRESH + timedelta(seconds=20)).total_seconds())  # first never polls again
    await env.ok("GET", f"/api/stations/me/calls/{second['id']}", station=True)
    queue = (await env.ok("GET", "/api/duty", "judge1"))["queue"]
    assert [(q["id"], q["caller_presence"]) for q in queue] == [(first["id"], "reconnecting"),
                                                                (second["id"], "present")]
    back = await env.ok("GET", f"/api/stations/me/calls/{first['id']}", station=True)  # it comes back in time
    assert back["state"] == "waiting" and back["position"] == 1
    env.clock.advance(seconds=(FRESH + timedelta(seconds=31)).total_seconds())
    await env.ok("GET", f"/api/stations/me/calls/{second['id']}", station=True)
    queue = (await env.ok("GET", "/api/duty", "judge1"))["queue"]
    assert [q["id"] for q in queue] == [second["id"]]
    gone = await env.ok("GET", f"/api/stations/me/calls/{first['id']}", station=True)
    assert (gone["state"], gone["reason"]) == ("abandoned", "caller_gone")


async def test_an_operator_signs_in_with_their_own_account(env: Env) -> None:
    await env.on_duty("judge1")
    op_id = await env.staff("operator", ["station_operator"])
    r = await env.call("GET", "/api/stations/me", "operator")
    assert r.status_code == 403 and r.json()["error"] == "not_station_operator"
    await env.ok("POST", f"/api/stations/{env.station_id}/operators", "admin", status=204, json={"staff_id": op_id})
    assert (await env.ok("GET", "/api/stations/me", "operator"))["signed_in_as"] == "station_operator"
    r = await env.call("POST", "/api/stations/me/calls", "operator", json={
        "caller_name": "赵五", "verification_method": "face_match", "category": "case_query", "summary": ""})
    assert r.status_code == 201 and r.json()["state"] == "waiting"
    r = await env.call("GET", "/api/stations", "operator")
    assert r.status_code == 403  # operators do not read the register
    judge_add = await env.call("POST", f"/api/stations/{env.station_id}/operators", "admin",
                               json={"staff_id": env.staff_ids["judge1"]})
    assert judge_add.status_code == 422


async def test_openapi_lists_the_stations_endpoints(env: Env) -> None:
    spec = (await env.client.get("/openapi.json")).json()
    mine = ("/api/stations/", "/api/duty", "/api/shared/")
    ours = {(m, p) for p, ops in spec["paths"].items() for m in ops if p.startswith(mine)}
    assert ("post", "/api/duty/calls/{call_id}/accept") in ours and ("post", "/api/stations/me/calls") in ours
    assert len(ours) == 33
    for method, path in ours:
        assert spec["paths"][path][method]["tags"] == ["stations"], (method, path)


async def test_a_person_calls_with_their_own_link_from_the_court(env: Env) -> None:
    from docket.court import NewPerson

    await env.on_duty("judge1")
    person = await env.services.court.create_person(NewPerson("孙当事人", None, None))
    r = await env.call("POST", "/api/stations/call-links", "judge1", json={"person_id": person.id, "court_code": COURT})
    assert r.status_code == 403  # judges do not issue links
    link = await env.ok("POST", "/api/stations/call-links", "clerk", status=201,
                        json={"person_id": person.id, "court_code": COURT, "valid_days": 7})
    assert link["token"].startswith("cl_") and link["url"].endswith(f"/station#call={link['token']}")
    mine = {"X-Call-Link": link["token"]}
    me = await env.ok("GET", "/api/stations/me", headers=mine)
    assert (me["kind"], me["name"], me["court_code"]) == ("person", "孙当事人", COURT)
    env.clock.advance(hours=14)  # late evening: no station hours apply to a person at home, but nobody is on duty
    late = (await env.call("POST", "/api/stations/me/calls", headers=mine,
                           json={"category": "case_query", "summary": "开庭时间？"})).json()
    assert (late["state"], late["reason"]) == ("unanswered", "nobody_on_duty")
    env.clock.advance(hours=-14)
    r = await env.call("POST", "/api/stations/me/calls", headers=mine, json={"category": "case_query", "summary": ""})
    assert r.status_code == 201 and r.json()["state"] == "waiting"
    call = r.json()
    queue = (await env.ok("GET", "/api/duty", "judge1"))["queue"]
    assert [(q["caller_name"], q["verification_method"], q["station_name"]) for q in queue] == [
        ("孙当事人", "known_to_court", None)]
    await env.ok("POST", f"/api/duty/calls/{call['id']}/accept", "judge1")
    assert (await env.ok("GET", f"/api/stations/me/calls/{call['id']}", headers=mine))["state"] == "in_call"
    station_view = await env.call("GET", f"/api/stations/me/calls/{call['id']}", station=True)
    assert station_view.status_code == 404  # a station cannot see a person's call, nor the other way round
    assert {c["id"] for c in await env.ok("GET", "/api/stations/me/calls", headers=mine)} == {call["id"], late["id"]}
    assert await env.ok("GET", "/api/stations/me/calls", station=True) == []
    stats = await env.ok("GET", "/api/stations/stats", "clerk")
    assert stats["by_court"][COURT]["calls"] == 2 and stats["by_station"] == {}
    await env.ok("POST", f"/api/stations/call-links/{link['id']}/revoke", "clerk", status=204)
    r = await env.call("GET", "/api/stations/me", headers=mine)
    assert r.status_code == 401 and r.json()["error"] == "call_link_revoked"
    r = await env.call("GET", "/api/stations/me", headers={"X-Call-Link": "cl_forged"})
    assert r.status_code == 401 and r.json()["error"] == "call_link_unknown"
