"""An independent WebRTC stack through the SFU: Debian's GStreamer webrtcbin (tests/gst_peer.py), ICE on 127.0.0.1.

It publishes with GStreamer's default 1400-byte RTP packets and an RSA DTLS certificate, answers the SFU's
re-offers itself, and decodes what it receives (VP8, H264, Opus). Skipped when the Debian packages are missing
(scripts/ensure-system-deps.sh installs them).
"""

from __future__ import annotations

import asyncio

import pytest

from hearing.roles import Role
from tests.gst_client import GstClient, gstreamer_available
from tests.live import live_server
from tests.media_client import MediaClient, spy_largest_packet

pytestmark = [pytest.mark.gstreamer,
              pytest.mark.skipif(not gstreamer_available(), reason="GStreamer webrtcbin / python3-gi not installed")]

# The suite joins late three times; `python -m bench.interop_late_join` runs the 20 of 20.
LATE_JOIN_TRIES = 3

ROOM = "gst-room"


@pytest.fixture(params=["VP8", "H264"])
async def codec_server(request, tmp_path):
    async with live_server(tmp_path, video_codec=request.param) as s:
        yield s, request.param


async def test_gstreamer_publishes_and_subscribes_with_1400_byte_packets(codec_server) -> None:
    server, codec = codec_server
    judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
    gst = await GstClient.join(server, ROOM, await server.token(ROOM, Role.PLAINTIFF, "张"), video=codec)
    try:
        await judge.wait_frames(gst.participant_id, "video", 5)
        largest = spy_largest_packet(server.services.sfu.rooms[ROOM].peers[gst.participant_id])
        await judge.wait_frames(gst.participant_id, "video", 45)
        await judge.wait_frames(gst.participant_id, "audio", 100)
        await gst.wait_frames(judge.participant_id, "video", 30)
        await gst.wait_frames(judge.participant_id, "audio", 50)
        assert largest[0] > 1356, largest  # over pylibsrtp's own limit
        assert gst.errors == [] and gst.notices == []
    finally:
        await gst.close()
        await judge.close()


async def late_joins(server, tries: int, *, codec: str | None) -> list[float]:
    """A GStreamer peer joins a room where an aiortc judge and clerk already publish, `tries` times; each must
    get the judge's video and audio (the SFU's re-offer reaches it before DTLS is up). Seconds to media, each."""
    judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
    clerk = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.CLERK, "李"), publish_video=False)
    await clerk.wait_frames(judge.participant_id, "video", 5)
    took: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        for i in range(tries):
            start = loop.time()
            gst = await GstClient.join(server, ROOM, await server.token(ROOM, Role.PLAINTIFF, f"张{i}"), video=codec)
            try:
                await gst.wait_frames(judge.participant_id, "video", 10, timeout=30)
                await gst.wait_frames(judge.participant_id, "audio", 10, timeout=30)
                await gst.wait_frames(clerk.participant_id, "audio", 10, timeout=30)
                took.append(loop.time() - start)
                assert gst.errors == [], gst.errors
            finally:
                await gst.close()
            await clerk.wait_for(lambda: server.services.sfu.peer_count() == 2, timeout=30)
    finally:
        await judge.close()
        await clerk.close()
    return took


async def test_a_gstreamer_late_joiner_gets_media_every_time(codec_server) -> None:
    server, codec = codec_server
    took = await late_joins(server, LATE_JOIN_TRIES, codec=codec)
    assert len(took) == LATE_JOIN_TRIES


@pytest.fixture
async def h264_server(tmp_path):
    async with live_server(tmp_path, video_codec="H264") as s:
        yield s


async def test_a_vp8_only_gstreamer_peer_in_an_h264_room_keeps_audio_and_is_told_why(h264_server) -> None:
    server = h264_server
    judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
    gst = await GstClient.join(server, ROOM, await server.token(ROOM, Role.PLAINTIFF, "张"), video="VP8")
    try:
        await gst.wait_for(lambda: gst.notices, timeout=30)
        assert gst.notices == [{"type": "media-notice", "code": "no_common_video_codec",
                                "params": {"offered": "VP8", "room": "H264"}}]
        await judge.wait_frames(gst.participant_id, "audio", 50)
        await gst.wait_frames(judge.participant_id, "audio", 50)
        assert judge.from_publisher(gst.participant_id, "video") is None
        assert gst.errors == []
    finally:
        await gst.close()
        await judge.close()
