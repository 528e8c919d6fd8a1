"""A cheap load generator for the SFU benches: replayed SRTP publishers and counting subscribers.

`python -m bench.loadgen --url ws://127.0.0.1:P --room R --secret S --subscribers 64 --seconds 10 --server-pid PID`
runs one publisher and N subscribers in one room and prints one JSON line (the figures `bench.sfu_clients` prints),
so `bench.cluster` can load a worker with it. `bench.capacity` uses the classes directly.

Why: aiortc clients cost more CPU than the server they load (40 publishing aiortc clients took 1.5 cores), so on a
2-core machine they could not saturate one worker. Here every client still goes the whole normal way once —
signalling over the WebSocket, an aiortc PeerConnection (ICE, DTLS, SDP; transceivers captured by
`media.aiortc_glue`, so aiortc starts no encoder, decoder or RTCP loop) — and the server cannot tell it from an
aiortc client. After DTLS:
  * publishing: the clip of `bench.clip` is packetized once per process (VP8 payloads, Opus noise); one batched
    sender loop for all publishers of the process builds each header (SSRC, payload type and header-extension ids
    as negotiated, mid, abs-send-time, audio level), protects it with that client's own SRTP session from its
    DTLS handshake (one libsrtp call) and `sendto`s it on the client's nominated ICE socket. Keyframe requests
    (PLI/FIR, decrypted: RTCP is a few packets a second) make the next frame the clip's intra version, like
    `bench.clip.ClipTrack`. Protection happens at send time, not ahead, because each client's keys and SRTP
    index differ and a run-long buffer per publisher would not fit in memory at 80 publishers; it is in the client
    CPU figure;
  * receiving: the datagram handler of the ICE socket sees each SRTP packet before aioice and counts it from its
    clear RTP header (SSRC, sequence, marker: complete frames, gaps) without decrypting; only until a stream's first
    complete keyframe frame are its packets also passed on to be decrypted (the keyframe bit is in the encrypted
    payload), for the join -> first frame time. STUN/DTLS/RTCP go to aiortc as before (consent checks keep working).
Not like a browser: no RTCP receiver reports, NACK, REMB or transport-cc from subscribers, no sender reports and no
retransmissions from publishers (the aiortc bench clients do none of these either); VP8 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import websockets
from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from bench import clip as clipmod
from media import aiortc_glue as glue
from media.payloads import is_keyframe
from media.rtcp import Fir, Pli, parse_rtcp
from media.rtp import abs_send_time, parse_rtp

FPS = clipmod.FPS
VIDEO_TICKS = clipmod.VIDEO_CLOCK // FPS
AUDIO_PTIME = 0.02
AUDIO_TICKS = 960
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AST_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_RTP = struct.Struct("!BBHII")
_VP8_DESC = struct.Struct("!BBH")
PING_EVERY = 10.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_seconds(pid: int) -> float:
    """Seconds the process (all threads) spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the replayed media, packetized once per process --------------------------------------------------------

@dataclass(frozen=True)
class Replay:
    """VP8 payloads per frame without their 4-byte descriptor (rebuilt per packet with the picture id), the
    intra version of every frame, and 1 s of Opus-encoded quiet noise (20 ms packets)."""

    frames: list[list[bytes]]
    intra: list[list[bytes]]
    keyframes: list[bool]
    audio: list[bytes]


def _vp8(frame: bytes) -> list[bytes]:
    return [p[4:] for p in Vp8Encoder._packetize(frame, 0)]


def replay(codec: str = "vp8") -> Replay:
    if codec != "vp8":
        raise ValueError("the load generator replays VP8 only")
    c = clipmod.ensure(codec)
    rng = np.random.default_rng(7)
    enc = OpusEncoder()
    audio: list[bytes] = []
    for i in range(int(1 / AUDIO_PTIME)):
        pcm = rng.integers(-300, 300, size=(1, 2 * AUDIO_TICKS), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * AUDIO_TICKS
        payloads, _ = enc.encode(frame)
        audio.extend(payloads)
    return Replay([_vp8(f) for f in c.frames], [_vp8(f) for f in c.intra], list(c.keyframes), audio)


# ---- one outgoing stream -----------------------------------------------------------------------------------

class _Out:
    """Header state of one replayed RTP stream; ext: the one-byte extension block split around abs-send-time."""

    __slots__ = ("ast", "post", "pre", "pt", "seq", "ssrc", "ts0")

    def __init__(self, ssrc: int, pt: int, mid: str, ext: dict[str, int], audio: bool) -> None:
        self.ssrc, self.pt = ssrc, pt
        self.seq = random.randrange(1 << 16)
        self.ts0 = random.randrange(1 << 32)
        elems = b""
        if ext.get(MID_URI) and mid:
            elems += bytes([ext[MID_URI] << 4 | (len(mid) - 1)]) + mid.encode()
        if audio and ext.get(LEVEL_URI):
            elems += bytes([ext[LEVEL_URI] << 4, 40])  # -40 dBov, no voice activity flag
        self.ast = bool(ext.get(AST_URI))
        size = len(elems) + (4 if self.ast else 0)
        pad = b"\0" * (-size % 4)
        if size:
            words = (size + len(pad)) // 4
            self.pre = b"\xbe\xde" + words.to_bytes(2, "big") + (bytes([ext[AST_URI] << 4 | 2]) if self.ast else b"")
            self.post = elems + pad
        else:
            self.pre = self.post = b""

    def header(self, marker: bool, ts: int, ast: int) -> bytes:
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        first = 0x90 if self.pre else 0x80
        head = _RTP.pack(first, self.pt | (0x80 if marker else 0), seq, (self.ts0 + ts) & 0xFFFFFFFF, self.ssrc)
        if not self.pre:
            return head
        return head + self.pre + (ast.to_bytes(3, "big") if self.ast else b"") + self.post


# ---- received streams --------------------------------------------------------------------------------------

class _In:
    """Counters of one received stream, updated from the clear RTP header of each SRTP packet."""

    __slots__ = (
        "broken",
        "early",
        "first_frame_at",
        "frames",
        "key_next",
        "key_ts",
        "kind",
        "lost",
        "next_seq",
        "packets",
    )

    def __init__(self, kind: str, seq: int) -> None:
        self.kind = kind
        self.packets = self.frames = self.lost = self.early = 0
        self.next_seq = seq
        self.broken = True  # the first frame seen may have started before we joined
        self.first_frame_at: float | None = None
        self.key_ts: int | None = None
        self.key_next = 0


# ---- one client --------------------------------------------------------------------------------------------

class LoadPeer:
    """One participant: the normal signalling/ICE/DTLS once, then replayed media out and raw counting in."""

    def __init__(self, url: str, token: str, label: str, media: Replay | None) -> None:
        self.url, self.token, self.label = url, token, label
        self.media = media  # None: a subscriber that publishes nothing
        self.pc = glue.new_peer_connection([])
        self.ws: Any = None
        self.join_sent = 0.0
        self.errors: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self.first_frame = asyncio.Event()  # set at the first complete keyframe frame of any received video
        self.streams: dict[bytes, _In] = {}
        self.video_pts: set[int] = set()
        self.rtx_pts: set[int] = set()
        self.mid_of_ssrc: dict[int, str] = {}
        self.participant_of_mid: dict[str, str] = {}
        self.participant_id = ""
        self.decrypted = 0
        # publishing state
        self.video: _Out | None = None
        self.audio: _Out | None = None
        self.srtp: Any = None
        self.sock: socket.socket | None = None
        self.addr: tuple[str, int] | None = None
        self.frame_n = self.audio_n = 0
        self.picture_id = random.randrange(1 << 15)
        self.want_key = False
        self.keyframes_requested = self.intra_sent = 0
        self.sent_packets = self.sent_frames = self.send_errors = 0
        self.next_video = self.next_audio = 0.0
        self._reader: asyncio.Task[None] | None = None
        self.marks: dict[str, float] = {}  # monotonic times of the handshake's steps (for diagnosis)

    # -- signalling and the handshake --
    async def start(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=2**22, ping_interval=None, open_timeout=30)
        self.join_sent = time.monotonic()
        await self.ws.send(json.dumps({"type": "join", "v": 1, "token": self.token}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "joined":
                self.participant_id = str(msg["participant"]["id"])
                self.marks["joined"] = time.monotonic()
                break
            if msg["type"] == "error":
                raise RuntimeError(f"join refused: {msg.get('code')}")
        self._reader = asyncio.create_task(self._read())
        if self.media is not None:
            self.pc.addTransceiver(glue.SilentTrack("audio"), direction="sendonly")
            tv = self.pc.addTransceiver(glue.SilentTrack("video"), direction="sendonly")
            caps = RTCRtpSender.getCapabilities("video").codecs
            tv.setCodecPreferences([c for c in caps if c.mimeType.lower() == "video/vp8"])
        else:
            self.pc.addTransceiver("audio", direction="recvonly")  # an offer needs one m-line for the transport
        for t in self.pc.getTransceivers():
            glue.capture_transceiver(t, self._on_send, _nothing)
        self.pc.on("connectionstatechange", self._on_state)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        dtls = glue.dtls_transport(self.pc)
        assert dtls is not None
        glue.TransportTap(dtls, self._on_decrypted, self._on_rtcp)
        self.dtls = dtls
        await self.ws.send(json.dumps({"type": "offer", "sdp": self.pc.localDescription.sdp}))

    async def _on_send(self, transceiver: Any, n: glue.Negotiated, ssrc: int, _rtx: int) -> None:
        want = "video/vp8" if n.kind == "video" else "audio/opus"
        codec = next((c for c in n.codecs if c.mimeType.lower() == want), None)
        if codec is None:
            raise RuntimeError(f"{self.label}: the server did not accept {want}")
        out = _Out(ssrc, codec.payloadType, n.mid, n.header_extensions, n.kind == "audio")
        if n.kind == "video":
            self.video = out
        else:
            self.audio = out

    def _on_state(self) -> None:
        if self.pc.connectionState != "connected" or self.connected.is_set():
            return
        ice = self.dtls.transport._connection  # bench-only: the nominated pair's socket and its datagram handler
        pair = ice._nominated.get(1)
        if pair is None:
            return
        proto = pair.protocol
        passed = proto.datagram_received
        count = self._count

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if 127 < data[0] < 192 and not 191 < data[1] < 224:  # RTP (RFC 7983/5761), not RTCP
                if count(data):
                    passed(data, addr)
            else:
                passed(data, addr)

        proto.datagram_received = datagram_received
        raw = proto.transport.get_extra_info("socket")
        self.sock = socket.socket(raw.family, raw.type, fileno=os.dup(raw.fileno()))
        self.sock.setblocking(False)
        self.addr = pair.remote_addr
        self.srtp = self.dtls._tx_srtp
        glue.widen_srtp(self.srtp)
        now = time.monotonic()
        self.next_video = now + random.random() / FPS  # publishers out of phase, like separate cameras
        self.next_audio = now + random.random() * AUDIO_PTIME
        self.marks["connected"] = time.monotonic()
        self.connected.set()

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                try:
                    self.marks.setdefault(f"{kind}", time.monotonic())
                    if kind == "answer":
                        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
                    elif kind == "offer":
                        await self._on_offer(msg["sdp"])
                    elif kind == "track-published" and msg.get("mid"):
                        self.participant_of_mid[msg["mid"]] = msg["participant_id"]
                    elif kind == "error":
                        self.errors.append(msg)
                        _log(f"[{self.label}] server error: {msg.get('code')} {msg.get('message', '')}"[:300])
                except Exception as exc:  # a broken negotiation must show, not hang the run silently
                    _log(f"[{self.label}] negotiation failed: {type(exc).__name__}: {exc}")

    async def _on_offer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for t in self.pc.getTransceivers():
            glue.capture_transceiver(t, self._on_send, _nothing)
        self._read_sdp(sdp)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.ws.send(json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp}))

    def _read_sdp(self, sdp: str) -> None:
        """Video and RTX payload types, and which mid each offered SSRC belongs to."""
        video = False
        mid = ""
        for line in sdp.splitlines():
            if line.startswith("m="):
                video, mid = line.startswith("m=video"), ""
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=ssrc:") and mid:
                self.mid_of_ssrc.setdefault(int(line[7:].split()[0]), mid)
            elif video and line.startswith("a=rtpmap:"):
                pt, enc = line[9:].split(" ", 1)
                (self.rtx_pts if enc.lower().startswith("rtx/") else self.video_pts).add(int(pt))

    # -- receiving --
    def _count(self, data: bytes) -> bool:
        """Count one SRTP packet from its clear header; True while the stream still needs decrypting."""
        key = data[8:12]
        s = self.streams.get(key)
        seq = data[2] << 8 | data[3]
        if s is None:
            pt = data[1] & 0x7F
            kind = "video" if pt in self.video_pts else "rtx" if pt in self.rtx_pts else "audio"
            s = self.streams[key] = _In(kind, seq)
        s.packets += 1
        if seq != s.next_seq:
            gap = (seq - s.next_seq) & 0xFFFF
            if gap < 0x8000:
                s.lost += gap
            s.broken = True
        s.next_seq = (seq + 1) & 0xFFFF
        if s.kind != "video":
            return False
        if data[1] & 0x80:
            if not s.broken:
                s.frames += 1
            s.broken = False
        return s.first_frame_at is None

    def _on_decrypted(self, data: bytes, now: float) -> None:
        """A decrypted packet of a video stream still waiting for its first frame (a keyframe run, complete)."""
        self.decrypted += 1
        s = self.streams.get(data[8:12])
        if s is None or s.first_frame_at is not None:
            return
        h = parse_rtp(data)
        if is_keyframe("vp8", memoryview(data)[h.payload_offset : h.payload_end]):
            s.key_ts, s.key_next = h.timestamp, (h.sequence + 1) & 0xFFFF
        elif s.key_ts is not None and h.timestamp == s.key_ts and h.sequence == s.key_next:
            s.key_next = (h.sequence + 1) & 0xFFFF
        else:
            s.early += s.key_ts is None
            s.key_ts = None
            return
        if h.marker:
            s.first_frame_at = now
            self.first_frame.set()

    def _on_rtcp(self, data: bytes) -> None:
        if self.video is None:
            return
        with contextlib.suppress(ValueError):
            for item in parse_rtcp(data):
                if (isinstance(item, Pli) and item.media_ssrc == self.video.ssrc) or (
                        isinstance(item, Fir) and any(e[0] == self.video.ssrc for e in item.entries)):
                    self.keyframes_requested += 1
                    self.want_key = True

    def first_frames(self) -> dict[str, float]:
        """Publisher participant id (or SSRC) -> monotonic time of its first complete keyframe frame here."""
        out = {}
        for key, s in self.streams.items():
            if s.kind == "video" and s.first_frame_at is not None:
                ssrc = int.from_bytes(key, "big")
                who = self.participant_of_mid.get(self.mid_of_ssrc.get(ssrc, ""), str(ssrc))
                out[who] = s.first_frame_at
        return out

    def video_streams(self) -> list[_In]:
        return [s for s in self.streams.values() if s.kind == "video"]

    # -- publishing (called by Sender) --
    def _send(self, packet: bytes) -> None:
        try:
            self.sock.sendto(self.srtp.protect(packet), self.addr)  # type: ignore[union-attr]
            self.sent_packets += 1
        except (BlockingIOError, OSError, ValueError):
            self.send_errors += 1

    def send_frame(self, now: float) -> None:
        media, out = self.media, self.video
        assert media is not None and out is not None
        i = self.frame_n % len(media.frames)
        payloads = media.frames[i]
        if self.want_key and not media.keyframes[i]:
            payloads = media.intra[i]
            self.intra_sent += 1
        self.want_key = False
        ts = self.frame_n * VIDEO_TICKS
        ast = abs_send_time(now)
        desc_tail = 0x8000 | self.picture_id
        last = len(payloads) - 1
        for j, payload in enumerate(payloads):
            head = out.header(j == last, ts, ast)
            self._send(head + _VP8_DESC.pack(0x90 if j == 0 else 0x80, 0x80, desc_tail) + payload)
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        self.frame_n += 1
        self.sent_frames += 1

    def send_audio(self) -> None:
        media, out = self.media, self.audio
        assert media is not None and out is not None
        payload = media.audio[self.audio_n % len(media.audio)]
        self._send(out.header(False, self.audio_n * AUDIO_TICKS, 0) + payload)
        self.audio_n += 1

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
        if self.sock is not None:
            self.sock.close()


async def _nothing(*_args: Any) -> None:
    return None


class Sender:
    """One loop for every publisher of the process: each turn sends the frames and audio packets that are due."""

    def __init__(self) -> None:
        self.publishers: list[LoadPeer] = []
        self._task: asyncio.Task[None] | None = None
        self.late_resyncs = 0

    def add(self, peer: LoadPeer) -> None:
        self.publishers.append(peer)
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def remove(self, peer: LoadPeer) -> None:
        with contextlib.suppress(ValueError):
            self.publishers.remove(peer)

    async def _run(self) -> None:
        frame, ptime = 1 / FPS, AUDIO_PTIME
        while True:
            now = time.monotonic()
            due = now + ptime
            for p in self.publishers:
                if not p.connected.is_set() or p.video is None or p.audio is None:
                    continue
                if now - p.next_video > 0.5:  # starved for half a second: skip ahead instead of bursting
                    self.late_resyncs += 1
                    p.next_video, p.next_audio = now, now
                while p.next_video <= now:
                    p.send_frame(now)
                    p.next_video += frame
                while p.next_audio <= now:
                    p.send_audio()
                    p.next_audio += ptime
                due = min(due, p.next_video, p.next_audio)
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Pinger:
    """The server closes a signalling connection that stays silent (WS_IDLE_TIMEOUT_SECONDS)."""

    def __init__(self, peers: Callable[[], list[LoadPeer]]) -> None:
        self._peers = peers
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            for p in self._peers():
                await p.ping()

    def cancel(self) -> None:
        self._task.cancel()


# ---- windows ------------------------------------------------------------------------------------------------

def snapshot(peers: list[LoadPeer]) -> dict[int, tuple[int, int, int, int, dict[bytes, tuple[int, int]]]]:
    return {id(p): (p.sent_packets, p.sent_frames, p.keyframes_requested, p.send_errors,
                    {k: (s.packets, s.frames) for k, s in p.streams.items()}) for p in peers}


def window(peers: list[LoadPeer], before: dict[int, Any], seconds: float) -> dict[str, Any]:
    """Received packets and complete frames per (viewer, video stream) over `seconds` since `before`."""
    pkts = 0
    fps: list[float] = []
    sent = frames_sent = 0
    for p in peers:
        b = before.get(id(p), (0, 0, 0, 0, {}))
        sent += p.sent_packets - b[0]
        frames_sent += p.sent_frames - b[1]
        for k, s in p.streams.items():
            bp, bf = b[4].get(k, (0, 0))
            pkts += s.packets - bp
            if s.kind == "video":
                fps.append((s.frames - bf) / seconds)
    return {"pkts_per_s_total": round(pkts / seconds, 1), "sent_pkts_per_s": round(sent / seconds, 1),
            "video_streams": len(fps), "fps_min": round(min(fps), 2) if fps else None,
            "fps_mean": round(statistics.fmean(fps), 2) if fps else None,
            "publisher_fps": round(frames_sent / seconds / max(1, sum(p.media is not None for p in peers)), 2)}


def tokens(secret: str) -> Any:
    from signaling.tokens import TokenService

    return TokenService(secret)


# ---- CLI: one publisher, N subscribers (for bench.cluster) -------------------------------------------------

async def one_room(url: str, room: str, secret: str, subscribers: int, seconds: float, server_pid: int,
                   label: str, measure_at: float | None = None) -> dict[str, Any]:
    """One publisher and `subscribers` in `room`; the window starts after the joins, or at `measure_at` (a
    time.monotonic() value, shared by processes of one machine) so that several generators measure together."""
    glue.use_send_path("reference")  # the client process sends through Sender, never the SFU's fast path
    glue.use_host_addresses(["127.0.0.1"])
    media = replay()
    ts = tokens(secret)
    ws_url = f"{url.rstrip('/')}/ws/{room}"

    def token(role: str, name: str, grants: list[str]) -> str:
        return ts.issue_join(room_id=room, role=role, name=name, grants=grants, ttl_seconds=3600)[0]

    sender = Sender()
    pub = LoadPeer(ws_url, token("presiding_judge", "publisher", ["publish", "subscribe"]), f"{label} pub", media)
    peers = [pub]
    pinger = Pinger(lambda: peers)
    try:
        await pub.start()
        await asyncio.wait_for(pub.connected.wait(), 30)
        sender.add(pub)
        subs = [LoadPeer(ws_url, token("plaintiff", f"sub{i}", ["subscribe"]), f"{label} sub{i}", None)
                for i in range(subscribers)]
        peers.extend(subs)
        for i in range(0, len(subs), 8):  # joins in small batches, as people arrive
            await asyncio.gather(*(s.start() for s in subs[i : i + 8]))
        await wait_first_frames(subs, 1, 60)
        await asyncio.sleep(1.0)  # settle: joins' keyframes and renegotiations are over
        if measure_at is not None:
            if time.monotonic() > measure_at:
                _log(f"[{label}] joins took past the common window start by {time.monotonic() - measure_at:.1f} s")
            await asyncio.sleep(max(0.0, measure_at - time.monotonic()))
        before = snapshot(peers)
        me = os.getpid()
        mine0 = wait_seconds(me)
        cpu0, wait0, own0, t0 = cpu_seconds(server_pid), wait_seconds(server_pid), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wait1, own1, t1 = cpu_seconds(server_pid), wait_seconds(server_pid), time.process_time(), time.monotonic()
        mine1 = wait_seconds(me)
        w = window(peers, before, t1 - t0)
        firsts = [s.first_frames() for s in subs]
        ff = sorted((min(f.values()) - s.join_sent) * 1000 for f, s in zip(firsts, subs, strict=True) if f)
        return {"subscribers": subscribers, "window_s": round(t1 - t0, 3),
                "server_cpu_s_per_s": round((cpu1 - cpu0) / (t1 - t0), 4),
                "server_wait_s_per_s": round((wait1 - wait0) / (t1 - t0), 4),
                "client_cpu_s_per_s": round((own1 - own0) / (t1 - t0), 4),
                "client_wait_s_per_s": round((mine1 - mine0) / (t1 - t0), 4),
                "pkts_per_s_total": w["pkts_per_s_total"], "fps_per_sub_min": w["fps_min"],
                "fps_per_sub_mean": w["fps_mean"], "publisher_fps": w["publisher_fps"],
                "first_frame_ms_p50": round(statistics.median(ff), 1) if ff else None,
                "first_frame_missing": len(subs) - len(ff), "send_errors": pub.send_errors}
    finally:
        pinger.cancel()
        await sender.stop()
        await asyncio.gather(*(p.close() for p in peers))


async def wait_first_frames(peers: list[LoadPeer], streams_each: int, within: float) -> None:
    """Until every peer has a first frame on `streams_each` video streams (polled at 20 ms; a bench, not a test)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(sum(s.first_frame_at is not None for s in p.video_streams()) >= streams_each for p in peers):
            return
        await asyncio.sleep(0.02)
    missing = sum(sum(s.first_frame_at is not None for s in p.video_streams()) < streams_each for p in peers)
    _log(f"{missing} of {len(peers)} clients got no first frame in {within:g} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="ws://127.0.0.1:PORT (the signalling base)")
    ap.add_argument("--room", default="loadgen")
    ap.add_argument("--secret", required=True, help="the server's HEARING_TOKEN_SECRET")
    ap.add_argument("--subscribers", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--label", default="loadgen")
    ap.add_argument("--measure-at", type=float, help="start the window at this time.monotonic() value")
    args = ap.parse_args(argv)
    row = asyncio.run(one_room(args.url, args.room, args.secret, args.subscribers, args.seconds, args.server_pid,
                               args.label, args.measure_at))
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
