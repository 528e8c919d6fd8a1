"""Recordings as evidence survive what a server and its object store do to them (issue 6).

- SIGKILL mid-recording: every segment the manifest had closed before the kill is in the store with its hash, the
  chain continues after the restart without a fork, the spool ends empty; only the segments open at the kill
  (one per track at most) are lost.  Run against the local directory and against S3 (moto on 127.0.0.1).
- An object-store outage (a TCP proxy between the app and moto, cut for several segment durations) delays the
  uploads and loses nothing: the spool grows, drains once the endpoint is back, the manifest verifies and the
  recorded time adds up to the time in session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from docket.court_sql import SqlCourtRecords
from docket.sql import SqlRecords
from hearing.roles import Role
from recordings.local_store import LocalObjectStore
from recordings.manifest import ManifestEntry, from_json, load, manifest_prefix, verify_store
from recordings.objectstore import ObjectStore
from recordings.s3_store import S3ObjectStore
from signaling.tokens import TokenService
from tests.conftest import S3Server, free_port, until, wait_for_port
from tests.court import Seated, seat_hearing
from tests.live import Client, live_server
from tests.media_client import MediaClient
from tests.test_cli import HEARING, cli_env
from tests.test_recording_live import account_for

pytestmark = pytest.mark.timeout(300)

SECRET = "durability-test-secret-" + "d" * 24
SEGMENT_SECONDS = 1.0



# ---- a `hearing serve` subprocess ------------------------------------------------------------------------------


class Served:
    """`hearing serve` on a var dir; enough of a LiveServer for MediaClient.join (`client()`)."""

    def __init__(self, var: Path, extra: dict[str, str]) -> None:
        self.var = var
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        env = cli_env(self.var, self.port, HEARING_TOKEN_SECRET=SECRET, ICE_HOST_ADDRESSES="127.0.0.1",
                      RECORDING_SEGMENT_SECONDS=str(SEGMENT_SECONDS), LOG_LEVEL="WARNING", **self.extra)
        log = open(self.var.parent / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen([HEARING, "serve"], env=env, cwd=self.var.parent, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, timeout=60, proc=self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    async def client(self, room: str, token: str | None = None, **kw: Any) -> Client:
        return await Client.connect(f"ws://127.0.0.1:{self.port}/ws/{room}", token, **kw)


class Register:
    """The register of a subprocess's database, for `seat_hearing` (it wants `.services.court/.records/.tokens`)."""

    def __init__(self, url: str) -> None:
        self.court = SqlCourtRecords(url, id_hash_iterations=1000)
        self.records = SqlRecords(url)
        self.tokens = TokenService(SECRET)
        self.services = self

    async def close(self) -> None:
        await self.court.close()
        await self.records.close()


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def s3_env(store_kind: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if store_kind == "local":
        return {}
    s3: S3Server = request.getfixturevalue("s3_server")  # started only when an S3 case runs
    bucket = request.getfixturevalue("s3_bucket")
    return {"S3_ENDPOINT": s3.endpoint, "S3_ACCESS_KEY": s3.access_key, "S3_SECRET_KEY": s3.secret_key,
            "S3_BUCKET": bucket}


@pytest.fixture
async def store(tmp_path: Path, s3_env: dict[str, str]) -> AsyncIterator[ObjectStore]:
    """The test's own view of the store the server writes to."""
    s: ObjectStore
    if s3_env:
        s = S3ObjectStore(s3_env["S3_ENDPOINT"], s3_env["S3_ACCESS_KEY"], s3_env["S3_SECRET_KEY"],
                          s3_env["S3_BUCKET"])
    else:
        s = LocalObjectStore((tmp_path / "var" / "objects").resolve(), url_base="http://127.0.0.1",
                             signing_key=b"test")
    yield s
    await s.close()


@pytest.fixture
def served(tmp_path: Path, s3_env: dict[str, str]) -> Iterator[Served]:
    var = tmp_path / "var"
    var.mkdir()
    s = Served(var, s3_env)
    s.start()
    try:
        yield s
    finally:
        s.stop()


# ---- helpers -----------------------------------------------------------------------------------------------


async def seat_and_record(where: Any, seat_server: Any) -> tuple[Seated, MediaClient, MediaClient]:
    """A trial with a judge and an admitted plaintiff, both publishing audio+video, in session (so recording)."""
    seated = await seat_hearing(seat_server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF})
    judge = await MediaClient.join(where, seated.room, seated["judge"].token)
    ws = await where.client(seated.room, seated["plaintiff"].token)
    joined = await ws.expect("joined")
    await judge.ws.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                         "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    party = await MediaClient.attach(ws, joined)
    await party.wait_frames(seated["judge"].participant_id, "video", 5)
    await judge.wait_frames(seated["plaintiff"].participant_id, "video", 5)
    await judge.ws.send({"type": "procedure", "transition": "start_session"})
    await until(lambda: any(m.get("type") == "room-state" and m.get("state") == "in_session" for m in judge.ws.seen),
                what="the session to open")
    return seated, judge, party


def video_segments_of(entries: list[ManifestEntry], participant_id: str) -> list[ManifestEntry]:
    return [e for e in entries if e.type == "segment" and e.data["track_id"].startswith(f"{participant_id}.video.")]


def spooled_entries(spool_dir: Path, hearing_id: str) -> list[ManifestEntry]:
    """Manifest entries committed to the spool (sidecar written) but not uploaded yet."""
    out = []
    for meta in sorted(spool_dir.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(meta.read_bytes())["key"].startswith(manifest_prefix(hearing_id)):
                out.append(from_json((spool_dir / f"{meta.stem}.data").read_bytes()))
    return out


def spool_items(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.glob("*.json")) if spool_dir.exists() else []


# ---- 1. SIGKILL mid-recording, restart, the chain continues ------------------------------------------------------


async def test_sigkill_mid_recording_loses_at_most_the_open_segments(
        served: Served, store: ObjectStore, tmp_path: Path) -> None:
    register = Register(f"sqlite+aiosqlite:///{(served.var / 'hearing.db').resolve()}")
    clients: list[MediaClient] = []
    try:
        seated, judge, party = await seat_and_record(served, register)
        clients += [judge, party]
        hid = seated.hearing.id
        people = (seated["judge"].participant_id, seated["plaintiff"].participant_id)

        async def three_video_segments_each() -> bool:
            entries = await load(store, hid)
            return all(len(video_segments_of(entries, who)) >= 3 for who in people)

        await until(three_video_segments_each, what="3 uploaded video segments per publisher")

        served.kill()  # mid-recording: segments open on every track, perhaps an upload in flight
        spool_dir = served.var / "recordings" / "spool"
        before = {e.seq: e for e in await load(store, hid)}
        before.update({e.seq: e for e in spooled_entries(spool_dir, hid)})  # durable, uploaded at the next start
        assert before and sorted(before) == list(range(1, max(before) + 1)), sorted(before)
        closed = [e for e in before.values() if e.type == "segment"]
        work_segments = served.var / "recordings" / "work" / "segments"
        open_parts = list(work_segments.glob("*.part"))
        assert len(open_parts) <= 4, open_parts  # one open segment per track (2 publishers x audio+video) at most
        # closed by the writer but killed before the spool took it (a rare, narrow window): never chained
        unspooled = sorted(p.name for p in work_segments.iterdir() if p.is_file() and not p.name.endswith(".part"))
        for c in clients:
            await c.close(leave=False)
        clients.clear()

        served.start()  # same var dir: the spool is recovered, the chain head read back
        # ...and the work dir cleaned before anything records: partial files removed, unchained segments quarantined
        assert not list(work_segments.iterdir())
        quarantine = served.var / "recordings" / "quarantine"
        kept = sorted(p.name for p in quarantine.glob("*.webm")) if quarantine.exists() else []
        assert [k.split("-", 1)[1] for k in kept] == unspooled, (kept, unspooled)
        judge = await MediaClient.join(served, seated.room, seated["judge"].token)
        clients.append(judge)
        last_before = max(before)

        async def recording_again() -> bool:
            entries = await load(store, hid)
            return any(e.seq > last_before for e in video_segments_of(entries, people[0]))

        await until(recording_again, what="a segment recorded after the restart")  # the first one back resumes it
        await judge.ws.send({"type": "procedure", "transition": "close"})

        async def stopped_and_drained() -> bool:
            entries = await load(store, hid)
            return bool(entries) and entries[-1].type == "stop" and not spool_items(spool_dir)

        await until(stopped_and_drained, what="the stop entry uploaded and the spool empty")
        for c in clients:
            await c.close()
        clients.clear()
        served.stop()

        entries, broken = await verify_store(store, hid)
        assert broken is None, broken
        seqs = [e.seq for e in entries]
        assert seqs == list(range(1, len(entries) + 1))  # strictly increasing, no gap, one entry per seq: no fork
        by_seq = {e.seq: e for e in entries}
        for seq, e in before.items():  # what was chained before the kill is unchanged (same hash: same chain)
            assert by_seq[seq].hash == e.hash, seq
        for e in closed:  # every closed segment is present, byte for byte
            data = await store.get(e.data["key"])
            assert hashlib.sha256(data).hexdigest() == e.data["sha256"] and len(data) == e.data["size"], e.data
        chained = {e.data["sha256"] for e in entries if e.type == "segment"}
        assert not {hashlib.sha256(p.read_bytes()).hexdigest() for p in quarantine.glob("*.webm")} & chained
        starts = [e for e in entries if e.type == "start"]
        assert len(starts) == 2 and starts[1].seq > last_before and starts[1].data["actor_id"] == "system"
        assert entries[-1].type == "stop"
        keys = [e.data["key"] for e in entries if e.type == "segment"]
        assert len(keys) == len(set(keys)), "a segment key was reused: a later segment overwrote an earlier one"
        for who in people:  # per track, the closed segments before the kill are consecutive: nothing closed lost
            idx = sorted((e.data["track_id"], e.data["index"]) for e in closed
                         if e.data["track_id"].startswith(f"{who}.video."))
            assert [i for _, i in idx] == list(range(len(idx))), idx
        assert not spool_items(spool_dir)
    finally:
        for c in clients:
            await c.close(leave=False)
        await register.close()


# ---- 2. an object-store outage -------------------------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of the S3 endpoint; `cut()` stops it as a stopped endpoint stops.

    Stopping moto itself would lose its in-memory bucket (and with it what was uploaded before the outage), so the
    endpoint is stopped at its address instead: `cut()` drops every open connection and closes the listening
    socket (new connections are refused, ECONNREFUSED, as from a stopped server) until `restore()` listens again
    on the same port.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.up = True

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def cut(self) -> None:
        self.up = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while self.up and (chunk := await src.read(65536)):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort() if not self.up else dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_an_object_store_outage_delays_uploads_and_loses_nothing(
        tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    proxy = CuttableProxy(s3_server.port)
    await proxy.start()
    direct = S3ObjectStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    clients: list[MediaClient] = []
    try:
        async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1", s3_endpoint=proxy.endpoint,
                              s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
                              s3_bucket=s3_bucket, recording_segment_seconds=SEGMENT_SECONDS) as server:
            recorder = server.services.recorder
            assert recorder is not None
            spool = recorder.spool
            seated, judge, party = await seat_and_record(server, server)
            clients += [judge, party]
            hid = seated.hearing.id
            people = (seated["judge"].participant_id, seated["plaintiff"].participant_id)

            async def uploaded_video_segments(n: int) -> bool:
                entries = await load(direct, hid)
                return all(len(video_segments_of(entries, who)) >= n for who in people)

            await until(lambda: uploaded_video_segments(2), what="2 uploaded video segments per publisher")
            failures_before = spool.failures
            await proxy.cut()
            outage = 5 * SEGMENT_SECONDS
            await until(lambda: spool.failures > failures_before, what="an upload failing during the outage")
            # the spool grows while the endpoint is unreachable: at least a segment per track per second
            await until(lambda: spool.pending >= 8, timeout=60, what="segments piling up in the spool")
            await asyncio.sleep(outage)  # the outage lasts several segment durations (a duration, not a wait)
            grown = spool.pending
            assert grown >= 8 and len(spool_items(spool.directory)) >= grown - 1  # durable on disk, not in memory
            await proxy.restore()
            await until(lambda: spool.pending < 4, timeout=90, what="the spool draining after the outage")

            await judge.ws.send({"type": "procedure", "transition": "close"})
            await until(lambda: seated.room not in recorder.sessions, what="the recording stopped")
            await asyncio.wait_for(spool.drain(), 90)
            assert spool.pending == 0 and not spool_items(spool.directory)
            for c in clients:
                await c.close()
            clients.clear()

        entries, broken = await verify_store(direct, hid)
        assert broken is None, broken
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert entries[0].type == "start" and entries[-1].type == "stop"
        in_session_us = entries[-1].data["at_us"]
        segment_us = int(SEGMENT_SECONDS * 1_000_000)
        for who in people:  # nothing recorded during the outage is missing: the recorded time adds up
            segs = video_segments_of(entries, who)
            assert [e.data["index"] for e in segs] == list(range(len(segs)))
            # one contiguous run from the first keyframe to the stop; within one segment of the time in session,
            # the difference being the wait for that keyframe and the last frame's distance from the stop
            recorded_us, waits, tails = account_for(entries, segs[0].data["track_id"])
            print(f"{who} video: in session {in_session_us / 1e6:.3f} s, recorded {recorded_us / 1e6:.3f} s, "
                  f"keyframe wait {waits[0] // 1000} ms, tail {tails[0] // 1000} ms")
            assert recorded_us + sum(waits) + sum(tails) == in_session_us
            assert abs(recorded_us - in_session_us) <= segment_us, (who, recorded_us, in_session_us, waits, tails)
            # bounded by a segment, as in test_recording_live (a starved publisher's media time can trail the clock)
            assert all(abs(w) <= segment_us for w in waits) and all(abs(t) <= segment_us for t in tails)
            assert recorded_us >= outage * 1_000_000
    finally:
        for c in clients:
            await c.close(leave=False)
        await proxy.close()
        await direct.close()


# ---- 3. object lock: recordings under retention --------------------------------------------------------------


async def test_recordings_are_put_under_object_lock_retention(s3_server: S3Server, s3_bucket: str) -> None:
    from datetime import UTC, datetime, timedelta

    from minio.commonconfig import GOVERNANCE

    store = S3ObjectStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket,
                          object_lock_days=30)
    try:
        await store.ping()  # creates the bucket with object locking enabled
        client = store._client
        assert (await asyncio.to_thread(client.get_object_lock_config, s3_bucket)) is not None
        key = "recordings/h1/tracks/t1/00000001-000000.webm"
        info = await store.put(key, b"segment bytes", "video/webm")
        assert info.size == len(b"segment bytes") and await store.get(key) == b"segment bytes"
        # moto answers HEAD with the lock headers (it has no GetObjectRetention); MinIO/S3 answer both
        head = (await asyncio.to_thread(client.stat_object, s3_bucket, key)).metadata
        assert head.get("x-amz-object-lock-mode") == GOVERNANCE
        until = datetime.fromisoformat(head["x-amz-object-lock-retain-until-date"].replace("Z", "+00:00"))
        assert abs(until - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
        # the locked version cannot be deleted without a governance bypass
        versions = await asyncio.to_thread(lambda: list(client.list_objects(s3_bucket, prefix=key,
                                                                          include_version=True)))
        assert versions and versions[0].version_id
        with pytest.raises(Exception, match=r"(?i)AccessDenied|retention|locked"):
            await asyncio.to_thread(client.remove_object, s3_bucket, key, version_id=versions[0].version_id)
        # objects that are not recordings (exhibits) are not put under retention
        await store.put("exhibits/e1/file.pdf", b"pdf", "application/pdf")
        head = (await asyncio.to_thread(client.stat_object, s3_bucket, "exhibits/e1/file.pdf")).metadata
        assert "x-amz-object-lock-mode" not in head
        # the spool's re-put of the same recording (after a crash) still succeeds: a new locked version
        assert (await store.put(key, b"segment bytes", "video/webm")).size == len(b"segment bytes")
    finally:
        await store.close()
