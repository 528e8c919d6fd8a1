"""Simulcast end to end: a real Chromium publisher (the project's web client) sends three layers through the SFU;
two aiortc subscribers whose REMB says different things receive different layers and decode them; a switch
forwards only from the new layer's keyframe on, in one continuous stream; audio flows while video pauses."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from hearing.roles import Role
from media.payloads import vp8_is_keyframe, vp8_picture_id
from media.rtp import parse_rtp
from media.simulcast_forward import SimulcastForward
from tests.browser import chromium, fresh_context, join
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient

ROOM = "simulcast-room"
WEAK_BPS = 150_000  # a village station: the lowest layer fits, the middle one does not ...
WEAK_LOSS = 0.03  # ... and it loses packets (a REMB without loss is not believed as a limit: media/layers.py)
STRONG_BPS = 5_000_000  # the courthouse LAN: the top layer


async def watcher(server: LiveServer, role: Role, name: str) -> MediaClient:
    return await MediaClient.join(server, ROOM, await server.token(ROOM, role, name), publish_video=False,
                                  publish_audio=False)


async def until(check: Callable[[], object], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


def forward_to(server: LiveServer, client: MediaClient) -> SimulcastForward | None:
    peer = server.services.sfu.rooms[ROOM].peers.get(client.participant_id)
    found = [f for f in peer.forwards.values() if isinstance(f, SimulcastForward)] if peer else []
    return found[0] if found else None


async def test_chromium_simulcast_two_subscribers_get_different_layers_and_switch_at_keyframes(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        judge_page = await join(ctx, await server.link(ROOM, Role.PRESIDING_JUDGE, "王审判长"))
        sfu = server.services.sfu
        await until(lambda: any(t.simulcast is not None for t in sfu.tracks_of(ROOM)))
        [video] = [t for t in sfu.tracks_of(ROOM) if t.simulcast is not None]
        judge_id = video.publisher_id
        assert video.simulcast is not None and video.simulcast.rids == ("q", "h", "f")
        # Chromium sends all three layers (bound by their RID) once its own estimate allows.
        await until(lambda: len(video.simulcast.offered(sfu._clock())) == 3, timeout=90)
        clerk = await watcher(server, Role.CLERK, "李书记员")
        party = await watcher(server, Role.PLAINTIFF, "张原告")
        await clerk.advertise_receive_estimate(STRONG_BPS)
        await party.advertise_receive_estimate(WEAK_BPS, loss=WEAK_LOSS)
        await until(lambda: forward_to(server, clerk) is not None and forward_to(server, party) is not None)
        strong, weak = forward_to(server, clerk), forward_to(server, party)
        assert strong is not None and weak is not None
        await until(lambda: strong.layer == 2 and weak.layer == 0)
        # Both decode what they get: the clerk the full 960x540, the party the quarter layer.
        for client, size in ((clerk, (960, 540)), (party, (240, 135))):
            rec = await client.wait_frames(judge_id, "video", 1)
            await client.wait_frames(judge_id, "video", rec.frames + 20)
            await until(lambda rec=rec, size=size: rec.last_size == size)
        assert weak.layer == 0 and strong.layer == 2  # a steady estimate: no switching back and forth

        # The party's link improves: it switches up, and its stream goes on from the new layer's keyframe.
        sent: list[tuple[int | None, bytes]] = []
        send = weak.send
        weak.send = lambda p: sent.append((weak.layer, p)) or send(p)  # type: ignore[method-assign]
        await party.advertise_receive_estimate(STRONG_BPS)
        await until(lambda: weak.layer == 2)
        rec = party.from_publisher(judge_id, "video")
        assert rec is not None
        await party.wait_frames(judge_id, "video", rec.frames + 20)
        await until(lambda: rec.last_size == (960, 540))
        media = [(layer, p) for layer, p in sent if parse_rtp(p).ssrc == weak.out_ssrc]
        seqs = [parse_rtp(p).sequence for _, p in media]
        switches = [i for i in range(1, len(media)) if media[i][0] != media[i - 1][0]]
        assert switches, "no layer switch seen on the wire"
        for i in switches:
            h, before = parse_rtp(media[i][1]), parse_rtp(media[i - 1][1])
            payload = media[i][1][h.payload_offset:h.payload_end]
            assert vp8_is_keyframe(payload)  # the new layer starts at its keyframe
            assert (h.sequence - before.sequence) & 0xFFFF == 1
            assert 0 < (h.timestamp - before.timestamp) & 0xFFFFFFFF < 90_000
            assert vp8_picture_id(payload) == ((vp8_picture_id(media[i - 1][1][before.payload_offset:]) or 0) + 1) \
                & 0x7FFF
        ahead = [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs) if (b - a) & 0xFFFF < 0x8000]
        assert set(ahead) == {1}, sorted(set(ahead))  # no hole and no jump across the switch (resends aside)

        # Audio first: the party's link collapses with loss, its video pauses, the judge's audio keeps coming.
        await party.advertise_receive_estimate(40_000, loss=0.2)
        await until(lambda: weak.stream.paused_for("link"), timeout=30)
        audio = await party.wait_for_publisher(judge_id, "audio")
        await party.wait_frames(judge_id, "audio", audio.frames + 50)
        assert strong.layer == 2 and not strong.stream.paused
        assert not judge_page.errors.errors  # type: ignore[attr-defined]
        for c in (clerk, party):
            await c.close()
