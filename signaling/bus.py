"""The room bus: who is in a room (presence) and fan-out of room events to every server instance.

Two implementations share this interface: `InProcessBus` (one process, the embedded default) and
`signaling.redis_bus.RedisBus` (pub/sub + hashes, for several `hearing serve` processes).
Every event published to a room reaches every subscriber of that room, including subscribers in the
publishing process, so the WebSocket edge has a single delivery path whichever bus runs.

Both buses hold events and presence records as JSON: a value that cannot be encoded fails the same way
(`TypeError`) on either, and every subscriber gets its own copy, so no subscriber can alter another's view.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

Event = dict[str, Any]
Member = dict[str, Any]


class BusError(Exception):
    """The bus backend failed (e.g. Redis unreachable)."""


class SubscriptionClosed(BusError):
    """`get()` on a subscription that was closed, by its owner or because the bus closed."""


class Subscription(Protocol):
    """Events of one room, in publish order per publisher. Iterate, and `close()` when done.

    After `close()` (or the bus closing) iteration ends and `get()` raises `SubscriptionClosed`, also for
    a consumer already blocked in it, so a room's consumer never hangs on a subscription that is gone.
    """

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def get(self) -> Event: ...

    async def close(self) -> None: ...


@runtime_checkable
class RoomBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise BusError when the backend cannot be reached (used by /readyz)."""
        ...

    async def publish(self, room_id: str, event: Event) -> None: ...

    async def subscribe(self, room_id: str) -> Subscription: ...

    async def set_member(self, room_id: str, participant_id: str, member: Member) -> None:
        """Add or replace a participant's presence record (JSON-serialisable dict)."""
        ...

    async def remove_member(self, room_id: str, participant_id: str) -> bool:
        """Remove a presence record; True if it was there."""
        ...

    async def members(self, room_id: str) -> dict[str, Member]: ...

    async def rooms(self) -> list[str]:
        """Rooms with at least one member."""
        ...

    def on_members_lost(self, listener: Callable[[str, str, Member], Awaitable[None]]) -> None:
        """Call `listener(room, participant, member)` for each member removed because its instance died."""
        ...

    async def take_lost(self, room_id: str, participant_id: str) -> Member | None:
        """A member removed with its dead instance, handed out once within the grace window (for resume)."""
        ...


class QueueSubscription:
    """One subscriber's queue of events, shared by both buses so closing and iteration behave alike.

    `None` in the queue is the "closed" sentinel: it wakes a consumer blocked in `get()`.
    """

    def __init__(
        self, room_id: str, on_close: Callable[[QueueSubscription], Awaitable[None]] | None = None
    ) -> None:
        self.room_id = room_id
        self._on_close = on_close
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    async def get(self) -> Event:
        if self._closed:
            raise SubscriptionClosed(f"subscription to room {self.room_id} is closed")
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # pass the wake-up on to any other waiter
            raise SubscriptionClosed(f"subscription to room {self.room_id} is closed")
        return item

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.get()
            except SubscriptionClosed:
                return
            yield event

    def terminate(self) -> None:
        """Mark closed and wake consumers without telling the bus (used when the bus itself closes)."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    async def close(self) -> None:
        if self._closed:
            return
        self.terminate()
        if self._on_close is not None:
            await self._on_close(self)


class InProcessBus:
    """Single-process bus: the embedded default. Same JSON contract as RedisBus, so tests of one hold for both."""

    def __init__(self) -> None:
        self._subs: dict[str, set[QueueSubscription]] = {}
        self._members: dict[str, dict[str, str]] = {}  # room -> participant -> JSON text

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.terminate()
        self._subs.clear()

    async def ping(self) -> None:
        return None

    async def publish(self, room_id: str, event: Event) -> None:
        data = json.dumps(event)  # encode once; decode per subscriber for independent copies
        for sub in list(self._subs.get(room_id, ())):
            sub.deliver(json.loads(data))

    async def subscribe(self, room_id: str) -> Subscription:
        sub = QueueSubscription(room_id, self._unsubscribe)
        self._subs.setdefault(room_id, set()).add(sub)
        return sub

    async def _unsubscribe(self, sub: QueueSubscription) -> None:
        subs = self._subs.get(sub.room_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.room_id]

    async def set_member(self, room_id: str, participant_id: str, member: Member) -> None:
        self._members.setdefault(room_id, {})[participant_id] = json.dumps(member)

    async def remove_member(self, room_id: str, participant_id: str) -> bool:
        room = self._members.get(room_id)
        if room is None or participant_id not in room:
            return False
        del room[participant_id]
        if not room:
            del self._members[room_id]
        return True

    async def members(self, room_id: str) -> dict[str, Member]:
        return {pid: json.loads(data) for pid, data in self._members.get(room_id, {}).items()}

    async def rooms(self) -> list[str]:
        return sorted(self._members)

    def on_members_lost(self, listener: Callable[[str, str, Member], Awaitable[None]]) -> None:
        """One process: its members never outlive it, so nobody is ever reported lost."""
        return None

    async def take_lost(self, room_id: str, participant_id: str) -> Member | None:
        return None
