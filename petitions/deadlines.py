"""The 一三五 deadlines on the court's working-day calendar (docket.workdays): due time and reminder time. Pure.

The counting rule is the calendar's (docket/workdays.py): the filing day never counts, working day 1 is the first
working day after it, and a class of N working days is due at the end of working day N (court-local midnight).
A year the calendar does not cover raises `CalendarNotCovered`, and that propagates: a deadline is never guessed.
Everything is a function of (instant, working days, calendar), so every instance and every restart agrees.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from docket.workdays import Deadline
from petitions.rules import Deadlines


class Calendar(Protocol):
    """What this module needs of docket.workdays.WorkdayCalendar."""

    def deadline(self, filed_at: datetime, n: int) -> Deadline: ...

    def day_start(self, day: date) -> datetime: ...


def due_at(calendar: Calendar, start: datetime, working_days: int) -> datetime:
    """The instant a cycle started at `start` becomes overdue (UTC)."""
    return calendar.deadline(start, working_days).due_at.astimezone(UTC)


def reminder_at(calendar: Calendar, start: datetime, working_days: int) -> datetime:
    """"One working day before the deadline": the start of the last working day (court-local midnight), so the
    handler has that whole working day left; never before `start` (a petition filed on its last day: at once)."""
    last = calendar.deadline(start, working_days).last_day
    return max(start.astimezone(UTC), calendar.day_start(last).astimezone(UTC))


def bind(calendar: Calendar) -> Deadlines:
    """The `petitions.rules.Deadlines` function over `calendar`."""
    return lambda start, n: due_at(calendar, start, n)
