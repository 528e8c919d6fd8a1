"""Malformed signalling and media input over real WebSockets: typed errors, the sender's session and media go on.

Also: connections dropped at any moment leave no task behind and nothing in asyncio's log ("Task exception was
never retrieved", "Task was destroyed but it is pending").
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from hearing.roles import Role
from tests.conftest import wait_until
from tests.live import Client, LiveServer, live_server

pytestmark = pytest.mark.timeout(180)

ROOM = "input-room"
TASK_WARNINGS = ("Task exception was never retrieved", "Task was destroyed but it is pending")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, resume_grace_seconds=0.5) as s:
        yield s


class AsyncioLog(logging.Handler):
    """What asyncio reports: its logger and the loop's exception handler (where destroyed tasks are reported)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def on_loop_exception(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.messages.append(str(context.get("message")))

    def task_warnings(self) -> list[str]:
        return [m for m in self.messages if any(w in m for w in TASK_WARNINGS)]


@pytest.fixture
async def asyncio_log() -> AsyncIterator[AsyncioLog]:
    handler = AsyncioLog()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(handler.on_loop_exception)
    yield handler
    loop.set_exception_handler(previous)
    logger.removeHandler(handler)


def task_kinds() -> Counter[str]:
    """Running tasks by what they run (names of per-message tasks change, their coroutines do not)."""
    return Counter(getattr(t.get_coro(), "__qualname__", t.get_name()) for t in asyncio.all_tasks())


async def client_offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def replace_line(sdp: str, prefix: str, new: str) -> str:
    return "\r\n".join(new if line.startswith(prefix) else line for line in sdp.split("\r\n"))


async def test_malformed_candidates_and_sdp_get_bad_message_and_the_session_goes_on(server: LiveServer) -> None:
    c = await server.client(ROOM, await server.token(ROOM, Role.PLAINTIFF, "张三"))
    await c.expect("joined")
    pc, sdp = await client_offer()
    try:
        await c.send({"type": "offer", "sdp": sdp})
        await c.expect("answer")
        bad_candidates = ["candidate:1 1 udp", "1 1 udp", "candidate:1 x udp 1 1.2.3.4 9 typ host",
                          "candidate:1 1 udp 1 1.2.3.4 99999 typ host", "candidate:1 1 udp 1 1.2.3.4 9 typ host raddr",
                          "candidate:1 1 udp 1 not-an-address 9 typ host", "candidate:1 1 sctp 1 1.2.3.4 9 typ host"]
        for cand in bad_candidates:
            await c.send({"type": "ice-candidate", "candidate": cand, "sdpMid": "0", "sdpMLineIndex": 0})
            err = await c.expect("error")
            assert err["code"] == "bad_message" and "ICE candidate" in err["message"], err
        # A truncated c= line used to be accepted, and every later offer then failed (aiortc could not render it).
        for bad in (replace_line(sdp, "c=", "c=IN IP4 1.2"), replace_line(sdp, "c=", "c=IN"),
                    replace_line(sdp, "a=fingerprint", "a=fingerprint:sha-256"),
                    replace_line(sdp, "a=rtpmap:", "a=rtpmap:x"), sdp.replace("a=mid:0", "a=fmtp:55 apt=1")):
            await c.send({"type": "offer", "sdp": bad})
            err = await c.expect("error")
            assert err["code"] == "bad_message" and "SDP" in err["message"], err
        # Valid SDP aiortc refuses half-way through applying it (no codec in common): the server starts afresh.
        no_codec = "\r\n".join(line for line in sdp.split("\r\n")
                               if not line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")))
        no_codec = replace_line(no_codec, "m=audio", "m=audio 9 UDP/TLS/RTP/SAVPF 98")
        await c.send({"type": "offer", "sdp": no_codec + "a=rtpmap:98 nonesuch/8000\r\n"})
        assert (await c.expect("error"))["code"] == "bad_message"
        pc2, sdp2 = await client_offer()  # a good offer afterwards is answered as before
        await c.send({"type": "offer", "sdp": sdp2})
        answer = await c.expect("answer")
        assert answer["sdp"].startswith("v=0")
        await pc2.close()
        await c.send({"type": "ping", "id": 7})
        assert (await c.expect("pong"))["id"] == 7
        assert not c.closed.is_set()
    finally:
        await pc.close()
    await c.close()
    assert c.close_code == 1000 or c.close_code is None


async def test_dropped_connections_leave_no_tasks_and_no_asyncio_warnings(server: LiveServer,
                                                                          asyncio_log: AsyncioLog) -> None:
    hub = server.services.hub
    watcher = await server.client(ROOM, await server.token(ROOM, Role.CLERK, "李"))
    await watcher.expect("joined")
    await watcher.send({"type": "ping"})
    await watcher.expect("pong")  # its message loop is running: its tasks are part of the baseline
    baseline = task_kinds()
    for round_ in range(3):
        clients: list[Client] = []
        for i in range(6):
            c = await server.client(ROOM, await server.token(ROOM, Role.PLAINTIFF, f"p{round_}-{i}"))
            await c.expect("joined")
            clients.append(c)
        silent = await Client.connect(f"{server.ws_base}/ws/{ROOM}")  # never sends join
        clients.append(silent)
        for i, c in enumerate(clients):
            if i % 3 == 0:
                await c.send({"type": "ping"})  # a reply is on its way to a socket about to vanish
            elif i % 3 == 1:
                await c.send("{not json")
            await c.drop()
            if c is not silent:  # one at a time: nothing for the room reaches a writer after its socket is gone
                joined = next(m for m in c.seen if m["type"] == "joined")
                await watcher.expect("participant-connection", participant_id=joined["participant"]["id"])
    await wait_until(lambda: server.services.metrics.connections._value.get() == 1, timeout=30)
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)
    assert asyncio_log.task_warnings() == []
    leftover = [t for t in asyncio.all_tasks() if t.get_name().startswith("ws-writer")]
    assert len(leftover) == 1, [t.get_name() for t in leftover]  # the watcher's
    # Once the grace windows are over, the server runs exactly the tasks it ran before.
    def extra() -> Counter[str]:
        return task_kinds() - baseline

    try:
        await wait_until(lambda: not hub._grace and not extra(), timeout=30)
    except TimeoutError:
        raise AssertionError(f"tasks left behind: {extra()}") from None
    await watcher.close()
