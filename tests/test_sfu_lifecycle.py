"""Resources come back: 200 join/leave cycles leave no growth in tasks, PeerConnections, transports or memory."""

from __future__ import annotations

import asyncio
import gc
import os

from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

from hearing.roles import Role
from tests.live import live_server
from tests.media_client import MediaClient

ROOM = "lifecycle"
CYCLES = 200
WARMUP = 20


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def census() -> dict[str, float]:
    gc.collect()
    objs = gc.get_objects()
    return {
        "tasks": len(asyncio.all_tasks()),
        # type(), not isinstance(): gc also returns dead weak proxies, on which isinstance() raises.
        "peer_connections": sum(type(o) is RTCPeerConnection for o in objs),
        "dtls_transports": sum(type(o) is RTCDtlsTransport for o in objs),
        "rss_mb": rss_mb(),
    }


async def test_join_leave_cycles_do_not_leak(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        sfu = server.services.sfu
        judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"),
                                       publish_audio=False)

        async def cycle(i: int) -> None:
            c = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PLAINTIFF, f"p{i}"),
                                       publish_video=False, loud=False)
            await c.wait_frames(judge.participant_id, "video", 1)
            await c.close()
            async with asyncio.timeout(30):
                while sfu.peer_count() != 1 or len(server.services.hub._rooms.get(ROOM).clients) != 1:
                    await asyncio.sleep(0.01)

        for i in range(WARMUP):
            await cycle(i)
        before = census()
        for i in range(WARMUP, CYCLES):
            await cycle(i)
        after = census()
        assert after["tasks"] <= before["tasks"] + 2, (before, after)
        assert after["peer_connections"] <= before["peer_connections"], (before, after)
        assert after["dtls_transports"] <= before["dtls_transports"], (before, after)
        assert after["rss_mb"] - before["rss_mb"] < 40, (before, after)
        room = sfu.rooms[ROOM]
        assert len(room.tracks) == 1 and len(next(iter(room.tracks.values())).forwards) == 0
        await judge.close()
