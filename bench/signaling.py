"""Signalling benchmark: `python -m bench.signaling [--clients 10,50,100] [--rounds 50] [--json]`.

Runs `hearing serve` in its own process (embedded defaults, in a temporary directory), joins N clients
to one room, and measures join latency (send `join` → receive `joined`) and fan-out latency (one
client's `mute` → every client has the `mute-state`), plus the server's CPU per delivered event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import websockets

from bench.server import ServerDidNotStart, hearing_server

SECRET = "bench-signaling-secret-" + "b" * 20



def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(n: int, rounds: int, port: int, pid: int) -> dict[str, object]:
    from signaling.tokens import TokenService

    tokens = TokenService(SECRET)
    room = f"bench-{n}"
    url = f"ws://127.0.0.1:{port}/ws/{room}"
    clients = []
    join_ms: list[float] = []
    for i in range(n):
        tok, _ = tokens.issue_join(room_id=room, role="plaintiff", name=f"p{i}", grants=["publish", "subscribe"],
                                   ttl_seconds=600)
        ws = await websockets.connect(url, max_size=2**22, ping_interval=None)
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "join", "v": 1, "token": tok}))
        while json.loads(await ws.recv())["type"] != "joined":
            pass
        join_ms.append((time.perf_counter() - t0) * 1000)
        clients.append(ws)

    async def drain_until(ws: websockets.ClientConnection, want: bool) -> float:
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "mute-state" and msg["audio_muted"] is want:
                return time.perf_counter()

    fan_ms: list[float] = []
    cpu0 = _cpu_seconds(pid)
    t_start = time.perf_counter()
    for r in range(rounds):
        want = r % 2 == 0
        waiters = [asyncio.create_task(drain_until(ws, want)) for ws in clients]
        t0 = time.perf_counter()
        await clients[0].send(json.dumps({"type": "mute", "kind": "audio", "muted": want}))
        done = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        fan_ms.append((max(done) - t0) * 1000)
    elapsed = time.perf_counter() - t_start
    cpu = _cpu_seconds(pid) - cpu0
    for ws in clients:
        await ws.send(json.dumps({"type": "leave"}))
        await ws.close()
    delivered = rounds * n
    return {
        "bench": "signaling",
        "clients": n,
        "join_ms_p50": round(statistics.median(join_ms), 2),
        "join_ms_p95": round(_pct(join_ms, 0.95), 2),
        "fanout_ms_p50": round(statistics.median(fan_ms), 2),
        "fanout_ms_p95": round(_pct(fan_ms, 0.95), 2),
        "events_per_s": round(delivered / elapsed, 1),
        "server_cpu_us_per_event": round(cpu / delivered * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="10,50,100", help="comma-separated room sizes")
    ap.add_argument("--rounds", type=int, default=50, help="fan-out rounds per room size")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.clients.split(",") if x]
    try:
        with hearing_server(SECRET, WS_RATE_PER_SECOND="1000", WS_RATE_BURST="1000") as (port, proc):
            if not args.json:
                print(f"{'clients':>8} {'join p50':>9} {'join p95':>9} {'fan-out p50':>12} {'fan-out p95':>12} "
                      f"{'events/s':>9} {'CPU µs/event':>13}")
            for i, n in enumerate(sizes, 1):
                if not args.json:
                    print(f"  [{i}/{len(sizes)}] {n} clients ...", file=sys.stderr, flush=True)
                row = asyncio.run(_run(n, args.rounds, port, proc.pid))
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    print(f"{n:>8} {row['join_ms_p50']:>7} ms {row['join_ms_p95']:>6} ms {row['fanout_ms_p50']:>9} ms "
                          f"{row['fanout_ms_p95']:>9} ms {row['events_per_s']:>9} {row['server_cpu_us_per_event']:>13}",
                          flush=True)
    except ServerDidNotStart as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
