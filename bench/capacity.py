"""Capacity of one worker: `python -m bench.capacity [--steps 16,32,64,...] [--rooms 5,10,20] [--seconds 10] [--json]`.

Issue 18 part 3, loaded with `bench.loadgen` (real signalling/ICE/DTLS per client, then replayed SRTP and
non-decrypting subscribers), all clients in this process, the server (`hearing serve`, one worker) in its own:
  * subscribers: one publisher (VP8 640x480 30 fps ~1.5 Mbit/s + Opus), subscribers added in steps; per step the
    complete frames per second of every subscriber over the window. The answer is the largest step at which every
    subscriber got >= 29 fps; the ramp stops after the first step below that;
  * rooms: for each R a fresh server, R rooms x 4 participants each publishing audio+video and receiving the other
    three (a court: judge, clerk, two parties). Rooms are joined one after another (the four of a room at once);
    then the window. Figures: fps per (viewer, stream) min/mean, and join -> first frame over every (viewer,
    publisher) pair, from the later of the two joins to the first complete keyframe frame (p50/p95/max). After the
    window a fifth participant joins `--late` rooms one by one under the full load: its join -> first frame of the
    four publishers there is the "late join" figure.
CPU: server utime+stime from /proc over the window (s/s; 1.0 = one core), the server's time waiting for a CPU while
runnable (/proc/PID/schedstat: on this shared machine other engineers' work takes the core, so a starved server shows
there, not as its own cost), and this process's CPU (the whole generator) apart. Figures are noisy: compare rows of
one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

from bench import loadgen
from bench.loadgen import LoadPeer, Pinger, Sender, cpu_seconds, snapshot, wait_first_frames, wait_seconds, window
from media import aiortc_glue as glue

SERVER_ENV = {"HTTP_MAX_CONNECTIONS_PER_IP": "4096", "HEARING_NODE_CAPACITY": "1000"}
FPS_HELD = 29.0
COURT = (("presiding_judge", "judge"), ("clerk", "clerk"), ("plaintiff", "plaintiff"), ("defendant", "defendant"))


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class Load:
    """The clients of one server: tokens, the batched sender, the pinger; a measuring window."""

    def __init__(self, port: int, pid: int, secret: str) -> None:
        self.base = f"ws://127.0.0.1:{port}/ws/"
        self.pid = pid
        self.tokens = loadgen.tokens(secret)
        self.media = loadgen.replay()
        self.sender = Sender()
        self.peers: list[LoadPeer] = []
        self.pinger = Pinger(lambda: self.peers)

    def peer(self, room: str, role: str, name: str, publish: bool) -> LoadPeer:
        grants = ["publish", "subscribe"] if publish else ["subscribe"]
        token = self.tokens.issue_join(room_id=room, role=role, name=name, grants=grants, ttl_seconds=3600)[0]
        p = LoadPeer(self.base + room, token, f"{room}/{name}", self.media if publish else None)
        self.peers.append(p)
        return p

    async def start(self, peers: list[LoadPeer]) -> None:
        await asyncio.gather(*(p.start() for p in peers))
        for p in peers:
            if p.media is not None:
                await asyncio.wait_for(p.connected.wait(), 30)
                self.sender.add(p)

    async def measure(self, seconds: float) -> dict[str, Any]:
        before = snapshot(self.peers)
        me = os.getpid()
        cpu0, wait0, own0, t0 = cpu_seconds(self.pid), wait_seconds(self.pid), time.process_time(), time.monotonic()
        mine0 = wait_seconds(me)
        lost0 = sum(s.lost for p in self.peers for s in p.streams.values())
        await asyncio.sleep(seconds)
        cpu1, wait1, own1, t1 = cpu_seconds(self.pid), wait_seconds(self.pid), time.process_time(), time.monotonic()
        mine1 = wait_seconds(me)
        span = t1 - t0
        w = window(self.peers, before, span)
        lost = sum(s.lost for p in self.peers for s in p.streams.values()) - lost0
        got = w["pkts_per_s_total"] * span
        return {"server_cpu_s_per_s": round((cpu1 - cpu0) / span, 3),
                "server_wait_s_per_s": round((wait1 - wait0) / span, 3),
                "client_cpu_s_per_s": round((own1 - own0) / span, 3),
                "client_wait_s_per_s": round((mine1 - mine0) / span, 3),
                "loss": round(lost / (lost + got), 4) if got else None,
                "resyncs": self.sender.late_resyncs, **w, "window_s": round(span, 2),
                "load_avg_1m": round(os.getloadavg()[0], 1)}

    async def close(self) -> None:
        self.pinger.cancel()
        await self.sender.stop()
        await asyncio.gather(*(p.close() for p in self.peers))


def _first_frame_ms(viewers: list[LoadPeer], publishers: list[LoadPeer]) -> list[float]:
    """Per (viewer, publisher): first frame - the later of the two joins."""
    joined = {p.participant_id: p.join_sent for p in publishers}
    out = []
    for v in viewers:
        for who, at in v.first_frames().items():
            if who in joined:
                out.append((at - max(v.join_sent, joined[who])) * 1000)
    return out


async def subscribers_ramp(port: int, pid: int, secret: str, steps: list[int], seconds: float) -> list[dict[str, Any]]:
    load = Load(port, pid, secret)
    rows: list[dict[str, Any]] = []
    try:
        pub = load.peer("cap", "presiding_judge", "publisher", True)
        await load.start([pub])
        subs: list[LoadPeer] = []
        for n in steps:
            new = [load.peer("cap", "plaintiff", f"sub{i}", False) for i in range(len(subs), n)]
            for i in range(0, len(new), 8):
                await load.start(new[i : i + 8])
            subs.extend(new)
            await wait_first_frames(new, 1, 60)
            await asyncio.sleep(1.0)
            _log(f"subscribers={n}: measuring {seconds:g} s...")
            row = {"part": "subscribers", "subscribers": n, **await load.measure(seconds)}
            ff = _first_frame_ms(new, [pub])
            row.update(first_frame_ms_p50=_pct(ff, 0.5), first_frame_ms_p95=_pct(ff, 0.95),
                       first_frame_missing=len(new) - len(ff))
            rows.append(row)
            print(format_row(row), flush=True)
            if row["fps_min"] is None or row["fps_min"] < FPS_HELD:
                break
    finally:
        await load.close()
    return rows


async def court_rooms(port: int, pid: int, secret: str, rooms: int, seconds: float, late: int) -> dict[str, Any]:
    load = Load(port, pid, secret)
    try:
        everyone: list[LoadPeer] = []
        for r in range(rooms):
            room = [load.peer(f"court-{r}", role, name, True) for role, name in COURT]
            await load.start(room)
            everyone.extend(room)
        await wait_first_frames(everyone, 3, 60)
        ff = _first_frame_ms(everyone, everyone)
        await asyncio.sleep(1.0)
        _log(f"rooms={rooms}: measuring {seconds:g} s...")
        row = {"part": "rooms", "rooms": rooms, "participants": len(everyone), **await load.measure(seconds)}
        row.update(first_frame_ms_p50=_pct(ff, 0.5), first_frame_ms_p95=_pct(ff, 0.95), first_frame_ms_max=_pct(ff, 1),
                   first_frame_pairs=len(ff), first_frame_missing=rooms * 12 - len(ff))
        late_ff: list[float] = []
        for r in range(min(late, rooms)):  # a fifth person joins a running hearing while every room is live
            p = load.peer(f"court-{r}", "counsel", "late", True)
            await load.start([p])
            await wait_first_frames([p], 4, 30)
            late_ff += [(at - p.join_sent) * 1000 for at in p.first_frames().values()]
        row.update(late_joins=min(late, rooms), late_first_frame_ms_p50=_pct(late_ff, 0.5),
                   late_first_frame_ms_p95=_pct(late_ff, 0.95), late_first_frame_ms_max=_pct(late_ff, 1))
        print(format_row(row), flush=True)
        return row
    finally:
        await load.close()


def _f(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_row(r: dict[str, Any]) -> str:
    size = f"N={r['subscribers']}" if r["part"] == "subscribers" else f"R={r['rooms']} ({r['participants']} people)"
    text = (f"{size:<18} server CPU {r['server_cpu_s_per_s']:.2f} s/s (waiting {r['server_wait_s_per_s']:.2f})  "
            f"client CPU {r['client_cpu_s_per_s']:.2f} (waiting {r['client_wait_s_per_s']:.2f})  "
            f"recv {r['pkts_per_s_total']:>8.0f} pkt/s  "
            f"fps min/mean {_f(r['fps_min'], '.1f')}/{_f(r['fps_mean'], '.1f')}  loss {_f(r['loss'], '.3f')}  "
            f"load {r['load_avg_1m']:.0f}  join->1st frame p50/p95 {_f(r['first_frame_ms_p50'], '.0f')}/"
            f"{_f(r['first_frame_ms_p95'], '.0f')} ms")
    if r["part"] == "rooms":
        text += (f"  late join p50/p95 {_f(r['late_first_frame_ms_p50'], '.0f')}/"
                 f"{_f(r['late_first_frame_ms_p95'], '.0f')} ms")
    return text


def main(argv: list[str] | None = None) -> int:
    from bench.sfu import SECRET, server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="16,32,48,64,96,128,160,192,256",
                    help="subscriber counts of the ramp ('' skips it)")
    ap.add_argument("--rooms", default="5,10,20", help="court-like loads, rooms of 4 ('' skips them)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    ap.add_argument("--late", type=int, default=5, help="late joins after each rooms window")
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    args = ap.parse_args(argv)
    steps = [int(x) for x in args.steps.split(",") if x]
    rooms = [int(x) for x in args.rooms.split(",") if x]
    glue.use_send_path("reference")  # this process sends through loadgen.Sender only
    glue.use_host_addresses(["127.0.0.1"])
    loadgen.replay()  # the clip is generated (once) before any server is timed
    rows: list[dict[str, Any]] = []
    if steps:
        with server("sfu", "vp8", extra_env=SERVER_ENV) as (port, pid, _log_path):
            rows += asyncio.run(subscribers_ramp(port, pid, SECRET, steps, args.seconds))
    for r in rooms:
        with server("sfu", "vp8", extra_env=SERVER_ENV) as (port, pid, _log_path):
            rows.append(asyncio.run(court_rooms(port, pid, SECRET, r, args.seconds, args.late)))
    if args.json:
        for row in rows:
            print(json.dumps(row))
    held = [r["subscribers"] for r in rows if r["part"] == "subscribers" and (r["fps_min"] or 0) >= FPS_HELD]
    if steps:
        print(f"largest N held at >= {FPS_HELD:g} fps for every subscriber, one worker: "
              f"{max(held) if held else 'none of the steps'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
