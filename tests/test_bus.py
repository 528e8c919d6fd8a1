"""One contract for both room buses (in-process and real Redis), plus what only the Redis bus can get wrong:
several instances, crashed instances, subscribe races, bad payloads, reconnects and clean shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from signaling.bus import BusError, InProcessBus, RoomBus, Subscription, SubscriptionClosed
from signaling.redis_bus import RedisBus, redact_url
from tests.conftest import wait_until

TIMEOUT = 10.0

MakeBus = Callable[..., Awaitable[RedisBus]]


async def next_event(sub: Subscription) -> dict:
    return await asyncio.wait_for(sub.get(), timeout=TIMEOUT)


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["inprocess", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[RoomBus]:
    b: RoomBus
    if request.param == "inprocess":
        b = InProcessBus()
    else:
        b = RedisBus(request.getfixturevalue("redis_url"), prefix=request.getfixturevalue("redis_prefix"))
    assert isinstance(b, RoomBus)
    await b.start()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def make_bus(redis_url: str, redis_prefix: str) -> AsyncIterator[MakeBus]:
    """Started RedisBus instances sharing one prefix, as separate server processes would."""
    made: list[RedisBus] = []

    async def make(**kwargs: object) -> RedisBus:
        b = RedisBus(redis_url, prefix=redis_prefix, **kwargs)  # type: ignore[arg-type]
        made.append(b)
        await b.start()
        return b

    try:
        yield make
    finally:
        for b in made:
            await b.close()


class LinkProxy:
    """A TCP proxy in front of Redis that delays every chunk (in order, both ways) and can cut the link.

    A slow link widens the window between sending SUBSCRIBE and Redis acting on it, so a bus that returned
    from subscribe() before the confirmation would lose the event published right after.
    """

    def __init__(self, target: str, delay: float) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.delay = delay
        self.down = False
        self._target = parts
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._target.netloc.rsplit("@", 1)[0] + "@" if "@" in self._target.netloc else ""
        return urlunsplit((self._target.scheme, f"{netloc}127.0.0.1:{port}", self._target.path, "", ""))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        if self.down:
            client_w.close()
            return
        server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        self._writers.add(server_w)
        for src, dst in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    break
                dst.write(chunk)
                await dst.drain()

        forwarder = asyncio.create_task(forward())
        try:
            while chunk := await src.read(65536):
                queue.put_nowait((loop.time() + self.delay, chunk))
            queue.put_nowait((loop.time() + self.delay, b""))
            await forwarder
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            forwarder.cancel()
            dst.close()

    def cut(self) -> None:
        """Drop every proxied connection; with `down` set, refuse new ones too."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        self.down = True
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def slow_link(redis_url: str) -> AsyncIterator[LinkProxy]:
    proxy = LinkProxy(redis_url, delay=0.1)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# ---- the contract, for both buses -------------------------------------------------------------------------


async def test_publish_reaches_every_subscriber_of_the_room(bus: RoomBus) -> None:
    r = room()
    subs = [await bus.subscribe(r) for _ in range(3)]
    await bus.publish(r, {"kind": "msg", "n": 1, "nested": {"a": [1, 2]}})
    for sub in subs:
        assert await next_event(sub) == {"kind": "msg", "n": 1, "nested": {"a": [1, 2]}}


async def test_no_delivery_to_other_rooms(bus: RoomBus) -> None:
    r1, r2 = room(), room()
    s1, s2 = await bus.subscribe(r1), await bus.subscribe(r2)
    await bus.publish(r1, {"for": "r1"})
    await bus.publish(r2, {"for": "r2"})
    assert await next_event(s2) == {"for": "r2"}  # the r1 event, published first, never came here
    assert await next_event(s1) == {"for": "r1"}


async def test_order_is_preserved(bus: RoomBus) -> None:
    r = room()
    a, b = await bus.subscribe(r), await bus.subscribe(r)
    for i in range(200):
        await bus.publish(r, {"seq": i})
    for sub in (a, b):
        assert [(await next_event(sub))["seq"] for _ in range(200)] == list(range(200))


async def test_closing_one_subscription_stops_only_its_delivery(bus: RoomBus) -> None:
    r = room()
    closing, staying = await bus.subscribe(r), await bus.subscribe(r)
    blocked = asyncio.create_task(closing.get())
    await asyncio.sleep(0)  # let it block in get()
    await closing.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(blocked, TIMEOUT)  # a consumer blocked in get() is woken, not left hanging
    await bus.publish(r, {"n": 1})
    assert await next_event(staying) == {"n": 1}
    with pytest.raises(SubscriptionClosed):
        await closing.get()
    assert [e async for e in closing] == []
    await closing.close()  # idempotent


async def test_last_close_then_resubscribe(bus: RoomBus) -> None:
    r = room()
    for i in range(3):
        sub = await bus.subscribe(r)
        await bus.publish(r, {"round": i})
        assert await next_event(sub) == {"round": i}
        await sub.close()


async def test_iteration_yields_events_until_closed(bus: RoomBus) -> None:
    r = room()
    sub = await bus.subscribe(r)
    got: list[dict] = []

    async def consume() -> None:
        async for event in sub:
            got.append(event)
            if len(got) == 2:
                await sub.close()

    consumer = asyncio.create_task(consume())
    await bus.publish(r, {"n": 1})
    await bus.publish(r, {"n": 2})
    await asyncio.wait_for(consumer, TIMEOUT)
    assert got == [{"n": 1}, {"n": 2}]


async def test_events_are_copies(bus: RoomBus) -> None:
    r = room()
    a, b = await bus.subscribe(r), await bus.subscribe(r)
    event = {"kind": "msg", "msg": {"to": ["x"]}}
    await bus.publish(r, event)
    event["msg"]["to"].append("publisher-mutation")
    got_a = await next_event(a)
    got_a["kind"] = "changed"
    got_a["msg"]["to"].append("y")
    assert await next_event(b) == {"kind": "msg", "msg": {"to": ["x"]}}


async def test_unserialisable_event_fails_alike(bus: RoomBus) -> None:
    with pytest.raises(TypeError):
        await bus.publish(room(), {"bad": object()})
    with pytest.raises(TypeError):
        await bus.set_member(room(), "p1", {"bad": {1, 2}})


async def test_presence(bus: RoomBus) -> None:
    r1, r2 = room(), room()
    assert await bus.members(r1) == {}
    assert r1 not in await bus.rooms()
    await bus.set_member(r1, "p1", {"role": "judge", "muted": False})
    await bus.set_member(r1, "p2", {"role": "party"})
    await bus.set_member(r2, "p3", {"role": "clerk"})
    await bus.set_member(r1, "p1", {"role": "judge", "muted": True})  # replace
    assert await bus.members(r1) == {"p1": {"role": "judge", "muted": True}, "p2": {"role": "party"}}
    assert {r1, r2} <= set(await bus.rooms())
    got = await bus.members(r1)
    got["p1"]["role"] = "mutated"
    assert (await bus.members(r1))["p1"]["role"] == "judge"  # returned records are copies

    assert await bus.remove_member(r1, "p1") is True
    assert await bus.remove_member(r1, "p1") is False
    assert await bus.remove_member(room(), "nobody") is False
    assert await bus.members(r1) == {"p2": {"role": "party"}}
    assert await bus.remove_member(r1, "p2") is True
    assert await bus.members(r1) == {}
    rooms = await bus.rooms()
    assert r1 not in rooms and r2 in rooms
    assert rooms == sorted(rooms)


async def test_bus_close_ends_subscriptions(bus: RoomBus) -> None:
    sub = await bus.subscribe(room())
    blocked = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    await bus.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(blocked, TIMEOUT)
    await sub.close()
    await bus.close()  # idempotent


async def test_ping(bus: RoomBus) -> None:
    await bus.ping()


# ---- Redis only -------------------------------------------------------------------------------------------


async def test_two_instances_share_events_and_members(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    r = room()
    sa, sb = await a.subscribe(r), await b.subscribe(r)
    await a.publish(r, {"from": "a"})
    await b.publish(r, {"from": "b"})
    for sub in (sa, sb):  # the publisher's own subscribers get its events too
        assert {(await next_event(sub))["from"] for _ in range(2)} == {"a", "b"}
    await a.set_member(r, "pa", {"role": "judge"})
    await b.set_member(r, "pb", {"role": "party"})
    expected = {"pa": {"role": "judge"}, "pb": {"role": "party"}}
    assert await a.members(r) == expected
    assert await b.members(r) == expected
    assert r in await a.rooms() and r in await b.rooms()
    assert await a.remove_member(r, "pb") is True  # any instance may remove any member
    assert await b.members(r) == {"pa": {"role": "judge"}}


async def test_crashed_instance_members_disappear(make_bus: MakeBus, raw: aioredis.Redis) -> None:
    survivor = await make_bus()
    crashed = await make_bus(heartbeat_seconds=0.5)  # its heartbeat key lives 1.5 s unless refreshed
    r_shared, r_only_crashed = room(), room()
    await crashed.set_member(r_shared, "gone", {"role": "party"})
    await crashed.set_member(r_only_crashed, "gone2", {"role": "witness"})
    await survivor.set_member(r_shared, "stays", {"role": "judge"})

    # While it heartbeats its members outlive the TTL (a window, not synchronisation: nothing to await).
    await asyncio.sleep(2.0)
    assert set(await survivor.members(r_shared)) == {"gone", "stays"}

    assert crashed._heartbeat_task is not None
    crashed._heartbeat_task.cancel()  # a crash: no close(), members left behind, the heartbeat stops

    async def dropped() -> bool:
        return await survivor.members(r_shared) == {"stays": {"role": "judge"}}

    await wait_until(dropped, timeout=TIMEOUT)
    assert await survivor.rooms() == [r_shared]
    assert await survivor.members(r_only_crashed) == {}
    # cleaned lazily in Redis, not just hidden
    prefix = survivor._prefix
    assert await raw.hkeys(f"{prefix}:room:{r_shared}:members") == [b"stays"]
    assert await raw.exists(f"{prefix}:room:{r_only_crashed}:members") == 0
    assert await raw.smembers(f"{prefix}:rooms") == {r_shared.encode()}


async def test_member_rejoining_via_live_instance_survives_cleanup(make_bus: MakeBus, raw: aioredis.Redis) -> None:
    live, dead = await make_bus(), await make_bus()
    r = room()
    await dead.set_member(r, "p", {"at": "dead"})
    await raw.delete(f"{dead._prefix}:instance:{dead.instance_id}")  # its heartbeat lapsed
    await live.set_member(r, "p", {"at": "live"})  # the participant reconnected through another instance
    assert await live.members(r) == {"p": {"at": "live"}}
    assert await live.rooms() == [r]


async def test_live_instances_reap_a_dead_ones_members_announcing_each_once(
        make_bus: MakeBus, raw: aioredis.Redis) -> None:
    """Nobody reads the rooms: the reapers find the dead instance through its lapsed heartbeat, and of two
    reapers at once exactly one announces each member; a participant who came back through a live instance
    meanwhile is neither removed nor announced."""
    first, second, dead = await make_bus(), await make_bus(), await make_bus()
    r1, r2 = room(), room()
    await dead.set_member(r1, "gone", {"role": "party"})
    await dead.set_member(r2, "gone2", {"role": "witness"})
    await dead.set_member(r1, "back", {"at": "dead"})
    assert dead._heartbeat_task is not None
    dead._heartbeat_task.cancel()  # a crash: no close(), members left behind
    await raw.delete(f"{dead._prefix}:instance:{dead.instance_id}")  # its heartbeat lapsed
    await first.set_member(r1, "back", {"at": "live"})
    lost: list[tuple[str, str, dict]] = []

    async def record(room_id: str, pid: str, member: dict) -> None:
        lost.append((room_id, pid, member))

    first.on_members_lost(record)
    second.on_members_lost(record)
    await asyncio.gather(first.reap(), second.reap())
    assert sorted(lost) == sorted([(r1, "gone", {"role": "party"}), (r2, "gone2", {"role": "witness"})])
    assert first.reaped + second.reaped == 2
    assert await first.members(r1) == {"back": {"at": "live"}}
    prefix = first._prefix
    assert dead.instance_id.encode() not in await raw.smembers(f"{prefix}:instances")
    assert await raw.exists(f"{prefix}:instance:{dead.instance_id}:rooms") == 0
    assert await asyncio.gather(first.reap(), second.reap()) == [0, 0]  # nothing twice
    # The lost place is kept for the grace window, for one resume through a live instance.
    assert await second.take_lost(r1, "gone") == {"role": "party"}
    assert await first.take_lost(r1, "gone") is None


async def test_subscribe_then_immediate_publish_from_other_instance(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    for i in range(20):  # a fresh channel each time: SUBSCRIBE must be confirmed before subscribe() returns
        r = room()
        sub = await a.subscribe(r)
        await b.publish(r, {"i": i})
        assert await next_event(sub) == {"i": i}
    r = room()
    for i in range(20):  # the same channel, unsubscribed and resubscribed in quick succession
        sub = await a.subscribe(r)
        await b.publish(r, {"i": i})
        assert await next_event(sub) == {"i": i}
        await sub.close()


async def test_subscribe_waits_for_the_confirmation_over_a_slow_link(
    slow_link: LinkProxy, make_bus: MakeBus, redis_prefix: str
) -> None:
    remote = await make_bus()
    slow = RedisBus(slow_link.url, prefix=redis_prefix)
    await slow.start()
    try:
        for i in range(5):
            r = room()
            sub = await slow.subscribe(r)
            await remote.publish(r, {"i": i})  # direct, so it reaches Redis long before a delayed SUBSCRIBE
            assert await next_event(sub) == {"i": i}
        # A subscribe cancelled before its confirmation, then the same room again: the second must wait for
        # its own SUBSCRIBE's confirmation, not take the first one's (which arrives earlier).
        r = room()
        first = asyncio.create_task(slow.subscribe(r))
        await asyncio.sleep(0.05)  # timing only widens the race; the assertion holds for any timing
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0.14)
        sub = await slow.subscribe(r)
        await remote.publish(r, {"second": True})
        assert await next_event(sub) == {"second": True}
    finally:
        await slow.close()


async def test_link_outage_then_recovery(
    slow_link: LinkProxy, make_bus: MakeBus, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hearing.signaling.bus")
    slow_link.delay = 0.0
    remote = await make_bus()
    bus = RedisBus(slow_link.url, prefix=redis_prefix)
    await bus.start()
    try:
        r = room()
        sub = await bus.subscribe(r)
        slow_link.down = True
        slow_link.cut()
        with pytest.raises(BusError):
            await bus.ping()
        with pytest.raises(BusError):
            await bus.publish(r, {"lost": True})
        await wait_until(lambda: "reconnecting to" in caplog.text, timeout=TIMEOUT)  # retried at least once
        waiting = asyncio.create_task(bus.subscribe(room()))  # waits for the link rather than failing at once
        slow_link.down = False
        # The reader resubscribes every room in one SUBSCRIBE, so once the new room is confirmed, `r` is too.
        await asyncio.wait_for(waiting, TIMEOUT)
        assert "reconnected" in caplog.text
        await bus.ping()
        await remote.publish(r, {"after": "outage"})
        assert await next_event(sub) == {"after": "outage"}
    finally:
        await bus.close()


async def test_concurrent_subscribers_of_one_room_all_confirmed(make_bus: MakeBus) -> None:
    a, b = await make_bus(), await make_bus()
    r = room()
    subs = await asyncio.gather(*(a.subscribe(r) for _ in range(10)))
    await b.publish(r, {"n": 1})
    for sub in subs:
        assert await next_event(sub) == {"n": 1}


async def test_malformed_payload_does_not_kill_the_reader(
    make_bus: MakeBus, raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    a = await make_bus()
    r = room()
    sub = await a.subscribe(r)
    channel = f"{a._prefix}:room:{r}:events"
    caplog.set_level(logging.WARNING, logger="hearing.signaling.bus")
    for bad in (b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"', b"null", b"[" * 100_000 + b"]" * 100_000):
        await raw.publish(channel, bad)
    await a.publish(r, {"ok": True})
    assert await next_event(sub) == {"ok": True}
    assert caplog.text.count("malformed event") == 6
    assert a._reader_task is not None and not a._reader_task.done()


async def test_unreachable_redis_fails_fast_with_clear_message() -> None:
    started = time.monotonic()
    b = RedisBus("redis://:s3cret@127.0.0.1:1/0")
    with pytest.raises(BusError) as info:
        await b.start()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "Redis at redis://127.0.0.1:1/0 is unreachable" in message
    assert "unset REDIS_URL" in message
    assert "s3cret" not in message
    await b.close()


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@host:6380/2?password=pw") == "redis://user@host:6380/2"
    assert redact_url("rediss://:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"


async def test_operations_before_start_and_after_close_raise(redis_url: str, redis_prefix: str) -> None:
    b = RedisBus(redis_url, prefix=redis_prefix)
    with pytest.raises(BusError, match="not started"):
        await b.publish("r", {})
    await b.start()
    await b.close()
    for op in (b.ping(), b.publish("r", {}), b.subscribe("r"), b.members("r"), b.rooms()):
        with pytest.raises(BusError, match="closed"):
            await op


async def test_close_is_idempotent_and_leaves_nothing_behind(
    redis_url: str, redis_prefix: str, raw: aioredis.Redis
) -> None:
    before = asyncio.all_tasks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = RedisBus(redis_url, prefix=redis_prefix, heartbeat_seconds=0.05)
        await b.start()
        sub = await b.subscribe(room())
        await b.set_member(room(), "p", {})
        await b.publish(room(), {"n": 1})
        heartbeat_key = f"{redis_prefix}:instance:{b.instance_id}"
        assert await raw.exists(heartbeat_key) == 1
        await asyncio.gather(b.close(), b.close())
        await b.close()
        assert asyncio.all_tasks() - before == set()
        assert await raw.exists(heartbeat_key) == 0
        with pytest.raises(SubscriptionClosed):
            await sub.get()
        del b, sub
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_reconnects_and_resubscribes_after_the_connection_drops(
    make_bus: MakeBus, raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await make_bus(), await make_bus()
    r = room()
    sub = await a.subscribe(r)
    caplog.set_level(logging.WARNING, logger="hearing.signaling.bus")
    name = f"{a._prefix}:bus:{a.instance_id}"

    async def pubsub_clients() -> list[dict]:
        return [c for c in await raw.client_list() if c.get("name") == name]

    (old,) = await pubsub_clients()
    await raw.client_kill_filter(_id=old["id"])

    async def resubscribed() -> bool:
        clients = await pubsub_clients()
        return len(clients) == 1 and clients[0]["id"] != old["id"] and int(clients[0]["sub"]) == 1

    await wait_until(resubscribed, timeout=TIMEOUT)
    await b.publish(r, {"after": "reconnect"})
    assert await next_event(sub) == {"after": "reconnect"}
    assert "pub/sub connection" in caplog.text and "reconnected" in caplog.text
    await a.ping()
    r2 = room()  # new rooms work on the new connection too
    sub2 = await a.subscribe(r2)
    await b.publish(r2, {"n": 2})
    assert await next_event(sub2) == {"n": 2}
