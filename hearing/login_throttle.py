"""Staff login throttling per client address (issue 14, item 8; docs/security.md). Pure: the time is passed in.

Two token buckets decide each attempt: one per client address (spraying many usernames from one address is slowed
to LOGIN_ATTEMPTS_PER_MINUTE) and one per (address, username), a fifth of that rate and half the burst (guessing
one account's password from one address is slowed further). Nothing is kept per account alone, so nobody can lock
a judge out by guessing from elsewhere: the judge's own address has its own buckets. Memory is bounded: the least
recently used keys go first once `max_keys` are held (an evicted key is a full bucket again).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from signaling.ratelimit import TokenBucket

USERNAME_SHARE = 5
"""The (address, username) bucket refills this many times more slowly than the address's (and holds half its burst)."""


@dataclass(frozen=True, slots=True)
class Throttled:
    retry_after: int  # whole seconds until the next attempt would be allowed


class LoginThrottle:
    def __init__(self, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.user_rate = self.rate / USERNAME_SHARE
        self.user_burst = max(3, burst // 2)
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, ...], TokenBucket] = OrderedDict()

    def _bucket(self, key: tuple[str, ...], rate: float, burst: int) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def attempt(self, address: str, username: str, now: float) -> Throttled | None:
        """None if this attempt may go ahead (and it is counted in both buckets), else how long to wait; a refused
        attempt spends nothing, so waiting as told always works."""
        by_address = self._bucket(("a", address), self.rate, self.burst)
        by_user = self._bucket(("u", address, username.strip().lower()), self.user_rate, self.user_burst)
        if not _has_token(by_address, now) or not _has_token(by_user, now):
            return Throttled(max(_wait(by_address, now), _wait(by_user, now)))
        by_address.allow(now)
        by_user.allow(now)
        return None

    def __len__(self) -> int:
        return len(self._buckets)


def _refill(bucket: TokenBucket, now: float) -> None:
    if not bucket.started:
        bucket.tokens, bucket.last, bucket.started = float(bucket.burst), now, True
    bucket.tokens = min(float(bucket.burst), bucket.tokens + max(0.0, now - bucket.last) * bucket.rate)
    bucket.last = max(bucket.last, now)


def _has_token(bucket: TokenBucket, now: float) -> bool:
    _refill(bucket, now)
    return bucket.tokens >= 1.0 - 1e-9


def _wait(bucket: TokenBucket, now: float) -> int:
    _refill(bucket, now)
    missing = max(0.0, 1.0 - bucket.tokens)
    return max(1, math.ceil(missing / bucket.rate)) if missing > 1e-9 else 0
