"""Starting the platform for a benchmark: `hearing serve` in its own process on a free port, embedded defaults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def hearing_server(secret: str, *, port: int | None = None,
                   **env_extra: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Yield (port, process) once it accepts connections; a fresh var dir, no Redis/S3/PostgreSQL from the env."""
    port = port or free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_"))}
        env.update(HEARING_VAR_DIR=tmp, HEARING_PORT=str(port), HEARING_TOKEN_SECRET=secret, HEARING_ENV="test",
                   LOG_LEVEL="WARNING", **env_extra)
        hearing = str(Path(sys.executable).parent / "hearing")
        proc = subprocess.Popen([hearing, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise ServerDidNotStart("the server did not start; run `hearing serve` to see why") from None
                    time.sleep(0.1)
            yield port, proc
        finally:
            proc.terminate()
            proc.wait(30)
