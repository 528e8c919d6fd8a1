"""The clip upload protocol over real HTTP: uvicorn on 127.0.0.1, raw sockets cut mid-chunk several times, and
bodies refused before they are read. On the local store and a real S3 endpoint (moto)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from docket.migrate import upgrade
from docket.sql import make_engine
from recordings.clips import ClipActor, ClipPolicy, ClipRefused, ClipService
from recordings.clips_api import ClipsContext, clips_router
from recordings.local_store import LocalObjectStore
from recordings.objectstore import ObjectStore
from recordings.s3_store import S3ObjectStore
from tests.clip_files import make_clip
from tests.conftest import free_port, until
from tests.live import live_server

TOKENS = {"citizen-token": ClipActor("petition:p1", "person-1", "citizen"),
          "other-token": ClipActor("petition:p2", "person-2", "citizen")}


async def authorize(request: Request) -> ClipActor:
    """The test purpose's authorizer: a bearer token naming the owner (petitions use their citizen links)."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    actor = TOKENS.get(token)
    if actor is None:
        raise ClipRefused(401, "not_authenticated", "send the petition link's token")
    return actor


@dataclass
class Server:
    base: str
    port: int
    service: ClipService
    store: ObjectStore


@pytest.fixture(params=["local", "s3"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Server]:
    store: ObjectStore
    if request.param == "local":
        store = LocalObjectStore(tmp_path / "objects", url_base="http://127.0.0.1", signing_key=b"k")
    else:
        s3 = request.getfixturevalue("s3_server")
        store = S3ObjectStore(s3.endpoint, s3.access_key, s3.secret_key, request.getfixturevalue("s3_bucket"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'court.db'}"
    await upgrade(url)
    engine = make_engine(url)
    service = ClipService(engine, url, store, ClipPolicy(max_chunk_bytes=1 << 20, chunk_idle_seconds=2.0))
    app = FastAPI()
    app.include_router(clips_router(ClipsContext(service, {"petition": authorize})))
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                       lifespan="off"))
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        if task.done():
            await task
        await asyncio.wait({task}, timeout=0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", port, service, store)
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 30)
        await engine.dispose()
        await store.close()


AUTH = {"Authorization": "Bearer citizen-token"}


async def raw_request(port: int, head: str, body: bytes = b"", *, cut_after: int | None = None,
                      read: bool = True) -> tuple[int, dict[str, str], bytes]:
    """Send a request by hand. `cut_after`: reset the connection after that many body bytes (a dropped link)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n")
        if cut_after is not None:
            writer.write(body[:cut_after])
            await writer.drain()
            writer.transport.abort()  # RST, no FIN: the server sees the body end early
            return 0, {}, b""
        writer.write(body)
        await writer.drain()
        if not read:
            return 0, {}, b""
        raw = await asyncio.wait_for(reader.read(65536), 30)
        status_line, _, rest = raw.partition(b"\r\n")
        header_block, _, payload = rest.partition(b"\r\n\r\n")
        headers = {}
        for line in header_block.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers, payload
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def patch_head(port: int, upload_id: str, offset: int, length: int, auth: str = "citizen-token") -> str:
    return (f"PATCH /api/clips/petition/uploads/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {auth}\r\nUpload-Offset: {offset}\r\nContent-Length: {length}\r\n"
            "Content-Type: application/offset+octet-stream\r\nConnection: close\r\n")


async def test_an_upload_cut_mid_chunk_several_times_ends_as_exactly_one_clip(server: Server) -> None:
    data = make_clip(seconds=4, width=320, height=240, bitrate=2_000_000, seed=5)
    digest = hashlib.sha256(data).hexdigest()
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        created = await http.post("/api/clips/petition/uploads", headers=AUTH,
                                  json={"size": len(data), "content_type": "video/webm", "sha256": digest})
        assert created.status_code == 201, created.text
        upload_id = created.json()["id"]
        assert created.headers["upload-offset"] == "0"
        chunk = 256 * 1024
        rng = random.Random(11)
        cuts, conflicts, offset = 0, 0, 0
        while offset < len(data):
            n = min(chunk, len(data) - offset)
            body = data[offset:offset + n]
            if cuts < 6:
                # Drop the connection somewhere inside the chunk (within its first 50 000 bytes, so six cuts fit
                # before the end even when the server keeps what arrived), then ask the server where to resume.
                await raw_request(server.port, patch_head(server.port, upload_id, offset, n), body,
                                  cut_after=rng.randint(1, min(n - 1, 50_000)))
                cuts += 1
                head = await http.head(f"/api/clips/petition/uploads/{upload_id}", headers=AUTH)
                assert head.status_code == 200
                offset = int(head.headers["upload-offset"])
                continue
            status, headers, payload = await raw_request(server.port, patch_head(server.port, upload_id, offset, n),
                                                         body)
            if status == 409:  # the cut request's bytes were committed after the HEAD answered
                answer = json.loads(payload)
                assert answer["error"] == "clip_offset_mismatch"
                offset = int(answer["offset"])
                conflicts += 1
                continue
            assert status == 200, payload
            offset = int(headers["upload-offset"])
        assert cuts == 6
        done = await http.post(f"/api/clips/petition/uploads/{upload_id}/complete", headers=AUTH)
        assert done.status_code == 201, done.text
        clip = done.json()["clip"]
        assert clip["sha256"] == digest and clip["size"] == len(data) and clip["video_codec"] == "vp8"
        again = await http.post(f"/api/clips/petition/uploads/{upload_id}/complete", headers=AUTH)
        assert again.json()["clip"]["id"] == clip["id"]
        fetched = await http.get(f"/api/clips/petition/clips/{clip['id']}", headers=AUTH)
        assert fetched.status_code == 200 and fetched.json()["clip"]["id"] == clip["id"]
    clips = await server.service.clips_of("petition:p1")
    assert [c.id for c in clips] == [clip["id"]]
    assert await server.store.get(clips[0].object_key) == data
    assert await server.store.list("clip-uploads/") == []


async def test_a_link_that_dies_without_a_reset_keeps_every_byte_that_arrived(server: Server) -> None:
    """The request hangs (no FIN, no RST): after the idle limit its bytes are committed, and a HEAD says so."""
    data = make_clip(seed=4)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        created = await http.post("/api/clips/petition/uploads", headers=AUTH, json={
            "size": len(data), "content_type": "video/webm", "sha256": hashlib.sha256(data).hexdigest()})
        upload_id = created.json()["id"]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(patch_head(server.port, upload_id, 0, 60_000).encode() + b"\r\n" + data[:12_345])
            await writer.drain()  # ... and then nothing more: the link is dead, the socket stays open

            async def committed() -> bool:
                return (await server.service.upload(upload_id)).committed == 12_345

            await until(committed, what="the stalled chunk's bytes committed")
            head = await http.head(f"/api/clips/petition/uploads/{upload_id}", headers=AUTH)
            assert head.headers["upload-offset"] == "12345"
            rest = await http.patch(f"/api/clips/petition/uploads/{upload_id}", content=data[12_345:],
                                    headers={**AUTH, "Upload-Offset": "12345"})
            assert rest.status_code == 200
            done = await http.post(f"/api/clips/petition/uploads/{upload_id}/complete", headers=AUTH)
            assert done.status_code == 201 and done.json()["clip"]["sha256"] == hashlib.sha256(data).hexdigest()
        finally:
            writer.transport.abort()
            del reader


async def test_bodies_are_refused_before_they_are_read(server: Server) -> None:
    data = make_clip(seed=2)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        assert (await http.post("/api/clips/petition/uploads", json={"size": 1, "content_type": "video/webm",
                                                                     "sha256": "0" * 64})).status_code == 401
        created = await http.post("/api/clips/petition/uploads", headers=AUTH, json={
            "size": len(data), "content_type": "video/webm", "sha256": hashlib.sha256(data).hexdigest()})
        upload_id = created.json()["id"]
    big = 50_000_000
    # No credentials, a huge declared body, none of it sent: answered at once, without waiting for the body.
    for head, status, code in [
        (patch_head(server.port, upload_id, 0, big, auth="nobody"), 401, "not_authenticated"),
        (patch_head(server.port, upload_id, 0, big, auth="other-token"), 404, "clip_upload_not_found"),
        (patch_head(server.port, upload_id, 0, big), 413, "clip_chunk_too_large"),
        (patch_head(server.port, upload_id, 7, 10), 409, "clip_offset_mismatch"),
        (patch_head(server.port, upload_id, 0, len(data) + 1).replace("Content-Length", "X-Length"), 411,
         "clip_length_required"),
    ]:
        got, _, payload = await raw_request(server.port, head)
        assert got == status, payload
        assert json.loads(payload)["error"] == code
    assert (await server.service.upload(upload_id)).committed == 0


async def test_the_app_serves_clip_uploads_for_registered_purposes(tmp_path: Path) -> None:
    async with live_server(tmp_path) as live:
        assert live.app is not None
        live.app.state.clip_authorizers["petition"] = authorize
        async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
            unknown = await http.post("/api/clips/nothing/uploads", headers=AUTH,
                                      json={"size": 1, "content_type": "video/webm", "sha256": "0" * 64})
            assert unknown.status_code == 404 and unknown.json()["error"] == "clip_purpose_unknown"
            invalid = await http.post("/api/clips/petition/uploads", headers=AUTH, json={"size": "many"})
            assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_request"
            refused = await http.post("/api/clips/petition/uploads", headers=AUTH,
                                      json={"size": 10, "content_type": "video/avi", "sha256": "0" * 64})
            assert refused.status_code == 415 and refused.json()["error"] == "clip_type_refused"
            data = make_clip(seed=3)
            created = await http.post("/api/clips/petition/uploads", headers=AUTH, json={
                "size": len(data), "content_type": "video/webm", "sha256": hashlib.sha256(data).hexdigest()})
            upload_id = created.json()["id"]
            sent = await http.patch(f"/api/clips/petition/uploads/{upload_id}", content=data,
                                    headers={**AUTH, "Upload-Offset": "0"})
            assert sent.status_code == 200 and sent.headers["upload-offset"] == str(len(data))
            done = await http.post(f"/api/clips/petition/uploads/{upload_id}/complete", headers=AUTH)
            assert done.status_code == 201
            url = (await http.get(f"/api/clips/petition/clips/{done.json()['clip']['id']}", headers=AUTH)).json()["url"]
            played = await http.get(url)
            assert played.status_code == 200 and played.content == data
        # The app's scheduler runs the recurring sweep of expired uploads and books the next one.
        jobs = live.services.jobs
        assert jobs is not None

        async def swept() -> bool:
            return bool(await jobs.list(state="done", kind="clips.sweep"))

        await until(swept, what="the first clip sweep")
        assert len(await jobs.list(state="pending", kind="clips.sweep")) == 1
