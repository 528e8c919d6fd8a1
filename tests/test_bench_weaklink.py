"""The weak-link rig's relay (bench/weaklink_relay.py), not the rig itself (minutes of Chromium: run
`python -m bench.weaklink`): its loss is seeded and near the asked rate, an outage drops everything, and a short
smoke run routes real UDP between two namespaces it creates (and removes) through the TUN relay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from bench import weaklink
from bench.weaklink_relay import Impairment
from tests.conftest import ROOT


def test_loss_is_near_the_asked_rate_and_an_outage_drops_everything() -> None:
    imp = Impairment(loss=0.1, delay=0.075)
    decisions = [imp.decide() for _ in range(10_000)]
    assert 800 <= decisions.count(None) <= 1200
    assert {d for d in decisions if d is not None} == {0.075}
    imp.outage = True
    assert all(imp.decide() is None for _ in range(100))
    assert imp.dropped == decisions.count(None) + 100 and imp.passed == 10_000 - decisions.count(None)


ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.2.2", 9999)); print("up", flush=True)
while True:
    data, addr = s.recvfrom(2048); s.sendto(data, addr)
"""
SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5); got = 0
for i in range(int(sys.argv[1])):
    s.sendto(b"x%d" % i, ("10.77.2.2", 9999))
    try:
        s.recvfrom(2048); got += 1
    except TimeoutError:
        pass
print(got)
"""


def in_ns(name: str, code: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", name, sys.executable, "-c", code, *args]


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_udp_crosses_the_relay_between_namespaces_and_an_outage_cuts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = f"t{os.getpid() % 100000}"  # its own namespaces: a running bench keeps its own
    monkeypatch.setattr(weaklink, "SRV", f"{tag}-srv")
    monkeypatch.setattr(weaklink, "MID", f"{tag}-mid")
    monkeypatch.setattr(weaklink, "PARTY", f"{tag}-party")
    monkeypatch.chdir(ROOT)
    with weaklink.namespaces():
        echo = subprocess.Popen(in_ns(weaklink.SRV, ECHO), stdout=subprocess.PIPE, text=True)
        try:
            assert echo.stdout is not None and echo.stdout.readline().strip() == "up"
            with weaklink.relay(weaklink.Condition("smoke")) as relay:
                out = subprocess.run(in_ns(weaklink.PARTY, SEND, "20"), capture_output=True, text=True, check=True)
                assert int(out.stdout) == 20  # no loss asked: every datagram and its echo cross
                relay.send_signal(signal.SIGUSR1)
                out = subprocess.run(in_ns(weaklink.PARTY, SEND, "4"), capture_output=True, text=True, check=True)
                assert int(out.stdout) == 0
        finally:
            echo.kill()
            echo.wait()
    assert f"{tag}-mid" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
