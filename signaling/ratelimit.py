"""A token bucket per connection: pure, with the time passed in, so it is tested without sleeping."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: int
    tokens: float = 0.0
    last: float = 0.0
    started: bool = False

    def allow(self, now: float) -> bool:
        if not self.started:  # first use: full bucket
            self.tokens, self.last, self.started = float(self.burst), now, True
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0 - 1e-9:  # float error must not refuse a message sent exactly at the rate
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False
