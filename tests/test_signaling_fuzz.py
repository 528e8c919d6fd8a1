"""A short, fixed-seed run of bench/signaling_fuzz.py against a real server: malformed signalling from many
connections over real WebSockets gets typed errors or a documented close (never 1011, never `internal`), and the
server's file descriptors and tasks come back to their baseline. The 20,000-message run: `python -m
bench.signaling_fuzz` (tests/test_bench.py runs it small as a subprocess)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest

from bench.signaling_fuzz import ALLOWED_CLOSES, ROOM, SAMPLE_OFFER, run_fuzz
from hearing.roles import Role
from tests.conftest import wait_until
from tests.live import live_server

pytestmark = pytest.mark.timeout(240)


def task_kinds() -> Counter[str]:
    return Counter(getattr(t.get_coro(), "__qualname__", t.get_name()) for t in asyncio.all_tasks())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_fuzzed_signalling_gets_typed_errors_and_leaves_nothing_behind(tmp_path: Path) -> None:
    async with live_server(tmp_path, resume_grace_seconds=0.5) as server:
        async def token(name: str) -> str:
            return await server.token(ROOM, Role.PLAINTIFF, name)

        hub = server.services.hub
        await run_fuzz(server.ws_base, token, messages=300, seed=3, concurrency=4, good_offer=SAMPLE_OFFER)
        await wait_until(lambda: not hub._grace and hub.local_rooms() == 0, timeout=30)  # warm-up over
        fds0, tasks0 = open_fds(), task_kinds()

        tally = await run_fuzz(server.ws_base, token, messages=1500, seed=1, concurrency=4, good_offer=SAMPLE_OFFER)

        assert tally.problems == []
        assert tally.sent >= 1500 and tally.alive_after >= 20
        assert set(tally.closes) <= ALLOWED_CLOSES and 1011 not in tally.closes
        assert tally.closes[4008] >= 1  # the flood met the rate limit
        assert tally.closes[1009] >= 1  # the oversize frame
        assert {"bad_json", "bad_message", "unknown_type", "too_large"} <= set(tally.errors)
        assert "internal" not in tally.errors
        try:
            await wait_until(lambda: not hub._grace and hub.local_rooms() == 0 and open_fds() <= fds0
                             and not (task_kinds() - tasks0), timeout=30)
        except TimeoutError:
            raise AssertionError(f"left behind: {open_fds() - fds0} fds, tasks {task_kinds() - tasks0}") from None
