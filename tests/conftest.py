"""Shared fixtures: real PostgreSQL, Redis and an S3 endpoint (moto's server mode), all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from docket.court_sql import SqlCourtRecords, open_court_records

PG_ADMIN_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import asyncpg

    name = f"hearing_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc}); run `make test` to start it")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); run `make test` to start it")
    return REDIS_URL


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to one test, deleted afterwards, so tests never see each other's keys."""
    import redis

    prefix = f"hearingtest:{uuid.uuid4().hex[:10]}"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(f"{prefix}:*"))
    if keys:
        r.delete(*keys)


class S3Server:
    """moto's S3 server in its own process on 127.0.0.1; `stop()`/`start()` simulate an outage."""

    access_key = "testing"
    secret_key = "testing"

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        server.start()
    except ModuleNotFoundError as exc:  # pragma: no cover - make test installs moto[server]
        pytest.fail(f"moto's server is not installed ({exc}); run `make test`")
    yield server
    server.stop()


@pytest.fixture
def s3_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


async def until(predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 60.0, what: str = "") -> None:
    """Poll a condition the server reaches on its own schedule (sync or async), failing after `timeout` seconds and
    saying what was awaited. Only where no event exists to await; timeouts are generous for a busy 2-core machine."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}") from None


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    """Poll a cheap condition until true; used only where no event exists to await."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


@pytest.fixture(params=["sqlite", "postgres"])
def court_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The court register's database, once per backend: a SQLite file, then a fresh PostgreSQL database (`pg_url`,
    dropped after the test). Also the `database_url` of an app under test, so its API runs on both backends. A test
    that only needs one backend says so with `@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)`."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'court.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def court(court_url: str) -> AsyncIterator[SqlCourtRecords]:
    """The migrated register on `court_url`, with cheap identity-document hashing for tests."""
    db = await open_court_records(court_url, id_hash_iterations=1_000)
    try:
        yield db
    finally:
        await db.close()
