"""Two network namespaces joined by a veth pair, created for one bench run and removed after (root only).

The server runs in one, the clients in the other: traffic crosses a real (virtual) link instead of loopback, and
the addresses exist only inside the namespaces. Names carry the bench's pid so concurrent runs do not collide.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class NetPair:
    server_ns: str
    client_ns: str
    server_ip: str
    client_ip: str
    server_dev: str

    def in_server(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, *cmd]

    def in_client(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.client_ns, *cmd]

    def wait_listening(self, port: int, timeout: float = 60.0) -> bool:
        """Poll, from the client namespace, until the server accepts TCP on port (True) or timeout passes."""
        probe = ("import socket,sys,time\n"
                 f"end=time.monotonic()+{timeout}\n"
                 "while time.monotonic()<end:\n"
                 "    try:\n"
                 f"        socket.create_connection(('{self.server_ip}',{port}),1).close(); sys.exit(0)\n"
                 "    except OSError: time.sleep(0.1)\n"
                 "sys.exit(1)\n")
        return subprocess.run(self.in_client([sys.executable, "-c", probe]), check=False).returncode == 0


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def veth_pair(subnet_octet: int | None = None) -> Iterator[NetPair]:
    """Namespaces `hb<pid>s` / `hb<pid>c`, veth 10.203.X.1/30 <-> 10.203.X.2/30; both removed on exit."""
    if os.geteuid() != 0:
        raise PermissionError("the namespace bench needs root (ip netns)")
    tag = os.getpid() % 100000
    x = subnet_octet if subnet_octet is not None else tag % 250
    s_ns, c_ns, s_dev, c_dev = f"hb{tag}s", f"hb{tag}c", f"hb{tag}vs", f"hb{tag}vc"
    pair = NetPair(s_ns, c_ns, f"10.203.{x}.1", f"10.203.{x}.2", s_dev)
    created: list[str] = []
    try:
        for ns in (s_ns, c_ns):
            _ip("netns", "add", ns)
            created.append(ns)
        _ip("link", "add", s_dev, "type", "veth", "peer", "name", c_dev)
        _ip("link", "set", s_dev, "netns", s_ns)
        _ip("link", "set", c_dev, "netns", c_ns)
        for ns, dev, addr in ((s_ns, s_dev, pair.server_ip), (c_ns, c_dev, pair.client_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
        yield pair
    finally:
        for ns in created:  # deleting a namespace removes its end of the veth, and with it the pair
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
