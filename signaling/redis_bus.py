"""The Redis room bus: fan-out and presence shared by several `hearing serve` processes.

Keys (all under `prefix`):
  {prefix}:room:{room}:events    pub/sub channel of the room's events (JSON objects)
  {prefix}:room:{room}:members   hash participant_id -> JSON member record, tagged with the writer's instance
  {prefix}:rooms                 set of rooms that have members
  {prefix}:instance:{id}         heartbeat key with a TTL of 3 x heartbeat_seconds
  {prefix}:instances             set of instances that have written members
  {prefix}:instance:{id}:rooms   set of rooms that instance wrote members to

Pub/sub: one connection per bus, read by a single task that hands events to local subscriber queues, so
a thousand local subscribers cost one Redis connection. A room's channel is subscribed while it has local
subscribers, and `subscribe()` returns only once Redis has confirmed the SUBSCRIBE: an event published
afterwards by any instance is delivered. Pub/sub is fire-and-forget, so events published while the
connection is down are lost; the reader reconnects with backoff and resubscribes.

Presence: a crashed instance cannot remove its participants, so each record names its instance and
readers drop (and delete) records whose instance's heartbeat key has expired. Nobody may read the room for a
long time, so every live instance also reaps: each heartbeat it looks for instances whose key has expired and
prunes their rooms; the instance whose prune actually deleted a record (a Lua script compares before deleting,
so exactly one does) tells its `on_members_lost` listeners, and the hub announces `participant-left`. Bound:
a SIGKILLed instance's members are announced within 3 x heartbeat_seconds (the key's TTL) + heartbeat_seconds
(the reapers' period) + one round trip: 8 s with the default 2 s heartbeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from signaling.bus import BusError, Event, Member, QueueSubscription, Subscription

log = logging.getLogger("hearing.signaling.bus")

_CONNECT_TIMEOUT = 5.0
_COMMAND_TIMEOUT = 10.0
_MIN_BACKOFF = 0.1
_MAX_BACKOFF = 5.0

# Remove one member; drop the room from the index when it empties (atomic, so a concurrent join is not lost).
_REMOVE_LUA = """
local n = redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return n
"""

# Delete stale members only if unchanged since read (a participant may have rejoined via a live instance
# meanwhile), then drop the room from the index if it is empty. Returns the fields this call deleted: of
# several instances pruning at once, exactly one sees each deleted member (and announces it).
_PRUNE_LUA = """
local gone = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then table.insert(gone, ARGV[i]) end
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return gone
"""

# Hand out a lost member's record once (the one resume that takes the place back).
_TAKE_LUA = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
"""

LostListener = Callable[[str, str, Member], Awaitable[None]]
"""(room, participant, member record) of a member removed because its instance died."""


def redact_url(url: str) -> str:
    """The URL without password or query (which may carry one), for messages and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        if parts.username:
            host = f"{parts.username}@{host}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "<invalid Redis URL>"


@dataclass(eq=False)
class _Room:
    """Local subscribers of one room; `confirmed` is set once Redis acknowledged the channel's SUBSCRIBE."""

    subs: set[QueueSubscription] = field(default_factory=set)
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)


class RedisBus:
    """RoomBus over Redis pub/sub and hashes; see the module docstring for the key layout."""

    subscribe_timeout: float = 10.0
    """How long `subscribe()` waits for Redis to confirm (e.g. while the pub/sub connection reconnects)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hearing",
        instance_id: str | None = None,
        heartbeat_seconds: float = 5.0,
        lost_ttl_seconds: float = 30.0,
    ) -> None:
        if heartbeat_seconds <= 0:
            raise ValueError("heartbeat_seconds must be positive")
        self._url = url
        self._safe_url = redact_url(url)
        self._prefix = prefix
        self.instance_id = instance_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._heartbeat_seconds = heartbeat_seconds
        self._ttl_ms = max(1, round(3 * heartbeat_seconds * 1000))
        # A silent pub/sub connection is presumed dead; the heartbeat pings it so it is never idle for long.
        self._idle_timeout = max(3 * heartbeat_seconds, 5.0)
        self._redis: Redis | None = None
        self._sub_pool: ConnectionPool | None = None
        self._conn: AbstractConnection | None = None  # the pub/sub connection, owned by the reader
        self._rooms: dict[str, _Room] = {}
        self._pending: dict[str, int] = {}  # channel -> SUBSCRIBEs not yet confirmed on this connection
        self._writes: set[asyncio.Task[bool]] = set()
        self._reader_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._close_done = asyncio.Event()
        self._remove_script: AsyncScript | None = None
        self._prune_script: AsyncScript | None = None
        self._lost_listeners: list[LostListener] = []
        self._lost_ttl_ms = max(1, round(lost_ttl_seconds * 1000))  # how long a lost member's place is kept
        self._take_script: AsyncScript | None = None
        self.reaped = 0  # members of dead instances this instance removed (and announced)

    # ---- keys ---------------------------------------------------------------------------------------------

    def _channel(self, room_id: str) -> str:
        return f"{self._prefix}:room:{room_id}:events"

    def _members_key(self, room_id: str) -> str:
        return f"{self._prefix}:room:{room_id}:members"

    @property
    def _rooms_key(self) -> str:
        return f"{self._prefix}:rooms"

    def _instance_key(self, instance_id: str) -> str:
        return f"{self._prefix}:instance:{instance_id}"

    def _instance_rooms_key(self, instance_id: str) -> str:
        return f"{self._prefix}:instance:{instance_id}:rooms"

    @property
    def _instances_key(self) -> str:
        return f"{self._prefix}:instances"

    def _room_of(self, channel: bytes) -> str | None:
        text = channel.decode(errors="replace")
        head, tail = f"{self._prefix}:room:", ":events"
        if text.startswith(head) and text.endswith(tail) and len(text) > len(head) + len(tail):
            return text[len(head) : -len(tail)]
        return None

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise BusError("this RedisBus is closed; create a new one")
        if self._started:
            return
        try:
            self._redis = Redis.from_url(
                self._url,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_COMMAND_TIMEOUT,
                retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 2),
            )
            # The pub/sub connection must not retry on its own: the reader reconnects and resubscribes.
            self._sub_pool = ConnectionPool.from_url(
                self._url,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_COMMAND_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
                client_name=f"{self._prefix}:bus:{self.instance_id}",
            )
        except ValueError as exc:
            raise BusError(f"invalid Redis URL {self._safe_url} ({exc})") from exc
        try:
            await self._redis.ping()
            await self._redis.set(self._instance_key(self.instance_id), b"alive", px=self._ttl_ms)
            await self._connect_pubsub()
        except (RedisError, OSError) as exc:
            await self._dispose_clients()
            raise BusError(
                f"Redis at {self._safe_url} is unreachable ({exc}); "
                "start it or unset REDIS_URL for the in-process bus"
            ) from exc
        self._remove_script = self._redis.register_script(_REMOVE_LUA)
        self._prune_script = self._redis.register_script(_PRUNE_LUA)
        self._take_script = self._redis.register_script(_TAKE_LUA)
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"redis-bus-reader-{self.instance_id}")
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(), name=f"redis-bus-heartbeat-{self.instance_id}"
        )
        self._started = True

    async def close(self) -> None:
        """Stop the tasks, end local subscriptions, delete the heartbeat key, close connections. Idempotent."""
        if self._closed:
            await self._close_done.wait()
            return
        self._closed = True
        try:
            for room in self._rooms.values():
                for sub in room.subs:
                    sub.terminate()
                room.confirmed.set()  # wakes subscribe() calls still waiting; they see their sub closed
            self._rooms.clear()
            tasks = [t for t in (self._reader_task, self._heartbeat_task, *self._writes) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(Exception):
                    await conn.disconnect()
            if self._started and self._redis is not None:
                try:
                    await self._redis.delete(self._instance_key(self.instance_id))
                except (RedisError, OSError) as exc:
                    log.warning("room bus: could not delete the heartbeat key at %s (%s)", self._safe_url, exc)
            await self._dispose_clients()
        finally:
            self._close_done.set()

    async def _dispose_clients(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.disconnect()
        if self._redis is not None:
            with suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        if self._sub_pool is not None:
            with suppress(Exception):
                await self._sub_pool.aclose()
            self._sub_pool = None

    async def ping(self) -> None:
        redis = self._client()
        with self._errors("PING"):
            await redis.ping()
        if self._conn is None:
            raise BusError(f"Redis at {self._safe_url}: the pub/sub connection is down (reconnecting)")

    def _client(self) -> Redis:
        if self._closed:
            raise BusError("the room bus is closed")
        if self._redis is None or not self._started:
            raise BusError("the room bus is not started")
        return self._redis

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (RedisError, OSError) as exc:
            raise BusError(f"Redis at {self._safe_url}: {action} failed ({exc})") from exc

    # ---- events -------------------------------------------------------------------------------------------

    async def publish(self, room_id: str, event: Event) -> None:
        redis = self._client()
        data = json.dumps(event)
        with self._errors("publish"):
            await redis.publish(self._channel(room_id), data)

    async def subscribe(self, room_id: str) -> Subscription:
        self._client()
        sub = QueueSubscription(room_id, self._unsubscribe)
        room = self._rooms.get(room_id)
        first = room is None
        if room is None:
            room = self._rooms[room_id] = _Room()
        room.subs.add(sub)
        try:
            # Without a connection there is nothing to send: the reader subscribes every room on reconnect.
            if first and self._conn is not None and self._conn.is_connected:
                channel = self._channel(room_id)
                self._pending[channel] = self._pending.get(channel, 0) + 1
                await self._send("SUBSCRIBE", channel)
            async with asyncio.timeout(self.subscribe_timeout):
                await room.confirmed.wait()
            if sub.closed:
                raise BusError("the room bus closed")
        except TimeoutError:
            await sub.close()
            raise BusError(
                f"Redis at {self._safe_url} did not confirm the subscription to room {room_id} "
                f"within {self.subscribe_timeout:g}s"
            ) from None
        except BaseException:
            await sub.close()
            raise
        return sub

    async def _unsubscribe(self, sub: QueueSubscription) -> None:
        room = self._rooms.get(sub.room_id)
        if room is None or sub not in room.subs:
            return
        room.subs.discard(sub)
        if not room.subs:
            del self._rooms[sub.room_id]
            await self._send("UNSUBSCRIBE", self._channel(sub.room_id))

    async def _send(self, *args: str) -> bool:
        """Write a command on the pub/sub connection; its reply reaches the reader.

        Shielded in a task: a caller cancelled mid-write would otherwise make redis-py drop the connection
        that every room of this instance shares. Errors are only logged, since the reader notices a dead
        connection and resubscribes everything.
        """
        conn = self._conn
        if conn is None:
            return False
        task = asyncio.create_task(self._write(conn, args))
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        try:
            return await asyncio.shield(task)
        except Exception as exc:
            log.debug("room bus: %s not sent (%s); the reader will resubscribe", args[0], exc)
            return False

    async def _write(self, conn: AbstractConnection, args: tuple[str, ...]) -> bool:
        # Re-checked right before writing (no await in between): redis-py would silently reconnect a
        # connection the reader has already dropped, leaving a subscribed connection nobody reads.
        if conn is not self._conn or not conn.is_connected:
            return False
        await conn.send_command(*args, check_health=False)
        return True

    def _write_done(self, task: asyncio.Task[bool]) -> None:
        self._writes.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here; the awaiting caller logs it

    async def _connect_pubsub(self) -> None:
        """Open a fresh pub/sub connection and subscribe every room with local subscribers."""
        assert self._sub_pool is not None
        conn = self._sub_pool.make_connection()
        try:
            await conn.connect()
        except BaseException:
            with suppress(Exception):
                await conn.disconnect(nowait=True)
            raise
        # From here on subscribe() sends its own SUBSCRIBE, so the snapshot below misses no room.
        self._conn = conn
        channels = [self._channel(room_id) for room_id in self._rooms]
        self._pending = dict.fromkeys(channels, 1)
        if channels:
            await conn.send_command("SUBSCRIBE", *channels, check_health=False)

    async def _drop_pubsub(self) -> None:
        conn, self._conn = self._conn, None
        for room in self._rooms.values():
            room.confirmed.clear()
        if conn is not None:
            with suppress(Exception):
                await conn.disconnect(nowait=True)

    async def _read_loop(self) -> None:
        """The single reader: dispatches pub/sub messages; on connection loss reconnects with backoff."""
        delay = _MIN_BACKOFF
        while True:
            conn = self._conn
            try:
                if conn is None:
                    await self._connect_pubsub()
                    log.warning(
                        "room bus: pub/sub reconnected to %s, resubscribed %d rooms",
                        self._safe_url, len(self._rooms),
                    )
                    continue
                async with asyncio.timeout(self._idle_timeout):
                    response = await conn.read_response(
                        timeout=math.inf, disconnect_on_error=False, push_request=True
                    )
            except Exception as exc:
                if conn is not None:
                    log.warning("room bus: pub/sub connection to %s lost (%r); reconnecting", self._safe_url, exc)
                else:
                    log.warning("room bus: reconnecting to %s failed (%r); retry in %.1fs",
                                self._safe_url, exc, delay)
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            delay = _MIN_BACKOFF
            try:
                self._dispatch(response)
            except Exception:
                log.exception("room bus: failed to dispatch a pub/sub message")

    def _dispatch(self, response: Any) -> None:
        if not isinstance(response, list) or len(response) < 3:
            return  # PONG replies to the heartbeat's keep-alive
        kind, channel, data = response[0], response[1], response[2]
        if kind == b"message":
            self._deliver(channel, data)
        elif kind == b"subscribe":
            key = channel.decode(errors="replace")
            left = self._pending.get(key, 0) - 1
            if left > 0:
                self._pending[key] = left
                return
            self._pending.pop(key, None)
            room_id = self._room_of(channel)
            room = self._rooms.get(room_id) if room_id is not None else None
            if room is not None:
                room.confirmed.set()

    def _deliver(self, channel: bytes, data: bytes) -> None:
        room_id = self._room_of(channel)
        room = self._rooms.get(room_id) if room_id is not None else None
        if room is None or not room.subs:
            return
        try:
            event = json.loads(data)
            if not isinstance(event, dict):
                raise ValueError(f"expected a JSON object, got {type(event).__name__}")
        except Exception as exc:  # bad JSON, bad UTF-8, absurd nesting: skip, never kill the reader
            log.warning("room bus: skipped a malformed event (%d bytes) in room %s: %s",
                        len(data), room_id, str(exc)[:200])
            return
        for i, sub in enumerate(list(room.subs)):
            sub.deliver(event if i == 0 else json.loads(data))  # each subscriber its own copy

    # ---- heartbeat ----------------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Keep this instance's heartbeat key alive (it vouches for its members) and the pub/sub link busy."""
        assert self._redis is not None
        key = self._instance_key(self.instance_id)
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            await self._send("PING")
            try:
                previous = await self._redis.set(key, b"alive", px=self._ttl_ms, get=True)
            except Exception as exc:
                log.warning("room bus: heartbeat to %s failed (%s)", self._safe_url, exc)
                continue
            if previous is None:
                log.warning(
                    "room bus: heartbeat of instance %s had expired; other instances may have dropped "
                    "its members until they are set again", self.instance_id,
                )
            try:
                await self.reap()
            except Exception as exc:
                log.warning("room bus: reaping dead instances at %s failed (%s)", self._safe_url, exc)

    # ---- dead instances -----------------------------------------------------------------------------------

    def on_members_lost(self, listener: LostListener) -> None:
        """Call `listener(room, participant, member)` for each member this instance removes because the
        instance that held it died (its heartbeat key expired)."""
        self._lost_listeners.append(listener)

    async def reap(self) -> int:
        """Prune the rooms of every instance whose heartbeat has expired; returns the members removed here."""
        redis = self._client()
        with self._errors("reap"):
            instances = sorted(i.decode() for i in await redis.smembers(self._instances_key))
            others = [i for i in instances if i != self.instance_id]
            if not others:
                return 0
            beats = await redis.mget([self._instance_key(i) for i in others])
            dead = [i for i, beat in zip(others, beats, strict=True) if beat is None]
            before = self.reaped
            for instance in dead:
                rooms_key = self._instance_rooms_key(instance)
                room_ids = sorted(r.decode() for r in await redis.smembers(rooms_key))
                await self._live_members(room_ids, indexed=True)  # prunes, and announces what it removed
                # Forget the dead instance only if it did not come back meanwhile (its key is set again).
                if await redis.exists(self._instance_key(instance)) == 0:
                    async with redis.pipeline(transaction=True) as pipe:
                        pipe.delete(rooms_key)
                        pipe.srem(self._instances_key, instance)
                        await pipe.execute()
        return self.reaped - before

    def _lost_key(self, room_id: str) -> str:
        return f"{self._prefix}:room:{room_id}:lost"

    async def take_lost(self, room_id: str, participant_id: str) -> Member | None:
        """The record of a member removed with its dead instance, once, within the resume grace window: a
        resume through a live instance takes the place back (no second admission)."""
        self._client()
        assert self._take_script is not None
        with self._errors("take_lost"):
            raw = await self._take_script(keys=[self._lost_key(room_id)], args=[participant_id])
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    async def _announce_lost(self, room_id: str, participant_id: str, member: Member) -> None:
        self.reaped += 1
        redis = self._client()
        with suppress(RedisError, OSError):  # the place is kept for the grace window: resume may take it back
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._lost_key(room_id), participant_id, json.dumps(member))
                pipe.pexpire(self._lost_key(room_id), self._lost_ttl_ms)
                await pipe.execute()
        log.info("room bus: removed a member of a dead instance",
                 extra={"room": room_id, "participant": participant_id})
        for listener in list(self._lost_listeners):
            try:
                await listener(room_id, participant_id, member)
            except Exception:
                log.exception("room bus: a members-lost listener failed")

    # ---- presence -----------------------------------------------------------------------------------------

    async def set_member(self, room_id: str, participant_id: str, member: Member) -> None:
        redis = self._client()
        # The instance vouching for the member is the one holding its connection (`node`, set by the hub), not
        # necessarily this writer: an admission written by the judge's instance must not outlive the party's.
        holder = member.get("node")
        holder = holder if isinstance(holder, str) and holder else self.instance_id
        data = json.dumps({**member, "_instance": holder})
        with self._errors("set_member"):
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._members_key(room_id), participant_id, data)
                pipe.sadd(self._rooms_key, room_id)
                pipe.sadd(self._instances_key, holder)  # where reapers look when the holder dies
                pipe.sadd(self._instance_rooms_key(holder), room_id)
                await pipe.execute()

    async def remove_member(self, room_id: str, participant_id: str) -> bool:
        self._client()
        assert self._remove_script is not None
        with self._errors("remove_member"):
            removed = await self._remove_script(
                keys=[self._members_key(room_id), self._rooms_key], args=[room_id, participant_id]
            )
        return bool(removed)

    async def members(self, room_id: str) -> dict[str, Member]:
        return (await self._live_members([room_id], indexed=False))[room_id]

    async def rooms(self) -> list[str]:
        redis = self._client()
        with self._errors("rooms"):
            raw = await redis.smembers(self._rooms_key)
        room_ids = sorted(r.decode() for r in raw)
        live = await self._live_members(room_ids, indexed=True)
        return [room_id for room_id in room_ids if live[room_id]]

    async def _live_members(self, room_ids: list[str], *, indexed: bool) -> dict[str, dict[str, Member]]:
        """Members of the rooms whose instance is alive; stale records are deleted on the way.

        `indexed`: the rooms came from the room index, so an empty hash means a stale index entry.
        """
        redis = self._client()
        if not room_ids:
            return {}
        with self._errors("members"):
            async with redis.pipeline(transaction=False) as pipe:
                for room_id in room_ids:
                    pipe.hgetall(self._members_key(room_id))
                hashes: list[dict[bytes, bytes]] = await pipe.execute()
            candidates: dict[str, dict[str, tuple[str, Member, bytes, bytes]]] = {r: {} for r in room_ids}
            dead_records: dict[tuple[str, bytes], Member] = {}
            stale: dict[str, list[bytes]] = {r: [] for r in room_ids}
            for room_id, raw in zip(room_ids, hashes, strict=True):
                for field_name, value in raw.items():
                    try:
                        record = json.loads(value)
                        instance = record.pop("_instance")
                        if not isinstance(instance, str):
                            raise TypeError("_instance is not a string")
                    except Exception:
                        stale[room_id] += [field_name, value]  # not written by a RedisBus: never live
                        continue
                    candidates[room_id][field_name.decode()] = (instance, record, field_name, value)
            instances = sorted({c[0] for room in candidates.values() for c in room.values()})
            alive: set[str] = set()
            if instances:
                beats = await redis.mget([self._instance_key(i) for i in instances])
                alive = {i for i, beat in zip(instances, beats, strict=True) if beat is not None}
            result: dict[str, dict[str, Member]] = {}
            for room_id, raw in zip(room_ids, hashes, strict=True):
                live: dict[str, Member] = {}
                for pid, (instance, record, field_name, value) in candidates[room_id].items():
                    if instance in alive:
                        live[pid] = record
                    else:
                        stale[room_id] += [field_name, value]
                        dead_records[(room_id, field_name)] = record
                result[room_id] = live
                if stale[room_id] or (indexed and not raw):
                    assert self._prune_script is not None
                    gone = await self._prune_script(
                        keys=[self._members_key(room_id), self._rooms_key], args=[room_id, *stale[room_id]]
                    )
                    for field_name in gone or ():
                        record = dead_records.get((room_id, field_name))
                        if record is not None:
                            await self._announce_lost(room_id, field_name.decode(), record)
        return result
