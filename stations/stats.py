"""Call statistics (pure): calls per station and per court, waiting time p50/p90, pickup rate, minutes.

Percentiles are nearest-rank (the value a person actually waited, not an interpolation). A call counts as picked
up when a judge accepted it; the rate's denominator is every call that left the queue (accepted or not), so calls
still waiting do not count either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CallFacts:
    station_id: str | None  # None: a person called with their own link (counted in the total and the court)
    court_code: str
    state: str
    requested_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Group:
    calls: int = 0
    answered: int = 0
    decided: int = 0
    waits: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def out(self) -> dict[str, float | int | None]:
        return {"calls": self.calls, "answered": self.answered,
                "pickup_rate": round(self.answered / self.decided, 4) if self.decided else None,
                "wait_p50_seconds": percentile(self.waits, 50), "wait_p90_seconds": percentile(self.waits, 90),
                "minutes": round(self.seconds / 60, 2)}


def call_stats(calls: Iterable[CallFacts], now: datetime, since: datetime | None = None,
               until: datetime | None = None) -> dict[str, object]:
    """Calls requested within [since, until) (open bounds when None)."""
    total, by_station, by_court = Group(), dict[str, Group](), dict[str, Group]()
    for c in calls:
        if (since is not None and c.requested_at < since) or (until is not None and c.requested_at >= until):
            continue
        groups = [total, by_court.setdefault(c.court_code, Group())]
        if c.station_id is not None:
            groups.append(by_station.setdefault(c.station_id, Group()))
        for g in groups:
            g.calls += 1
            if c.accepted_at is not None:
                g.answered += 1
                g.decided += 1
                g.waits.append(max(0.0, (c.accepted_at - c.requested_at).total_seconds()))
                g.seconds += max(0.0, ((c.ended_at or now) - c.accepted_at).total_seconds())
            elif c.state != "waiting":
                g.decided += 1
    return {"total": total.out(), "by_station": {k: g.out() for k, g in sorted(by_station.items())},
            "by_court": {k: g.out() for k, g in sorted(by_court.items())}}
