"""SIGTERM drains a node before uvicorn shuts it down.

Why: uvicorn's own shutdown closes every WebSocket with 1012 within milliseconds, so participants see a
generic restart and a node holding live hearings drops them all at once. Here the first SIGTERM:
1. marks the node draining: `/readyz` answers 503 (the proxy or Kubernetes stops sending it new connections)
   and the node registry stops placing new rooms on it (joins of new rooms are redirected elsewhere);
2. lets live rooms finish, up to `HEARING_DRAIN_SECONDS` (a second SIGTERM cuts the wait short);
3. then ends the remaining sessions itself (`SignalingHub.close`: close 1001 "server restarting; reconnecting",
   places kept for the grace window, rooms released so their resume is placed on a live node) and only then
   lets uvicorn stop; the lifespan shutdown closes and uploads recordings (`stop_services`).
SIGINT (Ctrl-C at a terminal) keeps uvicorn's immediate behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from types import FrameType
from typing import Any

import uvicorn

from app.services import Services

log = logging.getLogger("hearing.app")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, services: Services, deadline: float) -> None:
        super().__init__(config)
        self.services = services
        self.deadline = deadline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None
        self._now = asyncio.Event()

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        # In a signal handler: hand over to the event loop thread-safely (it may be blocked in select).
        self._loop.call_soon_threadsafe(self._on_sigterm, sig, frame)

    def _on_sigterm(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is not None:
            self._now.set()  # a second SIGTERM: stop waiting for the rooms
            return
        self._drain = asyncio.create_task(self._drain_then_exit(sig, frame), name="drain")

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            await drain(self.services, self.deadline, self._now)
        except Exception:
            log.exception("draining failed; shutting down")
        super().handle_exit(sig, frame)


async def drain(services: Services, deadline: float, now: asyncio.Event | None = None) -> None:
    """Stop taking new rooms, wait for the live ones (up to `deadline` s or `now`), end the rest ourselves."""
    if services.nodes is not None:
        with contextlib.suppress(Exception):
            await services.nodes.set_draining(True)  # before readyz says so: no room placed here after it
    services.draining = True
    rooms = services.hub.local_rooms()
    log.warning("SIGTERM: draining (%d live rooms, up to %.0f s; a second SIGTERM ends them now)", rooms, deadline)
    waiters = [asyncio.create_task(services.hub.wait_idle())]
    if now is not None:
        waiters.append(asyncio.create_task(now.wait()))
    _, pending = await asyncio.wait(waiters, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    left = services.hub.local_rooms()
    if left:
        log.warning("draining: ending %d rooms still live; their participants reconnect to another node", left)
    await services.hub.close()
