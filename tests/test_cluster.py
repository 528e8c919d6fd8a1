"""Three `hearing serve` media nodes on one Redis and one PostgreSQL: rooms are placed on nodes (least loaded,
so three new rooms land on three nodes), a join arriving at any node is redirected to the room's owner, and
participants who entered through three different nodes all receive each other's media there (frames decoded);
SIGKILL of a room's owner re-places the room and everyone is back with media on the new owner, no ghost left;
SIGTERM drains a node."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from hearing.roles import ROLE_GRANTS, Role
from signaling.redis_bus import RedisBus
from signaling.tokens import TokenService
from tests.conftest import free_port, until, wait_for_port
from tests.live import Client
from tests.media_client import MediaClient
from tests.test_cli import HEARING, cli_env

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]
SECRET = "cluster-test-secret-" + "c" * 24
TOKENS = TokenService(SECRET)


@contextmanager
def media_nodes(tmp_path: Path, count: int, **env: str) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    """`count` real `hearing serve` media nodes (port, process), each announcing ws://127.0.0.1:PORT."""
    ports = [free_port() for _ in range(count)]
    procs = []
    try:
        for i, port in enumerate(ports):
            node_env = cli_env(tmp_path / f"var{i}", port, HEARING_TOKEN_SECRET=SECRET, REDIS_HEARTBEAT_SECONDS="1",
                               HEARING_NODE_URL=f"ws://127.0.0.1:{port}", **env)
            procs.append(subprocess.Popen([HEARING, "serve"], env=node_env, cwd=tmp_path,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, proc in zip(ports, procs, strict=True):
            wait_for_port(port, timeout=90, proc=proc)
        yield list(zip(ports, procs, strict=True))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> Iterator[list[int]]:
    with media_nodes(tmp_path, 3, DATABASE_URL=pg_url, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix) as started:
        yield [port for port, _ in started]


def token(room: str, role: Role, name: str) -> str:
    tok, _ = TOKENS.issue_join(room_id=room, role=role.value, name=name, grants=ROLE_GRANTS[role], ttl_seconds=600)
    return tok


def port_of(url: str) -> int:
    return int(urlsplit(url).port or 0)


async def test_rooms_spread_over_nodes_and_everyone_gets_media_on_the_owner(nodes: list[int]) -> None:
    # Three new rooms, all entered through the first node: each is placed on the least-loaded node.
    holders = {}
    first_clients = []
    for room in ("r1", "r2", "r3"):
        client, joined, visited = await Client.join_following(f"ws://127.0.0.1:{nodes[0]}/ws/{room}",
                                                              token(room, Role.PRESIDING_JUDGE, "王"))
        assert joined["type"] == "joined", joined
        holders[room] = port_of(visited[-1])
        first_clients.append(client)
    assert sorted(holders.values()) == sorted(nodes), holders

    # One room, three participants entering through three different nodes: all end up on its owner.
    room = "media-room"
    people = [(Role.PRESIDING_JUDGE, "王审判长", True), (Role.PLAINTIFF, "张原告", True),
              (Role.DEFENDANT, "李被告", False)]
    media: list[MediaClient] = []
    owners = set()
    try:
        for (role, name, publishes), port in zip(people, nodes, strict=True):
            client, joined, visited = await Client.join_following(f"ws://127.0.0.1:{port}/ws/{room}",
                                                                  token(room, role, name))
            assert joined["type"] == "joined", joined
            owners.add(port_of(visited[-1]))
            media.append(await MediaClient.attach(client, joined, publish_audio=False, publish_video=publishes))
        assert len(owners) == 1, owners  # one node holds the room's media, whichever node people came in by
        judge, party, listener = media
        await judge.wait_frames(party.participant_id, "video", 5)
        await party.wait_frames(judge.participant_id, "video", 5)
        await listener.wait_frames(judge.participant_id, "video", 5)
        await listener.wait_frames(party.participant_id, "video", 5)
    finally:
        for m in media:
            await m.close()
        for c in first_clients:
            await c.close()


async def test_sigterm_drains_the_node(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    """SIGTERM: /readyz 503, new rooms go to the other node, the live room goes on until the drain ends, and its
    participant is closed with the server's own reason (1001), not uvicorn's 1012."""
    with media_nodes(tmp_path, 2, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix,
                     HEARING_DRAIN_SECONDS="600") as started:
        ports = {port: proc for port, proc in started}
        live, joined, visited = await Client.join_following(f"ws://127.0.0.1:{started[0][0]}/ws/live",
                                                            token("live", Role.PRESIDING_JUDGE, "王"))
        assert joined["type"] == "joined"
        owner = port_of(visited[-1])
        (other,) = set(ports) - {owner}
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{owner}/readyz")).status_code == 200
            ports[owner].send_signal(signal.SIGTERM)

            async def draining() -> bool:
                return (await http.get(f"http://127.0.0.1:{owner}/readyz")).status_code == 503

            await until(draining, what="the draining node's /readyz answering 503")
        # A new room entered through the draining node is placed on the other one.
        fresh, joined_fresh, visited_fresh = await Client.join_following(
            f"ws://127.0.0.1:{owner}/ws/fresh", token("fresh", Role.PRESIDING_JUDGE, "李"))
        assert joined_fresh["type"] == "joined" and port_of(visited_fresh[-1]) == other
        # The live room goes on meanwhile: its participant is still served, and can talk to the node.
        await live.send({"type": "ping", "id": 1})
        assert (await live.expect("pong"))["id"] == 1
        assert ports[owner].poll() is None
        # A second SIGTERM ends the drain: the session is closed by the hub, with its own reason.
        ports[owner].send_signal(signal.SIGTERM)
        code, reason = await live.wait_closed(timeout=60)
        assert (code, reason) == (1001, "server restarting; reconnecting")
        ports[owner].wait(60)
        await fresh.close()


async def _rejoin(entry: str, resume_token: str, what: str) -> tuple[Client, dict[str, Any], list[str]]:
    """Resume as the web client does after its node died: start again at the entry URL and follow the redirect.
    Until the dead owner's lease expires the redirect names the dead node (refused); then the room is re-placed."""
    found: list[tuple[Client, dict[str, Any], list[str]]] = []

    async def attempt() -> bool:
        try:
            client, joined, visited = await Client.join_following(entry, resume_token=resume_token)
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            return False
        if joined["type"] != "joined":
            await client.close()
            raise AssertionError(f"{what}: resume refused: {joined}")
        found.append((client, joined, visited))
        return True

    await until(attempt, timeout=90, what=what)
    return found[0]


def _view(client: Client, joined: dict[str, Any]) -> set[str]:
    """Who this client sees in the room: its `joined` list, then participant-joined / -left since."""
    seen = {p["id"] for p in joined["participants"]}
    after = client.seen[client.seen.index(joined) + 1:]
    for msg in after:
        if msg["type"] == "participant-joined":
            seen.add(msg["participant"]["id"])
        elif msg["type"] == "participant-left":
            seen.discard(msg["participant_id"])
    return seen


async def test_a_killed_owners_room_is_re_placed_and_everyone_is_back_with_media(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    """SIGKILL of the node holding a room's media: the room is re-placed on a live node once the dead node's lease
    expires (3 heartbeats), the participants' clients resume through the entry they came in by (a proxy would
    send the one who came in by the dead node to a live one) and are sent to the new owner, same participant, no
    re-admission, and decode each other's video there again. A participant who never comes back is announced as
    left (no ghost); the room's presence holds exactly the three who are back, all on the new owner."""
    with media_nodes(tmp_path, 3, DATABASE_URL=pg_url, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix) as started:
        ports = [port for port, _ in started]
        procs = dict(started)
        room = "kill-room"
        people = [(Role.PRESIDING_JUDGE, "王审判长", True), (Role.PLAINTIFF, "张原告", True),
                  (Role.DEFENDANT, "李被告", False)]
        media: list[MediaClient] = []
        entries: list[int] = []
        owner = 0
        for (role, name, publishes), port in zip(people, ports, strict=True):
            client, joined, visited = await Client.join_following(f"ws://127.0.0.1:{port}/ws/{room}",
                                                                  token(room, role, name))
            assert joined["type"] == "joined", joined
            owner = port_of(visited[-1])
            entries.append(port)
            media.append(await MediaClient.attach(client, joined, publish_audio=False, publish_video=publishes))
        ghost, ghost_joined, _ = await Client.join_following(f"ws://127.0.0.1:{ports[1]}/ws/{room}",
                                                             token(room, Role.WITNESS, "赵证人"))
        assert ghost_joined["type"] == "joined"
        ghost_id = ghost_joined["participant"]["id"]
        judge, party, listener = media
        try:
            await listener.wait_frames(judge.participant_id, "video", 5)
            await listener.wait_frames(party.participant_id, "video", 5)
        except TimeoutError:  # say what the listener had, to tell a missing track from a stalled one
            pytest.fail(f"before the kill, the listener had no video of both publishers: tracks "
                        f"{ {k: (r.publisher_id, r.kind, r.frames) for k, r in listener.received.items()} }, "
                        f"errors {listener.errors}, pc {listener.pc.connectionState}")
        ids = [m.participant_id for m in media]

        procs[owner].send_signal(signal.SIGKILL)
        procs[owner].wait(30)
        killed_at = time.monotonic()
        for m in (*media, ghost):
            client = m.ws if isinstance(m, MediaClient) else m
            await client.wait_closed(timeout=30)
        for m in media:
            await m.close(leave=False)
        live = [p for p in ports if p != owner]
        back: list[MediaClient] = []
        owners = set()
        for (_, name, publishes), entry, old in zip(people, entries, media, strict=True):
            via = entry if entry != owner else live[0]
            client, joined, visited = await _rejoin(f"ws://127.0.0.1:{via}/ws/{room}", old.joined["resume_token"],
                                                    f"{name} resuming on a live node")
            assert joined["participant"]["id"] == old.participant_id  # the same place, not a new admission
            assert joined["participant"]["place"] == "room"
            owners.add(port_of(visited[-1]))
            back.append(await MediaClient.attach(client, joined, publish_audio=False, publish_video=publishes))
        replaced_in = time.monotonic() - killed_at
        assert len(owners) == 1 and owners <= set(live), (owner, owners)
        judge, party, listener = back
        await judge.wait_frames(party.participant_id, "video", 5)
        await party.wait_frames(judge.participant_id, "video", 5)
        await listener.wait_frames(judge.participant_id, "video", 5)
        await listener.wait_frames(party.participant_id, "video", 5)
        print(f"\nowner killed -> all three resumed on the new owner in {replaced_in:.2f} s, "
              f"decoding video again after {time.monotonic() - killed_at:.2f} s")

        # No ghost: the witness, who never came back, is gone from everyone's view and from the room's presence.
        for m in back:
            await until(lambda m=m: _view(m.ws, m.joined) == set(ids) - {m.participant_id},
                        what="the view of the room without the witness who never came back")
        bus = RedisBus(redis_url, prefix=redis_prefix, heartbeat_seconds=1)
        await bus.start()
        try:
            members = await bus.members(room)
        finally:
            await bus.close()
        assert sorted(members) == sorted(ids), members
        assert ghost_id not in members
        assert len({m["node"] for m in members.values()}) == 1  # all held by the new owner's instance
        for m in back:
            await m.close()
