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


def _without_venv_on_path(env: dict[str, str]) -> dict[str, str]:
    venv_bin = str(Path(HEARING).parent)
    return {**env, "PATH": os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str], Path]]:
    port = free_port()
    var = tmp_path / "var"
    # From the checkout, as `make run` runs it: the virtualenv's bin is not on PATH.
    proc = subprocess.Popen([HEARING, "serve", "--demo"], env=_without_venv_on_path(cli_env(var, port)), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:  # blocks until the server prints; ends if it dies
            lines.append(line)
            if "demo-links.txt" in line:  # printed after every seat's link, once the file is written
                break
        else:
            pytest.fail("hearing serve exited: " + "".join(lines) + proc.stderr.read())  # type: ignore[union-attr]
        yield proc, port, lines, var
    finally:
        proc.terminate()
        proc.wait(30)


DEMO_LINKS = sum(len(spec.seats) for spec in DEMO_HEARINGS if spec.page == "join")
ASYNC_SEATS = [role for spec in DEMO_HEARINGS if spec.page == "async" for role, _ in spec.seats]
ASYNC_STAFF = len([r for r in ASYNC_SEATS if r.value in ("presiding_judge", "clerk")])  # + their courtroom links


def test_serve_demo_prints_where_to_open_and_working_links(served) -> None:  # type: ignore[no-untyped-def]
    _proc, port, lines, var = served
    text = "".join(lines)
    assert f"running at http://127.0.0.1:{port}" in text
    # short, readable links (a code per seat), not ~700-character tokens; the full links in var/demo-links.txt
    links = re.findall(r"(http://127\.0\.0\.1:\d+/c#[2-9A-Z]{5}-[2-9A-Z]{5})\n", text)
    assert len(links) == DEMO_LINKS + ASYNC_STAFF and max(len(line) for line in lines) < 160
    assert "/join#token=" not in text and "{" not in text  # no JSON in what a person reads on stdout
    full = (var / "demo-links.txt").read_text(encoding="utf-8")
    # the asynchronous trial's own pages (no short code: their tokens are not join links)
    assert len(re.findall(r"http://127\.0\.0\.1:\d+/async#token=[\w\-.]+", full)) == len(ASYNC_SEATS) == 4
    assert full.count("/join#token=") == DEMO_LINKS + ASYNC_STAFF
    assert oct((var / "demo-links.txt").stat().st_mode & 0o777) == "0o600"
    # the staff hint works as printed, from where `make run` runs (the virtualenv is not activated)
    hint = re.search(r"^    (\S+) staff add --username NAME --name 'Full name' --roles clerk$", text, re.M)
    assert hint is not None and hint.group(1) == ".venv/bin/hearing", text
    added = subprocess.run([hint.group(1), "staff", "add", "--username", "clerk9", "--name", "李书记员",
                            "--roles", "clerk"],
                           env={**cli_env(var, port), "HEARING_STAFF_PASSWORD": "a long password 1"},
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    for title in ("Trial (room demo-trial)", "Mediation (room demo-mediation)",
                  "Deliberation (room demo-deliberation)", "Asynchronous trial (room demo-async)"):
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

    resolved = httpx.post(f"http://127.0.0.1:{port}/api/seat-codes/resolve", json={"code": links[0].split("#")[1]},
                          timeout=10)
    assert resolved.status_code == 200, resolved.text
    joined = asyncio.run(join_with(resolved.json()["url"]))
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


def test_logs_read_as_lines_for_people_and_json_for_collectors(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from app.logs import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("uvicorn.error").level
    try:
        setup_logging("INFO", "text")
        logging.getLogger("hearing.test").info("room %s placed", "r1")
        logging.getLogger("uvicorn.error").info("Started server process")  # start-up chatter left out for people
        setup_logging("INFO", "json")
        logging.getLogger("hearing.test").info("room %s placed", "r2")
        text, jsonl = capsys.readouterr().err.strip().split("\n")
        assert re.fullmatch(r"\d\d:\d\d:\d\d info    hearing\.test: room r1 placed", text)
        assert json.loads(jsonl)["msg"] == "room r2 placed"
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.error").setLevel(saved[2])
