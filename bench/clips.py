"""Clip upload benchmark: `python -m bench.clips [--rates 150kbit,1mbit] [--size-kib 512] [--cuts 3] [--json]`.

Upload throughput and the cost of resuming, over a rate-limited path. Needs root: for each rate the bench creates a
network namespace, brings its loopback up with a 1500-byte MTU and a `tc tbf` qdisc at that rate, and runs itself
inside it (`ip netns exec`), so the server (the clip routes under uvicorn, SQLite, the local object store) and the
client talk over 127.0.0.1 of that namespace only; the namespace is deleted afterwards, also on failure.

Inside, the same WebM clip (VP8 + Opus, PyAV-encoded noise of about `--size-kib`) is uploaded twice in 256 KiB
chunks over plain HTTP/1.1 sockets:
  * `clean`: no drop. Goodput = clip bits ÷ wall time from declaring the upload to the stored clip (verification
    included), and as a share of the link rate;
  * `cuts`: the connection is reset `--cuts` times at random moments during the transfer (the link drops); the client
    asks HEAD where the server is and resumes. Resume overhead = extra wall time and extra bytes through the
    qdisc (both directions, headers and ACKs included, from `tc -s qdisc`) over the clean run, since the server keeps
    the bytes of a cut chunk that arrived, only bytes lost in flight are sent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def qdisc_bytes() -> int:
    """Bytes the loopback's qdisc has sent (this namespace's lo)."""
    out = _run("tc", "-s", "qdisc", "show", "dev", "lo")
    found = re.search(r"Sent (\d+) bytes", out)
    return int(found.group(1)) if found else 0


# ---- inside the namespace -------------------------------------------------------------------------------


async def _request(port: int, head: str, body: bytes = b"", *, cut_at: float | None = None
                   ) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 request on a fresh connection; `cut_at`: reset it after that many seconds (None if cut)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def exchange() -> tuple[int, dict[str, str], bytes]:
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        raw = await reader.read()
        status_line, _, rest = raw.partition(b"\r\n")
        block, _, payload = rest.partition(b"\r\n\r\n")
        lines = (ln.partition(":") for ln in block.decode().split("\r\n"))
        headers = {k.strip().lower(): v.strip() for k, _, v in lines}
        return int(status_line.split()[1]), headers, payload

    try:
        if cut_at is None:
            return await exchange()
        try:
            return await asyncio.wait_for(exchange(), cut_at)
        except TimeoutError:
            writer.transport.abort()  # RST: the link is gone
            return None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _upload(port: int, data: bytes, cut_times: list[float]) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    meta = json.dumps({"size": len(data), "content_type": "video/webm", "sha256": digest}).encode()
    auth = "Authorization: Bearer bench\r\n"
    host = f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n"
    start = time.perf_counter()
    created = await _request(port, f"POST /api/clips/bench/uploads HTTP/1.1\r\n{host}{auth}"
                                   f"Content-Type: application/json\r\nContent-Length: {len(meta)}\r\n", meta)
    assert created is not None and created[0] == 201, created
    upload_id = json.loads(created[2])["id"]
    path = f"/api/clips/bench/uploads/{upload_id}"
    offset, cuts, conflicts, requests, kept = 0, 0, 0, 1, []
    pending_cuts = sorted(cut_times)
    while offset < len(data):
        body = data[offset:offset + CHUNK]
        elapsed = time.perf_counter() - start
        cut_at = None
        if pending_cuts:  # drop the link at that moment (at once if it passed while resuming)
            cut_at = max(0.005, pending_cuts[0] - elapsed)
        answer = await _request(port, f"PATCH {path} HTTP/1.1\r\n{host}{auth}Upload-Offset: {offset}\r\n"
                                      f"Content-Length: {len(body)}\r\n", body, cut_at=cut_at)
        requests += 1
        if answer is None:
            cuts += 1
            pending_cuts.pop(0)
            head = await _request(port, f"HEAD {path} HTTP/1.1\r\n{host}{auth}")
            requests += 1
            assert head is not None
            kept.append(int(head[1]["upload-offset"]) - offset)
            offset = int(head[1]["upload-offset"])
            continue
        status, headers, payload = answer
        if status == 409:
            conflicts += 1
            offset = int(json.loads(payload)["offset"])
            continue
        assert status == 200, payload
        offset = int(headers["upload-offset"])
    transfer = time.perf_counter() - start
    done = await _request(port, f"POST {path}/complete HTTP/1.1\r\n{host}{auth}Content-Length: 0\r\n")
    assert done is not None and done[0] == 201, done
    clip = json.loads(done[2])["clip"]
    assert clip["sha256"] == digest
    return {"seconds": time.perf_counter() - start, "transfer_seconds": transfer, "cuts": cuts,
            "conflicts": conflicts, "requests": requests + 1, "kept": kept}


async def _inside(rate_bps: int, size: int, n_cuts: int, seed: int) -> dict[str, Any]:
    import uvicorn
    from fastapi import FastAPI, Request

    from bench.clip_files import make_clip
    from docket.migrate import upgrade
    from docket.sql import make_engine
    from recordings.clips import ClipActor, ClipRefused, ClipService
    from recordings.clips_api import ClipsContext, clips_router
    from recordings.local_store import LocalObjectStore

    seconds = 8.0
    data = make_clip(seconds=seconds, width=320, height=240, bitrate=int(size * 8 / seconds), seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade(url)
        engine = make_engine(url)
        store = LocalObjectStore(Path(tmp) / "objects", url_base="http://127.0.0.1", signing_key=b"bench")

        async def authorize(request: Request) -> ClipActor:
            if request.headers.get("authorization") != "Bearer bench":
                raise ClipRefused(401, "not_authenticated", "bench token")
            return ClipActor("bench:1", "bench", "bench")

        app = FastAPI()
        app.include_router(clips_router(ClipsContext(ClipService(engine, url, store), {"bench": authorize})))
        port = 18000 + os.getpid() % 1000
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                               access_log=False, lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # uvicorn offers no event for it
            await asyncio.wait({task}, timeout=0.02)
        try:
            before = qdisc_bytes()
            clean = await _upload(port, data, [])
            clean["wire_bytes"] = qdisc_bytes() - before
            rng = random.Random(seed)
            cut_times = sorted(rng.uniform(0.1, 0.9) * clean["transfer_seconds"] for _ in range(n_cuts))
            before = qdisc_bytes()
            cut = await _upload(port, data, cut_times)
            cut["wire_bytes"] = qdisc_bytes() - before
        finally:
            server.should_exit = True
            await task
            await engine.dispose()
    bits = len(data) * 8
    return {
        "rate_kbit": rate_bps // 1000, "clip_bytes": len(data),
        "clean_seconds": round(clean["seconds"], 2),
        "clean_goodput_kbit": round(bits / clean["seconds"] / 1000, 1),
        "clean_link_share": round(bits / clean["seconds"] / rate_bps, 3),
        "clean_wire_bytes": clean["wire_bytes"],
        "cuts": cut["cuts"], "cut_seconds": round(cut["seconds"], 2),
        "resume_extra_seconds": round(cut["seconds"] - clean["seconds"], 2),
        "resume_extra_wire_bytes": cut["wire_bytes"] - clean["wire_bytes"],
        "resume_extra_wire_share": round((cut["wire_bytes"] - clean["wire_bytes"]) / clean["wire_bytes"], 4),
        "conflicts": cut["conflicts"], "kept_of_cut_chunks": cut["kept"],
    }


# ---- outside: the namespace ------------------------------------------------------------------------------


def parse_rate(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k|m)bit", text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: use e.g. 150kbit or 1mbit")
    return int(float(m.group(1)) * (1000 if m.group(2) == "k" else 1_000_000))


def run_rate(rate: str, args: argparse.Namespace) -> dict[str, Any]:
    ns = f"clipbench-{os.getpid()}-{parse_rate(rate)}"
    _run("ip", "netns", "add", ns)
    try:
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "mtu", "1500", "up")
        # burst >= one MTU-sized packet; latency bounds the queue (bufferbloat of a real modem is worse)
        _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate,
             "burst", "4kb", "latency", "200ms")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "bench.clips", "--inside",
                              "--rate", rate, "--size-kib", str(args.size_kib), "--cuts", str(args.cuts),
                              "--seed", str(args.seed)], check=True, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
        return {**json.loads(out.stdout.strip().splitlines()[-1]), "namespace": ns}
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.clips", description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="150kbit,1mbit")
    p.add_argument("--size-kib", type=int, default=512)
    p.add_argument("--cuts", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rate", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.inside:
        result = asyncio.run(_inside(parse_rate(args.rate), args.size_kib * 1024, args.cuts, args.seed))
        print(json.dumps(result))
        return 0
    if os.geteuid() != 0:
        print("bench.clips needs root (it creates a network namespace with tc tbf)", file=sys.stderr)
        return 2
    results = [run_rate(r, args) for r in args.rates.split(",")]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'link':>8} {'clip':>8} {'clean s':>8} {'goodput':>12} {'of link':>8} {'cuts':>5} {'cut s':>7} "
          f"{'+time':>7} {'+wire':>9}")
    for r in results:
        print(f"{r['rate_kbit']:>5}kb/s {r['clip_bytes'] // 1024:>6}KiB {r['clean_seconds']:>8} "
              f"{r['clean_goodput_kbit']:>8}kb/s {r['clean_link_share']:>8.0%} {r['cuts']:>5} {r['cut_seconds']:>7} "
              f"{r['resume_extra_seconds']:>+7} {r['resume_extra_wire_share']:>+9.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
