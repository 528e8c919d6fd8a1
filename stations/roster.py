"""Who is on duty (pure): a shift of the roster covering the moment, and the judge's own status.

A judge on a shift who marked themselves away is not on duty for the queue; busy judges are on duty (they see the
queue) but the queue is not "answered" by them. The next shift's start is the callback slot offered when nobody is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from stations.vocab import DutyStatus


@dataclass(frozen=True, slots=True)
class Shift:
    id: str
    court_code: str
    staff_id: str
    duty_role: str
    starts_at: datetime
    ends_at: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def on_duty(shifts: Iterable[Shift], statuses: Mapping[str, DutyStatus], court_code: str, at: datetime,
            *, available_only: bool = False) -> set[str]:
    """Staff ids on a shift of `court_code` at `at`, not away (and, if asked, not busy either).

    A judge who never set a status counts as available: being put on the roster is the default commitment."""
    out = set()
    for s in shifts:
        if s.court_code != court_code or not s.covers(at):
            continue
        status = statuses.get(s.staff_id, DutyStatus.AVAILABLE)
        if status is DutyStatus.AWAY or (available_only and status is DutyStatus.BUSY):
            continue
        out.add(s.staff_id)
    return out


def courts_of(shifts: Iterable[Shift], staff_id: str, at: datetime) -> set[str]:
    """The courts whose queue this staff member sees now (a shift covers the moment)."""
    return {s.court_code for s in shifts if s.staff_id == staff_id and s.covers(at)}


def next_shift_start(shifts: Iterable[Shift], court_code: str, at: datetime) -> datetime | None:
    """The callback slot to offer: when the court's next shift starts after `at`."""
    starts = [s.starts_at for s in shifts if s.court_code == court_code and s.starts_at > at]
    return min(starts) if starts else None
