"""The web client on two real media nodes (Chromium): pages that entered by one node are redirected to the room's
owner on the other; when the owner is SIGKILLed they resume through the node they entered by (not the dead one
they were redirected to), the room is re-placed there, and media flows both ways again in the same places."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from app.links import issue_link
from docket.sql import SqlRecords
from hearing.roles import Role
from signaling.tokens import TokenService
from tests.browser import chromium, fresh_context, join, video_of, wait_frames
from tests.live import Client
from tests.test_cluster import SECRET, media_nodes, port_of, token

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]
ROOM = "web-cluster"


async def test_pages_follow_the_room_to_its_new_owner_after_a_kill(
        tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> None:
    with media_nodes(tmp_path, 2, DATABASE_URL=pg_url, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix,
                     ICE_HOST_ADDRESSES="127.0.0.1") as started:
        procs = dict(started)
        ports = [p for p, _ in started]
        # Place the room first, to know its owner; the pages then enter by the other node.
        holder, joined, visited = await Client.join_following(f"ws://127.0.0.1:{ports[0]}/ws/{ROOM}",
                                                              token(ROOM, Role.CLERK, "书记员"))
        assert joined["type"] == "joined"
        owner = port_of(visited[-1])
        (entry,) = set(ports) - {owner}
        records = SqlRecords(pg_url)
        tokens = TokenService(SECRET)
        try:
            base = f"http://127.0.0.1:{entry}"
            judge_link, _ = await issue_link(records, tokens, base, room_id=ROOM, role=Role.PRESIDING_JUDGE,
                                             name="王审判长", ttl_seconds=600)
            party_link, _ = await issue_link(records, tokens, base, room_id=ROOM, role=Role.PLAINTIFF,
                                             name="张原告", ttl_seconds=600)
        finally:
            await records.close()
        async with chromium() as browser, fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, judge_link)
            party = await join(c2, party_link)
            await holder.close()
            for page in (judge, party):  # both were sent on to the owner
                assert await page.evaluate("hearing.ws.url") == f"ws://127.0.0.1:{owner}/ws/{ROOM}"
            await wait_frames(judge, "plaintiff")
            await wait_frames(party, "presiding_judge")
            pid = await party.evaluate("hearing.me.id")
            for page in (judge, party):
                await page.evaluate("hearing.stateLog.length = 0")

            procs[owner].send_signal(signal.SIGKILL)
            procs[owner].wait(30)
            for page in (judge, party):
                await page.wait_for_function(
                    "hearing.stateLog.includes('reconnecting') && document.body.dataset.state === 'connected'",
                    timeout=60_000)
                # Back through the entry node, which now owns the room: no redirect left to follow.
                assert await page.evaluate("hearing.ws.url") == f"ws://127.0.0.1:{entry}/ws/{ROOM}"
            assert (await party.evaluate("hearing.joins.at(-1)"))["id"] == pid  # the same place
            await wait_frames(judge, "plaintiff")
            await wait_frames(party, "presiding_judge")
            assert await judge.locator(video_of("plaintiff")).get_attribute("data-participant-id") == pid
