"""The cheap load generator (bench.loadgen) against a real `hearing serve`: a replayed publisher reaches counting
subscribers through the SFU, keyframe requests are answered, and subscribers stop decrypting after the first frame.
No timing assertions: the figures are the bench's (`python -m bench.capacity`)."""

from __future__ import annotations

import asyncio

from bench import loadgen
from bench.loadgen import MID_URI, LoadPeer, Sender, _Out
from bench.sfu import SECRET, server
from media import aiortc_glue as glue
from media.rtp import get_extension, parse_rtp
from tests.conftest import until

AST_URI = loadgen.AST_URI


def test_replayed_header_carries_the_negotiated_ssrc_payload_type_and_extensions() -> None:
    out = _Out(0x1234ABCD, 96, "1", {MID_URI: 4, AST_URI: 3}, audio=False)
    first, second = out.header(False, 0, 0x0ABCDE), out.header(True, 3000, 7)
    h1, h2 = parse_rtp(first + b"\x90\x80\x80\x01x"), parse_rtp(second + b"\x80\x80\x80\x01x")
    assert (h1.ssrc, h1.payload_type, h1.marker, h2.marker) == (0x1234ABCD, 96, False, True)
    assert h2.sequence == (h1.sequence + 1) & 0xFFFF and (h2.timestamp - h1.timestamp) & 0xFFFFFFFF == 3000
    assert get_extension(first + b"x", h1, 4) == b"1" and get_extension(first + b"x", h1, 3) == b"\x0a\xbc\xde"
    bare = _Out(5, 111, "0", {}, audio=True).header(False, 0, 0)
    assert len(bare) == 12 and parse_rtp(bare + b"o").payload_type == 111


def _packet(seq: int, marker: bool, pt: int = 96, ssrc: bytes = b"\0\0\0\7") -> bytes:
    return bytes([0x80, pt | (0x80 if marker else 0)]) + seq.to_bytes(2, "big") + b"\0\0\0\1" + ssrc + b"payload"


def test_counting_from_the_clear_header_counts_complete_frames_and_gaps() -> None:
    async def run() -> LoadPeer:
        peer = LoadPeer("ws://unused", "token", "count", None)
        peer.video_pts = {96}
        # a frame joined in the middle (not complete), two complete frames, one frame with a packet missing
        for seq, marker in [(10, True), (11, False), (12, True), (13, True), (14, False), (16, True), (17, True)]:
            peer._count(_packet(seq, marker))
        await peer.pc.close()
        return peer

    peer = asyncio.run(run())
    (stream,) = peer.streams.values()
    assert (stream.kind, stream.packets, stream.frames, stream.lost) == ("video", 7, 3, 1)


async def test_a_replayed_publisher_reaches_subscribers_that_count_without_decrypting() -> None:
    glue.use_host_addresses(["127.0.0.1"])
    media = loadgen.replay()
    tokens = loadgen.tokens(SECRET)

    def token(role: str, name: str, grants: list[str]) -> str:
        return tokens.issue_join(room_id="smoke", role=role, name=name, grants=grants, ttl_seconds=600)[0]

    with server("sfu", "vp8") as (port, _pid, _log):
        url = f"ws://127.0.0.1:{port}/ws/smoke"
        pub = LoadPeer(url, token("presiding_judge", "pub", ["publish", "subscribe"]), "pub", media)
        subs = [LoadPeer(url, token("plaintiff", f"s{i}", ["subscribe"]), f"s{i}", None) for i in range(2)]
        sender = Sender()
        try:
            await pub.start()
            await asyncio.wait_for(pub.connected.wait(), 60)
            sender.add(pub)
            for s in subs:
                await s.start()
            await asyncio.wait_for(asyncio.gather(*(s.first_frame.wait() for s in subs)), 60)
            assert pub.keyframes_requested >= 1 and pub.intra_sent >= 1  # the SFU's PLI answered with an intra frame
            (video,) = [st for st in subs[0].streams.values() if st.kind == "video"]
            await until(lambda: video.packets > 40, what="more video after the first frame")
            decrypted = subs[0].decrypted
            seen = video.packets
            await until(lambda: video.packets > seen + 40 and video.frames >= 5, what="40 more video packets")
            assert subs[0].decrypted == decrypted  # counted from the clear header only
            assert all(any(st.kind == "audio" and st.packets for st in s.streams.values()) for s in subs)
            assert not pub.errors and not any(s.errors for s in subs) and pub.send_errors == 0
        finally:
            await sender.stop()
            await asyncio.gather(*(p.close() for p in (pub, *subs)))
