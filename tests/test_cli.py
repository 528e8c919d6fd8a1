"""The `hearing` command as a user runs it: `serve --demo` prints working links; token and revoke."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from app.settings import Settings
from hearing.demo import DEMO_HEARINGS
from tests.conftest import ROOT, free_port, wait_for_port

HEARING = str(Path(sys.executable).parent / "hearing")


def cli_env(var: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_", "HEARING_"))}
    env.update({"HEARING_VAR_DIR": str(var), "HEARING_PORT": str(port), "HEARING_ENV": "test", **extra})
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str], Path]]:
    port = free_port()
    var = tmp_path / "var"
    proc = subprocess.Popen([HEARING, "serve", "--demo"], env=cli_env(var, port), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:  # blocks until the server prints; ends if it dies
            lines.append(line)
            if len([x for x in lines if "/join#token=" in x]) == DEMO_LINKS:
                break
        else:
            pytest.fail("hearing serve exited: " + "".join(lines) + proc.stderr.read())  # type: ignore[union-attr]
        yield proc, port, lines, var
    finally:
        proc.terminate()
        proc.wait(30)


DEMO_LINKS = sum(len(spec.seats) for spec in DEMO_HEARINGS)


def test_serve_demo_prints_where_to_open_and_working_links(served) -> None:  # type: ignore[no-untyped-def]
    _proc, port, lines, var = served
    text = "".join(lines)
    assert f"running at http://127.0.0.1:{port}" in text
    links = re.findall(r"(http://127\.0\.0\.1:\d+/join#token=[\w\-.]+)", text)
    assert len(links) == DEMO_LINKS
    for title in ("Trial (room demo-trial)", "Mediation (room demo-mediation)",
                  "Deliberation (room demo-deliberation)"):
        assert title in text
    for role in ("Presiding judge", "Clerk", "Plaintiff", "Defendant", "Counsel", "Witness", "Observer", "Mediator"):
        assert role in text, role
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    assert (var / "hearing.db").exists() and (var / "token_secret").exists()
    assert oct((var / "token_secret").stat().st_mode & 0o777) == "0o600"

    async def join_with(link: str) -> dict:
        token = link.split("#token=")[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/demo-trial", open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "join", "v": 1, "token": token}))
            msg = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "leave"}))
            return msg

    import asyncio

    joined = asyncio.run(join_with(links[0]))
    assert joined["type"] == "joined" and joined["participant"]["role"] == "presiding_judge"
    assert joined["participant"]["name"] == "王审判长"


def test_token_and_revoke(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(tmp_path / "var", port)
    out = subprocess.run([HEARING, "token", "--room", "r1", "--role", "defendant", "--name", "赵某"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{port}/join#token=") and "?" not in url
    token_id = re.search(r"token id (\S+),", out.stderr).group(1)  # type: ignore[union-attr]
    assert "赵某" not in out.stderr  # personal data stays out of logs

    proc = subprocess.Popen([HEARING, "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=60, proc=proc)  # type: ignore[arg-type]

        async def first_message() -> tuple[dict, int | None]:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/r1", open_timeout=10) as ws:
                await ws.send(json.dumps({"type": "join", "v": 1, "token": url.split("#token=")[1]}))
                msg = json.loads(await ws.recv())
                try:
                    await ws.recv()
                except websockets.ConnectionClosed as exc:
                    return msg, exc.rcvd.code if exc.rcvd else None
                return msg, None

        import asyncio

        rev = subprocess.run([HEARING, "revoke", token_id, "--reason", "sent to the wrong person"], env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert rev.returncode == 0, rev.stderr
        msg, code = asyncio.run(first_message())
        assert msg["type"] == "error" and code == 4005
        missing = subprocess.run([HEARING, "revoke", "t_nope"], env=env, cwd=tmp_path, capture_output=True,
                                 text=True, timeout=120)
        assert missing.returncode == 1 and "no token" in missing.stderr
    finally:
        proc.terminate()
        proc.wait(30)
    assert "赵某" not in (proc.stderr.read() if proc.stderr else "")


def test_bad_settings_stop_with_a_clear_message(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "var", free_port(), ICE_HOST_ADDRESSES="not-an-ip")
    out = subprocess.run([HEARING, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "ICE_HOST_ADDRESSES" in out.stderr and "not an IP" in out.stderr
    env = cli_env(tmp_path / "var", free_port(), HEARING_ENV="production")
    out = subprocess.run([HEARING, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "HEARING_TOKEN_SECRET" in out.stderr


def test_busy_port_is_reported_plainly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([HEARING, "serve"], env=cli_env(tmp_path / "var", port), cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "HEARING_PORT" in out.stderr
    assert "Traceback" not in out.stderr


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        env = (field.alias or name).upper()
        assert f"`{env}`" in readme, f"README's configuration table lacks {env}"


def test_protocol_doc_matches_models() -> None:
    out = subprocess.run([sys.executable, "-m", "signaling.protocol_doc", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
