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
def server(mode: str, codec: str) -> Iterator[tuple[int, int, Path]]:
    """A fresh server process (own temp var dir, free port) until /healthz answers; yields (port, pid, log)."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_"))}
        env.update(HEARING_VAR_DIR=tmp, HEARING_PORT=str(port), HEARING_TOKEN_SECRET=SECRET, HEARING_ENV="test",
                   ICE_HOST_ADDRESSES="127.0.0.1", VIDEO_CODEC=codec.upper(), MEDIA_ENABLED="true",
                   WS_RATE_PER_SECOND="1000", WS_RATE_BURST="1000", WS_IDLE_TIMEOUT_SECONDS="300",
                   LOG_LEVEL="WARNING", STUN_SERVERS="", TURN_SERVERS="")
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(_server_command(mode, port), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
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
    }


def run_mode(mode: str, codec: str, sizes: list[int], seconds: float) -> Iterator[dict[str, Any]]:
    """Start the server, run the clients process against it, yield one finished row per N as it arrives."""
    label = f"{mode} {codec}"
    _log(f"[{label}] starting the server...")
    with server(mode, codec) as (port, pid, log_path):
        cmd = [sys.executable, "-m", "bench.sfu_clients", "--url", f"ws://127.0.0.1:{port}", "--secret", SECRET,
               "--codec", codec, "--subscribers", ",".join(map(str, sizes)), "--seconds", str(seconds),
               "--server-pid", str(pid), "--label", label, "--room", f"bench-{mode}"]
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
    args = ap.parse_args(argv)
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
