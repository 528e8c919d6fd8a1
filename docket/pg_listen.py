"""PostgreSQL LISTEN on a connection of its own, reconnecting when it drops.

Why: a fact appended by another instance (or a CLI import) must wake every follower at once, not at its next
poll. NOTIFY is sent inside the appending transaction, so PostgreSQL delivers it only at commit, when the facts
are visible. While the listening connection is down (database restart), the follower's poll still runs; after a
reconnect the callback is called once, since NOTIFYs sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("docket.pg_listen")


class Listener:
    """A running LISTEN; `listening` is set while the connection is up (tests wait on it)."""

    def __init__(self, task: asyncio.Task[None], listening: asyncio.Event) -> None:
        self._task = task
        self.listening = listening

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def listen(engine: AsyncEngine, channel: str, callback: Callable[[str], None], *,
           retry_initial: float = 0.5, retry_max: float = 30.0) -> Listener:
    """Call `callback(payload)` for every NOTIFY on `channel` (and with "" after each reconnect) until the
    returned listener is closed. `channel` must be a plain identifier."""
    if not channel.replace("_", "").isalnum():
        raise ValueError(f"channel {channel!r} must be a plain identifier")
    listening = asyncio.Event()

    async def run() -> None:
        delay = retry_initial
        while True:
            try:
                async with engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    lost = asyncio.Event()

                    def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
                        callback(payload)

                    raw.add_termination_listener(lambda _c, lost=lost: lost.set())
                    await raw.add_listener(channel, on_notify)
                    listening.set()
                    callback("")  # anything appended while not listening
                    delay = retry_initial
                    try:
                        await lost.wait()
                    finally:
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(channel, on_notify)
                    await conn.invalidate()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("LISTEN %s failed (%s); retrying in %.1f s", channel, type(exc).__name__, delay)
            listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry_max)

    return Listener(asyncio.create_task(run(), name=f"pg-listen:{channel}"), listening)
