"""A real server for tests: the FastAPI app under uvicorn on 127.0.0.1, plus a small signalling client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from app.factory import create_app
from app.links import issue_link
from app.services import Services, build_services, start_services
from app.settings import Settings, load_settings
from hearing.roles import Role
from integrity.signing import CodeSigner
from tests.conftest import free_port


class LiveServer:
    def __init__(self, settings: Settings, services: Services, app: FastAPI | None = None) -> None:
        self.settings = settings
        self.services = services
        self.app = app  # e.g. to register a clip authorizer in app.state.clip_authorizers
        self.base = settings.base_url
        self.ws_base = self.base.replace("http://", "ws://")

    async def link(self, room: str, role: Role, name: str, ttl: int = 3600, **kw: Any) -> str:
        url, _ = await issue_link(self.services.records, self.services.tokens, self.base, room_id=room, role=role,
                                  name=name, ttl_seconds=ttl, **kw)
        return url

    async def token(self, room: str, role: Role = Role.PLAINTIFF, name: str = "张三", **kw: Any) -> str:
        return (await self.link(room, role, name, **kw)).split("#token=", 1)[1]

    async def client(self, room: str, token: str | None = None, **kw: Any) -> Client:
        return await Client.connect(f"{self.ws_base}/ws/{room}", token, **kw)


class Client:
    """Signalling client that records every message; tests await the message they expect."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, token: str | None = None, *, resume_token: str | None = None,
                      first: dict[str, Any] | None = None) -> Client:
        ws = await websockets.connect(url, open_timeout=10, max_size=2**22, ping_interval=None)
        c = cls(ws)
        msg = first
        if msg is None and resume_token is not None:
            msg = {"type": "resume", "v": 1, "resume_token": resume_token}
        elif msg is None and token is not None:
            msg = {"type": "join", "v": 1, "token": token}
        if msg is not None:
            with contextlib.suppress(websockets.ConnectionClosed):  # the server may refuse before reading
                await c.send(msg)
        return c

    @classmethod
    async def join_following(cls, url: str, token: str | None = None, *, resume_token: str | None = None,
                             hops: int = 3) -> tuple[Client, dict[str, Any], list[str]]:
        """Join as the web client does with several media nodes: follow `redirect` (close 4015) to the node
        that holds the room. Returns the client, its `joined` and the URLs it went through."""
        visited = [url]
        for _ in range(hops + 1):
            client = await cls.connect(url, token, resume_token=resume_token)
            first = await client.expect_any(("joined", "redirect", "error"))
            if first["type"] != "redirect":
                return client, first, visited
            code, _ = await client.wait_closed()
            assert code == 4015, code
            url = first["url"]
            visited.append(url)
        raise AssertionError(f"redirected more than {hops} times: {visited}")

    async def expect_any(self, types: tuple[str, ...], timeout: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.inbox.get()
                if msg.get("type") in types:
                    return msg

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.seen.append(msg)
                self.inbox.put_nowait(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd else None
            self.close_reason = rcvd.reason if rcvd else ""
            self.closed.set()

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def expect(self, type_: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        """Wait for the next message of this type (and fields), skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.inbox.get()
                if msg.get("type") == type_ and all(msg.get(k) == v for k, v in match.items()):
                    return msg

    async def wait_closed(self, timeout: float = 15.0) -> tuple[int | None, str]:
        async with asyncio.timeout(timeout):
            await self.closed.wait()
        return self.close_code, self.close_reason

    async def close(self) -> None:
        await self.ws.close()
        await self.wait_closed()

    async def drop(self) -> None:
        """Vanish without a close handshake, as a dead mobile link does."""
        self.ws.transport.abort()
        await self.wait_closed()


@asynccontextmanager
async def live_server(tmp_path: Path, *, sms: Any = None, **overrides: Any) -> AsyncIterator[LiveServer]:
    """A real server on 127.0.0.1; `sms` is the SMS gateway (a fake: none can run here), wired as the app wires one."""
    port = free_port()
    values: dict[str, Any] = {
        "HEARING_PORT": port,
        "HEARING_VAR_DIR": tmp_path / "var",
        "HEARING_TOKEN_SECRET": "test-secret-" + "x" * 32,
        "hearing_env": "test",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'hearing.db'}",
        "redis_url": "",
        "s3_endpoint": "",
    }
    values.update(overrides)
    if values["hearing_env"] == "production" and "INTEGRITY_SIGNING_KEY_FILE" not in values:
        key = tmp_path / "integrity_signing_key.pem"  # production only loads a provided key
        key.write_bytes(CodeSigner.generate().private_pem())
        values["INTEGRITY_SIGNING_KEY_FILE"] = key
    settings = load_settings(**values)
    services = build_services(settings)
    services.sms = sms
    await start_services(services)
    app = create_app(settings, services)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            ws_max_size=4 * settings.ws_max_message_bytes, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("server did not start")
        await asyncio.wait({task}, timeout=0.02)
    try:
        yield LiveServer(settings, services, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
