"""Rate limits of agency queries, behind one narrow interface: `await limiter.take(agency_id)`.

A token bucket per agency (`rate` tokens a second, at most `burst`). Embedded (one process) the buckets live in
memory; with several app instances a per-process bucket would multiply the limit by the number of instances, so
when the app runs with Redis (the room bus's `REDIS_URL`) the bucket lives there, updated by one Lua script — atomic,
and timed by Redis's own clock, so instances with skewed clocks still share one bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

QUERY_RATE = 0.5
"""Sustained queries a second per agency: one every two seconds, plenty for case-by-case checks."""
QUERY_BURST = 20
"""Queries an agency may make at once (a batch of applications) before the rate applies."""


class LimiterUnavailable(RuntimeError):
    """The shared limiter could not be asked (Redis down): the query is refused rather than let through unmetered."""


class QueryLimiter(Protocol):
    async def take(self, key: str) -> float:
        """Take one token from `key`'s bucket: 0.0 when allowed, else the seconds until a token is available
        (nothing is taken then). LimiterUnavailable when the limiter cannot answer."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last: float


class MemoryQueryLimiter:
    """Per-process buckets: right for the embedded single instance. `monotonic` is injectable for tests."""

    def __init__(self, rate: float = QUERY_RATE, burst: int = QUERY_BURST, *,
                 monotonic: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst ≥ 1")
        self.rate, self.burst = rate, float(burst)
        self._monotonic = monotonic
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, key: str) -> float:
        now = self._monotonic()
        b = self._buckets.setdefault(key, _Bucket(self.burst, now))
        b.tokens = min(self.burst, b.tokens + max(0.0, now - b.last) * self.rate)
        b.last = now
        if b.tokens >= 1.0 - 1e-9:
            b.tokens = max(0.0, b.tokens - 1.0)
            return 0.0
        return (1.0 - b.tokens) / self.rate

    async def close(self) -> None:
        return None


# KEYS[1]: the bucket (a hash of tokens and last); ARGV: rate, burst. Returns the wait as a string (Lua numbers
# would reach the client truncated to integers). TIME makes the script non-deterministic, which Redis ≥ 5
# replicates by effect. The key expires once a full bucket would have refilled, so idle agencies cost nothing.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'last', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisQueryLimiter:
    """Buckets in Redis under `<prefix>:integrity:rate:<key>`, shared by every instance on the same Redis."""

    def __init__(self, url: str, *, prefix: str = "hearing", rate: float = QUERY_RATE, burst: int = QUERY_BURST,
                 timeout: float = 2.0) -> None:
        from redis.asyncio import Redis

        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst ≥ 1")
        self.rate, self.burst = rate, burst
        self.prefix = prefix
        self._redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._take = self._redis.register_script(_TAKE)

    async def take(self, key: str) -> float:
        from redis.exceptions import RedisError

        try:
            wait = await self._take(keys=[f"{self.prefix}:integrity:rate:{key}"], args=[self.rate, self.burst])
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(f"the query rate limiter (Redis) did not answer: {exc}") from exc
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()
