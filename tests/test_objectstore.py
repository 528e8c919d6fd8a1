"""One contract for both object stores, run against a real directory and a real S3 server (moto) locally."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from recordings.local_http import local_objects_router
from recordings.local_store import LocalObjectStore
from recordings.objectstore import InvalidKey, ObjectNotFound, ObjectStore, ObjectStoreError
from recordings.s3_store import S3ObjectStore
from tests.conftest import free_port

URL_BASE = "http://testserver"
INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/./b", "a/../b", "a/", "x~y", "a b"]

Fetch = Callable[[str], Awaitable[httpx.Response]]


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    s: LocalObjectStore | S3ObjectStore
    if request.param == "local":
        s = LocalObjectStore(tmp_path / "objects", url_base=URL_BASE, signing_key=b"test-signing-key")
    else:
        server = request.getfixturevalue("s3_server")  # started only when an S3 case runs
        bucket = request.getfixturevalue("s3_bucket")
        s = S3ObjectStore(server.endpoint, server.access_key, server.secret_key, bucket)
    assert isinstance(s, ObjectStore)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def fetch(store: ObjectStore) -> AsyncIterator[Fetch]:
    """GET a presigned URL the way a browser would: from moto directly, or through the local router."""
    if isinstance(store, LocalObjectStore):
        app = FastAPI()
        app.include_router(local_objects_router(store))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL_BASE)
    else:
        client = httpx.AsyncClient(timeout=10)
    async with client:
        yield client.get


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", url_base=URL_BASE, signing_key=b"test-signing-key")


@pytest.fixture
async def local_client(local: LocalObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(local_objects_router(local))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL_BASE) as client:
        yield client


# -- the contract, on both backends ---------------------------------------------------------------


async def test_ping_healthy(store: ObjectStore) -> None:
    await store.ping()
    await store.ping()


async def test_put_get_stat_roundtrip(store: ObjectStore) -> None:
    info = await store.put("hearings/h1/seg-0001.webm", b"\x1a\x45\xdf\xa3 webm!", "video/webm")
    assert (info.key, info.size, info.content_type) == ("hearings/h1/seg-0001.webm", 10, "video/webm")
    assert await store.get("hearings/h1/seg-0001.webm") == b"\x1a\x45\xdf\xa3 webm!"
    st = await store.stat("hearings/h1/seg-0001.webm")
    assert (st.key, st.size, st.content_type) == ("hearings/h1/seg-0001.webm", 10, "video/webm")
    assert st.modified.tzinfo is not None
    assert st.etag


async def test_default_content_type(store: ObjectStore) -> None:
    await store.put("blob.bin", b"x")
    assert (await store.stat("blob.bin")).content_type == "application/octet-stream"


async def test_empty_object(store: ObjectStore) -> None:
    await store.put("empty", b"", "text/plain")
    assert await store.get("empty") == b""
    assert (await store.stat("empty")).size == 0


async def test_overwrite_replaces_bytes_and_type(store: ObjectStore) -> None:
    await store.put("exhibit/a.pdf", b"first version, longer", "application/pdf")
    await store.put("exhibit/a.pdf", b"second", "text/plain")
    assert await store.get("exhibit/a.pdf") == b"second"
    st = await store.stat("exhibit/a.pdf")
    assert (st.size, st.content_type) == (6, "text/plain")
    assert [i.key for i in await store.list("exhibit/")] == ["exhibit/a.pdf"]


async def test_list_with_prefix_sorted_nested_and_exclusive(store: ObjectStore) -> None:
    assert await store.list() == []  # a fresh (even not yet created) bucket lists as empty
    keys = ["h1/b.webm", "h1/a.webm", "h1/deep/x/y.json", "h10/z.webm", "h2/a.webm", "top.txt"]
    for i, key in enumerate(keys):
        await store.put(key, b"x" * (i + 1))
    listed = await store.list("h1/")
    assert [i.key for i in listed] == ["h1/a.webm", "h1/b.webm", "h1/deep/x/y.json"]
    assert [i.size for i in listed] == [2, 1, 3]
    assert [i.key for i in await store.list("h1")] == [*(i.key for i in listed), "h10/z.webm"]
    assert [i.key for i in await store.list("h1/deep/")] == ["h1/deep/x/y.json"]
    assert [i.key for i in await store.list()] == sorted(keys)
    assert await store.list("nothing/") == []
    assert await store.list("h1/a.webm/") == []


async def test_delete_then_get_raises_not_found(store: ObjectStore) -> None:
    await store.put("gone/soon.txt", b"bye", "text/plain")
    await store.delete("gone/soon.txt")
    with pytest.raises(ObjectNotFound, match=r"gone/soon\.txt"):
        await store.get("gone/soon.txt")
    with pytest.raises(ObjectNotFound, match=r"gone/soon\.txt"):
        await store.stat("gone/soon.txt")
    assert await store.list("gone/") == []


async def test_delete_missing_key_is_idempotent(store: ObjectStore) -> None:
    """Deleting what is not there succeeds, as on S3, so a retried clean-up never fails halfway."""
    await store.delete("never/existed")
    await store.put("once", b"1")
    await store.delete("once")
    await store.delete("once")


async def test_missing_key_errors_name_the_key(store: ObjectStore) -> None:
    await store.ping()
    with pytest.raises(ObjectNotFound, match="no/such/key"):
        await store.stat("no/such/key")
    with pytest.raises(ObjectNotFound, match="no/such/key"):
        await store.get("no/such/key")


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_keys_rejected_by_every_method(store: ObjectStore, key: str) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.stat(key),
        lambda: store.delete(key),
        lambda: store.presigned_get(key, timedelta(minutes=5)),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            await call()
    assert await store.list() == []


async def test_presigned_get_downloads(store: ObjectStore, fetch: Fetch) -> None:
    body = os.urandom(100_000)
    await store.put("rec/h1/seg.webm", body, "video/webm")
    url = await store.presigned_get("rec/h1/seg.webm", timedelta(minutes=5))
    response = await fetch(url)
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == "video/webm"


async def test_presigned_get_of_missing_object_is_404(store: ObjectStore, fetch: Fetch) -> None:
    await store.ping()
    url = await store.presigned_get("rec/missing.webm", timedelta(minutes=5))
    assert (await fetch(url)).status_code == 404


async def test_presigned_expiry_outside_s3_limits_is_refused(store: ObjectStore) -> None:
    """Both backends accept the same range (1 s to 7 days), so code that works locally works on S3."""
    with pytest.raises(ValueError):
        await store.presigned_get("a", timedelta(days=8))
    with pytest.raises(ValueError):
        await store.presigned_get("a", timedelta(0))


async def test_five_megabyte_roundtrip(store: ObjectStore, fetch: Fetch) -> None:
    body = os.urandom(5 * 1024 * 1024 + 17)
    info = await store.put("big/segment.mp4", body, "video/mp4")
    assert info.size == len(body)
    assert await store.get("big/segment.mp4") == body
    assert (await store.stat("big/segment.mp4")).size == len(body)
    response = await fetch(await store.presigned_get("big/segment.mp4", timedelta(minutes=1)))
    assert response.status_code == 200
    assert response.content == body


async def test_concurrent_writers_to_one_key_leave_one_whole_object(store: ObjectStore) -> None:
    bodies = [bytes([i]) * 200_000 for i in range(8)]
    await asyncio.gather(*(store.put("race", b, "application/octet-stream") for b in bodies))
    assert await store.get("race") in bodies


# -- an unreachable backend fails fast with a useful message --------------------------------------


async def test_s3_unreachable_fails_fast_with_hint() -> None:
    port = free_port()  # nothing listens here
    s3 = S3ObjectStore(f"127.0.0.1:{port}", "testing", "testing", "nowhere")
    try:
        for call in (s3.ping, lambda: s3.put("k", b"x"), lambda: s3.get("k"), s3.list):
            started = time.monotonic()
            with pytest.raises(ObjectStoreError) as err:
                await call()
            assert time.monotonic() - started < 10
            assert not isinstance(err.value, ObjectNotFound)
            assert f"127.0.0.1:{port}" in str(err.value)
            assert "nowhere" in str(err.value)
            assert "S3_ENDPOINT" in str(err.value)
    finally:
        await s3.close()


async def test_s3_bucket_deleted_behind_our_back(s3_server, s3_bucket: str) -> None:  # type: ignore[no-untyped-def]
    """A raw S3Error never escapes: it becomes ObjectStoreError naming the bucket; ping() recreates the bucket."""
    s3 = S3ObjectStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    try:
        await s3.ping()
        await asyncio.to_thread(s3._client.remove_bucket, s3_bucket)
        with pytest.raises(ObjectStoreError, match=s3_bucket) as err:
            await s3.list()
        assert not isinstance(err.value, ObjectNotFound)
        await s3.ping()
        assert await s3.list() == []
    finally:
        await s3.close()


async def test_local_unusable_root_fails_with_hint(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    store = LocalObjectStore(not_a_dir, url_base=URL_BASE, signing_key=b"k")
    with pytest.raises(ObjectStoreError, match="not a writable directory"):
        await store.ping()
    with pytest.raises(ObjectStoreError, match="cannot"):
        await store.put("a/b", b"x")


async def test_local_ping_creates_missing_root(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "new" / "root", url_base=URL_BASE, signing_key=b"k")
    await store.ping()
    assert (tmp_path / "new" / "root").is_dir()
    assert list((tmp_path / "new" / "root").iterdir()) == []


# -- local store specifics ------------------------------------------------------------------------


async def test_local_atomic_write_leaves_no_temp_files(local: LocalObjectStore) -> None:
    await local.put("a/b/c.webm", b"one", "video/webm")
    await local.put("a/b/c.webm", b"two", "video/webm")
    await local.put("a/d.txt", b"three", "text/plain")
    names = sorted(p.relative_to(local.root).as_posix() for p in local.root.rglob("*") if p.is_file())
    assert names == ["a/b/c.webm", "a/b/c.webm~meta.json", "a/d.txt", "a/d.txt~meta.json"]
    assert [i.key for i in await local.list()] == ["a/b/c.webm", "a/d.txt"]


async def test_local_failed_write_keeps_old_object_and_no_temp(
    local: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await local.put("seg", b"old and whole", "video/webm")

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("recordings.local_store.os.replace", crash)
    with pytest.raises(ObjectStoreError, match="seg"):
        await local.put("seg", b"new", "text/plain")
    monkeypatch.undo()
    assert await local.get("seg") == b"old and whole"
    assert (await local.stat("seg")).content_type == "video/webm"
    assert sorted(p.name for p in local.root.iterdir()) == ["seg", "seg~meta.json"]


async def test_local_key_that_is_also_a_folder_is_a_clear_error(local: LocalObjectStore) -> None:
    await local.put("a/b", b"x")
    with pytest.raises(ObjectStoreError, match="both an object and a folder"):
        await local.put("a", b"y")
    with pytest.raises(ObjectNotFound):
        await local.get("a")
    await local.delete("a")  # a folder is not an object: nothing to delete
    assert await local.get("a/b") == b"x"


async def test_local_presigned_url_format_and_verify(local: LocalObjectStore) -> None:
    url = await local.presigned_get("rec/x.webm", timedelta(seconds=60))
    assert url.startswith(f"{URL_BASE}/objects/rec/x.webm?expires=")
    query = httpx.URL(url).params
    expires, signature = int(query["expires"]), query["signature"]
    assert abs(expires - (time.time() + 60)) < 5
    assert len(signature) == 64
    assert local.verify_presigned("rec/x.webm", expires, signature)
    assert not local.verify_presigned("rec/y.webm", expires, signature)
    assert not local.verify_presigned("rec/x.webm", expires + 1, signature)
    assert not local.verify_presigned("rec/x.webm", expires, "0" * 64)
    assert not local.verify_presigned("rec/x.webm", expires, signature, now=expires + 1)
    other = LocalObjectStore(local.root, url_base=URL_BASE, signing_key=b"another key")
    assert not other.verify_presigned("rec/x.webm", expires, signature)


async def test_local_http_good_signature(local: LocalObjectStore, local_client: httpx.AsyncClient) -> None:
    await local.put("rec/x.webm", b"video bytes", "video/webm")
    response = await local_client.get(await local.presigned_get("rec/x.webm", timedelta(minutes=1)))
    assert response.status_code == 200
    assert response.content == b"video bytes"
    assert response.headers["content-type"] == "video/webm"
    assert response.headers["cache-control"] == "private, no-store"


async def test_local_http_tampered_signature_is_403(
    local: LocalObjectStore, local_client: httpx.AsyncClient
) -> None:
    await local.put("rec/x.webm", b"video bytes", "video/webm")
    url = httpx.URL(await local.presigned_get("rec/x.webm", timedelta(minutes=1)))
    sig = url.params["signature"]
    tampered = [
        url.copy_set_param("signature", ("0" if sig[0] != "0" else "1") + sig[1:]),
        url.copy_set_param("expires", str(int(url.params["expires"]) + 3600)),
        url.copy_with(path="/objects/rec/y.webm"),
        url.copy_remove_param("signature"),
        url.copy_set_param("expires", "soon"),
    ]
    for bad in tampered:
        response = await local_client.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["error"]["code"] == "bad_signature"
        assert response.headers["cache-control"] == "private, no-store"


async def test_local_http_expired_is_403(local: LocalObjectStore, local_client: httpx.AsyncClient) -> None:
    await local.put("rec/x.webm", b"video bytes", "video/webm")
    expires = int(time.time()) - 10
    url = f"{URL_BASE}/objects/rec/x.webm?expires={expires}&signature={local.sign('rec/x.webm', expires)}"
    response = await local_client.get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "expired"


async def test_local_http_missing_is_404(local: LocalObjectStore, local_client: httpx.AsyncClient) -> None:
    response = await local_client.get(await local.presigned_get("rec/none.webm", timedelta(minutes=1)))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_local_http_range_request(local: LocalObjectStore, local_client: httpx.AsyncClient) -> None:
    """Browsers seek in recordings with Range requests; FileResponse answers them."""
    await local.put("rec/x.webm", b"0123456789", "video/webm")
    url = await local.presigned_get("rec/x.webm", timedelta(minutes=1))
    response = await local_client.get(url, headers={"Range": "bytes=2-5"})
    assert response.status_code == 206
    assert response.content == b"2345"
