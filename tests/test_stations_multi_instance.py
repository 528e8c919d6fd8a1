"""Two instances sharing PostgreSQL and Redis: the queue lives in the database and presence in the room bus, so a
station polling one instance sees a judge on the other accept its call, join the call room there, and drop."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import until
from tests.live import live_server
from tests.stations_env import seat_desk


async def test_a_call_across_two_instances(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    shared = {"database_url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix, "resume_grace_seconds": 1,
              "login_attempts_per_minute": 600, "login_burst": 1000,  # several logins from one test address
              "media_enabled": False}  # signalling only: with media each call room would live on one owner node
    async with live_server(tmp_path / "a", **shared) as a, live_server(tmp_path / "b", **shared) as b:
        desk = await seat_desk(a.services, a.base, judges=2)
        on_b = desk.__class__(b.base, desk.station_id, desk.link, desk.tokens, desk.staff_ids)
        async with desk.client(station=True) as station, on_b.client("judge1") as judge1, \
                desk.client("judge2") as judge2:
            call = (await station.post("/api/stations/me/calls", json={
                "caller_name": "王村民", "verification_method": "id_card_at_station", "category": "case_query",
                "summary": ""})).json()
            queue_b = (await judge1.get("/api/duty")).json()["queue"]
            assert [q["id"] for q in queue_b] == [call["id"]]  # the other instance's queue has it
            accepted = await judge1.post(f"/api/duty/calls/{call['id']}/accept")
            assert accepted.status_code == 200
            taken = await judge2.post(f"/api/duty/calls/{call['id']}/accept")  # on instance a
            assert taken.status_code == 409 and taken.json()["error"] == "call_taken"
            room = f"call-{call['id']}"
            judge_ws = await b.client(room, accepted.json()["link"].split("#token=", 1)[1])
            await judge_ws.expect("joined")
            await judge_ws.expect("room-state", state="in_call")

            async def judge_connected() -> bool:
                seen = (await station.get(f"/api/stations/me/calls/{call['id']}")).json()
                return seen.get("judge_connection") == "connected"

            await until(judge_connected, what="instance a to see the judge connected on b")
            await judge_ws.drop()

            async def interrupted() -> bool:
                seen = (await station.get(f"/api/stations/me/calls/{call['id']}")).json()
                return seen["state"] == "interrupted" and seen["reason"] == "judge_dropped"

            await until(interrupted, what="instance a to hear the judge on b dropped")
