"""The weak-link rig's user-space relay: random loss, added delay and outages on a routed path (this kernel has no
netem, and no iptables). Run inside the middle network namespace of bench/weaklink.py:

    python -m bench.weaklink_relay --a-iface tunA --b-iface tunB --loss 0.1 --delay-ms 150

Two TUN devices: policy routing sends what arrives from one side into tunA (or tunB); the relay reads each IP
packet, drops it with probability `loss` (or always during an outage: SIGUSR1 starts one, SIGUSR2 ends it), and
writes it back into the same TUN after `delay`, where the kernel routes it on to the other side. Bench-only.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import random
import signal
import struct
from dataclasses import dataclass, field

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


@dataclass
class Impairment:
    """What happens to one packet: dropped (None) or forwarded after a delay in seconds. Pure, seeded."""

    loss: float = 0.0
    delay: float = 0.0
    outage: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(17))
    passed: int = 0
    dropped: int = 0

    def decide(self) -> float | None:
        if self.outage or (self.loss > 0 and self.rng.random() < self.loss):
            self.dropped += 1
            return None
        self.passed += 1
        return self.delay


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


async def relay(names: list[str], impairment: Impairment) -> None:
    loop = asyncio.get_running_loop()
    fds = [open_tun(n) for n in names]

    def readable(fd: int) -> None:
        while True:
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                return
            delay = impairment.decide()
            if delay is None:
                continue
            if delay <= 0:
                _write(fd, packet)
            else:
                loop.call_later(delay, _write, fd, packet)

    for fd in fds:
        loop.add_reader(fd, readable, fd)

    def outage(on: bool) -> None:
        impairment.outage = on

    loop.add_signal_handler(signal.SIGUSR1, outage, True)
    loop.add_signal_handler(signal.SIGUSR2, outage, False)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for fd in fds:
        loop.remove_reader(fd)
        os.close(fd)


def _write(fd: int, packet: bytes) -> None:
    try:
        os.write(fd, packet)
    except OSError:
        pass  # the device went away (teardown)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tun", action="append", required=True, help="TUN device to serve (repeat)")
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    args = ap.parse_args(argv)
    asyncio.run(relay(args.tun, Impairment(loss=args.loss, delay=args.delay_ms / 1000)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
