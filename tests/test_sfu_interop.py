"""What independent WebRTC stacks do that aiortc peers do not, reproduced with aiortc peers crafted to do it.

GStreamer's payloaders send 1400-byte RTP packets; Firefox answers a re-offer that arrives before DTLS is up with
mixed a=setup values; some peers answer every re-offer with a=setup:active; peers without the room's video codec;
peers whose DTLS certificate is RSA. tests/test_interop_gstreamer.py runs the real GStreamer.
"""

from __future__ import annotations

import re

import aiortc.codecs.vpx
import httpx
import pytest

from hearing.roles import Role
from media import aiortc_glue as glue
from media.tracks import PROBLEMS
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient, spy_largest_packet

ROOM = "interop-room"


@pytest.fixture
async def server(tmp_path):
    async with live_server(tmp_path) as s:
        yield s


async def participant(server: LiveServer, role: Role, name: str, **kw) -> MediaClient:
    return await MediaClient.join(server, ROOM, await server.token(ROOM, role, name), **kw)


async def test_publishers_of_1400_byte_packets_keep_their_media_both_ways(server: LiveServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # aiortc's VP8 packetiser stops at 1300 bytes; GStreamer's at 1400 (RTP header included). With mid and
    # abs-send-time from aiortc's sender these packets are ~1400 bytes, and the SFU's rewrite adds more.
    monkeypatch.setattr(aiortc.codecs.vpx, "PACKET_MAX", 1376)
    judge = await participant(server, Role.PRESIDING_JUDGE, "王", wide_srtp=True)
    clerk = await participant(server, Role.CLERK, "李", wide_srtp=True)
    await clerk.wait_frames(judge.participant_id, "video", 1)
    await judge.wait_frames(clerk.participant_id, "video", 1)
    largest = spy_largest_packet(server.services.sfu.rooms[ROOM].peers[judge.participant_id])
    # Keyframes (several packets each) keep coming while the SFU asks for them; 60 frames span many packets.
    await clerk.wait_frames(judge.participant_id, "video", 90)
    await judge.wait_frames(clerk.participant_id, "video", 90)
    assert largest[0] > 1356, largest  # pylibsrtp's own limit: these would have failed to protect
    await clerk.wait_frames(judge.participant_id, "audio", 100)
    await judge.wait_frames(clerk.participant_id, "audio", 100)
    peers = server.services.sfu.rooms[ROOM].peers
    assert all(p.pc.connectionState == "connected" for p in peers.values())
    for c in (judge, clerk):
        await c.close()


async def test_a_subscriber_whose_send_fails_costs_nobody_else_their_media(server: LiveServer) -> None:
    judge = await participant(server, Role.PRESIDING_JUDGE, "王")
    broken = await participant(server, Role.CLERK, "李", publish_video=False, publish_audio=False)
    fine = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
    await broken.wait_frames(judge.participant_id, "video", 1)
    await fine.wait_frames(judge.participant_id, "video", 1)
    peer = server.services.sfu.rooms[ROOM].peers[broken.participant_id]

    def send_fails(packet: bytes) -> bool:
        raise OSError("the subscriber's socket is gone")

    for fwd in peer.forwards.values():  # the broken subscriber's transport raises on every send from now on
        fwd.send = send_fails
    errors = PROBLEMS.send_errors
    before = fine.from_publisher(judge.participant_id, "video").frames
    await fine.wait_frames(judge.participant_id, "video", before + 60)
    await fine.wait_frames(judge.participant_id, "audio", 100)
    assert PROBLEMS.send_errors > errors
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        metrics = (await http.get("/metrics")).text
    assert re.search(r'hearing_media_forward_dropped_packets_total\{reason="send_error"\} [1-9]', metrics)
    publisher = server.services.sfu.rooms[ROOM].peers[judge.participant_id]
    assert publisher.pc.connectionState == "connected"
    assert publisher.tap.dtls.state == "connected"
    for c in (judge, broken, fine):
        await c.close()


def mixed_setup(sdp: str, n: int) -> str:
    """Firefox's answer to a re-offer made before DTLS is up: old m-lines passive, new bundled ones active."""
    sections = re.split(r"(?=^m=)", sdp, flags=re.M)
    out = [sections[0]]
    for i, section in enumerate(sections[1:]):
        out.append(re.sub(r"a=setup:\w+", "a=setup:passive" if i < 2 else "a=setup:active", section))
    return "".join(out)


def always_active(sdp: str, n: int) -> str:
    return re.sub(r"a=setup:\w+", "a=setup:active", sdp)


@pytest.mark.parametrize("munge", [mixed_setup, always_active], ids=["mixed-setup", "always-active"])
async def test_renegotiation_never_changes_the_dtls_role(server: LiveServer, munge) -> None:
    judge = await participant(server, Role.PRESIDING_JUDGE, "王")
    clerk = await participant(server, Role.CLERK, "李")
    await clerk.wait_frames(judge.participant_id, "video", 1)
    # The late joiner's first answer arrives with the SFU's re-offer (existing publishers) right behind it.
    late = await participant(server, Role.PLAINTIFF, "张", munge_answer=munge)
    await late.wait_frames(judge.participant_id, "video", 30, timeout=40)
    await late.wait_frames(clerk.participant_id, "audio", 50, timeout=40)
    await judge.wait_frames(late.participant_id, "video", 30, timeout=40)
    assert late.offers_answered >= 1
    sfu_side = server.services.sfu.rooms[ROOM].peers[late.participant_id].tap.dtls
    assert sfu_side._role == "client"  # what the SFU's first answer (a=setup:active) said
    for c in (judge, clerk, late):
        await c.close()


async def test_dtls_role_stays_with_the_first_answer() -> None:
    pc = glue.new_peer_connection([])
    pc.addTransceiver("audio", direction="sendonly")
    dtls = pc.getTransceivers()[0].sender.transport
    glue.pin_dtls_role(dtls)
    dtls._set_role("client")
    dtls._set_role("server")
    assert dtls._role == "client"
    await pc.close()


def _rtp(payload_len: int, seq: int) -> bytes:
    """A VP8 keyframe packet with a one-byte-header extension block (abs-send-time, id 3)."""
    import struct

    header = struct.pack("!BBHII", 0x90, 96, seq, 1000 + seq, 0x1234)
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(3 << 4) | 2, 1, 2, 3])
    # VP8 descriptor S=1 PID=0, then a key frame tag (P=0) and the key frame start code 9d 01 2a
    payload = bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + bytes(payload_len - 7)
    return header + ext + payload


@pytest.mark.parametrize(("payload_len", "outcome"), [(1300, "kept"), (1440, "stripped"), (1450, "dropped")])
def test_a_rewritten_packet_over_the_limit_loses_its_extensions_or_is_dropped(payload_len: int,
                                                                             outcome: str) -> None:
    from media.rtp import URI_ABS_SEND_TIME, URI_MID, parse_rtp
    from media.tracks import MAX_RTP_OUT, CodecInfo, Forward, PublishedTrack

    track = PublishedTrack("pub", "t1", "video", 0x1234, CodecInfo("VP8", 90000, 96),
                           {URI_ABS_SEND_TIME: 3}, request_keyframe=lambda t: None)
    sent: list[bytes] = []
    fwd = Forward(track, "sub", out_ssrc=0x5678, rtx_ssrc=None, codec=CodecInfo("VP8", 90000, 100), mid="4",
                  header_extensions={URI_MID: 1, URI_ABS_SEND_TIME: 2}, send=lambda p: sent.append(p) or True,
                  initial_sequence=7, initial_timestamp=0)
    track.forwards.append(fwd)
    stripped, oversize = PROBLEMS.stripped, PROBLEMS.oversize
    data = _rtp(payload_len, 1)
    track.on_packet(data, parse_rtp(data), 1.0)
    if outcome == "dropped":
        assert sent == [] and PROBLEMS.oversize == oversize + 1
        return
    assert len(sent) == 1 and len(sent[0]) <= MAX_RTP_OUT
    h = parse_rtp(sent[0])
    assert (h.ssrc, h.payload_type) == (0x5678, 100)
    assert bytes(sent[0][h.payload_offset:h.payload_end]) == data[-payload_len:]
    assert (h.ext_offset >= 0) == (outcome == "kept")
    assert PROBLEMS.stripped == stripped + (outcome == "stripped")


@pytest.fixture
async def h264_server(tmp_path):
    async with live_server(tmp_path, video_codec="H264") as s:
        yield s


def reject_forwarded_video(sdp: str, n: int) -> str:
    """A browser without H264 answering the SFU's H264 m-lines: rejected, port 0 (its own m-lines are sendonly)."""
    sections = re.split(r"(?=^m=)", sdp, flags=re.M)
    return "".join(re.sub(r"^m=video \d+ ", "m=video 0 ", s) if s.startswith("m=video") and "a=recvonly" in s
                   else s for s in sections)


async def test_a_vp8_only_peer_in_an_h264_room_keeps_audio_and_is_told_why_it_has_no_video(
        h264_server: LiveServer) -> None:
    server = h264_server
    judge = await participant(server, Role.PRESIDING_JUDGE, "王")
    vp8 = await participant(server, Role.PLAINTIFF, "张", video_codec="VP8", munge_answer=reject_forwarded_video)
    await vp8.wait_for(lambda: vp8.notices, timeout=30)
    assert vp8.notices == [{"type": "media-notice", "code": "no_common_video_codec",
                            "params": {"offered": "VP8", "room": "H264"}}]
    answer = vp8.pc.remoteDescription.sdp
    assert re.search(r"^m=audio [1-9]", answer, re.M) and re.search(r"^m=video 0 ", answer, re.M)
    await vp8.wait_frames(judge.participant_id, "audio", 50)  # audio both ways
    await judge.wait_frames(vp8.participant_id, "audio", 50)
    assert judge.from_publisher(vp8.participant_id, "video") is None
    peer = server.services.sfu.rooms[ROOM].peers[vp8.participant_id]
    assert [f.track.kind for f in peer.forwards.values()] == ["audio"]  # the judge's video: refused by the peer
    assert vp8.errors == [] and judge.errors == [] and len(vp8.notices) == 1
    # Everyone who joins later is offered the VP8 peer's audio only, and the rejected m-line stays rejected.
    late = await participant(server, Role.CLERK, "李", publish_video=False, publish_audio=False)
    await late.wait_frames(vp8.participant_id, "audio", 20)
    assert late.from_publisher(vp8.participant_id, "video") is None
    assert vp8.errors == []
    for c in (judge, vp8, late):
        await c.close()


async def test_a_peer_with_an_rsa_dtls_certificate_gets_and_sends_media(server: LiveServer) -> None:
    judge = await participant(server, Role.PRESIDING_JUDGE, "王")
    rsa_peer = await participant(server, Role.PLAINTIFF, "张", rsa_certificate=True)
    await rsa_peer.wait_frames(judge.participant_id, "video", 20, timeout=40)
    await judge.wait_frames(rsa_peer.participant_id, "video", 20, timeout=40)
    cert = rsa_peer.pc.getTransceivers()[0].sender.transport._RTCDtlsTransport__local_certificate
    assert type(cert).__name__ == "RsaCertificate"
    for c in (judge, rsa_peer):
        await c.close()
