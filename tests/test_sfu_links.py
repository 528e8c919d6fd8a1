"""Per-subscriber links through the SFU with aiortc peers: a weak subscriber no longer lowers what the publisher is
asked to send (REMB upstream), its own video pauses while its audio keeps flowing, and it is told so."""

from __future__ import annotations

import asyncio

from hearing.roles import Role
from media import aiortc_glue as glue
from media import rtcp
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient
from tests.test_sfu_rtcp import spy

ROOM = "links-room"
WEAK_BPS = 60_000  # a village station's downlink estimate: less than audio plus the judge's video
WEAK_LOSS = 0.2  # ... and its receiver reports show loss (a REMB alone does not pause video)
STRONG_BPS = 5_000_000  # the courthouse LAN


async def participant(server: LiveServer, role: Role, name: str, **kw) -> MediaClient:  # type: ignore[no-untyped-def]
    return await MediaClient.join(server, ROOM, await server.token(ROOM, role, name), **kw)


def rembs_since(rtcp_seen: list[tuple[float, bytes]], start: int) -> list[int]:
    return [i.bitrate for _, d in rtcp_seen[start:] for i in rtcp.parse_rtcp(d) if isinstance(i, rtcp.Remb)]


async def wait_rembs(rtcp_seen: list[tuple[float, bytes]], start: int, count: int) -> list[int]:
    async with asyncio.timeout(30):
        while len(values := rembs_since(rtcp_seen, start)) < count:
            await asyncio.sleep(0.05)
    return values


async def test_a_weak_subscriber_does_not_lower_the_remb_to_the_publisher(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        sfu = server.services.sfu
        judge = await participant(server, Role.PRESIDING_JUDGE, "王", noisy_video=True)
        _, judge_rtcp = await spy(judge)
        clerk = await participant(server, Role.CLERK, "李", publish_video=False, publish_audio=False)
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        await party.advertise_receive_estimate(WEAK_BPS, loss=WEAK_LOSS)
        await clerk.advertise_receive_estimate(STRONG_BPS)
        await clerk.wait_frames(judge.participant_id, "video", 5)
        await party.wait_frames(judge.participant_id, "video", 1)

        def estimate(client: MediaClient) -> float | None:
            link = sfu.links.get((ROOM, client.participant_id))
            return link.estimator.estimate(sfu._clock()) if link else None

        clerk_peer = sfu.rooms[ROOM].peers[clerk.participant_id]
        async with asyncio.timeout(30):  # both subscribers' estimates are known, the clerk receives the video
            while not ((e := estimate(party)) is not None and e <= WEAK_BPS and estimate(clerk) is not None
                       and not any(f.stream.paused for f in clerk_peer.forwards.values())):
                await asyncio.sleep(0.05)
        start = len(judge_rtcp)
        values = await wait_rembs(judge_rtcp, start, 3)
        # The old rule (the weakest subscriber's REMB, floored at 150 kbit/s) would ask the judge for 150 kbit/s.
        assert min(values) > 3 * WEAK_BPS, values

        # The weak subscriber's video pauses (its link cannot carry it next to audio), it is told, audio flows on.
        await party.wait_for(lambda: any(m["video_paused"] for m in party.link_quality), timeout=30)
        audio = await party.wait_for_publisher(judge.participant_id, "audio")
        video = await party.wait_for_publisher(judge.participant_id, "video")
        frames_audio, frames_video = audio.frames, video.frames
        await party.wait_frames(judge.participant_id, "audio", frames_audio + 50)
        peer = sfu.rooms[ROOM].peers[party.participant_id]
        assert all(f.stream.paused_for("link") for f in peer.forwards.values() if f.track.kind == "video")
        assert video.frames <= frames_video + 2  # at most a frame already in flight
        # The clerk's copy of the same video was not paused.
        assert not any(f.stream.paused for f in clerk_peer.forwards.values())
        for c in (judge, clerk, party):
            await c.close()


async def test_with_only_a_weak_subscriber_the_publisher_is_asked_for_little_and_no_floor(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        _, judge_rtcp = await spy(judge)
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        await party.advertise_receive_estimate(WEAK_BPS, loss=WEAK_LOSS)
        await party.wait_frames(judge.participant_id, "video", 1)
        async with asyncio.timeout(30):
            while not [b for b in rembs_since(judge_rtcp, 0) if b < 150_000]:
                await asyncio.sleep(0.05)
        for c in (judge, party):
            await c.close()


async def test_opus_in_band_fec_is_negotiated_both_ways(tmp_path) -> None:
    """The SFU's answer to a publisher asks for Opus FEC, and its offer to a subscriber carries it on."""
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        await party.wait_frames(judge.participant_id, "audio", 5)
        for sdp in (judge.pc.remoteDescription.sdp, party.pc.remoteDescription.sdp):
            pt = next(line.split()[0].split(":")[1] for line in sdp.splitlines()
                      if line.startswith("a=rtpmap:") and "opus/48000" in line.lower())
            fmtp = next(line for line in sdp.splitlines() if line.startswith(f"a=fmtp:{pt} "))
            assert "useinbandfec=1" in fmtp
        for c in (judge, party):
            await c.close()


async def test_nack_answers_to_a_weak_subscriber_stay_within_its_budget(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        sfu = server.services.sfu
        judge = await participant(server, Role.PRESIDING_JUDGE, "王", noisy_video=True)
        clerk = await participant(server, Role.CLERK, "李", publish_video=False, publish_audio=False)
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        await party.advertise_receive_estimate(WEAK_BPS)
        await clerk.advertise_receive_estimate(STRONG_BPS)
        answered = {}
        for client, advertised in ((party, WEAK_BPS), (clerk, STRONG_BPS)):
            await client.wait_frames(judge.participant_id, "audio", 60)
            link_key = (ROOM, client.participant_id)
            async with asyncio.timeout(30):  # its budget follows the estimate its REMB gives
                while (link := sfu.links.get(link_key)) is None or link.retransmits.rate_bps != 0.2 * advertised:
                    await asyncio.sleep(0.05)
            peer = sfu.rooms[ROOM].peers[client.participant_id]
            fwd = next(f for f in peer.forwards.values() if f.track.kind == "audio")
            last = fwd.stream.last_seq_out
            assert last is not None
            before = fwd.retransmits
            dtls = glue.dtls_transport(client.pc)
            assert dtls is not None
            await dtls._send_rtp(rtcp.generic_nack(4242, fwd.out_ssrc, [(last - i) & 0xFFFF for i in range(1, 41)]))
            async with asyncio.timeout(10):
                while fwd.retransmits == before and link.retransmits.dropped == 0:
                    await asyncio.sleep(0.02)
            answered[client] = fwd.retransmits - before
        assert answered[clerk] == 40  # the courthouse LAN: every NACK answered
        # 20 % of 60 kbit/s for 0.25 s is 375 bytes: a few audio packets at most, the rest withheld.
        assert answered[party] <= 4 and sfu.links[(ROOM, party.participant_id)].retransmits.dropped >= 36
        for c in (judge, clerk, party):
            await c.close()
