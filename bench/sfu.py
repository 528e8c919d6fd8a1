"""Media-plane benchmark: `python -m bench.sfu [--codec vp8|h264] [--subscribers 1,4,8,16] [--seconds 10] [--json]`.

One publisher sends a pre-encoded clip (640x480, 30 fps, ~1.5 Mbit/s, keyframe every 2 s, plus Opus silence) to N
subscribers that count packets and frames without decoding (`bench.sfu_clients`, its own process). The server runs
in a third process, started fresh for each mode:
  * `sfu`: `hearing serve`, the platform's SFU (RTP forwarding, no decoding);
  * `mediarelay`: `bench.relay_server`, the same signalling with aiortc's MediaRelay (decode once, encode per
    subscriber), for comparison on the same load.
For each N it reports the server's CPU (utime+stime from /proc over the measuring window), packets and frames per
second per subscriber, CPU µs per forwarded packet ((server CPU − the publisher-only baseline) ÷ packets the
subscribers received; for mediarelay that is per delivered packet) and join→first-frame times (from sending `join`
to the first complete frame starting with a keyframe). Progress goes to stderr; `--json` prints one object per line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import clip
from bench.netns import NetPair, veth_pair

SECRET = "bench-sfu-secret-" + "s" * 24
MODES = ("sfu", "mediarelay")
REQUIRED = ("mode", "codec", "subscribers", "server_cpu_s_per_s", "pkts_per_s_per_sub", "fps_per_sub_min",
            "us_per_forwarded_packet", "first_frame_ms_p50", "first_frame_ms_max")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _server_command(mode: str, port: int) -> list[str]:
    if mode == "mediarelay":
        return [sys.executable, "-m", "bench.relay_server", "--port", str(port)]
    hearing = Path(sys.executable).parent / "hearing"
    return [str(hearing), "serve"] if hearing.exists() else [sys.executable, "-m", "app.cli", "serve"]


@contextlib.contextmanager
def server(mode: str, codec: str, net: NetPair | None = None,
           extra_env: dict[str, str] | None = None) -> Iterator[tuple[int, int, Path]]:
    """A fresh server process (own temp var dir, free port) until /healthz answers; yields (port, pid, log).

    With `net` it runs in the server namespace, bound to and offering only the veth address there.
    """
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_"))}
        env.update(HEARING_VAR_DIR=tmp, HEARING_PORT=str(port), HEARING_TOKEN_SECRET=SECRET, HEARING_ENV="test",
                   ICE_HOST_ADDRESSES="127.0.0.1", VIDEO_CODEC=codec.upper(), MEDIA_ENABLED="true",
                   WS_RATE_PER_SECOND="1000", WS_RATE_BURST="1000", WS_IDLE_TIMEOUT_SECONDS="300",
                   LOG_LEVEL="WARNING", STUN_SERVERS="", TURN_SERVERS="")
        if net is not None:
            env.update(HEARING_HOST=net.server_ip, ICE_HOST_ADDRESSES=net.server_ip)
        env.update(extra_env or {})
        log_path = Path(tmp) / "server.log"
        cmd = _server_command(mode, port)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(net.in_server(cmd) if net else cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            if net is not None:  # /healthz is out of reach from here: wait for the port from the client side
                if not net.wait_listening(port) or proc.poll() is not None:
                    raise RuntimeError(f"the {mode} server did not start:\n{_tail(log_path)}")
            deadline = time.monotonic() + 60
            while net is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {mode} server did not start:\n{_tail(log_path)}")
                time.sleep(0.1)
            yield port, proc.pid, log_path
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _row(mode: str, codec: str, raw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    n = raw["subscribers"]
    extra = raw["server_cpu_s_per_s"] - base["server_cpu_s_per_s"]
    firsts = [f for f in raw["first_frame_ms"] if f is not None]
    total = raw["pkts_per_s_total"]
    return {
        "mode": mode,
        "codec": codec,
        "subscribers": n,
        "server_cpu_s_per_s": raw["server_cpu_s_per_s"],
        "baseline_cpu_s_per_s": base["server_cpu_s_per_s"],
        "cpu_s_per_s_per_sub": round(extra / n, 4),
        "pkts_per_s_per_sub": raw["pkts_per_s_per_sub"],
        "video_pkts_per_s_per_sub": raw["video_pkts_per_s_per_sub"],
        "fps_per_sub_min": raw["fps_per_sub_min"],
        "fps_per_sub_mean": raw["fps_per_sub_mean"],
        "us_per_forwarded_packet": round(extra * 1e6 / total, 1) if total else None,
        "first_frame_ms_p50": round(statistics.median(firsts), 1) if firsts else None,
        "first_frame_ms_max": round(max(firsts), 1) if firsts else None,
        "first_frame_missing": len(raw["first_frame_ms"]) - len(firsts),
        "video_pkts_before_first_keyframe": raw["video_pkts_before_first_keyframe"],
        "publisher_fps": raw["publisher_fps"],
        "client_cpu_s_per_s": raw["client_cpu_s_per_s"],
        "keyframe_requests_while_joining": raw["keyframe_requests_while_joining"],
        "keyframe_requests_in_window": raw["keyframe_requests_in_window"],
        "window_s": raw["window_s"],
        "loss_max": raw.get("loss_max"),
        "loss_mean": raw.get("loss_mean"),
        "publisher_pkts_per_s": raw.get("publisher_pkts_per_s"),
    }


def run_mode(mode: str, codec: str, sizes: list[int], seconds: float) -> Iterator[dict[str, Any]]:
    """Start the server, run the clients process against it, yield one finished row per N as it arrives."""
    label = f"{mode} {codec}"
    _log(f"[{label}] starting the server...")
    with server(mode, codec) as (port, pid, log_path):
        yield from run_clients(mode, codec, sizes, seconds, f"ws://127.0.0.1:{port}", pid, log_path)


def run_clients(mode: str, codec: str, sizes: list[int], seconds: float, url: str, pid: int, log_path: Path,
                net: NetPair | None = None, extra: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The clients process against a running server (in the client namespace with `net`), one row per N."""
    label = f"{mode} {codec}"
    cmd = [sys.executable, "-m", "bench.sfu_clients", "--url", url, "--secret", SECRET,
           "--codec", codec, "--subscribers", ",".join(map(str, sizes)), "--seconds", str(seconds),
           "--server-pid", str(pid), "--label", label, "--room", f"bench-{mode}", *(extra or [])]
    if net is not None:
        cmd = net.in_client([*cmd, "--host-address", net.client_ip])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    budget = 60 + len(sizes) * (seconds + 60) + seconds
    watchdog = threading.Timer(budget, proc.kill)
    watchdog.start()
    base: dict[str, Any] | None = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            raw = json.loads(line)
            if raw["subscribers"] == 0:
                base = raw
                _log(f"[{label}] baseline (publisher only): server CPU {raw['server_cpu_s_per_s']:.3f} s/s")
            elif base is not None:
                yield _row(mode, codec, raw, base)
        code = proc.wait()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise RuntimeError(f"[{label}] the clients process failed ({code}); server log:\n{_tail(log_path)}")


def run_janus_round(net: NetPair, codec: str, sizes: list[int], seconds: float) -> Iterator[dict[str, Any]]:
    from bench.janus_server import janus

    port = _free_port()
    _log("[janus] starting the server...")
    with janus(net, port) as (pid, log_path):
        yield from run_clients("janus", codec, sizes, seconds, f"ws://{net.server_ip}:{port}", pid, log_path,
                               net, ["--janus"])


SFU_PATHS = {"sfu": "fast", "sfu-py": "python", "sfu-ref": "reference"}  # bench mode -> SFU_SEND_PATH
EXTRA = {"sfu-py": "python fast path µs/pkt", "sfu-ref": "reference path µs/pkt"}  # extra table columns


def run_sfu_round(net: NetPair, codec: str, sizes: list[int], seconds: float,
                  reference: bool = False, mode: str | None = None) -> Iterator[dict[str, Any]]:
    mode = mode or ("sfu-ref" if reference else "sfu")
    _log(f"[{mode}] starting the server...")
    env = {"SFU_SEND_PATH": SFU_PATHS[mode]}
    with server("sfu", codec, net, env) as (port, pid, log_path):
        yield from run_clients(mode, codec, sizes, seconds, f"ws://{net.server_ip}:{port}", pid, log_path, net)


def vs_janus(codec: str, sizes: list[int], seconds: float, rounds: int, as_json: bool,
             reference: bool = False, servers: list[str] | None = None) -> list[dict[str, Any]]:
    """Alternating rounds (sfu, janus, then janus, sfu, ...) in one namespace pair: both see the same machine.

    With `reference`, the SFU's reference send path (SFU_SEND_PATH=reference) runs as a third server in each round;
    `servers` picks the servers (and their order in odd rounds) among sfu, sfu-py (SFU_SEND_PATH=python: the fast
    path without its compiled helper), sfu-ref, janus.
    """
    from bench.janus_server import ensure_janus

    order = servers or (["sfu", "sfu-ref", "janus"] if reference else ["sfu", "janus"])
    if "janus" in order:
        ensure_janus()
    rows: list[dict[str, Any]] = []
    with veth_pair() as net:
        for r in range(rounds):
            for mode in (order if r % 2 == 0 else order[::-1]):
                rows_of = (run_janus_round(net, codec, sizes, seconds) if mode == "janus"
                           else run_sfu_round(net, codec, sizes, seconds, mode=mode))
                for row in rows_of:
                    row["round"] = r + 1
                    rows.append(row)
                    print(json.dumps(row) if as_json else f"round {r + 1}  {format_row(row)}", flush=True)
    return rows


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def janus_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per N: the median over rounds of each server's µs/pkt, the median of the per-round ratios, worst fps/loss."""
    extra = [m for m in EXTRA if any(r["mode"] == m for r in rows)]
    out = ["| N | project µs/pkt | Janus µs/pkt | project/Janus | project fps min | Janus fps min "
           "| project loss max | Janus loss max | rounds |" + "".join(f" {EXTRA[m]} |" for m in extra),
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(extra)]
    for n in sorted({r["subscribers"] for r in rows}):
        mine = {r["round"]: r for r in rows if r["mode"] == "sfu" and r["subscribers"] == n}
        theirs = {r["round"]: r for r in rows if r["mode"] == "janus" and r["subscribers"] == n}
        ratios = [mine[k]["us_per_forwarded_packet"] / theirs[k]["us_per_forwarded_packet"] for k in mine
                  if k in theirs and mine[k]["us_per_forwarded_packet"] and theirs[k]["us_per_forwarded_packet"]
                  and theirs[k]["us_per_forwarded_packet"] > 0]
        us = [r["us_per_forwarded_packet"] for r in mine.values() if r["us_per_forwarded_packet"] is not None]
        them = [r["us_per_forwarded_packet"] for r in theirs.values() if r["us_per_forwarded_packet"] is not None]
        others = [[r["us_per_forwarded_packet"] for r in rows if r["mode"] == m and r["subscribers"] == n
                   and r["us_per_forwarded_packet"] is not None] for m in extra]

        def worst(side: dict[int, dict[str, Any]], key: str, pick: Any) -> str:
            vals = [r[key] for r in side.values() if r.get(key) is not None]
            return "-" if not vals else f"{pick(vals):.{1 if key.startswith('fps') else 3}f}"

        def spread(vals: list[float]) -> str:
            return "-" if not vals else f"{statistics.median(vals):.1f} ({min(vals):.1f}–{max(vals):.1f})"

        out.append(f"| {n} | {spread(us)} | {spread(them)} | "
                   f"{'-' if not ratios else f'{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})'}"
                   f" | {worst(mine, 'fps_per_sub_min', min)} | {worst(theirs, 'fps_per_sub_min', min)}"
                   f" | {worst(mine, 'loss_max', max)} | {worst(theirs, 'loss_max', max)} | {len(ratios)} |"
                   + "".join(f" {spread(v)} |" for v in others))
    return out


HEADER = (f"{'mode':<11}{'codec':<6}{'subs':>5}{'CPU s/s':>9}{'ΔCPU/sub':>10}{'pkt/s/sub':>10}{'fps min':>8}"
          f"{'µs/pkt':>8}{'1st p50':>9}{'1st max':>9}{'client CPU':>11}")


def _fmt(v: Any, spec: str, unit: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{unit}"


def format_row(r: dict[str, Any]) -> str:
    return (f"{r['mode']:<11}{r['codec']:<6}{r['subscribers']:>5}{r['server_cpu_s_per_s']:>9.3f}"
            f"{r['cpu_s_per_s_per_sub']:>10.4f}{r['pkts_per_s_per_sub']:>10.1f}{_fmt(r['fps_per_sub_min'], '.1f'):>8}"
            f"{_fmt(r['us_per_forwarded_packet'], '.1f'):>8}{_fmt(r['first_frame_ms_p50'], '.0f', ' ms'):>9}"
            f"{_fmt(r['first_frame_ms_max'], '.0f', ' ms'):>9}{r['client_cpu_s_per_s']:>11.3f}")


def comparison(rows: list[dict[str, Any]]) -> list[str]:
    by = {(r["mode"], r["subscribers"]): r for r in rows}
    out = []
    for n in sorted({r["subscribers"] for r in rows}):
        sfu, relay = by.get(("sfu", n)), by.get(("mediarelay", n))
        if sfu is None or relay is None:
            continue
        ratio = relay["server_cpu_s_per_s"] / sfu["server_cpu_s_per_s"] if sfu["server_cpu_s_per_s"] else float("inf")
        per = (relay["cpu_s_per_s_per_sub"] / sfu["cpu_s_per_s_per_sub"]
               if sfu["cpu_s_per_s_per_sub"] > 0 else float("inf"))
        out.append(f"  {n:>3} subscribers: MediaRelay uses {ratio:.1f}x the SFU's server CPU "
                   f"({relay['server_cpu_s_per_s']:.3f} vs {sfu['server_cpu_s_per_s']:.3f} s/s; "
                   f"{per:.0f}x per added subscriber); fps min {_fmt(relay['fps_per_sub_min'], '.1f')} vs "
                   f"{_fmt(sfu['fps_per_sub_min'], '.1f')}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", default="1,4,8,16", help="comma-separated subscriber counts")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring window per subscriber count")
    ap.add_argument("--codec", choices=sorted(clip.CODECS), default="vp8")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated: sfu, mediarelay")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--vs-janus", action="store_true",
                    help="the SFU and Janus (videoroom) side by side in a namespace pair, alternating rounds (root)")
    ap.add_argument("--rounds", type=int, default=3, help="with --vs-janus: alternating rounds")
    ap.add_argument("--with-reference", action="store_true",
                    help="with --vs-janus: also the SFU's reference send path (SFU_SEND_PATH=reference) each round")
    ap.add_argument("--servers",
                    help="with --vs-janus: comma-separated subset of sfu,sfu-py,sfu-ref,janus (round order)")
    args = ap.parse_args(argv)
    if args.vs_janus:
        servers = [x for x in (args.servers or "").split(",") if x] or None
        if servers and any(x not in (*SFU_PATHS, "janus") for x in servers):
            ap.error("--servers takes sfu, sfu-py, sfu-ref, janus")
        sizes = [int(x) for x in (args.subscribers if args.subscribers != "1,4,8,16" else "1,4,8,16,32").split(",")]
        clip.ensure(args.codec)
        try:
            rows = vs_janus(args.codec, sizes, args.seconds, args.rounds, args.json, args.with_reference, servers)
        except (RuntimeError, PermissionError) as exc:
            _log(str(exc))
            return 1
        if not args.json:
            print("\nµs of server CPU per forwarded packet, median over rounds (min–max); ratio = median of the "
                  "per-round ratios:")
            print("\n".join(janus_table(rows)))
        return 0
    sizes = [int(x) for x in args.subscribers.split(",") if x]
    modes = [m for m in args.modes.split(",") if m]
    if not sizes or any(n < 1 for n in sizes) or any(m not in MODES for m in modes) or not modes:
        ap.error(f"--subscribers takes positive counts, --modes a subset of {','.join(MODES)}")
    clip.ensure(args.codec)  # generated once, before any server is timed
    rows: list[dict[str, Any]] = []
    if not args.json:
        print(HEADER, flush=True)
    try:
        for mode in modes:
            for row in run_mode(mode, args.codec, sizes, args.seconds):
                rows.append(row)
                print(json.dumps(row) if args.json else format_row(row), flush=True)
    except RuntimeError as exc:
        _log(str(exc))
        return 1
    if not args.json:
        lines = comparison(rows)
        if lines:
            print("\nServer CPU, MediaRelay vs SFU:")
            print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
