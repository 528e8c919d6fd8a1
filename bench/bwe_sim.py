"""The per-subscriber bandwidth estimator (media/bwe.py) against simulated village links, without any network.

A sender paces 1200-byte packets at the estimate into a drop-tail bottleneck (capacity, queue limit, random loss,
one-way delay); transport-cc style feedback every 100 ms. Prints, per condition, what the estimate settles at after
a warm-up (mean, min, max over the rest) and the share of packets lost. Pure simulation: it measures the core's
control behaviour, not the SFU (that needs bench/weaklink.py, not built yet).

    python -m bench.bwe_sim [--seconds 60] [--json] [--cost]

`--cost` also prints what the estimators cost the SFU: the per-packet uplink sample on the receive path
(abs-send-time lookup + append) and the once-a-second digest of 1000 packets.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import time
import timeit
from dataclasses import dataclass

from media.bwe import BandwidthEstimator, PacketResult, ReceiveSideEstimator
from media.rtp import get_extension, parse_rtp

PACKET = 1200


@dataclass
class LinkRun:
    history: list[tuple[float, float]]  # (time, estimate)
    sent: int
    lost: int


def run_link(capacity: float, seconds: float, *, loss: float = 0.0, seed: int = 0, start: float = 300_000,
             queue_limit: float = 0.5, delay: float = 0.02) -> LinkRun:
    """Simulate one link; every estimate the sender used is in the history."""
    rnd = random.Random(seed)
    bwe = BandwidthEstimator(start)
    t = free = 0.0
    pending: list[PacketResult] = []
    next_feedback = 0.1
    history: list[tuple[float, float]] = []
    sent = lost = 0
    while t < seconds:
        rate = bwe.estimate(t) or start
        done = max(t, free) + PACKET * 8 / capacity
        arrival: float | None = None
        if done - t <= queue_limit:  # else: tail-dropped at the full queue
            free = done
            arrival = None if rnd.random() < loss else done + delay
        sent += 1
        lost += arrival is None
        pending.append(PacketResult(t, PACKET, arrival))
        t += PACKET * 8 / rate
        if t >= next_feedback + delay:  # feedback reaches the sender one delay after it was due
            bwe.on_feedback(pending, t, rtt=2 * delay)
            pending = []
            next_feedback = t
            value = bwe.estimate(t)
            if value is not None:
                history.append((t, value))
    return LinkRun(history, sent, lost)


CONDITIONS = [
    ("clean 2 Mbit/s", 2_000_000, 0.0, 0.02),
    ("500 kbit/s", 500_000, 0.0, 0.02),
    ("150 kbit/s", 150_000, 0.0, 0.02),
    ("150 kbit/s + 10 % loss", 150_000, 0.10, 0.02),
    ("150 kbit/s + 10 % loss + 300 ms RTT", 150_000, 0.10, 0.15),
]


def cost() -> dict[str, float]:
    """µs per received packet for the uplink sample, ms per 1000-packet digest (best of several runs)."""
    ext = bytes([0x10, 0x30]) + b"0" + bytes([0x32]) + b"\x01\x02\x03" + bytes([0x51]) + b"\x00\x07"
    ext += b"\x00" * ((-len(ext)) % 4)
    head = struct.pack("!BBHII", 0x90, 96, 1, 1234, 5678) + struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    packet = head + b"\x00" * (PACKET - len(head))
    h = parse_rtp(packet)
    est = ReceiveSideEstimator()

    def sample() -> None:
        sent = get_extension(packet, h, 3)
        if sent is not None:
            est.add(sent, 0.0, PACKET)

    n = 20_000
    per_packet = min(timeit.repeat(sample, number=n, repeat=5)) / n * 1e6
    est = ReceiveSideEstimator()
    best = float("inf")
    for rep in range(6):
        for i in range(1000):
            k = rep * 1000 + i
            raw = int(k * 0.001 * 262144) % (1 << 24)
            est.add(raw.to_bytes(3, "big"), k * 0.001 + (0.0005 if i % 7 else 0.0), PACKET)
        t0 = time.perf_counter()
        est.update(rep + 1.0)
        best = min(best, time.perf_counter() - t0)
    return {"uplink_sample_us": round(per_packet, 2), "uplink_digest_ms_per_1000": round(best * 1e3, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cost", action="store_true")
    args = ap.parse_args()
    for name, capacity, loss, delay in CONDITIONS:
        run = run_link(capacity, args.seconds, loss=loss, delay=delay)
        late = [v for t, v in run.history if t > args.warmup] or [v for _, v in run.history]
        row = {"condition": name, "capacity_kbps": capacity / 1000, "mean_kbps": round(sum(late) / len(late) / 1000, 1),
               "min_kbps": round(min(late) / 1000, 1), "max_kbps": round(max(late) / 1000, 1),
               "lost_pct": round(100 * run.lost / max(run.sent, 1), 1)}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{name:38s} capacity {row['capacity_kbps']:7.0f} kbit/s  estimate mean {row['mean_kbps']:7.1f} "
                  f"(min {row['min_kbps']:.1f}, max {row['max_kbps']:.1f})  lost {row['lost_pct']:.1f} %")
    if args.cost:
        figures = cost()
        if args.json:
            print(json.dumps(figures))
        else:
            print(f"uplink sample per received packet {figures['uplink_sample_us']} µs; "
                  f"digest of 1000 packets {figures['uplink_digest_ms_per_1000']} ms (once a second)")


if __name__ == "__main__":
    main()
