"""RTCP stays coherent through the SFU: translated Sender Reports, feedback only for the right SSRCs, codecs."""

from __future__ import annotations

import asyncio
import time

import pytest

from hearing.roles import Role
from media import aiortc_glue as glue
from media import rtcp
from media.rtp import parse_rtp
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient

ROOM = "rtcp-room"


async def participant(server: LiveServer, role: Role, name: str, **kw) -> MediaClient:  # type: ignore[no-untyped-def]
    return await MediaClient.join(server, ROOM, await server.token(ROOM, role, name), **kw)


async def dtls_of(client: MediaClient):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(20):
        while (dtls := glue.dtls_transport(client.pc)) is None:
            await asyncio.sleep(0.01)
    return dtls


async def spy(client: MediaClient) -> tuple[list[tuple[float, bytes]], list[tuple[float, bytes]]]:
    """Record (wall-clock arrival, bytes) of every RTP and RTCP packet a client receives."""
    dtls = await dtls_of(client)
    rtp_seen: list[tuple[float, bytes]] = []
    rtcp_seen: list[tuple[float, bytes]] = []
    orig_rtp, orig_rtcp = dtls._handle_rtp_data, dtls._handle_rtcp_data

    async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
        rtp_seen.append((time.time(), data))
        await orig_rtp(data, arrival_time_ms)

    async def on_rtcp(data: bytes) -> None:
        rtcp_seen.append((time.time(), data))
        await orig_rtcp(data)

    dtls._handle_rtp_data, dtls._handle_rtcp_data = on_rtp, on_rtcp
    return rtp_seen, rtcp_seen


async def test_sender_reports_are_translated_for_lip_sync(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        rtp_seen, rtcp_seen = await spy(party)
        await party.wait_frames(judge.participant_id, "video", 5)
        peer = server.services.sfu.rooms[ROOM].peers[party.participant_id]
        out_ssrcs = {f.out_ssrc: f.track.codec.clock_rate for f in peer.forwards.values()}

        def srs() -> list[tuple[float, rtcp.SenderReport]]:
            return [(t, i) for t, d in rtcp_seen for i in rtcp.parse_rtcp(d) if isinstance(i, rtcp.SenderReport)]

        async with asyncio.timeout(30):
            while {sr.ssrc for _, sr in srs()} != set(out_ssrcs):
                await asyncio.sleep(0.05)
        for _, sr in srs():
            assert sr.ssrc in out_ssrcs and sr.ntp != 0 and sr.packet_count > 0 and sr.octet_count > 0
            rate = out_ssrcs[sr.ssrc]
            sr_time = rtcp.ntp_to_seconds(sr.ntp)
            # Packets of that SSRC received near the SR's instant must sit on the SR's NTP↔RTP line.
            near = [(t, parse_rtp(d)) for t, d in rtp_seen if parse_rtp(d).ssrc == sr.ssrc and abs(t - sr_time) < 1.0]
            assert near, "no packets near the sender report"
            errors = []
            for t, h in near:
                expected = (sr.rtp_timestamp + round((t - sr_time) * rate)) & 0xFFFFFFFF
                diff = ((h.timestamp - expected + 2**31) % 2**32) - 2**31
                errors.append(abs(diff) / rate)
            assert min(errors) < 0.15, f"SR mapping off by {min(errors):.3f} s"
        await judge.close()
        await party.close()


async def test_feedback_reaching_a_publisher_names_only_its_own_ssrcs(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        _, rtcp_seen = await spy(judge)
        subs = [await participant(server, Role.PLAINTIFF, f"p{i}", publish_video=False, publish_audio=False)
                for i in range(2)]
        for s in subs:
            await s.wait_frames(judge.participant_id, "video", 30)
        # A subscriber asks for a keyframe: the publisher gets a PLI for its own video SSRC.
        video_ssrc = next(t.sender._ssrc for t in judge.pc.getTransceivers() if t.kind == "video")
        sub_peer = server.services.sfu.rooms[ROOM].peers[subs[0].participant_id]
        fwd = next(f for f in sub_peer.forwards.values() if f.track.kind == "video")
        sub_dtls = await dtls_of(subs[0])
        await asyncio.sleep(0.4)  # past the PLI throttle window of the joins
        n_before = len(rtcp_seen)
        await sub_dtls._send_rtp(rtcp.pli(12345, fwd.out_ssrc))

        def plis() -> list[rtcp.Pli]:
            return [i for _, d in rtcp_seen[n_before:] for i in rtcp.parse_rtcp(d) if isinstance(i, rtcp.Pli)]

        async with asyncio.timeout(10):
            while not plis():
                await asyncio.sleep(0.02)
        assert all(p.media_ssrc == video_ssrc for p in plis())
        await asyncio.sleep(2.5)  # at least two RTCP intervals of receiver reports and REMB
        own = {t.sender._ssrc for t in judge.pc.getTransceivers()}
        items = [i for _, d in rtcp_seen for i in rtcp.parse_rtcp(d)]
        rrs = [i for i in items if isinstance(i, rtcp.ReceiverReport)]
        rembs = [i for i in items if isinstance(i, rtcp.Remb)]
        assert rrs and rembs
        for rr in rrs:
            assert rr.reports and all(b.ssrc in own for b in rr.reports)
        for remb in rembs:
            assert set(remb.ssrcs) <= own and remb.bitrate > 0
        for i in items:
            if isinstance(i, rtcp.Nack | rtcp.Pli):
                assert i.media_ssrc in own
        for c in (judge, *subs):
            await c.close()


@pytest.mark.parametrize("codec", ["H264"])
async def test_h264_room(tmp_path, codec: str) -> None:
    async with live_server(tmp_path, video_codec=codec) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        rec = await party.wait_frames(judge.participant_id, "video", 15)
        assert rec.sizes[0] == (320, 240)
        assert "H264/90000" in party.pc.remoteDescription.sdp
        assert "VP8/90000" not in party.pc.remoteDescription.sdp
        track = next(t for t in server.services.sfu.rooms[ROOM].tracks.values() if t.kind == "video")
        assert track.codec.name.upper() == "H264"
        for c in (judge, party):
            await c.close()


def renumber(sdp: str) -> str:
    """Number an aiortc offer the way Chromium does (different payload types and extension ids)."""
    swaps = {"a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid": "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
             "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level":
                 "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
             "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time":
                 "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"}
    for old, new in swaps.items():
        sdp = sdp.replace(old, new)
    pts = {"96": "111", "97": "96", "98": "97"}  # opus 111, VP8 96, its RTX 97
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("m=audio") or line.startswith("m=video"):
            head, fmts = line.split(" ")[:3], line.split(" ")[3:]
            line = " ".join(head + [pts.get(f, f) for f in fmts])
        elif line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            key, rest = line.split(":", 1)
            pt, tail = rest.split(" ", 1)
            tail = tail.replace("apt=98", "apt=97").replace("apt=97", "apt=96") if key == "a=fmtp" else tail
            line = f"{key}:{pts.get(pt, pt)} {tail}"
        out.append(line)
    return "\r\n".join(out)


async def test_server_offers_keep_the_numbering_the_client_chose(tmp_path) -> None:
    """Browsers refuse re-offers that renumber a negotiated m-line, and one id must mean one URI in a BUNDLE."""
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        ws = await server.client(ROOM, await server.token(ROOM, Role.PLAINTIFF, "张"))
        party = MediaClient(ws)
        party.joined = await ws.expect("joined")
        for track in party.local_tracks:
            party.pc.addTransceiver(track, direction="sendonly")
        await party.pc.setLocalDescription(await party.pc.createOffer())
        await ws.send({"type": "offer", "sdp": renumber(party.pc.localDescription.sdp)})
        await ws.expect("answer")
        offer = await ws.expect("offer")  # adds the judge's tracks on new m-lines
        extmaps = {line.split(" ", 1)[1]: line.split(" ")[0].split(":")[1]
                   for line in offer["sdp"].split("\r\n") if line.startswith("a=extmap:")}
        assert extmaps["urn:ietf:params:rtp-hdrext:sdes:mid"] == "4"
        assert extmaps["urn:ietf:params:rtp-hdrext:ssrc-audio-level"] == "1"
        assert extmaps["http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"] == "2"
        for line in offer["sdp"].split("\r\n"):
            if line.startswith("a=extmap:"):
                uri = line.split(" ", 1)[1]
                assert line.split(" ")[0].split(":")[1] == extmaps[uri]  # same id on every m-line
        assert "a=rtpmap:111 opus/48000/2" in offer["sdp"] and "a=rtpmap:96 VP8/90000" in offer["sdp"]
        assert "a=rtpmap:97 opus" not in offer["sdp"] and "a=rtpmap:97 VP8" not in offer["sdp"]
        await ws.close()
        await judge.close()
