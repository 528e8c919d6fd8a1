"""`hearing serve --workers N`: N media nodes on one host, so every core forwards media.

One Python process forwards on one core, so a host runs one node per core. Each worker is a full
`hearing serve` on its own port (HEARING_PORT + i) announcing its own node URL, with its own working directory
(var/worker-i: its recordings spool) and the parent's database, token key, integrity key and object directory;
the room placement (Redis) puts each room on one worker and redirects joins there. Distinct ports rather than
SO_REUSEPORT: a redirect must name the worker that holds a room, and a shared port could land the reconnect on
any of them. Put the proxy in front of the first port (or all of them); each worker's port must also be
reachable at its node URL.

The parent migrates the schema once, starts the workers, restarts one that dies, and passes SIGTERM/SIGINT on
(each worker drains, app/drain.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from app.settings import Settings

log = logging.getLogger("hearing.app")


def worker_env(settings: Settings, index: int, environ: dict[str, str]) -> dict[str, str]:
    """The environment of worker `index`: its port, node URL and working directory; everything shared pinned."""
    port = settings.port + index
    node = urlsplit(settings.node_ws_url)
    host = node.hostname or "127.0.0.1"
    node_port = node.port + index if node.port else port
    netloc = f"[{host}]:{node_port}" if ":" in host else f"{host}:{node_port}"
    key = settings.integrity_signing_key_file or settings.var_dir / "integrity_signing_key.pem"
    env = dict(environ)
    env.update(
        HEARING_PORT=str(port),
        HEARING_HOST=settings.host,
        HEARING_NODE_URL=urlunsplit((node.scheme, netloc, node.path, "", "")),
        HEARING_VAR_DIR=str((settings.var_dir / f"worker-{index}").resolve()),
        DATABASE_URL=settings.effective_database_url,
        HEARING_TOKEN_SECRET=settings.signing_secret(),
        INTEGRITY_SIGNING_KEY_FILE=str(key.resolve()),
        HEARING_OBJECTS_DIR=str(settings.objects_dir),
        HEARING_PUBLIC_URL=settings.base_url,
    )
    return env


def supervise(settings: Settings, workers: int) -> int:
    """Run `workers` node processes until SIGTERM/SIGINT; returns the exit status."""
    from integrity.signing import CodeSigner

    CodeSigner.load_or_create(settings.integrity_signing_key_file or settings.var_dir / "integrity_signing_key.pem")
    cmd = [sys.executable, "-m", "app.cli", "serve"]
    envs = [worker_env(settings, i, dict(os.environ)) for i in range(workers)]
    procs: list[subprocess.Popen[bytes]] = [subprocess.Popen(cmd, env=env) for env in envs]
    stopping = False

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    print(f"hearing: {workers} workers on ports {settings.port}-{settings.port + workers - 1}", file=sys.stderr,
          flush=True)
    try:
        while True:
            if stopping and all(p.poll() is not None for p in procs):
                return 0
            for i, proc in enumerate(procs):
                if proc.poll() is not None and not stopping:
                    log.warning("worker %d exited with %s; starting it again", i, proc.returncode)
                    time.sleep(1.0)
                    procs[i] = subprocess.Popen(cmd, env=envs[i])
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
