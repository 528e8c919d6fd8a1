"""Connect-a-judge benchmark: `python -m bench.stations [--cycles 200] [--calls 20] [--pg URL] [--json]`.

1. Queue operations per second: request → station poll → judge's queue read → accept → end, through the
   stations service on its SQL register (SQLite file; PostgreSQL too with `--pg`), every move audited, one after
   another (the per-operation cost, not a concurrency figure).
2. Pickup → first remote frame, for `--calls` calls one after another: `hearing serve` runs in its own process
   (embedded defaults, media on); this process seats a station and a judge on duty in the server's database,
   the station requests, the judge accepts over HTTP, the station polls (every 50 ms) until it is in the call and
   both sides join the call room with an aiortc peer publishing video. Measured from the accept request until each
   side has decoded its first frame of the other. The judge ends each call before the next.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import websockets
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from bench.server import hearing_server
from docket.court import NewStation
from docket.court_sql import SqlCourtRecords
from docket.migrate import upgrade
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from media import aiortc_glue as glue
from signaling.tokens import TokenService
from stations.service import StationActor, StationsConfig, StationsService
from stations.store_sql import SqlStations

SECRET = "bench-stations-secret-" + "s" * 20
COURT = "bench-court"
PASSWORD = "bench password 1"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _seat(url: str) -> tuple[SqlCourtRecords, StationsService, StaffAuth, dict[str, str], str, str]:
    """A court, a clerk, a judge on duty now and a station with its device link, on the database at `url`."""
    await upgrade(url)
    court = SqlCourtRecords(url)
    auth = StaffAuth(SqlStaffStore(court.engine), court.audit, hasher=cheap_hasher())
    ids = {}
    for name, roles in (("clerk", ["clerk"]), ("judge", ["judge"])):
        ids[name] = (await auth.create_account(name, f"{name} 法官", roles, PASSWORD)).id
    service = StationsService(SqlStations(court.engine, court.url), TokenService(SECRET), None, StationsConfig(
        tz=ZoneInfo("Asia/Shanghai"), pickup_timeout=timedelta(hours=1), grace=timedelta(hours=1),
        base_url="http://127.0.0.1"))
    now = datetime.now(UTC)
    station = await court.create_station(NewStation("village", "基准村工作站", "基准镇"))
    await service.store.configure_station(station.id, court_code=COURT, area=None, opening_hours=None,
                                          actor=(ids["clerk"], "staff"), now=now)
    _link, token = await service.store.issue_link(station.id, "PC", actor=(ids["clerk"], "staff"), now=now)
    await service.store.add_shift(court_code=COURT, staff_id=ids["judge"], duty_role="judge",
                                  starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=12),
                                  actor=(ids["clerk"], "staff"), now=now)
    return court, service, auth, ids, station.id, token


async def queue_ops(url: str, cycles: int) -> dict[str, Any]:
    court, service, _, ids, station_id, _ = await _seat(url)
    actor = StationActor(station_id, "bench-link", "station_link")
    timings: dict[str, float] = {"request": 0.0, "poll": 0.0, "queue": 0.0, "accept": 0.0, "end": 0.0}
    try:
        for _ in range(cycles):
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            c = await service.request_call(actor, caller_name="村民", verification_method="id_card_at_station",
                                           category="legal_advice", summary="", now=now)
            t1 = time.perf_counter()
            await service.station_call(actor, c["id"], now)
            t2 = time.perf_counter()
            await service.duty(ids["judge"], now)
            t3 = time.perf_counter()
            await service.accept(ids["judge"], "法官", c["id"], now)
            t4 = time.perf_counter()
            await service.end(ids["judge"], c["id"], now)
            t5 = time.perf_counter()
            for k, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                timings[k] += dt
    finally:
        await court.close()
    total = sum(timings.values())
    return {"bench": "queue_ops", "backend": url.split("+", 1)[0], "cycles": cycles,
            "ops_per_s": round(5 * cycles / total, 1),
            **{f"{k}_ms": round(1000 * v / cycles, 2) for k, v in timings.items()}}


class _Peer:
    """An aiortc participant of a call room: publishes a video track, notes when it decodes the other's first frame."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.pc = glue.new_peer_connection([])
        self.first_frame = asyncio.get_running_loop().create_future()
        self.track = VideoStreamTrack()
        self.pc.addTransceiver(self.track, direction="sendonly")
        self.pc.on("track", lambda track: asyncio.ensure_future(self._first(track)))
        self.task = asyncio.create_task(self._signalling())

    async def _first(self, track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            await track.recv()
            if not self.first_frame.done():
                self.first_frame.set_result(time.perf_counter())

    @classmethod
    async def join(cls, ws_url: str, token: str) -> _Peer:
        ws = await websockets.connect(ws_url, max_size=2**22, ping_interval=None)
        await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
        while json.loads(await ws.recv())["type"] != "joined":
            pass
        peer = cls(ws)
        await peer.pc.setLocalDescription(await peer.pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": peer.pc.localDescription.sdp}))
        return peer

    async def _signalling(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] in ("answer", "offer"):
                    await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type=msg["type"]))
                    if msg["type"] == "offer":
                        await self.pc.setLocalDescription(await self.pc.createAnswer())
                        await self.ws.send(json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp}))

    async def close(self) -> None:
        self.task.cancel()
        self.track.stop()
        await self.pc.close()
        await self.ws.close()


async def pickup_to_frame(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite+aiosqlite:///{Path(tmp) / 'hearing.db'}"
        with hearing_server(SECRET, DATABASE_URL=db) as (port, _proc):
            court, _service, auth, _ids, _station, link = await _seat(db)
            judge_token = (await auth.login("judge", PASSWORD))[0]
            base = f"http://127.0.0.1:{port}"
            judge_side, station_side = [], []
            async with httpx.AsyncClient(base_url=base, headers={"X-Station-Link": link}, timeout=30) as station, \
                    httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {judge_token}"},
                                      timeout=30) as judge:
                for _ in range(calls):
                    r = await station.post("/api/stations/me/calls", json={
                        "caller_name": "村民", "verification_method": "id_card_at_station",
                        "category": "legal_advice", "summary": ""})
                    call_id = r.json()["id"]
                    ws_url = f"ws://127.0.0.1:{port}/ws/call-{call_id}"
                    t0 = time.perf_counter()
                    accepted = (await judge.post(f"/api/duty/calls/{call_id}/accept")).json()
                    judge_peer = await _Peer.join(ws_url, accepted["link"].split("#token=", 1)[1])
                    # the station page polls, so the bench does (every 50 ms rather than the page's 2 s)
                    while (await station.get(f"/api/stations/me/calls/{call_id}")).json()["state"] != "in_call":  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    seat = (await station.post(f"/api/stations/me/calls/{call_id}/join")).json()["link"]
                    caller_peer = await _Peer.join(ws_url, seat.split("#token=", 1)[1])
                    t_judge, t_caller = await asyncio.wait_for(
                        asyncio.gather(judge_peer.first_frame, caller_peer.first_frame), 60)
                    judge_side.append((t_judge - t0) * 1000)
                    station_side.append((t_caller - t0) * 1000)
                    await judge.post(f"/api/duty/calls/{call_id}/end", json={})
                    await judge_peer.close()
                    await caller_peer.close()
            await court.close()
    both = [max(a, b) for a, b in zip(judge_side, station_side, strict=True)]
    return {"bench": "pickup_to_first_frame", "calls": calls,
            "judge_sees_caller_ms_p50": round(statistics.median(judge_side), 1),
            "judge_sees_caller_ms_p95": round(_pct(judge_side, 0.95), 1),
            "caller_sees_judge_ms_p50": round(statistics.median(station_side), 1),
            "caller_sees_judge_ms_p95": round(_pct(station_side, 0.95), 1),
            "both_ms_p50": round(statistics.median(both), 1), "both_ms_p95": round(_pct(both, 0.95), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="request→accept→end cycles for the queue figures")
    parser.add_argument("--calls", type=int, default=20, help="calls for pickup → first remote frame")
    parser.add_argument("--pg", default="", help="also measure the queue on this PostgreSQL URL (an empty database)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    async def run() -> list[dict[str, Any]]:
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(await queue_ops(f"sqlite+aiosqlite:///{Path(tmp) / 'queue.db'}", args.cycles))
        if args.pg:
            rows.append(await queue_ops(args.pg, args.cycles))
        if args.calls:
            rows.append(await pickup_to_frame(args.calls))
        return rows

    for row in asyncio.run(run()):
        print(json.dumps(row, ensure_ascii=False) if args.json else
              "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
