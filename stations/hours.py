"""A station's opening hours, and whether it is open at a given moment in the court's time zone (pure).

Written as people say it: ``"mon-fri 08:30-12:00,14:00-17:30; sat 09:00-12:00"``. Stored as that normalised text
(one place to read it, no second format). A station without hours is always open (a detention centre's fixed
station). Intervals are half-open [start, end) and may not cross midnight; a day may hold several.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")


class BadHours(ValueError):
    """Opening hours that cannot be read; the message says what to write instead."""


def _minutes(text: str) -> int:
    if not _TIME.fullmatch(text):
        raise BadHours(f"{text!r} is not a time; write HH:MM, e.g. 08:30")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Per weekday (0 = Monday) the open intervals in minutes since midnight, sorted and not overlapping."""

    days: tuple[tuple[tuple[int, int], ...], ...]

    @classmethod
    def parse(cls, text: str) -> OpeningHours:
        days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        clauses = [c.strip() for c in text.strip().lower().split(";") if c.strip()]
        if not clauses:
            raise BadHours("no opening hours given; write e.g. 'mon-fri 08:30-17:30'")
        for clause in clauses:
            parts = clause.split()
            if len(parts) != 2:
                raise BadHours(f"{clause!r}: write days then times, e.g. 'mon-fri 08:30-17:30'")
            for day in _days(parts[0]):
                for span in parts[1].split(","):
                    start_end = span.split("-")
                    if len(start_end) != 2:
                        raise BadHours(f"{span!r} is not a time range; write e.g. 08:30-17:30")
                    start, end = _minutes(start_end[0]), _minutes(start_end[1])
                    if start >= end:
                        raise BadHours(f"{span!r} ends before it starts (a range may not cross midnight)")
                    days[day].append((start, end))
        for day, spans in enumerate(days):
            spans.sort()
            for (_, end), (start, _) in itertools.pairwise(spans):
                if start < end:
                    raise BadHours(f"the times on {DAYS[day]} overlap")
        return cls(tuple(tuple(s) for s in days))

    def text(self) -> str:
        """The normalised text form (round-trips through `parse`)."""
        clauses = []
        for day, spans in enumerate(self.days):
            if spans:
                clauses.append(f"{DAYS[day]} " + ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans))
        return "; ".join(clauses)

    def open_at(self, at: datetime, tz: ZoneInfo) -> bool:
        local = at.astimezone(tz)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.days[local.weekday()])


def _days(text: str) -> list[int]:
    if "-" in text:
        first, _, last = text.partition("-")
        if first not in DAYS or last not in DAYS:
            raise BadHours(f"{text!r}: days are {', '.join(DAYS)}")
        a, b = DAYS.index(first), DAYS.index(last)
        return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]
    out = []
    for name in text.split(","):
        if name not in DAYS:
            raise BadHours(f"{name!r} is not a day; days are {', '.join(DAYS)}")
        out.append(DAYS.index(name))
    return out


def _hhmm(minutes: int) -> str:
    return "24:00" if minutes == 1440 else time(minutes // 60, minutes % 60).strftime("%H:%M")


def is_open(hours: str | None, at: datetime, tz: ZoneInfo) -> bool:
    """Whether a station with these stored hours is open at `at` (None: always open)."""
    return True if not hours else OpeningHours.parse(hours).open_at(at, tz)
