"""A room's recording runs on the node that holds its media, and goes on sensibly when that node dies: two real
`hearing serve` nodes on one Redis, one PostgreSQL database of the test's own and one object store. The owner
records (its chain head, its spool); after its SIGKILL the room is re-placed, the participants resume on the other
node, and the first one back starts a new recording run there that continues the manifest from the store: what
the dead owner had uploaded stays in the store byte for byte, the chain verifies with no gap or fork, and the
second run starts with a `start` entry by "system"."""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from docket.court_sql import SqlCourtRecords
from docket.sql import SqlRecords
from hearing.roles import Role
from recordings.local_store import LocalObjectStore
from recordings.manifest import load, verify_store
from tests.conftest import free_port, until, wait_for_port
from tests.court import seat_hearing
from tests.live import Client
from tests.media_client import MediaClient
from tests.test_cli import HEARING, cli_env
from tests.test_cluster import SECRET, _rejoin, media_nodes, port_of
from tests.test_recording_durability import video_segments_of

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]


@contextmanager
def _serving(env: dict[str, str], cwd: Path, port: int) -> Iterator[None]:
    proc = subprocess.Popen([HEARING, "serve"], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, timeout=90, proc=proc)
        yield
    finally:
        proc.terminate()
        proc.wait(60)


def _heads(var: Path) -> list[str]:
    """Hearings whose manifest chain head this node keeps, i.e. that it has recorded."""
    heads = var / "recordings" / "work" / "heads"
    return sorted(p.stem for p in heads.glob("*.json")) if heads.exists() else []


async def test_the_owner_records_and_the_new_owner_continues_the_chain_after_a_kill(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    objects = (tmp_path / "objects").resolve()
    store = LocalObjectStore(objects, url_base="http://127.0.0.1", signing_key=b"test")
    court = SqlCourtRecords(pg_url, id_hash_iterations=1000)
    records = SqlRecords(pg_url)
    clients: list[MediaClient] = []
    from signaling.tokens import TokenService

    where = SimpleNamespace(services=SimpleNamespace(court=court, records=records, tokens=TokenService(SECRET)))
    try:
        with media_nodes(tmp_path, 2, DATABASE_URL=pg_url, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix,
                         HEARING_OBJECTS_DIR=str(objects), RECORDING_SEGMENT_SECONDS="1",
                         ICE_HOST_ADDRESSES="127.0.0.1") as started:
            ports = [port for port, _ in started]
            procs = dict(started)
            var_of = {port: tmp_path / f"var{i}" for i, port in enumerate(ports)}
            seated = await seat_hearing(where, "trial", {"judge": Role.PRESIDING_JUDGE,
                                                         "plaintiff": Role.PLAINTIFF})
            hid, room = seated.hearing.id, seated.room
            judge_id, party_id = seated["judge"].participant_id, seated["plaintiff"].participant_id
            # The judge comes in by the first node, the plaintiff by the second: both end up on the owner.
            jws, jjoined, jvisited = await Client.join_following(f"ws://127.0.0.1:{ports[0]}/ws/{room}",
                                                                 seated["judge"].token)
            judge = await MediaClient.attach(jws, jjoined)
            clients.append(judge)
            pws, pjoined, pvisited = await Client.join_following(f"ws://127.0.0.1:{ports[1]}/ws/{room}",
                                                                 seated["plaintiff"].token)
            owner = port_of(jvisited[-1])
            assert port_of(pvisited[-1]) == owner
            await judge.ws.send({"type": "admit", "participant_id": party_id, "verification": "id_card_on_video"})
            await pws.expect("placed", place="room")
            party = await MediaClient.attach(pws, pjoined)
            clients.append(party)
            await judge.wait_frames(party_id, "video", 5)
            await judge.ws.send({"type": "procedure", "transition": "start_session"})

            async def two_segments_each() -> bool:
                entries = await load(store, hid)
                return all(len(video_segments_of(entries, who)) >= 2 for who in (judge_id, party_id))

            await until(two_segments_each, what="2 uploaded video segments per publisher")
            (other,) = set(ports) - {owner}
            assert _heads(var_of[owner]) == [hid] and _heads(var_of[other]) == []  # recorded where the media is

            procs[owner].send_signal(signal.SIGKILL)
            procs[owner].wait(30)
            before = {e.seq: e for e in await load(store, hid)}  # what the dead owner had uploaded
            last_before = max(before)
            for c in clients:
                await c.close(leave=False)
            clients.clear()
            back = []
            for old in (judge, party):
                ws, joined, visited = await _rejoin(f"ws://127.0.0.1:{other}/ws/{room}", old.joined["resume_token"],
                                                    "resuming on the live node")
                assert port_of(visited[-1]) == other and joined["participant"]["place"] == "room"
                back.append(await MediaClient.attach(ws, joined))
            clients += back
            judge, party = back

            async def recording_on_the_new_owner() -> bool:
                entries = await load(store, hid)
                return all(any(e.seq > last_before for e in video_segments_of(entries, who))
                           for who in (judge_id, party_id))

            await until(recording_on_the_new_owner, what="segments of both publishers recorded on the new owner")
            assert _heads(var_of[other]) == [hid]
            await judge.ws.send({"type": "procedure", "transition": "close"})

            async def stopped() -> bool:
                entries = await load(store, hid)
                return bool(entries) and entries[-1].type == "stop"

            await until(stopped, what="the stop entry uploaded by the new owner")
            chained = [e.hash for e in await load(store, hid)]

        # The dead node comes back on its own volume (a StatefulSet pod restarted): whatever its spool still held
        # for the moved hearing is kept aside (spool.check = manifest.ChainGuard), never uploaded over the chain.
        port = free_port()
        env = cli_env(var_of[owner], port, HEARING_TOKEN_SECRET=SECRET, REDIS_HEARTBEAT_SECONDS="1",
                      HEARING_NODE_URL=f"ws://127.0.0.1:{port}", DATABASE_URL=pg_url, REDIS_URL=redis_url,
                      REDIS_PREFIX=redis_prefix, HEARING_OBJECTS_DIR=str(objects), ICE_HOST_ADDRESSES="127.0.0.1")
        with _serving(env, tmp_path, port):
            spool = var_of[owner] / "recordings" / "spool"
            await until(lambda: not list(spool.glob("*.json")), what="the revived node's spool drained")
        assert [e.hash for e in await load(store, hid)] == chained

        entries, broken = await verify_store(store, hid)
        assert broken is None, broken
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))  # no gap, no fork
        by_seq = {e.seq: e for e in entries}
        for seq, e in before.items():  # the dead owner's part is unchanged and its segments are intact
            assert by_seq[seq].hash == e.hash, seq
            if e.type == "segment":
                data = await store.get(e.data["key"])
                assert hashlib.sha256(data).hexdigest() == e.data["sha256"], e.data
        starts = [e for e in entries if e.type == "start"]
        assert len(starts) == 2 and starts[1].seq > last_before and starts[1].data["actor_id"] == "system"
        keys = [e.data["key"] for e in entries if e.type == "segment"]
        assert len(keys) == len(set(keys))  # the new run's segments never overwrite the dead owner's
    finally:
        for c in clients:
            await c.close()
        await store.close()
        await court.close()
        await records.close()
