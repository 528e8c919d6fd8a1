"""A call on the real media plane: on accept, the judge and the station are both in the call room through the SFU
(aiortc peers, frames decoded both ways); the judge starts the recording (everyone gets the light), ends the call,
and the recording's manifest chain verifies. A judge dropping mid-call: the station is told and re-queues."""

from __future__ import annotations

import asyncio
from pathlib import Path

from recordings.manifest import verify_store
from tests.conftest import until
from tests.live import live_server
from tests.media_client import MediaClient
from tests.stations_env import seat_desk


def _token(link: str) -> str:
    return link.split("#token=", 1)[1]


async def test_accepted_call_is_live_recorded_and_verifies(tmp_path: Path) -> None:
    async with live_server(tmp_path) as server:
        desk = await seat_desk(server.services, server.base)
        async with desk.client(station=True) as station, desk.client("judge1") as judge_api:
            call = (await station.post("/api/stations/me/calls", json={
                "caller_name": "王村民", "verification_method": "id_card_at_station", "category": "legal_advice",
                "summary": "工资拖欠"})).json()
            accepted = (await judge_api.post(f"/api/duty/calls/{call['id']}/accept")).json()
            room = f"call-{call['id']}"
            judge = await MediaClient.join(server, room, _token(accepted["link"]))
            seat_link = (await station.post(f"/api/stations/me/calls/{call['id']}/join")).json()["link"]
            caller = await MediaClient.join(server, room, _token(seat_link))
            assert judge.joined["participant"]["role"] == "judge" and caller.joined["participant"]["role"] == "caller"
            await caller.wait_frames(judge.participant_id, "video", 5)
            await judge.wait_frames(caller.participant_id, "video", 5)
            state = (await station.get(f"/api/stations/me/calls/{call['id']}")).json()
            assert state["state"] == "in_call" and state["judge_connection"] == "connected"

            # Only the judge moderates: the caller asking to record is refused, the judge's request starts it.
            await caller.ws.send({"type": "recording", "on": True})
            await until(lambda: any(m.get("type") == "error" and m.get("code") == "forbidden"
                                    for m in caller.ws.seen), what="the caller's refusal")
            await judge.ws.send({"type": "recording", "on": True})
            recorder = server.services.recorder
            assert recorder is not None
            await until(lambda: recorder.is_recording(room), what="the recording to start")
            await until(lambda: any(m.get("type") == "room-state" and m.get("recording") for m in caller.ws.seen),
                        what="the caller to see the recording light")
            await until(lambda: len(recorder.sessions[room].tracks) >= 4, what="all four tracks recorded")
            await caller.wait_frames(judge.participant_id, "video", 90)  # about three seconds of call
            ended = (await judge_api.post(f"/api/duty/calls/{call['id']}/end", json={"note": "已答复"})).json()
            assert ended["state"] == "ended" and ended["recorded"] is True
            await caller.ws.wait_closed()
            await until(lambda: room not in recorder.sessions, what="the recording to stop")
            await asyncio.wait_for(recorder.spool.drain(), 60)
            entries, broken = await verify_store(server.services.objects, call["id"])
            assert broken is None, broken
            assert entries[0].type == "start" and entries[-1].type == "stop"
            assert sum(e.type == "segment" for e in entries) >= 4
            for c in (judge, caller):
                await c.close_media()
                await c.ws.close()


async def test_a_judge_dropping_mid_call_lets_the_station_requeue(tmp_path: Path) -> None:
    async with live_server(tmp_path, resume_grace_seconds=1) as server:
        desk = await seat_desk(server.services, server.base)
        async with desk.client(station=True) as station, desk.client("judge1") as judge_api:
            call = (await station.post("/api/stations/me/calls", json={
                "caller_name": "王村民", "verification_method": "id_card_at_station", "category": "mediation",
                "summary": ""})).json()
            accepted = (await judge_api.post(f"/api/duty/calls/{call['id']}/accept")).json()
            room = f"call-{call['id']}"
            judge = await server.client(room, _token(accepted["link"]))
            await judge.expect("joined")
            await judge.expect("room-state", state="in_call")
            await judge.drop()

            async def told() -> bool:
                seen = (await station.get(f"/api/stations/me/calls/{call['id']}")).json()
                return seen["state"] == "interrupted" and seen["reason"] == "judge_dropped"

            await until(told, what="the station to hear the judge dropped")
            again = (await station.post(f"/api/stations/me/calls/{call['id']}/requeue")).json()
            assert again["state"] == "waiting" and again["position"] == 1 and again["requeues"] == 1
            late = await server.client(room, _token(accepted["link"]))  # the old judge link no longer gets in
            assert (await late.wait_closed())[0] == 4006
