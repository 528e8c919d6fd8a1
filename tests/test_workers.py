"""`hearing serve --workers N`: N media nodes from one command, each on its own port and working directory,
sharing the register; rooms are placed on both; SIGTERM reaches every worker and the command exits."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import load_settings
from app.workers import worker_env
from hearing.roles import Role
from tests.conftest import free_port, wait_for_port
from tests.live import Client
from tests.test_cli import HEARING, cli_env
from tests.test_cluster import SECRET, port_of, token

pytestmark = [pytest.mark.redis, pytest.mark.timeout(240)]


def two_free_ports() -> int:
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def test_worker_environment(tmp_path: Path) -> None:
    s = load_settings(HEARING_PORT=9100, HEARING_VAR_DIR=tmp_path / "var", REDIS_URL="redis://127.0.0.1:6379/0",
                      HEARING_TOKEN_SECRET="w" * 40)
    one, two = (worker_env(s, i, {"KEEP": "1"}) for i in range(2))
    assert (one["HEARING_PORT"], two["HEARING_PORT"]) == ("9100", "9101")
    assert (one["HEARING_NODE_URL"], two["HEARING_NODE_URL"]) == ("ws://127.0.0.1:9100", "ws://127.0.0.1:9101")
    assert one["HEARING_VAR_DIR"] != two["HEARING_VAR_DIR"]  # each its own recordings spool
    for shared in ("DATABASE_URL", "HEARING_TOKEN_SECRET", "INTEGRITY_SIGNING_KEY_FILE", "HEARING_OBJECTS_DIR",
                   "HEARING_PUBLIC_URL"):
        assert one[shared] == two[shared], shared
    assert one["DATABASE_URL"].endswith(str((tmp_path / "var" / "hearing.db").resolve()))
    assert one["KEEP"] == "1"


def test_workers_need_redis(tmp_path: Path) -> None:
    out = subprocess.run([HEARING, "serve", "--workers", "2"], env=cli_env(tmp_path / "var", free_port()),
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "REDIS_URL" in out.stderr


@pytest.fixture
def workers(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = two_free_ports()
    env = cli_env(tmp_path / "var", port, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix,
                  HEARING_TOKEN_SECRET=SECRET, REDIS_HEARTBEAT_SECONDS="1")
    proc = subprocess.Popen([HEARING, "serve", "--workers", "2"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for p in (port, port + 1):
            wait_for_port(p, timeout=90, proc=proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_two_workers_hold_rooms_and_stop_on_sigterm(
        tmp_path: Path, workers: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, proc = workers
    holders = set()
    clients = []
    for room in ("w1", "w2"):
        client, joined, visited = await Client.join_following(f"ws://127.0.0.1:{port}/ws/{room}",
                                                              token(room, Role.PRESIDING_JUDGE, "王"))
        assert joined["type"] == "joined", joined
        holders.add(port_of(visited[-1]))
        clients.append(client)
    assert holders == {port, port + 1}  # one room on each worker
    assert (tmp_path / "var" / "worker-0").is_dir() and (tmp_path / "var" / "worker-1").is_dir()
    for client in clients:
        await client.send({"type": "leave"})
        await client.wait_closed()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(90) == 0
