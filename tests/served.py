"""`hearing serve` as a real subprocess on 127.0.0.1, for tests of what the server process itself does (its
connection limits, its file descriptors, its log)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

HEARING = str(Path(sys.executable).parent / "hearing")


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.base = f"http://127.0.0.1:{port}"

    def fds(self) -> int:
        """The server's open file descriptors."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def healthz(self, timeout: float = 10.0) -> int:
        return httpx.get(f"{self.base}/healthz", timeout=timeout).status_code


@contextmanager
def serve(tmp_path: Path, preexec: Callable[[], None] | None = None, **settings: str) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_", "HEARING_", "HTTP_",
                                                                    "TRUSTED_", "LOGIN_"))}
    env.update({"HEARING_VAR_DIR": str(tmp_path / "var"), "HEARING_PORT": str(port), "HEARING_ENV": "test",
                "MEDIA_ENABLED": "false", **settings})
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "server.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([HEARING, "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=err,
                                text=True, preexec_fn=preexec)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # blocks until the server says it listens; ends if it dies
            if "is running at" in line:
                break
        else:
            raise AssertionError("hearing serve exited: " + log.read_text())
        yield Served(proc, port, log)
    finally:
        proc.terminate()
        proc.wait(30)
