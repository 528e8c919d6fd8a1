"""The client side of the media benchmark: one replay publisher and N counting subscribers, in one process.

`python -m bench.sfu_clients --url ws://127.0.0.1:P --room R --secret S --codec vp8 --subscribers 1,4,8,16
--seconds 10 --server-pid PID` prints one JSON line per subscriber count (the first, `subscribers: 0`, is the
publisher-only baseline). It runs apart from the server so the server's CPU (read from /proc/PID/stat) is the
server's alone. `bench.sfu` starts it; running it by hand against a live server works too.

Subscribers never decode: their transceivers are captured (`capture_transceiver`: aiortc starts no decoder, jitter
buffer or RTCP loop) and the decrypted RTP bytes come straight from the DTLS transport (`TransportTap`). Per packet
they look at the payload type and timestamp only; a frame is a new RTP timestamp on video, and the first frame is the
first complete run of packets (contiguous sequence numbers, ending in the marker bit) that starts with a keyframe.
That keeps the client's per-packet work small: on a 2-core machine it shares the CPU with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import websockets
from aiortc import RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from bench.clip import ClipTrack, answer_keyframe_requests, load
from media import aiortc_glue as glue
from media.payloads import is_keyframe
from media.rtp import parse_rtp

JOIN_STAGGER = 0.05
FIRST_FRAME_TIMEOUT = 30.0
SETTLE = 1.0
PING_EVERY = 10.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log(label: str, text: str) -> None:
    print(f"[{label}] {text}", file=sys.stderr, flush=True)


async def _nothing(*_args: Any) -> None:
    return None


def _payload_types(sdp: str) -> tuple[set[int], set[int], str]:
    """Video media and RTX payload types offered in an SDP, and the video codec name."""
    video: set[int] = set()
    rtx: set[int] = set()
    name = ""
    in_video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=rtpmap:"):
            pt, enc = line[9:].split(" ", 1)
            codec = enc.split("/", 1)[0]
            if codec.lower() == "rtx":
                rtx.add(int(pt))
            else:
                video.add(int(pt))
                name = name or codec
    return video, rtx, name


class _Participant:
    """A signalling connection plus one PeerConnection; answers server offers without starting any decoder."""

    def __init__(self, url: str, token: str, label: str) -> None:
        self.url = url
        self.token = token
        self.label = label
        self.ws: Any = None
        self.pc = glue.new_peer_connection([])
        self.joined_at = 0.0
        self.errors: list[dict[str, Any]] = []
        self.answered = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=2**22, ping_interval=None, open_timeout=30)
        self.joined_at = time.monotonic()
        await self.ws.send(json.dumps({"type": "join", "v": 1, "token": self.token}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "joined":
                break
            if msg["type"] == "error":
                raise RuntimeError(f"join refused: {msg.get('message')}")
        self._reader = asyncio.create_task(self._read())

    async def offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                try:
                    if kind == "answer":
                        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
                        self.answered.set()
                    elif kind == "offer":
                        await self._on_offer(msg["sdp"])
                    elif kind == "error":
                        self.errors.append(msg)
                        _log(self.label, f"server error: {msg.get('code')}: {msg.get('message')}")
                except Exception as exc:  # a broken negotiation must show, not hang the run silently
                    _log(self.label, f"negotiation failed: {type(exc).__name__}: {exc}")

    async def _on_offer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for t in self.pc.getTransceivers():  # before aiortc's deferred connect starts a receiver
            glue.capture_transceiver(t, _nothing, _nothing)
        self.offered(sdp)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.ws.send(json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp}))

    def offered(self, sdp: str) -> None:
        """A server offer was applied (hook for subscribers)."""

    async def ping(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(json.dumps({"type": "ping"}))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(json.dumps({"type": "leave"}))
            await asyncio.wait_for(self.ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


class Publisher(_Participant):
    """Silence (Opus, encoded here) and the pre-encoded clip (only packetized here), like a camera and a mic."""

    def __init__(self, url: str, token: str, label: str, codec: str) -> None:
        super().__init__(url, token, label)
        self.video = ClipTrack(load(codec))
        self.audio = AudioStreamTrack()
        self.codec = codec

    async def start(self) -> None:
        await self.connect()
        self.pc.addTransceiver(self.audio, direction="sendonly")
        tv: RTCRtpTransceiver = self.pc.addTransceiver(self.video, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        tv.setCodecPreferences([c for c in caps if c.mimeType.lower() in (f"video/{self.codec}", "video/rtx")])
        answer_keyframe_requests(tv.sender, self.video)
        await self.offer()

    async def flowing(self) -> None:
        """Connected and two seconds of video sent (so it has passed a scheduled keyframe)."""
        await asyncio.wait_for(self.answered.wait(), 30)
        for _ in range(600):
            if self.pc.connectionState == "connected" and self.video.sent >= 2 * 30:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the publisher's video did not start")

    def sent_packets(self) -> int:
        """RTP packets aiortc's senders sent (media, not RTX retransmissions)."""
        return sum(getattr(t.sender, "_RTCRtpSender__packet_count", 0) for t in self.pc.getTransceivers())

    async def close(self) -> None:
        self.video.stop()
        self.audio.stop()
        await super().close()


class Subscriber(_Participant):
    """Receives whatever the server forwards and counts packets and frames from raw RTP, never decoding."""

    def __init__(self, url: str, token: str, label: str) -> None:
        super().__init__(url, token, label)
        self.video_pts: set[int] = set()
        self.rtx_pts: set[int] = set()
        self.codec = ""
        self.video_packets = 0
        self.audio_packets = 0
        self.rtx_packets = 0
        self.frames = 0
        self.early_packets = 0  # video before the first keyframe: the SFU's keyframe gate should make this 0
        self.first_frame_at: float | None = None
        self.got_frame = asyncio.Event()
        self._last_ts = b""
        self._key_ts: int | None = None
        self._seen_key = False
        self._next_seq = 0

    @property
    def packets(self) -> int:
        return self.video_packets + self.audio_packets + self.rtx_packets

    @property
    def media_packets(self) -> int:
        return self.video_packets + self.audio_packets

    @property
    def first_frame_ms(self) -> float | None:
        return None if self.first_frame_at is None else (self.first_frame_at - self.joined_at) * 1000

    async def start(self) -> None:
        await self.connect()
        t = self.pc.addTransceiver("audio", direction="recvonly")  # an offer needs one m-line for the transport
        glue.capture_transceiver(t, _nothing, _nothing)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        dtls = glue.dtls_transport(self.pc)
        assert dtls is not None
        glue.TransportTap(dtls, self._rtp, lambda _data: None)
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))

    def offered(self, sdp: str) -> None:
        video, rtx, name = _payload_types(sdp)
        self.video_pts |= video
        self.rtx_pts |= rtx
        self.codec = self.codec or name

    def _rtp(self, data: bytes, now: float) -> None:
        pt = data[1] & 0x7F
        if pt in self.video_pts:
            self.video_packets += 1
            ts = data[4:8]
            if ts != self._last_ts:
                self._last_ts = ts
                self.frames += 1
            if self.first_frame_at is None:
                self._first_frame(data, now)
        elif pt in self.rtx_pts:
            self.rtx_packets += 1
        else:
            self.audio_packets += 1

    def _first_frame(self, data: bytes, now: float) -> None:
        h = parse_rtp(data)
        if is_keyframe(self.codec, memoryview(data)[h.payload_offset : h.payload_end]):
            self._seen_key = True
            self._key_ts, self._next_seq = h.timestamp, (h.sequence + 1) & 0xFFFF
        elif self._key_ts is not None and h.timestamp == self._key_ts and h.sequence == self._next_seq:
            self._next_seq = (h.sequence + 1) & 0xFFFF
        else:
            if not self._seen_key:
                self.early_packets += 1
            self._key_ts = None
            return
        if h.marker:
            self.first_frame_at = now
            self.got_frame.set()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from signaling.tokens import TokenService

        self.args = args
        self.tokens = TokenService(args.secret)
        self.url = f"{args.url.rstrip('/')}/ws/{args.room}"
        self.label = args.label or args.codec
        self.peers: list[_Participant] = []

    def _token(self, role: str, name: str, grants: list[str]) -> str:
        token, _ = self.tokens.issue_join(room_id=self.args.room, role=role, name=name, grants=grants,
                                          ttl_seconds=3600)
        return token

    def new_publisher(self) -> Publisher:
        return Publisher(self.url, self._token("presiding_judge", "publisher", ["publish", "subscribe"]),
                         f"{self.label} publisher", self.args.codec)

    def new_subscriber(self, pub: Publisher, i: int) -> Subscriber:
        return Subscriber(self.url, self._token("plaintiff", f"sub{i}", ["subscribe"]), f"{self.label} sub{i}")

    async def _pinger(self) -> None:
        while True:  # the server closes a signalling connection that stays silent (WS_IDLE_TIMEOUT_SECONDS)
            await asyncio.sleep(PING_EVERY)
            for p in list(self.peers):
                await p.ping()

    async def measure(self, subs: list[Subscriber], pub: Publisher, seconds: float) -> dict[str, Any]:
        pid = self.args.server_pid
        before = [(s.packets, s.video_packets, s.frames, s.media_packets) for s in subs]
        sent0 = pub.sent_packets()
        pub_frames, pub_keys, pub_intra = pub.video.sent, pub.video.keyframes_requested, pub.video.intra_sent
        cpu0, own0, t0 = cpu_seconds(pid), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, own1, t1 = cpu_seconds(pid), time.process_time(), time.monotonic()
        sent = pub.sent_packets() - sent0
        got = [s.media_packets - b[3] for s, b in zip(subs, before, strict=True)]
        window = t1 - t0
        pkts = [(s.packets - b[0]) / window for s, b in zip(subs, before, strict=True)]
        vpkts = [(s.video_packets - b[1]) / window for s, b in zip(subs, before, strict=True)]
        fps = [(s.frames - b[2]) / window for s, b in zip(subs, before, strict=True)]
        return {
            "subscribers": len(subs),
            "window_s": round(window, 3),
            "server_cpu_s_per_s": round((cpu1 - cpu0) / window, 4),
            "client_cpu_s_per_s": round((own1 - own0) / window, 4),
            "pkts_per_s_per_sub": round(statistics.fmean(pkts), 1) if subs else 0.0,
            "video_pkts_per_s_per_sub": round(statistics.fmean(vpkts), 1) if subs else 0.0,
            "pkts_per_s_total": round(sum(pkts), 1),
            "fps_per_sub_min": round(min(fps), 2) if subs else None,
            "fps_per_sub_mean": round(statistics.fmean(fps), 2) if subs else None,
            "publisher_fps": round((pub.video.sent - pub_frames) / window, 2),
            "keyframe_requests_in_window": pub.video.keyframes_requested - pub_keys,
            "intra_frames_in_window": pub.video.intra_sent - pub_intra,
            "server_errors": sum(len(s.errors) for s in subs),
            "publisher_pkts_per_s": round(sent / window, 1),
            # media (not RTX) packets the publisher sent in the window that a subscriber did not get, worst one
            "loss_max": round(max(0.0, 1 - min(got) / sent), 4) if subs and sent else None,
            "loss_mean": round(max(0.0, 1 - statistics.fmean(got) / sent), 4) if subs and sent else None,
        }

    async def run(self) -> int:
        args = self.args
        glue.use_host_addresses([args.host_address])
        pub = self.new_publisher()
        self.peers.append(pub)
        pinger = asyncio.create_task(self._pinger())
        try:
            _log(self.label, "publisher joining...")
            await pub.start()
            await pub.flowing()
            await asyncio.sleep(SETTLE)
            _log(self.label, f"0 subscribers (baseline): measuring {args.seconds:g} s...")
            row = await self.measure([], pub, args.seconds)
            print(json.dumps(row), flush=True)
            for n in [int(x) for x in args.subscribers.split(",") if x]:
                print(json.dumps(await self.round(pub, n)), flush=True)
        finally:
            pinger.cancel()
            await pub.close()
        return 0

    async def round(self, pub: Publisher, n: int) -> dict[str, Any]:
        args = self.args
        _log(self.label, f"{n} subscribers: joining...")
        subs = [self.new_subscriber(pub, i) for i in range(n)]
        self.peers.extend(subs)
        keys0, intra0 = pub.video.keyframes_requested, pub.video.intra_sent
        starts = []
        for s in subs:
            starts.append(asyncio.create_task(s.start()))
            await asyncio.sleep(JOIN_STAGGER)
        await asyncio.gather(*starts)
        waits = [asyncio.create_task(s.got_frame.wait()) for s in subs]
        _, pending = await asyncio.wait(waits, timeout=FIRST_FRAME_TIMEOUT)
        for w in pending:
            w.cancel()
        missing = sum(s.first_frame_at is None for s in subs)
        if missing:
            _log(self.label, f"{missing} of {n} subscribers got no first frame in {FIRST_FRAME_TIMEOUT:g} s")
        await asyncio.sleep(SETTLE)
        _log(self.label, f"{n} subscribers: measuring {args.seconds:g} s...")
        row = await self.measure(subs, pub, args.seconds)
        row["video_pkts_before_first_keyframe"] = sum(s.early_packets for s in subs)
        row["first_frame_ms"] = [None if s.first_frame_ms is None else round(s.first_frame_ms, 1) for s in subs]
        requested, intra = pub.video.keyframes_requested - keys0, pub.video.intra_sent - intra0
        row["keyframe_requests_while_joining"] = requested - row["keyframe_requests_in_window"]
        row["intra_frames_while_joining"] = intra - row["intra_frames_in_window"]
        _log(self.label, f"{n} subscribers: leaving...")
        await asyncio.gather(*(s.close() for s in subs))
        for s in subs:
            self.peers.remove(s)
        await asyncio.sleep(SETTLE)
        return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="ws://127.0.0.1:PORT (the signalling base)")
    ap.add_argument("--room", default="bench-sfu")
    ap.add_argument("--secret", required=True, help="the server's HEARING_TOKEN_SECRET")
    ap.add_argument("--codec", choices=["vp8", "h264"], default="vp8")
    ap.add_argument("--subscribers", default="1,4,8,16")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--host-address", default="127.0.0.1", help="the clients' own ICE host address")
    ap.add_argument("--janus", action="store_true", help="the server is Janus (videoroom over its WebSocket API)")
    args = ap.parse_args(argv)
    if args.janus:
        from bench.janus_clients import JanusBench

        return asyncio.run(JanusBench(args).run())
    return asyncio.run(Bench(args).run())


if __name__ == "__main__":
    sys.exit(main())
