"""A GStreamer webrtcbin participant for tests: tests/gst_peer.py in a Debian /usr/bin/python3 subprocess, bridged
to a real signalling connection here. The counterpart of tests/media_client.py for an independent WebRTC stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.live import Client, LiveServer

SYSTEM_PYTHON = "/usr/bin/python3"
PEER = Path(__file__).with_name("gst_peer.py")


def gstreamer_available() -> bool:
    """Whether Debian's GStreamer webrtcbin and its Python bindings are installed (scripts/ensure-system-deps.sh)."""
    probe = ("import gi; [gi.require_version(n, v) for n, v in (('Gst', '1.0'), ('GstWebRTC', '1.0'), "
             "('GstSdp', '1.0'), ('Nice', '0.1'))]; from gi.repository import Gst; Gst.init(None); "
             "assert all(Gst.ElementFactory.find(e) for e in ('webrtcbin', 'nicesrc', 'vp8enc', 'x264enc', "
             "'avdec_h264', 'opusenc', 'vp8dec', 'opusdec'))")
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class GstClient:
    def __init__(self, ws: Client, proc: asyncio.subprocess.Process) -> None:
        self.ws = ws
        self.proc = proc
        self.joined: dict[str, Any] = {}
        self.mid_to_publisher: dict[str, str] = {}
        self.frames: dict[str, int] = {}  # by mid: decoded frames / audio buffers
        self.kinds: dict[str, str] = {}
        self.state = "new"
        self.errors: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.logs: list[str] = []
        self.changed = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    @classmethod
    async def join(cls, server: LiveServer, room: str, token: str, *, video: str | None = None,
                   audio: bool = True) -> GstClient:
        ws = await server.client(room, token)
        joined = await ws.expect("joined")
        args = [SYSTEM_PYTHON, str(PEER)] + (["--video", video] if video else []) + (["--audio"] if audio else [])
        proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=sys.stderr)
        c = cls(ws, proc)
        c.joined = joined
        c._tasks.append(asyncio.create_task(c._from_peer()))
        c._tasks.append(asyncio.create_task(c._from_server()))
        return c

    @property
    def participant_id(self) -> str:
        return str(self.joined["participant"]["id"])

    async def _to_peer(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        await self.proc.stdin.drain()

    async def _from_peer(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            kind = msg["type"]
            if kind in ("offer", "answer"):
                await self.ws.send({"type": kind, "sdp": msg["sdp"]})
            elif kind == "candidate":
                await self.ws.send({"type": "ice-candidate", "candidate": msg["candidate"], "sdpMid": None,
                                    "sdpMLineIndex": msg["mline"]})
            elif kind == "stats":
                self.frames, self.kinds, self.state = msg["frames"], msg["kinds"], msg["state"]
            elif kind == "log":
                self.logs.append(msg["text"])
            self.changed.set()

    async def _from_server(self) -> None:
        while True:
            msg = await self.ws.inbox.get()
            kind = msg.get("type")
            if kind in ("offer", "answer"):
                await self._to_peer({"type": kind, "sdp": msg["sdp"]})
            elif kind == "track-published":
                self.mid_to_publisher[msg["mid"]] = msg["participant_id"]
            elif kind == "error":
                self.errors.append(msg)
            elif kind == "media-notice":
                self.notices.append(msg)
            self.changed.set()

    def received(self, publisher_id: str, kind: str) -> int:
        return sum(n for mid, n in self.frames.items()
                   if self.mid_to_publisher.get(mid) == publisher_id and self.kinds.get(mid) == kind)

    async def wait_frames(self, publisher_id: str, kind: str, count: int, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while self.received(publisher_id, kind) < count:
                self.changed.clear()
                await self.changed.wait()

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._to_peer({"type": "quit"})
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        for t in self._tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await self.ws.send({"type": "leave"})
            await self.ws.close()
