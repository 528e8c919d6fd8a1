"""Signalling through a real server: admission, room events, limits, resume, and refusals with close codes."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from hearing.roles import Role
from signaling.tokens import ISSUER, JOIN_AUDIENCE, TokenService
from tests.live import Client, LiveServer, live_server

ROOM = "room-a"


@pytest.fixture
async def server(tmp_path):
    async with live_server(tmp_path, ws_idle_timeout_seconds=60, resume_grace_seconds=30) as s:
        yield s


async def join(
    server: LiveServer, role: Role = Role.PLAINTIFF, name: str = "张三", room: str = ROOM
) -> tuple[Client, dict]:
    c = await server.client(room, await server.token(room, role, name))
    joined = await c.expect("joined")
    return c, joined


async def test_join_lists_participants_and_announces(server: LiveServer) -> None:
    judge, j1 = await join(server, Role.PRESIDING_JUDGE, "王审判长")
    assert j1["participants"] == []
    assert j1["participant"]["role"] == "presiding_judge"
    assert set(j1["participant"]["grants"]) == {"publish", "subscribe", "moderate"}
    assert j1["resume_grace_seconds"] == 30 and j1["ice_servers"] == []
    party, j2 = await join(server, Role.PLAINTIFF, "张原告")
    assert [p["name"] for p in j2["participants"]] == ["王审判长"]
    seen = await judge.expect("participant-joined")
    assert seen["participant"]["id"] == j2["participant"]["id"]
    assert seen["participant"]["name"] == "张原告"
    await party.send({"type": "leave"})
    left = await judge.expect("participant-left")
    assert left == {"type": "participant-left", "participant_id": j2["participant"]["id"], "reason": "left"}
    assert (await party.wait_closed())[0] == 1000
    await judge.close()


async def test_rooms_are_isolated(server: LiveServer) -> None:
    a, _ = await join(server, room="room-a")
    b, _ = await join(server, room="room-b")
    c, _ = await join(server, room="room-a", name="李四")
    await a.expect("participant-joined")
    await b.send({"type": "ping", "id": 7})
    assert (await b.expect("pong"))["id"] == 7
    assert not any(m["type"] == "participant-joined" for m in b.seen)
    for x in (a, b, c):
        await x.close()


async def test_mute_state_is_broadcast(server: LiveServer) -> None:
    a, _ = await join(server, name="甲")
    b, _ = await join(server, name="乙")
    await b.send({"type": "mute", "kind": "audio", "muted": True})
    for c in (a, b):
        m = await c.expect("mute-state")
        assert m["audio_muted"] is True and m["video_muted"] is False
    c3, j3 = await join(server, name="丙")
    listed = {p["name"]: p for p in j3["participants"]}
    assert listed["乙"]["audio_muted"] is True and listed["甲"]["audio_muted"] is False
    for c in (a, b, c3):
        await c.close()


async def test_bad_messages_get_typed_errors_and_session_survives(server: LiveServer) -> None:
    c, _ = await join(server)
    await c.send("not json")
    assert (await c.expect("error"))["code"] == "bad_json"
    await c.send({"type": "teleport"})
    assert (await c.expect("error"))["code"] == "unknown_type"
    await c.send({"type": "mute", "kind": "smell", "muted": True})
    assert (await c.expect("error"))["code"] == "bad_message"
    await c.send({"type": "join", "v": 1, "token": "x"})
    assert (await c.expect("error"))["code"] == "already_joined"
    await c.send({"type": "offer", "sdp": "v=0"})
    assert (await c.expect("error"))["code"] == "bad_message"
    await c.send("x" * 70_000)
    assert (await c.expect("error"))["code"] == "too_large"
    await c.ws.send(b"\xff\xfe")
    assert (await c.expect("error"))["code"] == "bad_json"
    await c.send({"type": "ping"})
    await c.expect("pong")
    await c.close()


async def test_signalling_only_instance_says_media_is_unavailable(tmp_path) -> None:
    async with live_server(tmp_path, media_enabled=False) as server:
        c, _ = await join(server)
        await c.send({"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"})
        assert (await c.expect("error"))["code"] == "media_unavailable"
        await c.close()


async def test_frame_beyond_hard_limit_closes_with_1009(server: LiveServer) -> None:
    c, _ = await join(server)
    await c.send("x" * (4 * 65536 + 10))
    code, _ = await c.wait_closed()
    assert code == 1009


async def test_rate_limit(tmp_path) -> None:
    async with live_server(tmp_path, ws_rate_per_second=1, ws_rate_burst=5) as server:
        c, _ = await join(server)
        for i in range(8):
            await c.send({"type": "ping", "id": i})
        await c.expect("error", code="rate_limited")
        for i in range(30):  # a sustained flood ends the connection
            await c.send({"type": "ping", "id": i})
        code, reason = await c.wait_closed()
        assert code == 4008 and "too many" in reason


async def test_idle_and_join_timeouts(tmp_path) -> None:
    async with live_server(tmp_path, ws_idle_timeout_seconds=0.5, ws_join_timeout_seconds=0.5) as server:
        silent = await server.client(ROOM)
        code, _ = await silent.wait_closed()
        assert code == 4000
        c, _ = await join(server)
        code, reason = await c.wait_closed()
        assert code == 4009 and "no message" in reason


@pytest.mark.parametrize(
    ("case", "code"),
    [("tampered", 4001), ("other-secret", 4001), ("expired", 4002), ("not-yet", 4003), ("wrong-room", 4004),
     ("revoked", 4005), ("forbidden-grant", 4006), ("garbage", 4001)],
)
async def test_refused_tokens_close_with_4000_range_code_and_reason(server: LiveServer, case: str, code: int) -> None:
    tokens = server.services.tokens
    if case == "tampered":
        good = await server.token(ROOM)
        head, payload, sig = good.split(".")
        token = f"{head}.{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
    elif case == "other-secret":
        token, _ = TokenService("another-secret-" + "y" * 20).issue_join(
            room_id=ROOM, role="judge", name="x", grants=["moderate"], ttl_seconds=600)
    elif case == "expired":
        token, _ = TokenService(server.settings.signing_secret(), clock=lambda: time.time() - 7200).issue_join(
            room_id=ROOM, role="plaintiff", name="x", grants=["publish"], ttl_seconds=600)
    elif case == "not-yet":
        token, _ = tokens.issue_join(room_id=ROOM, role="plaintiff", name="x", grants=["publish"], ttl_seconds=7200,
                                     not_before=int(time.time()) + 3600)
    elif case == "wrong-room":
        token = await server.token("another-room")
    elif case == "revoked":
        url = await server.link(ROOM, Role.DEFENDANT, "赵")
        token = url.split("#token=")[1]
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        assert await server.services.records.revoke_token(jti, "test")
    elif case == "forbidden-grant":
        token, _ = tokens.issue_join(room_id=ROOM, role="observer", name="x", grants=["publish"], ttl_seconds=600)
    else:
        token = "garbage"
    c = await server.client(ROOM, token)
    err = await c.expect("error")
    assert err["code"] == "token_refused" and err["message"]
    got, reason = await c.wait_closed()
    assert got == code
    assert reason == err["message"]


async def test_unsupported_version_and_wrong_first_message(server: LiveServer) -> None:
    c = await server.client(ROOM, first={"type": "join", "v": 99, "token": "t"})
    assert (await c.wait_closed())[0] == 4012
    c = await server.client(ROOM, first={"type": "ping"})
    assert (await c.wait_closed())[0] == 4000
    c = await server.client("bad.room", first={"type": "ping"})
    assert (await c.wait_closed())[0] == 4004


async def test_token_from_another_signer_with_same_claims_is_refused(server: LiveServer) -> None:
    payload = {"iss": ISSUER, "aud": JOIN_AUDIENCE, "sub": "p1", "name": "x", "room": ROOM, "role": "judge",
               "grants": ["moderate"], "jti": "t1", "iat": int(time.time()), "nbf": int(time.time()),
               "exp": int(time.time()) + 60}
    forged = jwt.encode(payload, "guessed-secret-0123456789-0123456789", algorithm="HS256")
    c = await server.client(ROOM, forged)
    assert (await c.wait_closed())[0] == 4001


async def test_resume_within_grace_keeps_place(server: LiveServer) -> None:
    judge, _ = await join(server, Role.PRESIDING_JUDGE, "王")
    party, jp = await join(server, Role.PLAINTIFF, "张")
    pid = jp["participant"]["id"]
    await judge.expect("participant-joined")
    await party.send({"type": "mute", "kind": "video", "muted": True})
    await judge.expect("mute-state")
    await party.drop()
    away = await judge.expect("participant-connection")
    assert away == {"type": "participant-connection", "participant_id": pid, "connection": "reconnecting"}
    back = await server.client(ROOM, resume_token=jp["resume_token"])
    jr = await back.expect("joined")
    assert jr["resumed"] is True and jr["participant"]["id"] == pid and jr["participant"]["video_muted"] is True
    assert [p["name"] for p in jr["participants"]] == ["王"]
    assert (await judge.expect("participant-connection"))["connection"] == "connected"
    assert not any(m["type"] == "participant-left" for m in judge.seen)
    # The place is the same participant: a third person sees exactly two people.
    third, j3 = await join(server, Role.DEFENDANT, "赵")
    assert sorted(p["name"] for p in j3["participants"]) == ["张", "王"]
    for c in (judge, back, third):
        await c.close()


async def test_grace_expiry_releases_place_and_resume_then_fails(tmp_path) -> None:
    async with live_server(tmp_path, resume_grace_seconds=0.5) as server:
        judge, _ = await join(server, Role.PRESIDING_JUDGE, "王")
        party, jp = await join(server)
        await party.drop()
        left = await judge.expect("participant-left")
        assert left["reason"] == "timeout" and left["participant_id"] == jp["participant"]["id"]
        late = await server.client(ROOM, resume_token=jp["resume_token"])
        assert (await late.wait_closed())[0] == 4007
        await judge.close()


async def test_second_join_with_same_token_replaces_first(server: LiveServer) -> None:
    judge, _ = await join(server, Role.PRESIDING_JUDGE, "王")
    token = await server.token(ROOM, Role.PLAINTIFF, "张")
    first = await server.client(ROOM, token)
    j1 = await first.expect("joined")
    await judge.expect("participant-joined")
    second = await server.client(ROOM, token)
    j2 = await second.expect("joined")
    assert j2["participant"]["id"] == j1["participant"]["id"]
    assert (await first.wait_closed())[0] == 4010
    await second.send({"type": "ping"})
    await second.expect("pong")
    assert not any(m["type"] == "participant-left" for m in judge.seen)
    members = await server.services.bus.members(ROOM)
    assert len(members) == 2
    for c in (judge, second):
        await c.close()


async def test_many_participants_see_consistent_rooms(server: LiveServer) -> None:
    clients = await asyncio.gather(*(join(server, name=f"p{i}") for i in range(12)))
    last = clients[-1][0]
    await last.send({"type": "mute", "kind": "audio", "muted": True})
    for c, _ in clients:
        await c.expect("mute-state")
    for c, _ in clients:
        await c.send({"type": "leave"})
        await c.wait_closed()
    assert await server.services.bus.members(ROOM) == {}


async def test_health_ready_metrics_and_docs(server: LiveServer) -> None:
    c, _ = await join(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "bus": "ok", "objects": "ok"}
        metrics = (await http.get("/metrics")).text
        assert "hearing_ws_connections 1.0" in metrics
        assert "hearing_rooms 1.0" in metrics
        assert 'hearing_signaling_messages_total{direction="in",type="join"}' in metrics
        assert (await http.get("/docs")).status_code == 200
        assert "/readyz" in (await http.get("/openapi.json")).json()["paths"]
        page = await http.get("/join")
        assert page.status_code == 200 and "join.js" in page.text
    await c.close()


async def test_readyz_reports_a_dead_dependency(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        server.services.records._url_for_test = None  # type: ignore[attr-defined]
        await server.services.records.close()
        real = server.services.records.ping

        async def broken() -> None:
            raise RuntimeError("database is gone")

        server.services.records.ping = broken  # type: ignore[method-assign]
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            r = await http.get("/readyz")
        server.services.records.ping = real  # type: ignore[method-assign]
        assert r.status_code == 503
        assert r.json()["checks"]["database"].startswith("RuntimeError")
