"""The client side of `bench.sfu --vs-janus` when the server is Janus: the same replay publisher and counting
subscribers as `bench.sfu_clients`, signalled through Janus's videoroom plugin over its WebSocket API.

Only the signalling differs (Janus sessions, handles, `join`/`publish`/`start` requests with JSEP); the media side,
counting and measuring window are `bench.sfu_clients`' own, so both servers face the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

import websockets
from aiortc import RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from bench.janus_server import ROOM
from bench.sfu_clients import Bench, Publisher, Subscriber, _log, _nothing
from media import aiortc_glue as glue

_transactions = itertools.count(1)


class JanusLink:
    """One WebSocket to Janus with one session and one videoroom handle; replies matched by transaction."""

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.label = label
        self.ws: Any = None
        self.session = 0
        self.handle = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.on_trickle: Any = None

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, subprotocols=["janus-protocol"], max_size=2**22,
                                           ping_interval=None, open_timeout=30)
        self._reader = asyncio.create_task(self._read())
        self.session = (await self.request({"janus": "create"}))["data"]["id"]
        self.handle = (await self.request({"janus": "attach", "plugin": "janus.plugin.videoroom",
                                           "session_id": self.session}))["data"]["id"]

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                kind = msg.get("janus")
                if kind == "ack":
                    continue
                if kind == "trickle" and self.on_trickle is not None:
                    await self.on_trickle(msg.get("candidate") or {})
                    continue
                fut = self._waiting.pop(str(msg.get("transaction")), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)

    async def request(self, msg: dict[str, Any], wait: float = 30) -> dict[str, Any]:
        tx = f"t{next(_transactions)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[tx] = fut
        await self.ws.send(json.dumps({**msg, "transaction": tx}))
        reply = await asyncio.wait_for(fut, wait)
        err = reply.get("error") or (reply.get("plugindata", {}).get("data", {}).get("error"))
        if reply.get("janus") == "error" or err:
            raise RuntimeError(f"janus refused {msg.get('janus')}/{msg.get('body', {}).get('request')}: {err}")
        return reply

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"janus": "message", "session_id": self.session, "handle_id": self.handle, "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        return await self.request(msg)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.request({"janus": "destroy", "session_id": self.session}, wait=5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()


async def _add_trickled(pc: Any, cand: dict[str, Any]) -> None:
    if cand.get("completed") or not cand.get("candidate"):
        return
    c = candidate_from_sdp(cand["candidate"].split(":", 1)[1])
    c.sdpMid, c.sdpMLineIndex = cand.get("sdpMid"), cand.get("sdpMLineIndex")
    with contextlib.suppress(Exception):
        await pc.addIceCandidate(c)


class JanusPublisher(Publisher):
    def __init__(self, url: str, label: str, codec: str) -> None:
        super().__init__(url, "", label, codec)
        self.link = JanusLink(url, label)
        self.feed = 0

    async def start(self) -> None:
        await self.link.open()
        self.link.on_trickle = lambda cand: _add_trickled(self.pc, cand)
        self.joined_at = time.monotonic()
        joined = await self.link.message({"request": "join", "ptype": "publisher", "room": ROOM,
                                          "display": "publisher"})
        self.feed = joined["plugindata"]["data"]["id"]
        self.pc.addTransceiver(self.audio, direction="sendonly")
        tv: RTCRtpTransceiver = self.pc.addTransceiver(self.video, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        tv.setCodecPreferences([c for c in caps if c.mimeType.lower() in (f"video/{self.codec}", "video/rtx")])
        from bench.clip import answer_keyframe_requests

        answer_keyframe_requests(tv.sender, self.video)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await self.link.message({"request": "publish", "audio": True, "video": True},
                                        {"type": "offer", "sdp": self.pc.localDescription.sdp, "trickle": False})
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["jsep"]["sdp"], type="answer"))
        self.answered.set()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self.video.stop()
        self.audio.stop()
        await self.link.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


class JanusSubscriber(Subscriber):
    def __init__(self, url: str, label: str, feed: int) -> None:
        super().__init__(url, "", label)
        self.link = JanusLink(url, label)
        self.feed = feed

    async def start(self) -> None:
        await self.link.open()
        self.link.on_trickle = lambda cand: _add_trickled(self.pc, cand)
        self.joined_at = time.monotonic()
        reply = await self.link.message({"request": "join", "ptype": "subscriber", "room": ROOM,
                                         "streams": [{"feed": self.feed}]})
        sdp = reply["jsep"]["sdp"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for t in self.pc.getTransceivers():  # before aiortc's deferred connect starts a receiver
            glue.capture_transceiver(t, _nothing, _nothing)
        dtls = glue.dtls_transport(self.pc)
        assert dtls is not None
        glue.TransportTap(dtls, self._rtp, lambda _data: None)
        self.offered(sdp)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.link.message({"request": "start", "room": ROOM},
                                {"type": "answer", "sdp": self.pc.localDescription.sdp, "trickle": False})

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        await self.link.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


class JanusBench(Bench):
    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.url = args.url.rstrip("/")

    def new_publisher(self) -> Publisher:
        return JanusPublisher(self.url, f"{self.label} publisher", self.args.codec)

    def new_subscriber(self, pub: Publisher, i: int) -> Subscriber:
        assert isinstance(pub, JanusPublisher)
        return JanusSubscriber(self.url, f"{self.label} sub{i}", pub.feed)


__all__ = ["JanusBench", "_log"]
