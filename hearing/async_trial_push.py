"""Tells the people on an asynchronous trial's page (异步审理) that something changed, without their reloading.

The push is the existing signalling room bus: every applied change (a stage opened or closed, a question posted, an
answer filed, an extension, a consent) is broadcast to the hearing's room as `async-trial-updated`, to everyone
connected (the lobby too: a party waiting for admission still sees a new stage). The message names only what
happened; each page refetches its own view over HTTP, so the visibility rules (hearing.async_trial) stay the one
place deciding who sees which answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from docket.court import Hearing
from hearing.async_trial_service import Done
from signaling.hub import SignalingHub
from signaling.protocol import AsyncTrialUpdated

log = logging.getLogger("hearing.async_trial")


def _stage_of(done: Done) -> str | None:
    change = done.change
    if change.stage is not None:
        return change.stage.id
    if change.close_stage is not None:
        return change.close_stage[0]
    if change.question is not None:
        return change.question.stage_id
    details = done.audit.details
    stage = details.get("stage") or details.get("stage_id")
    return stage if isinstance(stage, str) else None


def room_push(hub: SignalingHub) -> Callable[[Hearing, Done], Awaitable[None]]:
    """An AsyncTrialService listener broadcasting each change to the hearing's signalling room."""

    async def push(hearing: Hearing, done: Done) -> None:
        if hearing.room_id is None:
            return
        await hub.broadcast(hearing.room_id, AsyncTrialUpdated(event=done.audit.action[:64],
                                                               stage_id=_stage_of(done)), audience="everyone")

    return push
