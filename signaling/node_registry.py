"""Media nodes and room owners in Redis: the thin shell around signaling/placement.py.

Keys (under `prefix`):
  {prefix}:node:{id}          JSON {ws_url, capacity, draining}, TTL 3 x heartbeat (the node's lease)
  {prefix}:nodes              set of node ids that registered (dead ones are skipped, then forgotten)
  {prefix}:node:{id}:rooms    rooms the node owns; its size is the node's load
  {prefix}:owner:{room}       the node that owns the room's media

Taking a room is a compare-and-set in Lua (`_CLAIM_LUA`): it succeeds only if the owner key still holds what
the caller saw (nobody, or a node whose lease had expired), so two instances placing the same room at once end
with one owner, and both send their participant there. A room is given up when its last local participant
leaves (`release`, also compare-and-delete). A dead node's rooms are re-placed by their next join or resume
(`placement.place`): once its lease expires (3 heartbeats after a SIGKILL) the owner key names a node that is
not live, and the same compare-and-set hands the room to the least-loaded live node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling.placement import Node, Route, place, route

log = logging.getLogger("hearing.signaling.nodes")

_CLAIM_LUA = """
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[2] then return cur end
redis.call('SET', KEYS[1], ARGV[1])
if cur ~= '' then redis.call('SREM', KEYS[3], ARGV[3]) end
redis.call('SADD', KEYS[2], ARGV[3])
return ARGV[1]
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class NodeRegistry:
    """This node's registration (when it runs media) and the routing of joins for every instance."""

    def __init__(self, url: str, *, prefix: str, node_id: str, ws_url: str, capacity: int = 100,
                 media: bool = True, heartbeat_seconds: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.node_id = node_id
        self.ws_url = ws_url
        self.capacity = capacity
        self.media = media
        self.draining = False
        self.heartbeat_seconds = heartbeat_seconds
        self._ttl_ms = max(1, round(3 * heartbeat_seconds * 1000))
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._claim: Callable[..., object] | None = None
        self._release: Callable[..., object] | None = None
        self.redirects = 0  # joins sent to another node (for /metrics and tests)

    def _node_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def _rooms_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:rooms"

    def _owner_key(self, room_id: str) -> str:
        return f"{self.prefix}:owner:{room_id}"

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=10)
        self._claim = self._redis.register_script(_CLAIM_LUA)
        self._release = self._redis.register_script(_RELEASE_LUA)
        if self.media:
            await self._beat()
            self._task = asyncio.create_task(self._heartbeat(), name=f"node-heartbeat-{self.node_id}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None:
            if self.media:
                with contextlib.suppress(RedisError, OSError):
                    await self._redis.delete(self._node_key(self.node_id))
            await self._redis.aclose()
            self._redis = None

    async def set_draining(self, draining: bool = True) -> None:
        """A draining node keeps its rooms but is given no new ones (SIGTERM)."""
        self.draining = draining
        if self.media and self._redis is not None:
            await self._beat()

    async def _beat(self) -> None:
        assert self._redis is not None
        record = json.dumps({"ws_url": self.ws_url, "capacity": self.capacity, "draining": self.draining})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._node_key(self.node_id), record, px=self._ttl_ms)
            pipe.sadd(f"{self.prefix}:nodes", self.node_id)
            await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning("node heartbeat failed (%s)", exc)

    # ---- reading ------------------------------------------------------------------------------------------

    async def nodes(self) -> list[Node]:
        """The live nodes (lease not expired) with their load."""
        assert self._redis is not None
        ids = sorted(i.decode() for i in await self._redis.smembers(f"{self.prefix}:nodes"))
        if not ids:
            return []
        records = await self._redis.mget([self._node_key(i) for i in ids])
        async with self._redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.scard(self._rooms_key(i))
            loads = await pipe.execute()
        out = []
        for node_id, raw, load in zip(ids, records, loads, strict=True):
            if raw is None:
                continue
            try:
                rec = json.loads(raw)
                out.append(Node(node_id, str(rec["ws_url"]), int(rec["capacity"]), int(load),
                                bool(rec.get("draining"))))
            except (ValueError, KeyError, TypeError):
                log.warning("skipped a malformed node record %s", node_id)
        return out

    # ---- placing and routing ------------------------------------------------------------------------------

    async def owner(self, room_id: str) -> Node | None:
        """The room's live owner, placing the room first if it has none (or its owner's lease expired)."""
        assert self._redis is not None and self._claim is not None
        for _ in range(4):
            current = (await self._redis.get(self._owner_key(room_id)) or b"").decode()
            decision = place(current, await self.nodes())
            if decision.action == "keep" or decision.node is None:
                return decision.node
            chosen = decision.node
            got = await self._claim(keys=[self._owner_key(room_id), self._rooms_key(chosen.node_id),
                                          self._rooms_key(current or "-")],
                                    args=[chosen.node_id, current, room_id])
            got = got.decode() if isinstance(got, bytes) else str(got)
            if got == chosen.node_id:
                log.info("room placed", extra={"room": room_id, "node": chosen.node_id,
                                               "replaced": current or None})
                return chosen
            # Someone else placed it meanwhile: look again (their node may be the answer).
        return None

    async def route(self, room_id: str) -> Route:
        """Serve here, or send the client to the owner. Redis trouble or no eligible node: serve here (a
        hearing held on a busy node beats one refused)."""
        try:
            owner = await self.owner(room_id)
        except (RedisError, OSError) as exc:
            log.warning("room placement unavailable (%s); serving the join here", exc)
            return Route("serve", node_id=self.node_id)
        decision = route(room_id, owner, self.node_id)
        if decision.action == "refuse":
            return Route("serve", node_id=self.node_id)
        if decision.action == "redirect":
            self.redirects += 1
        return decision

    async def release(self, room_id: str) -> None:
        """This node's last participant of the room left: give the room up."""
        if self._redis is None or self._release is None:
            return
        try:
            await self._release(keys=[self._owner_key(room_id), self._rooms_key(self.node_id)],
                                args=[self.node_id, room_id])
        except (RedisError, OSError) as exc:
            log.warning("could not release room %s (%s)", room_id, exc)
