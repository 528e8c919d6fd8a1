"""Two `hearing serve` processes sharing one Redis and one PostgreSQL: one room, seen alike from both."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hearing.roles import Role
from signaling.tokens import TokenService
from tests.conftest import free_port, wait_for_port
from tests.live import Client
from tests.test_cli import HEARING, cli_env

SECRET = "multi-instance-test-secret-" + "z" * 20
ROOM = "shared-room"


@pytest.fixture
def instances(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> Iterator[list[int]]:
    ports = [free_port(), free_port()]
    procs = []
    try:
        for i, port in enumerate(ports):
            env = cli_env(tmp_path / f"var{i}", port, DATABASE_URL=pg_url, REDIS_URL=redis_url,
                          REDIS_PREFIX=redis_prefix, HEARING_TOKEN_SECRET=SECRET)
            procs.append(subprocess.Popen([HEARING, "serve"], env=env, cwd=tmp_path,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, timeout=60, proc=proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


@pytest.fixture
async def tokens() -> AsyncIterator[TokenService]:
    yield TokenService(SECRET)


def token(tokens: TokenService, role: Role, name: str) -> str:
    from hearing.roles import ROLE_GRANTS

    tok, _ = tokens.issue_join(room_id=ROOM, role=role.value, name=name, grants=ROLE_GRANTS[role], ttl_seconds=600)
    return tok


async def test_participants_on_different_instances_see_each_other(instances: list[int],
                                                                   tokens: TokenService) -> None:
    a_port, b_port = instances
    judge = await Client.connect(f"ws://127.0.0.1:{a_port}/ws/{ROOM}", token(tokens, Role.PRESIDING_JUDGE, "王"))
    jj = await judge.expect("joined")
    party = await Client.connect(f"ws://127.0.0.1:{b_port}/ws/{ROOM}", token(tokens, Role.PLAINTIFF, "张"))
    jp = await party.expect("joined")
    assert [p["name"] for p in jp["participants"]] == ["王"]
    seen = await judge.expect("participant-joined")
    assert seen["participant"]["name"] == "张"

    await party.send({"type": "mute", "kind": "audio", "muted": True})
    m = await judge.expect("mute-state")
    assert m["participant_id"] == jp["participant"]["id"] and m["audio_muted"] is True
    await judge.send({"type": "mute", "kind": "video", "muted": True})
    m = await party.expect("mute-state", participant_id=jj["participant"]["id"])
    assert m["video_muted"] is True

    # A third person on instance A sees the one on B, with the state B's participant set.
    third = await Client.connect(f"ws://127.0.0.1:{a_port}/ws/{ROOM}", token(tokens, Role.DEFENDANT, "赵"))
    j3 = await third.expect("joined")
    listed = {p["name"]: p for p in j3["participants"]}
    assert set(listed) == {"王", "张"} and listed["张"]["audio_muted"] is True

    # A drop on B, resumed on A: the place is kept across instances.
    await party.drop()
    assert (await judge.expect("participant-connection"))["connection"] == "reconnecting"
    back = await Client.connect(f"ws://127.0.0.1:{a_port}/ws/{ROOM}", resume_token=jp["resume_token"])
    jb = await back.expect("joined")
    assert jb["resumed"] and jb["participant"]["id"] == jp["participant"]["id"]
    assert (await judge.expect("participant-connection"))["connection"] == "connected"

    await back.send({"type": "leave"})
    left = await judge.expect("participant-left")
    assert left["participant_id"] == jp["participant"]["id"] and left["reason"] == "left"
    await third.expect("participant-left")
    for c in (judge, third):
        await c.send({"type": "leave"})
        await c.wait_closed()
