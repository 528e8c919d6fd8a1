"""py-spy profile of the SFU under `bench.sfu`'s load: `python -m bench.sfu_profile [--subscribers 16] [--out F]`.

Runs the SFU and the clients in the namespace pair of `--vs-janus`, samples the server with `py-spy record --native`
(raw collapsed stacks) over the measuring window, and prints the share of samples in each part of the per-packet
cost among the event loop's busy samples: SRTP (protect), syscalls (sendto/recvfrom leaves), receive (the path from
the socket to the fan-out), rewrite (the fan-out's own Python: sequencing, extensions, rewrite, send glue), event
loop, other (ticks, reports, signalling). `--split FILE` only prints the split of an existing raw profile.
Environment for the server goes through `--env K=V` (e.g. SFU_SEND_PATH=reference).
`--forward-micro` instead times one `Forward.forward` (sequencing, extensions, rewrite, SRTP, sendto to a socket on
127.0.0.1) per send path in this process, process CPU time, best of 7 repeats: the per-subscriber cost without
the load's noise.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import clip
from bench.netns import veth_pair
from bench.sfu import run_clients, server

PARTS = ("SRTP", "syscalls", "receive", "rewrite", "loop", "other")
_SRTP = ("srtp", "gcm", "aes_", "hmac", "sha1", "session.protect", "session.__process", "b_memmove")
_SYSCALLS = ("sendto (libc", "sendmmsg (libc", "sendmsg (libc", "recvfrom (libc", "recvmsg (libc")
_RECEIVE = ("peer._rtp", "handle_rtp", "_recv_next", "datagram_received", "_read_ready", "unprotect")
_LOOP = ("base_events", "events.py", "selectors", "task_step", "asyncio")


def classify(stack: str) -> str | None:
    """The part of the per-packet cost one sample belongs to; None for samples outside the event loop's work
    (other threads, or the loop idle in epoll_wait)."""
    low = stack.lower()
    frames = low.split(";")
    leaf = frames[-1] if frames else ""
    if "thread._bootstrap" in low or "greenlet" in low or "epoll_wait" in leaf:
        return None
    if any(m in leaf for m in _SYSCALLS):
        return "syscalls"
    if any(m in low for m in _SRTP):
        return "SRTP"
    if "forward.forward" in low or "send_rtp" in low or "fastrtpsender" in low:
        return "rewrite"  # the fan-out's own Python: sequencing, extensions, rewrite, send glue
    if any(m in low for m in _RECEIVE):
        return "receive"
    if any(m in low for m in _LOOP) and all(m not in low for m in ("sfu.", "media/")):
        return "loop"
    return "other"


def split(collapsed: Path) -> tuple[dict[str, float], int, int]:
    """Shares (%) of the loop's busy samples per part, busy samples, idle (epoll_wait) samples of the main thread."""
    counts: collections.Counter[str] = collections.Counter()
    idle = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        part = classify(stack)
        if part is None:
            if "epoll_wait" in stack.rsplit(";", 1)[-1] and "thread._bootstrap" not in stack.lower():
                idle += int(n)
            continue
        counts[part] += int(n)
    total = sum(counts.values()) or 1
    return {k: round(100 * counts[k] / total, 1) for k in PARTS}, sum(counts.values()), idle


def forward_micro(packets: int = 20000, repeats: int = 7) -> dict[str, float]:
    """µs per `Forward.forward` of a 1100-byte video packet with MID/abs-send-time/audio-level-style extensions."""
    import asyncio
    import socket
    from types import SimpleNamespace

    import pylibsrtp
    from aiortc.rtcdtlstransport import State

    from media import fastsend
    from media.aiortc_glue import TransportTap
    from media.rtp import URI_ABS_SEND_TIME, URI_MID, URI_VIDEO_ORIENTATION, parse_rtp
    from media.tracks import CodecInfo, Forward, PublishedTrack

    key = bytes(range(28))  # AEAD AES-128-GCM key + salt, the profile aiortc negotiates first
    policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
    body = bytes([0x10 | 0, ord("0"), 0x32, 1, 2, 3, 0x40, 0x01, 0, 0])  # mid, abs-send-time, orientation, pad
    head = bytes([0x90, 96, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0xBE, 0xDE, 0, len(body) // 4])
    codec = CodecInfo(name="VP8", clock_rate=90000, payload_type=96)
    pub = {URI_MID: 1, URI_ABS_SEND_TIME: 3, URI_VIDEO_ORIENTATION: 4}
    track = PublishedTrack(publisher_id="p", track_id="t", kind="video", ssrc=0x01020304, codec=codec,
                           header_extensions=pub, request_keyframe=lambda t: None)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # overflow drops: no reader needed
    results: dict[str, float] = {}

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for path in ("reference", "python", "fast"):
            if path == "fast" and not fastsend.COMPILED:
                continue
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
            pair = SimpleNamespace(protocol=SimpleNamespace(transport=transport), remote_addr=sink.getsockname())
            dtls = SimpleNamespace(_tx_srtp=pylibsrtp.Session(policy=policy), _state=State.CONNECTED,
                                   state="connected",
                                   transport=SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair})))
            tap = object.__new__(TransportTap)
            tap.dtls, tap._ice, tap._srtp, tap.sent_packets, tap.sent_bytes = dtls, dtls.transport._connection, \
                None, 0, 0
            send = tap.send_rtp if path == "reference" else fastsend.FastRtpSender(tap, compiled=path == "fast")
            fwd = Forward(track, "s", out_ssrc=5, rtx_ssrc=None, codec=codec, mid="1",
                          header_extensions={URI_MID: 1, URI_ABS_SEND_TIME: 2, URI_VIDEO_ORIENTATION: 3},
                          send=send, initial_sequence=0, initial_timestamp=0)  # type: ignore[arg-type]
            best = float("inf")
            seq = 0
            for _ in range(repeats):
                batch = []
                for _ in range(packets):
                    seq = (seq + 1) & 0xFFFF
                    data = head[:2] + seq.to_bytes(2, "big") + (seq * 3000 & 0xFFFFFFFF).to_bytes(4, "big") + \
                        head[8:] + body + bytes(1100)
                    batch.append((data, parse_rtp(data)))
                t0 = time.process_time()  # CPU time: on a shared machine wall time is mostly waiting for a core
                now = time.monotonic()
                for data, h in batch:
                    fwd.forward(data, h, True, now)
                best = min(best, (time.process_time() - t0) / packets * 1e6)
                transport._buffer.clear()  # what would block is not the point here
            results[path] = round(best, 2)
            transport.close()

    asyncio.run(run())
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload, addr, best = bytes(1150), sink.getsockname(), float("inf")
    for _ in range(repeats):  # the floor: the syscall alone, same size, same socket pair
        t0 = time.process_time()
        for _ in range(packets):
            out.sendto(payload, addr)
        best = min(best, (time.process_time() - t0) / packets * 1e6)
    results["sendto only"] = round(best, 2)
    out.close()
    sink.close()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", default="var/sfu-profile.txt", help="collapsed stacks (py-spy --format raw)")
    ap.add_argument("--env", action="append", default=[], help="K=V for the server")
    ap.add_argument("--split", help="print the split of this raw profile and exit")
    ap.add_argument("--forward-micro", action="store_true", help="µs per Forward.forward per send path, and exit")
    args = ap.parse_args(argv)
    if args.forward_micro:
        for path, us in forward_micro().items():
            what = "one socket.sendto of 1150 bytes" if path == "sendto only" else \
                "Forward.forward (sequencing, extensions, rewrite, SRTP, sendto)"
            print(f"{path:<12} {us:>6.2f} µs per {what}")
        return 0
    if args.split:
        shares, busy, idle = split(Path(args.split))
        print(f"{busy} busy, {idle} idle samples: " + ", ".join(f"{k} {v:.1f} %" for k, v in shares.items()))
        return 0
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    clip.ensure("vp8")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(kv.split("=", 1) for kv in args.env)
    with veth_pair() as net, server("sfu", "vp8", net, env) as (port, pid, log):
        # baseline window, then joins (~0.05 s each + first frames), then the measuring window: sample inside it
        delay = args.seconds + 2 + args.subscribers * 0.1 + 2

        def record() -> None:
            time.sleep(delay)
            subprocess.run([spy, "record", "--native", "-r", "200", "-d", str(int(args.seconds - 4)),
                            "--format", "raw", "-o", str(out), "--pid", str(pid)], check=False,
                           stdout=subprocess.DEVNULL)

        t = threading.Thread(target=record)
        t.start()
        for row in run_clients("sfu", "vp8", [args.subscribers], args.seconds, f"ws://{net.server_ip}:{port}", pid,
                               log, net):
            print(f"N={row['subscribers']} µs/pkt {row['us_per_forwarded_packet']} fps min {row['fps_per_sub_min']}"
                  f" server CPU {row['server_cpu_s_per_s']} s/s (sampled; py-spy adds overhead)")
        t.join()
    shares, busy, idle = split(out)
    print(f"py-spy samples of the event loop: {busy} busy, {idle} idle (epoll_wait); busy split:")
    for name, share in shares.items():
        print(f"  {name:<9}{share:>6.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
