"""Malformed RTP/RTCP and invalid SDP never crash the SFU (hypothesis against a live server)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hearing.roles import Role
from media import aiortc_glue as glue
from signaling.hub import SessionInfo
from signaling.protocol import Offer
from tests.live import live_server
from tests.media_client import MediaClient

ROOM = "fuzz"

rtp_like = st.one_of(
    st.binary(min_size=0, max_size=200),
    # version 2 headers with arbitrary flags, CSRC counts, extension and padding claims
    st.tuples(st.integers(0x80, 0xBF), st.integers(0, 255), st.binary(min_size=10, max_size=120)).map(
        lambda t: bytes([t[0], t[1]]) + t[2]),
)
rtcp_like = st.one_of(
    st.binary(min_size=0, max_size=200),
    st.tuples(st.integers(0x80, 0x9F), st.sampled_from([200, 201, 202, 203, 205, 206]), st.integers(0, 255),
              st.binary(min_size=0, max_size=100)).map(lambda t: bytes([t[0], t[1], 0, t[2]]) + t[3]),
)
sdp_lines = st.sampled_from([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "a=mid:0", "a=mid:1", "a=sendrecv", "a=recvonly", "a=rtpmap:111 opus/48000/2", "a=rtpmap:96 VP8/90000",
    "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901", "a=fingerprint:sha-256 AA:BB", "a=setup:actpass",
    "a=group:BUNDLE 0 1", "a=rtcp-mux", "a=ssrc:1 cname:x", "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "c=IN IP4 0.0.0.0", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host", "garbage", "m=", "a=rtpmap:x",
])


async def test_garbage_packets_and_offers_never_crash_the_sfu(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
        party = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PLAINTIFF, "张"),
                                       publish_video=False, publish_audio=False)
        await party.wait_frames(judge.participant_id, "video", 5)
        sfu = server.services.sfu
        peers = list(sfu.rooms[ROOM].peers.values())
        loop = asyncio.get_running_loop()
        failures: list[BaseException] = []
        loop.set_exception_handler(lambda _loop, ctx: failures.append(ctx.get("exception") or RuntimeError(ctx)))

        @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
        @given(rtp=rtp_like, rtcp=rtcp_like)
        def feed(rtp: bytes, rtcp: bytes) -> None:
            for peer in peers:
                dtls = glue.dtls_transport(peer.pc)
                assert dtls is not None
                pending.append(dtls._handle_rtp_data(rtp, 0))
                pending.append(dtls._handle_rtcp_data(rtcp))

        pending: list = []
        feed()
        for coro in pending:
            await coro  # any exception escaping a handler fails the test here
        session = SessionInfo(ROOM, "p_fuzzer", "s_fuzzer", "plaintiff", frozenset({"publish", "subscribe"}))

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(sdp_lines, max_size=25))
        def offers(lines: list[str]) -> None:
            offers_pending.append("\r\n".join(lines) + "\r\n")

        offers_pending: list[str] = []
        offers()
        for sdp in offers_pending:
            await sfu.handle(session, Offer(sdp=sdp))  # errors go to the client; nothing may raise
            await sfu.participant_left(ROOM, "p_fuzzer")
        rec = party.from_publisher(judge.participant_id, "video")
        assert rec is not None
        start = rec.frames
        await party.wait_frames(judge.participant_id, "video", start + 15)
        assert not failures, failures
        for c in (judge, party):
            await c.close()
