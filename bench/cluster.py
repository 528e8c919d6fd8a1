"""Cluster benchmark: `python -m bench.cluster [--rounds 30] [--kills 10] [--subscribers 96] [--seconds 10] [--json]`.

Three figures, each on real `hearing serve` processes and the local Redis (127.0.0.1:6379, a key prefix of its own,
removed afterwards):
  * join latency: `join` → `joined` through a room's owner node against the same through another node (its
    `redirect`, the close, a new connection to the owner, `join` again), two nodes;
  * re-placement after a kill (`--kills`, three nodes, REDIS_HEARTBEAT_SECONDS=`--heartbeat`): a participant's room
    owner is SIGKILLed; from the kill to `joined` on the new owner, the client resuming through a live node every
    50 ms (the web client's own retries add up to one backoff step); the killed node is started again each round;
  * forwarded packets per second with 1 vs 2 worker processes (`hearing serve --workers N`): two rooms, each one
    publisher (the pre-encoded clip of bench.sfu) and `--subscribers` subscribers in its own client process
    (`--generator loadgen`, the default: bench.loadgen's replayed SRTP and non-decrypting subscribers, cheap enough
    to saturate one worker; `aiortc`: bench.sfu_clients), both rooms measured over one common window, so with two
    workers each room lives on its own worker. Reported: packets the subscribers received per second (total),
    each worker's CPU and time waiting for a CPU (s/s), the clients' CPU, and the packets per second one core could
    forward at that cost (total ÷ the busiest worker's CPU): what the second core buys. The machine is shared,
    so figures are noisy; the load average is printed with them.
Prints p50 / p90 / max in milliseconds, and the throughput table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import websockets

from bench.server import ServerDidNotStart, free_port, hearing_server

SECRET = "bench-cluster-secret-" + "c" * 24
REDIS_URL = "redis://127.0.0.1:6379/0"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 2),
            "p90_ms": round(_pct(values, 0.9) * 1000, 2), "max_ms": round(max(values) * 1000, 2)}


def _token(room: str, name: str, role: str = "plaintiff") -> str:
    from hearing.roles import ROLE_GRANTS, Role
    from signaling.tokens import TokenService

    r = Role(role)
    return TokenService(SECRET).issue_join(room_id=room, role=r.value, name=name, grants=ROLE_GRANTS[r],
                                           ttl_seconds=600)[0]


async def _join(url: str, token: str = "", resume_token: str = "",
                ) -> tuple[float, int, websockets.ClientConnection, dict[str, Any], str]:
    """Seconds from opening the first socket to `joined`, following redirects; how many hops it took, the socket,
    the `joined` message and the URL it was sent by."""
    t0 = time.perf_counter()
    hops = 0
    first = ({"type": "resume", "v": 1, "resume_token": resume_token} if resume_token
             else {"type": "join", "v": 1, "token": token})
    while True:
        ws = await websockets.connect(url, ping_interval=None, open_timeout=10)
        await ws.send(json.dumps(first))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] in ("joined", "redirect", "error"):
                break
        if msg["type"] != "redirect":
            if msg["type"] != "joined":
                await ws.close()
                raise RuntimeError(f"join refused: {msg}")
            return time.perf_counter() - t0, hops, ws, msg, url
        hops += 1
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.recv()  # the 4015 close
        url = msg["url"]


# ---- join latency through the owner vs another node ---------------------------------------------------------

async def _join_latency(ports: list[int], rounds: int) -> dict[str, Any]:
    direct: list[float] = []
    redirected: list[float] = []
    for i in range(rounds):
        room = f"bench-{i}"
        holder = (await _join(f"ws://127.0.0.1:{ports[0]}/ws/{room}", _token(room, "judge", "presiding_judge")))[2]
        opened = []
        for port in ports:  # one join through each node: one is the owner, the other redirects
            seconds, hops, ws, _, _ = await _join(f"ws://127.0.0.1:{port}/ws/{room}", _token(room, f"p{port}"))
            (redirected if hops else direct).append(seconds)
            opened.append(ws)
        for ws in (*opened, holder):
            await ws.close()
    out: dict[str, Any] = {"through_owner": _summary(direct), "through_other_node": _summary(redirected)}
    out["added_p50_ms"] = round(out["through_other_node"]["p50_ms"] - out["through_owner"]["p50_ms"], 2)
    return out


# ---- re-placement after a SIGKILL ---------------------------------------------------------------------------

async def _resume_somewhere(ports: list[int], resume_token: str, room: str) -> tuple[websockets.ClientConnection, str]:
    """Resume through each live node in turn, every 50 ms, until one of them lets us in (at the new owner)."""
    for attempt in range(2400):
        port = ports[attempt % len(ports)]
        try:
            _, _, ws, _, url = await _join(f"ws://127.0.0.1:{port}/ws/{room}", resume_token=resume_token)
            return ws, url
        except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, TimeoutError):
            await asyncio.sleep(0.05)
    raise TimeoutError("no live node took the room back within 120 s")


def _replacement(kills: int, heartbeat: float, prefix: str) -> dict[str, Any]:
    env = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix, "REDIS_HEARTBEAT_SECONDS": f"{heartbeat:g}"}
    ports = [free_port() for _ in range(3)]
    times: list[float] = []
    with contextlib.ExitStack() as stack:
        procs: dict[int, subprocess.Popen[bytes]] = {}

        def start(port: int) -> None:
            _, procs[port] = stack.enter_context(hearing_server(SECRET, port=port, HEARING_NODE_URL=f"ws://127.0.0.1:{port}",
                                                              **env))

        for port in ports:
            start(port)

        async def rounds() -> None:
            for i in range(kills):
                room = f"kill-{i}"
                _, _, ws, joined, url = await _join(f"ws://127.0.0.1:{ports[i % 3]}/ws/{room}",
                                                    _token(room, "judge", "presiding_judge"))
                owner = int(urlsplit(url).port or 0)
                procs[owner].send_signal(signal.SIGKILL)
                killed = time.perf_counter()
                procs[owner].wait(30)
                live = [p for p in ports if p != owner]
                back, new_url = await _resume_somewhere(live, joined["resume_token"], room)
                times.append(time.perf_counter() - killed)
                assert int(urlsplit(new_url).port or 0) in live, new_url
                _log(f"kill {i + 1}/{kills}: back on a live node after {times[-1] * 1000:.0f} ms")
                await back.close()
                with contextlib.suppress(Exception):
                    await ws.close()
                start(owner)  # the next round has three nodes again

        asyncio.run(rounds())
    return {"heartbeat_s": heartbeat, "lease_s": 3 * heartbeat, **_summary(times)}


# ---- forwarded packets per second, 1 vs 2 workers -----------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def _port_of_process(pid: int) -> int:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for item in env:
        if item.startswith(b"HEARING_PORT="):
            return int(item.split(b"=", 1)[1])
    raise RuntimeError(f"process {pid} has no HEARING_PORT")


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def _workers(workers: int, prefix: str) -> Iterator[dict[int, int]]:
    """`hearing serve --workers N` (N=1: a plain `hearing serve`); yields {port: worker pid} once all answer."""
    while True:
        port = free_port()
        if all(_free(port + i) for i in range(workers)):
            break
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_"))}
        env.update(HEARING_VAR_DIR=tmp, HEARING_PORT=str(port), HEARING_TOKEN_SECRET=SECRET, HEARING_ENV="test",
                   ICE_HOST_ADDRESSES="127.0.0.1", MEDIA_ENABLED="true", WS_RATE_PER_SECOND="1000",
                   WS_RATE_BURST="1000", WS_IDLE_TIMEOUT_SECONDS="300", LOG_LEVEL="WARNING", STUN_SERVERS="",
                   TURN_SERVERS="", REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix, HTTP_MAX_CONNECTIONS_PER_IP="4096",
                   HEARING_NODE_URL=f"ws://127.0.0.1:{port}")
        hearing = str(Path(sys.executable).parent / "hearing")
        proc = subprocess.Popen([hearing, "serve", "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not all(_up(port + i) for i in range(workers)):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerDidNotStart(f"`hearing serve --workers {workers}` did not start")
                time.sleep(0.2)
            pids = [proc.pid] if workers == 1 else _children(proc.pid)
            yield {_port_of_process(p): p for p in pids}
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _client_command(generator: str, owner: int, pid: int, room: str, subscribers: int, seconds: float,
                    label: str, measure_at: float) -> list[str]:
    """The client process of one room: `bench.loadgen` (replayed SRTP, counting without decrypting) or the
    aiortc clients of `bench.sfu_clients` (each subscriber a PeerConnection that decrypts; costs more than the
    server it loads)."""
    common = ["--url", f"ws://127.0.0.1:{owner}", "--secret", SECRET, "--subscribers", str(subscribers),
              "--seconds", str(seconds), "--server-pid", str(pid), "--label", label, "--room", room]
    if generator == "loadgen":
        return [sys.executable, "-m", "bench.loadgen", *common, "--measure-at", f"{measure_at:.3f}"]
    return [sys.executable, "-m", "bench.sfu_clients", *common, "--codec", "vp8"]


def _throughput(workers: int, subscribers: int, seconds: float, prefix: str,
                generator: str = "loadgen") -> dict[str, Any]:
    from bench import clip

    clip.ensure("vp8")  # generated once, before any server is timed
    with _workers(workers, f"{prefix}:w{workers}") as nodes:
        entry = min(nodes)

        async def place() -> tuple[list[websockets.ClientConnection], list[int]]:
            holders, owners = [], []
            for room in ("tput-a", "tput-b"):  # the second room goes to the less loaded worker
                _, _, ws, _, url = await _join(f"ws://127.0.0.1:{entry}/ws/{room}",
                                               _token(room, "holder", "presiding_judge"))
                holders.append(ws)
                owners.append(int(urlsplit(url).port or 0))
            return holders, owners

        loop = asyncio.new_event_loop()
        try:
            holders, owners = loop.run_until_complete(place())
            procs = []
            measure_at = time.monotonic() + 20 + 0.25 * subscribers  # both rooms' windows at once (loadgen)
            for room, owner in zip(("tput-a", "tput-b"), owners, strict=True):
                cmd = _client_command(generator, owner, nodes[owner], room, subscribers, seconds,
                                      f"{workers}w {room}", measure_at)
                procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
            rows = []
            for proc in procs:
                out, _ = proc.communicate(timeout=300 + 3 * seconds)
                if proc.returncode != 0:
                    raise RuntimeError(f"bench.sfu_clients failed ({proc.returncode})")
                rows.append([json.loads(line) for line in out.splitlines() if line.strip()][-1])
            for ws in holders:
                loop.run_until_complete(ws.close())
        finally:
            loop.close()
    cpu: dict[int, list[float]] = {}
    for owner, row in zip(owners, rows, strict=True):
        cpu.setdefault(owner, []).append(row["server_cpu_s_per_s"])
    per_worker = {str(p): round(statistics.fmean(v), 3) for p, v in cpu.items()}
    waits = {str(o): r["server_wait_s_per_s"] for o, r in zip(owners, rows, strict=True) if "server_wait_s_per_s" in r}
    total = round(sum(r["pkts_per_s_total"] for r in rows), 1)
    busiest = max(per_worker.values())
    return {"workers": workers, "generator": generator, "rooms_on_workers": len(set(owners)),
            "subscribers_per_room": subscribers, "forwarded_pkts_per_s": total, "worker_cpu_s_per_s": per_worker,
            "worker_wait_s_per_s": waits, "client_cpu_s_per_s": round(sum(r["client_cpu_s_per_s"] for r in rows), 3),
            "client_wait_s_per_s": round(sum(r.get("client_wait_s_per_s", 0.0) for r in rows), 3),
            "load_avg_1m": round(os.getloadavg()[0], 1),
            "fps_per_sub_min": min((r["fps_per_sub_min"] or 0.0) for r in rows),  # None: no frame at all
            "pkts_per_s_at_one_core_each": round(total / busiest) if busiest > 0 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="joins through each node for the latency figure")
    parser.add_argument("--kills", type=int, default=10, help="owner nodes SIGKILLed for the re-placement figure")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="REDIS_HEARTBEAT_SECONDS of the killed nodes")
    parser.add_argument("--subscribers", type=int, help="subscribers per room for the throughput figure "
                        "(default 96 with loadgen, enough to saturate one worker here; 6 with aiortc)")
    parser.add_argument("--generator", choices=["loadgen", "aiortc"], default="loadgen",
                        help="throughput clients: bench.loadgen (cheap) or bench.sfu_clients (aiortc)")
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput measuring window")
    parser.add_argument("--only", choices=["join", "kill", "throughput"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    parts = set(args.only or ("join", "kill", "throughput"))
    prefix = f"bench-cluster:{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {}
    try:
        if "join" in parts:
            _log("join latency: two nodes...")
            ports = [free_port(), free_port()]
            with contextlib.ExitStack() as stack:
                for port in ports:
                    stack.enter_context(hearing_server(SECRET, port=port, REDIS_URL=REDIS_URL,
                                                       REDIS_PREFIX=f"{prefix}:join",
                                                       HEARING_NODE_URL=f"ws://127.0.0.1:{port}"))
                result["join"] = asyncio.run(_join_latency(ports, args.rounds))
        if "kill" in parts and args.kills > 0:
            _log(f"re-placement: three nodes, {args.kills} kills...")
            result["replacement"] = _replacement(args.kills, args.heartbeat, f"{prefix}:kill")
        if "throughput" in parts:
            result["throughput"] = []
            subs = args.subscribers or (96 if args.generator == "loadgen" else 6)
            for workers in (1, 2):
                _log(f"throughput: {workers} worker(s), two rooms of 1 publisher + {subs} subscribers...")
                result["throughput"].append(_throughput(workers, subs, args.seconds, prefix, args.generator))
    except ServerDidNotStart as exc:
        print(f"bench.cluster: {exc}", file=sys.stderr)
        return 1
    finally:
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"{prefix}:*"))
        if keys:
            r.delete(*keys)
    if args.json:
        print(json.dumps(result))
        return 0
    if "join" in result:
        print("join -> joined, two media nodes on one Redis (ms)")
        for name in ("through_owner", "through_other_node"):
            s = result["join"][name]
            print(f"  {name:<20} n={s['n']:<4} p50={s['p50_ms']:>7}  p90={s['p90_ms']:>7}  max={s['max_ms']:>7}")
        print(f"  redirect adds (p50): {result['join']['added_p50_ms']} ms")
    if "replacement" in result:
        s = result["replacement"]
        print(f"owner SIGKILLed -> participant back on a live node (ms; heartbeat {s['heartbeat_s']:g} s, "
              f"lease {s['lease_s']:g} s)")
        print(f"  n={s['n']:<4} p50={s['p50_ms']:>7}  p90={s['p90_ms']:>7}  max={s['max_ms']:>7}")
    if "throughput" in result:
        rows = result["throughput"]
        print(f"forwarded packets per second, two rooms (1 VP8 publisher + {rows[0]['subscribers_per_room']} "
              f"subscribers each, clients: {rows[0]['generator']}), shared 2-core host")
        for row in rows:
            print(f"  workers={row['workers']}  rooms on {row['rooms_on_workers']} worker(s)  "
                  f"forwarded={row['forwarded_pkts_per_s']:>8} pkt/s  worker CPU s/s={row['worker_cpu_s_per_s']}  "
                  f"waiting for a CPU s/s={row['worker_wait_s_per_s']}  "
                  f"client CPU={row['client_cpu_s_per_s']} (waiting {row['client_wait_s_per_s']})  "
                  f"fps min={row['fps_per_sub_min']}  load={row['load_avg_1m']}  "
                  f"est. at one busy core each: {row['pkts_per_s_at_one_core_each']} pkt/s")
        if len(rows) == 2 and rows[0]["forwarded_pkts_per_s"]:
            print(f"  2 workers / 1 worker: {rows[1]['forwarded_pkts_per_s'] / rows[0]['forwarded_pkts_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
