"""A recorded video message when nobody answers a station's call: the station records it, uploads it through the one
resumable clip upload (purpose `station`), attaches it to the call; judges on duty of that court see it, play the
very bytes that were recorded and take it in hand. Refusals are typed and lose nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.clip_files import make_clip
from tests.clips import upload_clip
from tests.stations_env import COURT, Env, stations_env


@pytest.fixture
async def env(court_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with stations_env(tmp_path, court_url, s3_endpoint="") as e:
        yield e


async def unanswered_call(env: Env, *, link: str | None = None) -> str:
    headers = {"X-Station-Link": link or env.link}
    r = await env.client.post("/api/stations/me/calls", headers=headers, json={
        "caller_name": "张三", "verification_method": "id_card_at_station", "category": "legal_advice",
        "summary": "土地承包纠纷"})
    assert r.status_code == 201, r.text
    call = r.json()
    assert (call["state"], call["reason"]) == ("unanswered", "nobody_on_duty")
    r = await env.client.post(f"/api/stations/me/calls/{call['id']}/message", headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "message_pending", r.text
    return str(call["id"])


async def test_a_message_left_at_a_station_reaches_the_judges_on_duty(env: Env) -> None:
    call_id = await unanswered_call(env)
    data = make_clip(seconds=1.0)
    clip = await upload_clip(env.client, "station", data, headers={"X-Station-Link": env.link})
    assert clip["sha256"] == hashlib.sha256(data).hexdigest()
    left = await env.ok("POST", f"/api/stations/me/calls/{call_id}/message-clip", station=True,
                        json={"clip_id": clip["id"]})
    assert left["state"] == "message_pending" and left["message_left"] is True
    history = await env.ok("GET", "/api/stations/me/calls", station=True)
    assert [c["message_left"] for c in history if c["id"] == call_id] == [True]

    await env.on_duty("judge1")  # the next judge on duty of the court finds it
    duty = await env.ok("GET", "/api/duty", "judge1")
    assert [m["id"] for m in duty["messages"]] == [call_id]
    message = duty["messages"][0]
    assert message["station_name"] == "石桥村工作站" and message["caller_name"] == "张三"
    played = await env.ok("GET", f"/api/duty/messages/{call_id}/clip", "judge1")
    assert played["clip"]["id"] == clip["id"] and played["clip"]["duration_ms"] > 0
    body = await env.client.get(httpx.URL(played["url"]).raw_path.decode())  # the store's short-lived address
    assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == clip["sha256"]
    heard = await env.ok("POST", f"/api/duty/messages/{call_id}/heard", "judge1")
    assert heard["message_heard_at"] is not None
    assert (await env.ok("GET", "/api/duty", "judge1"))["messages"] == []
    assert (await env.ok("POST", f"/api/duty/messages/{call_id}/heard", "judge1"))["message_heard_at"] \
        == heard["message_heard_at"]  # marking again changes nothing
    actions = [e.action for e in await env.audit() if e.subject == f"call:{call_id}"]
    assert {"call.leave_message", "call.message_left", "call.message_heard"} <= set(actions)


async def test_messages_are_refused_with_typed_codes_and_nothing_is_lost(env: Env) -> None:
    call_id = await unanswered_call(env)
    anonymous = await env.client.post("/api/clips/station/uploads", json={
        "size": 10, "content_type": "video/webm", "sha256": "0" * 64})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "station_not_signed_in"

    # Another station's clip cannot be attached here (and this station's cannot be attached there).
    s = await env.ok("POST", "/api/stations", "admin", status=201, json={
        "kind": "village", "name": "柳树村工作站", "location": "柳镇"})
    await env.ok("PUT", f"/api/stations/{s['id']}/service", "admin", json={"court_code": COURT})
    other_link = (await env.ok("POST", f"/api/stations/{s['id']}/links", "clerk", status=201, json={}))["token"]
    foreign = await upload_clip(env.client, "station", make_clip(seconds=0.5, seed=2),
                                headers={"X-Station-Link": other_link})
    r = await env.call("POST", f"/api/stations/me/calls/{call_id}/message-clip", station=True,
                       json={"clip_id": foreign["id"]})
    assert r.status_code == 409 and r.json()["error"] == "message_clip_unknown"
    r = await env.call("POST", f"/api/stations/me/calls/{call_id}/message-clip",
                       headers={"X-Station-Link": other_link}, json={"clip_id": foreign["id"]})
    assert r.status_code == 404 and r.json()["error"] == "call_not_found"  # not that station's call

    clip = await upload_clip(env.client, "station", make_clip(seconds=0.5), headers={"X-Station-Link": env.link})
    await env.ok("POST", f"/api/stations/me/calls/{call_id}/message-clip", station=True, json={"clip_id": clip["id"]})
    again = await env.call("POST", f"/api/stations/me/calls/{call_id}/message-clip", station=True,
                           json={"clip_id": clip["id"]})
    assert again.status_code == 409 and again.json()["error"] == "message_left_already"

    # A call that did not ask to leave a message takes none.
    await env.on_duty("judge1")
    waiting = (await env.request()).json()
    assert waiting["state"] == "waiting"
    second = await upload_clip(env.client, "station", make_clip(seconds=0.5, seed=3),
                               headers={"X-Station-Link": env.link})
    r = await env.call("POST", f"/api/stations/me/calls/{waiting['id']}/message-clip", station=True,
                       json={"clip_id": second["id"]})
    assert r.status_code == 409 and r.json()["error"] == "call_state"

    # A judge on duty for another court does not see or play it.
    await env.on_duty("judge2", court="OTHER")
    assert (await env.ok("GET", "/api/duty", "judge2"))["messages"] == []
    r = await env.call("GET", f"/api/duty/messages/{call_id}/clip", "judge2")
    assert r.status_code == 404 and r.json()["error"] == "call_not_found"
    # The message is still there for the court's own judge.
    assert [m["id"] for m in (await env.ok("GET", "/api/duty", "judge1"))["messages"]] == [call_id]
