"""The pure parts of app/http_guard.py: the per-address count and the once-per-interval resource log."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.http_guard import ConnectionCounts, ResourceLog, is_trusted, trusted_networks
from app.settings import load_settings


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["10.0.0.1", "10.0.0.2", "172.30.70.2"])), max_size=300))
def test_counts_never_pass_the_limit_and_return_to_zero(ops: list[tuple[bool, str]]) -> None:
    counts = ConnectionCounts(3, lambda host: host == "172.30.70.2")
    held: list[str] = []
    for opening, host in ops:
        if opening:
            if counts.admit(host) and host != "172.30.70.2":
                held.append(host)
        elif host in held:
            held.remove(host)
            counts.release(host)
        assert all(n <= 3 for n in counts.open.values())
        assert dict(counts.open) == {h: held.count(h) for h in set(held)}
    for host in held:
        counts.release(host)
    assert not counts.open


def test_trusted_proxies_are_networks() -> None:
    nets = trusted_networks(load_settings(TRUSTED_PROXIES="172.30.70.2,10.0.0.0/8"))
    assert is_trusted("172.30.70.2", nets) and is_trusted("10.9.8.7", nets)
    assert not is_trusted("172.30.70.3", nets) and not is_trusted("not-an-ip", nets) and not is_trusted(None, nets)


def test_exhaustion_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    seen: list[dict] = []
    handler = ResourceLog(interval=10.0, clock=lambda: now[0])
    handler._previous = lambda loop, ctx: seen.append(ctx)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING, logger="hearing.http"):
            for i in range(1000):
                now[0] = i * 0.05  # 50 s of failing accepts
                handler(loop, {"message": "socket.accept() out of system resource",
                               "exception": OSError(errno.EMFILE, "Too many open files")})
            handler(loop, {"message": "something else", "exception": ValueError("x")})
    finally:
        loop.close()
    warnings = [r for r in caplog.records if r.name == "hearing.http"]
    assert len(warnings) == 5 and handler.logged == 5
    assert all(r.exc_info is None for r in warnings)
    assert [c["message"] for c in seen] == ["something else"]  # other errors go on as before
