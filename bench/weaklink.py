"""The weak-link rig (issue 17): the project's own client in Chromium, a village party's path shaped, figures both ways.

    sudo .venv/bin/python -m bench.weaklink [--seconds 60] [--conditions clean,500k,150k,150k+10%,outage]

Three network namespaces the bench creates and removes: `wl-srv` (the server, `hearing serve`, and the judge's
Chromium on a clean path), `wl-party` (the party's Chromium) and `wl-mid` between them, where `tc tbf` limits the
party's downlink and uplink and a user-space relay (bench/weaklink_relay.py: this kernel has neither netem nor
iptables) adds random loss, delay or an outage. Per condition, the judge and the party join a room through the SFU,
then the same two pages connect directly peer to peer over the same path (the libwebrtc yardstick). Figures from
getStats over the measured window, each direction: video frames decoded per second, freezes (count, seconds),
received height, audio concealed %, audio packets lost, FEC packets, outgoing kbit/s. One JSON line per run and a
table at the end. Needs root (namespaces, tc). Not in the default test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chromium import CHROMIUM, FLAGS

SECRET = "bench-weaklink-secret-" + "w" * 24
ROOM = "weaklink"
SRV, MID, PARTY = "wl-srv", "wl-mid", "wl-party"
SRV_IP, PARTY_IP = "10.77.2.2", "10.77.1.2"


@dataclass(frozen=True)
class Condition:
    name: str
    rate_kbit: int | None = None
    loss: float = 0.0
    delay_ms: float = 0.0
    outage_s: float = 0.0


CONDITIONS = {c.name: c for c in (
    Condition("clean"), Condition("500k", 500), Condition("150k", 150), Condition("150k+10%", 150, 0.10),
    Condition("150k+10%+150ms", 150, 0.10, 150.0), Condition("outage", None, 0.0, 0.0, 10.0))}


def sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if not check else None)


def ns(name: str, *cmd: str, check: bool = True) -> None:
    sh("ip", "netns", "exec", name, *cmd, check=check)


@contextmanager
def namespaces() -> Any:
    """party (10.77.1.2) — mid (10.77.1.1 | 10.77.2.1, TUN relay in between) — srv (10.77.2.2)."""
    teardown()
    try:
        for n in (SRV, MID, PARTY):
            sh("ip", "netns", "add", n)
            ns(n, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "wlp0", "netns", PARTY, "type", "veth", "peer", "name", "wlm1", "netns", MID)
        sh("ip", "link", "add", "wls0", "netns", SRV, "type", "veth", "peer", "name", "wlm2", "netns", MID)
        ns(PARTY, "ip", "addr", "add", f"{PARTY_IP}/24", "dev", "wlp0")
        ns(SRV, "ip", "addr", "add", f"{SRV_IP}/24", "dev", "wls0")
        ns(MID, "ip", "addr", "add", "10.77.1.1/24", "dev", "wlm1")
        ns(MID, "ip", "addr", "add", "10.77.2.1/24", "dev", "wlm2")
        for n, dev in ((PARTY, "wlp0"), (SRV, "wls0"), (MID, "wlm1"), (MID, "wlm2")):
            ns(n, "ip", "link", "set", dev, "up")
        ns(PARTY, "ip", "route", "add", "default", "via", "10.77.1.1")
        ns(SRV, "ip", "route", "add", "default", "via", "10.77.2.1")
        ns(MID, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for tun, iif, table in (("wltA", "wlm1", "101"), ("wltB", "wlm2", "102")):
            ns(MID, "ip", "tuntap", "add", "dev", tun, "mode", "tun")
            ns(MID, "ip", "link", "set", tun, "up")
            ns(MID, "ip", "route", "add", "default", "dev", tun, "table", table)
            ns(MID, "ip", "rule", "add", "iif", iif, "lookup", table)
        for dev in ("all", "default", "wlm1", "wlm2", "wltA", "wltB"):
            ns(MID, "sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")
        yield
    finally:
        teardown()


def teardown() -> None:
    for n in (SRV, MID, PARTY):
        sh("ip", "netns", "del", n, check=False)


def shape(rate_kbit: int | None) -> None:
    """tbf on the party's downlink (mid → party) and uplink (party → mid); None: unshaped."""
    for n, dev in ((MID, "wlm1"), (PARTY, "wlp0")):
        ns(n, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        if rate_kbit is not None:
            ns(n, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{rate_kbit}kbit", "burst", "6kb",
               "latency", "250ms")


@contextmanager
def source_tree(ref: str | None) -> Any:
    """The project's files at git `ref`, in a temporary directory (None: no tree)."""
    if ref is None:
        yield None
        return
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield tmp


@contextmanager
def relay(cond: Condition) -> Any:
    proc = subprocess.Popen(["ip", "netns", "exec", MID, sys.executable, "-m", "bench.weaklink_relay",
                             "--tun", "wltA", "--tun", "wltB", "--loss", str(cond.loss),
                             "--delay-ms", str(cond.delay_ms / 2)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay did not start")
        yield proc
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(5)


@contextmanager
def server(log_path: str | None = None, port: int = 8765, tree: str | None = None) -> Any:
    """`hearing serve` in wl-srv; `tree`: run that source tree instead (`--before`: an earlier commit's code, web
    client included, served beside this one so before and after are measured in the same run)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_"))}
        env.update(HEARING_VAR_DIR=tmp, HEARING_PORT=str(port), HEARING_HOST=SRV_IP, HEARING_TOKEN_SECRET=SECRET,
                   HEARING_ENV="test", LOG_LEVEL="INFO" if log_path else "WARNING", ICE_HOST_ADDRESSES=SRV_IP)
        command = [str(Path(sys.executable).parent / "hearing"), "serve"]
        if tree is not None:  # PYTHONPATH comes before the editable install's finder
            env["PYTHONPATH"] = tree
            command = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "serve"]
        log = Path(log_path).open("a") if log_path else subprocess.DEVNULL  # closed below
        proc = subprocess.Popen(["ip", "netns", "exec", SRV, *command], env=env, cwd=tree,
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            for _ in range(600):
                r = subprocess.run(["ip", "netns", "exec", SRV, "python3", "-c",
                                    f"import socket; socket.create_connection(('{SRV_IP}', {port}), 1)"],
                                   capture_output=True)
                if r.returncode == 0:
                    break
                if proc.poll() is not None:
                    raise RuntimeError("hearing serve exited")
            yield f"http://{SRV_IP}:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if log_path:
                log.close()  # type: ignore[union-attr]


def link(base: str, role: str, name: str) -> str:
    from signaling.tokens import TokenService

    grants = ["publish", "subscribe", "moderate"] if role == "presiding_judge" else ["publish", "subscribe"]
    token, _ = TokenService(SECRET).issue_join(room_id=ROOM, role=role, name=name, grants=grants, ttl_seconds=3600)
    return f"{base}/join#token={token}&skipcheck=1"


STATS_JS = """async (pc) => {
  pc = pc || window.hearing?.pc || window.p2p;
  const out = {t: performance.now(), frames: 0, freezes: 0, freezeS: 0, height: 0, concealed: 0, samples: 0,
               lost: 0, fec: 0, sentBytes: 0, videoSentBytes: 0};
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") {
      out.frames += s.framesDecoded ?? 0; out.freezes += s.freezeCount ?? 0;
      out.freezeS += s.totalFreezesDuration ?? 0; out.height = Math.max(out.height, s.frameHeight ?? 0);
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.concealed += s.concealedSamples ?? 0; out.samples += s.totalSamplesReceived ?? 0;
      out.lost += s.packetsLost ?? 0; out.fec += s.fecPacketsReceived ?? 0;
    } else if (s.type === "outbound-rtp") {
      out.sentBytes += s.bytesSent ?? 0; if (s.kind === "video") out.videoSentBytes += s.bytesSent ?? 0;
    }
  });
  return out;
}"""

P2P_JS = """async ({offer}) => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true,
    video: {width: {ideal: 640}, height: {ideal: 360}, frameRate: {ideal: 24}}});
  const pc = new RTCPeerConnection();
  window.p2p = pc;
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  pc.ontrack = ({streams}) => { const v = document.createElement("video"); v.autoplay = true; v.muted = true;
    v.srcObject = streams[0]; document.body.append(v); };
  const done = new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && r(); });
  if (offer) { await pc.setRemoteDescription({type: "offer", sdp: offer}); await pc.setLocalDescription(); }
  else { await pc.setLocalDescription(); }
  if (pc.iceGatheringState !== "complete") await done;
  return pc.localDescription.sdp;
}"""


DIAG_JS = """async () => {
  const pc = window.hearing?.pc || window.p2p;
  const out = {t: performance.now(), availableOut: null, layers: {}, nack: 0, pli: 0, keyframes: 0, videoLost: 0,
               videoInBytes: 0, audioInBytes: 0, me: window.hearing?.joins?.[0]?.id ?? null};
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded")
      out.availableOut = s.availableOutgoingBitrate ?? null;
    else if (s.type === "outbound-rtp" && s.kind === "video") out.layers[s.rid ?? "-"] = {active: s.active,
      bytes: s.bytesSent, height: s.frameHeight ?? 0, fps: s.framesPerSecond ?? 0, limit: s.qualityLimitationReason,
      keyframes: s.keyFramesEncoded ?? 0, target: s.targetBitrate ?? null, pli: s.pliCount ?? 0, fir: s.firCount ?? 0,
      nack: s.nackCount ?? 0, rtx: s.retransmittedBytesSent ?? 0};
    else if (s.type === "inbound-rtp" && s.kind === "video") {
      out.nack += s.nackCount ?? 0; out.pli += s.pliCount ?? 0; out.keyframes += s.keyFramesDecoded ?? 0;
      out.videoLost += s.packetsLost ?? 0; out.videoInBytes += s.bytesReceived ?? 0;
    }
    else if (s.type === "inbound-rtp" && s.kind === "audio") out.audioInBytes += s.bytesReceived ?? 0;
  });
  return out;
}"""

METRICS_JS = """async () => (await fetch('/metrics')).text()"""


def sfu_beliefs(text: str, ids: dict[str, str]) -> dict[str, Any]:
    """The link gauges of /metrics (media/metrics.py) by role: estimate, uplink, REMB, forwarded layer."""
    names = {"hearing_media_link_estimate_bps": "est", "hearing_media_uplink_estimate_bps": "up",
             "hearing_media_remb_bps": "remb", "hearing_media_subscriber_remb_bps": "remb_in",
             "hearing_media_forwarded_layer": "layer"}
    roles = {v: k for k, v in ids.items() if v}
    out: dict[str, Any] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0]
        if name not in names or "participant=" not in line:
            continue
        who = roles.get(line.split('participant="', 1)[1].split('"', 1)[0], "?")
        value = float(line.rsplit(" ", 1)[1])
        out[f"{who}.{names[name]}"] = int(value) if names[name] == "layer" else round(value / 1000)
    return out


async def sample_diag(pages: tuple[Any, Any], mode: str, seconds: float) -> list[dict[str, Any]]:
    """Once a second: each page's outgoing estimate and layers, video NACK/PLI/keyframes, the SFU's beliefs."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    rows: list[dict[str, Any]] = []
    prev: list[dict[str, Any]] | None = None
    while loop.time() < end:
        now = [await p.evaluate(DIAG_JS) for p in pages]
        row: dict[str, Any] = {}
        if prev is not None:
            dt = (now[0]["t"] - prev[0]["t"]) / 1000
            for role, a, b in (("judge", prev[0], now[0]), ("party", prev[1], now[1])):
                row[role] = {
                    "avail_out": None if b["availableOut"] is None else round(b["availableOut"] / 1000),
                    "send": {rid: (f"{'+' if x['active'] else '-'}{x['height']}p "
                                   f"{round(8 * (x['bytes'] - a['layers'].get(rid, {}).get('bytes', 0)) / dt / 1000)}k "
                                   f"{x['limit']} kf+{x['keyframes'] - a['layers'].get(rid, {}).get('keyframes', 0)} "
                                   f"pli+{x['pli'] - a['layers'].get(rid, {}).get('pli', 0)} "
                                   f"nack+{x['nack'] - a['layers'].get(rid, {}).get('nack', 0)} "
                                   f"rtx {round(8 * (x['rtx'] - a['layers'].get(rid, {}).get('rtx', 0)) / dt / 1000)}k")
                             for rid, x in b["layers"].items()},
                    "in_video_k": round(8 * (b["videoInBytes"] - a["videoInBytes"]) / dt / 1000),
                    "in_audio_k": round(8 * (b["audioInBytes"] - a["audioInBytes"]) / dt / 1000),
                    "nack": b["nack"] - a["nack"], "pli": b["pli"] - a["pli"],
                    "kf": b["keyframes"] - a["keyframes"], "vlost": b["videoLost"] - a["videoLost"],
                }
            if mode.startswith("sfu"):
                with suppress(Exception):
                    row["sfu"] = sfu_beliefs(await pages[0].evaluate(METRICS_JS),
                                             {"judge": now[0]["me"], "party": now[1]["me"]})
            rows.append(row)
        prev = now
        await asyncio.sleep(1.0)
    return rows


def delta(a: dict[str, float], b: dict[str, float], seconds: float) -> dict[str, Any]:
    samples = b["samples"] - a["samples"]
    return {
        "fps": round((b["frames"] - a["frames"]) / seconds, 1),
        "freezes": int(b["freezes"] - a["freezes"]),
        "frozen_s": round(b["freezeS"] - a["freezeS"], 1),
        "height": int(b["height"]),
        "concealed_pct": round(100 * (b["concealed"] - a["concealed"]) / samples, 1) if samples > 0 else None,
        "audio_lost": int(b["lost"] - a["lost"]),
        "fec": int(b["fec"] - a["fec"]),
        "sent_kbps": round(8 * (b["sentBytes"] - a["sentBytes"]) / seconds / 1000, 1),
    }


@asynccontextmanager
async def browser_in(pw: Any, namespace: str, origins: list[str | None], tmp: str) -> Any:
    wrapper = Path(tmp) / f"chromium-{namespace}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    browser = await pw.chromium.launch(executable_path=str(wrapper), headless=True, args=[
        *FLAGS, f"--unsafely-treat-insecure-origin-as-secure={','.join(o for o in origins if o)}"])
    try:
        yield browser
    finally:
        await browser.close()


async def measure(pages: tuple[Any, Any], cond: Condition, seconds: float, relay_proc: Any,
                  diag: str | None = None, mode: str = "sfu") -> dict[str, Any]:
    """judge_to_party is what the party receives, party_to_judge what the judge receives."""
    await asyncio.sleep(min(10.0, seconds / 3))  # settle: estimates ramp, layers chosen (a bench, not a test)
    a = [await p.evaluate(STATS_JS) for p in pages]
    out: dict[str, Any] = {}
    if cond.outage_s:
        relay_proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(cond.outage_s)
        relay_proc.send_signal(signal.SIGUSR2)
        back: dict[str, float | None] = {"party_to_judge": None, "judge_to_party": None}
        start = asyncio.get_running_loop().time()
        base = [await p.evaluate(STATS_JS) for p in pages]
        while any(v is None for v in back.values()) and asyncio.get_running_loop().time() - start < 30:
            await asyncio.sleep(0.1)
            now = [await p.evaluate(STATS_JS) for p in pages]
            for key, i in (("party_to_judge", 0), ("judge_to_party", 1)):
                if back[key] is None and now[i]["samples"] > base[i]["samples"] + 4800 \
                        and now[i]["frames"] > base[i]["frames"]:
                    back[key] = round(asyncio.get_running_loop().time() - start, 1)
        out["media_back_s"] = back
    if diag:
        trace = await sample_diag(pages, mode, seconds)
        line = json.dumps({"condition": cond.name, "mode": mode, "trace": trace}, ensure_ascii=False) + "\n"
        with Path(diag).open("a") as f:  # noqa: ASYNC230 - a bench, between measurements
            f.write(line)
    else:
        await asyncio.sleep(seconds)
    b = [await p.evaluate(STATS_JS) for p in pages]
    window = (b[0]["t"] - a[0]["t"]) / 1000
    out["party_to_judge"] = delta(a[0], b[0], window) | {"sent_kbps": delta(a[1], b[1], window)["sent_kbps"]}
    out["judge_to_party"] = delta(a[1], b[1], window) | {"sent_kbps": delta(a[0], b[0], window)["sent_kbps"]}
    out["rebuilds"] = [await p.evaluate("window.hearing?.media?.stats?.restarts ?? null") for p in pages]
    return out


async def run(conditions: list[Condition], seconds: float, modes: tuple[str, ...] = ("sfu", "p2p"),
              diag: str | None = None, before: str | None = None) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    rows = []
    if before is not None:
        modes = ("sfu-before", *modes)
    with namespaces(), server(diag + ".server.log" if diag else None) as base, source_tree(before) as old, \
            server(None, 8766, old) if old else contextlib.nullcontext(None) as old_base, \
            tempfile.TemporaryDirectory() as tmp:
        async with async_playwright() as pw, browser_in(pw, SRV, [base, old_base], tmp) as judge_b, \
                browser_in(pw, PARTY, [base, old_base], tmp) as party_b:
            for cond in conditions:
                shape(cond.rate_kbit)
                with relay(cond) as relay_proc:
                    for mode in modes:
                        jctx = await judge_b.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
                        pctx = await party_b.new_context(viewport={"width": 1024, "height": 600}, bypass_csp=True)
                        try:
                            judge, party = await jctx.new_page(), await pctx.new_page()
                            if mode.startswith("sfu"):
                                at = old_base if mode == "sfu-before" else base
                                await judge.goto(link(at, "presiding_judge", "王审判长"))
                                await judge.wait_for_function("document.body.dataset.state === 'connected'",
                                                              timeout=60_000)
                                await party.goto(link(at, "plaintiff", "张原告"), timeout=90_000)
                                await party.wait_for_function("document.body.dataset.state === 'connected'",
                                                              timeout=90_000)
                            else:
                                await judge.goto(f"{base}/healthz")
                                await party.goto(f"{base}/healthz")
                                offer = await judge.evaluate(P2P_JS, {"offer": None})
                                answer = await party.evaluate(P2P_JS, {"offer": offer})
                                await judge.evaluate("(sdp) => window.p2p.setRemoteDescription({type: 'answer', sdp})",
                                                     answer)
                            row = {"condition": cond.name, "mode": mode} | await measure(
                                (judge, party), cond, seconds, relay_proc, diag, mode)
                        except Exception as exc:  # one run's failure is a figure too: say so, go on
                            row = {"condition": cond.name, "mode": mode, "error": f"{type(exc).__name__}: {exc}"[:300]}
                        finally:
                            await jctx.close()
                            await pctx.close()
                        print(json.dumps(row, ensure_ascii=False), flush=True)
                        rows.append(row)
            shape(None)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| condition | mode | party→judge fps / frozen s / height / concealed % | "
            "judge→party fps / frozen s / height / concealed % | party sends kbit/s | back after outage s |")
    lines = [head, "|" + "---|" * 6]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['condition']} | {r['mode']} | error: {r['error'][:60]} | | | |")
            continue
        pj, jp = r["party_to_judge"], r["judge_to_party"]

        def cell(d: dict[str, Any]) -> str:
            return f"{d['fps']} / {d['frozen_s']} / {d['height']} / {d['concealed_pct']}"

        back = r.get("media_back_s")
        lines.append(f"| {r['condition']} | {r['mode']} | {cell(pj)} | {cell(jp)} | {pj['sent_kbps']} | "
                     f"{'' if back is None else back} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window per run")
    ap.add_argument("--conditions", default="clean,500k,150k,150k+10%,outage",
                    help=f"comma-separated, from {','.join(CONDITIONS)}")
    ap.add_argument("--modes", default="sfu,p2p", help="comma-separated: sfu, p2p")
    ap.add_argument("--before", metavar="GIT_REF", help="also run the SFU of this commit (mode sfu-before), beside "
                    "this tree's, in the same run")
    ap.add_argument("--diag", help="write a per-second trace (estimates, layers, NACK/PLI, the SFU's beliefs) here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.weaklink needs root (network namespaces, tc)", file=sys.stderr)
        return 2
    conds = [CONDITIONS[c] for c in args.conditions.split(",")]
    rows = asyncio.run(run(conds, args.seconds, tuple(args.modes.split(",")), args.diag,
                                   args.before))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
