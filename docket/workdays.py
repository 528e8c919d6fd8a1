"""Chinese working days (工作日): statutory holidays and make-up working days (调休), for deadlines in working days.

The facts come from the `chinese-calendar` package (the State Council's yearly holiday notices, 2004 to the last year
it ships) plus an **override table** kept by the court's administrators: one row per day that is decided locally or
that the package does not know yet (a newly published year, a local closure). An override always wins over the package.

A year the package does not cover is *not guessed*: asking about a day of such a year raises `CalendarNotCovered`,
unless an override decides that day, or the administrators have declared the year complete (they entered that
year's notice as overrides; then the remaining days follow the weekday rule: Monday to Friday work, weekends rest).

Deadline rule (how "N working days from filing" is counted, the same on every instance and across restarts):

* The filing instant is read as a local date in the court's time zone (Asia/Shanghai by default).
* The day of filing is never counted — as for procedural periods in Chinese civil procedure (期间开始的日不计算在期间内)
  — whether or not it is a working day, and whatever the hour. Day 1 is the first working day *after* the local
  filing date; a petition filed on a Saturday or during a holiday therefore starts counting on the next working day.
* The deadline is the **end** of working day N: the instant local midnight starts the next calendar day. A reply at
  23:59:59 of day N is in time; `Deadline.due_at` is that exclusive end, an aware datetime.
* N = 0 is allowed (due at the end of the filing's own local date); a negative N is refused.

Everything here is pure: no I/O, no clock. `docket/workdays_sql.py` loads the overrides from the records database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "COURT_TZ",
    "CalendarNotCovered",
    "DayOverride",
    "Deadline",
    "WorkdayCalendar",
    "package_years",
]

COURT_TZ = ZoneInfo("Asia/Shanghai")
MAX_WORKDAYS = 366
"""Longest span add_workdays walks: deadlines here are days or weeks, a bigger N is a caller's bug."""


class CalendarNotCovered(LookupError):
    """The calendar cannot tell whether `day` is a working day: its year is not in the package and no override or
    completed-year declaration decides it. Administrators fix it by entering that year's holidays (and 调休 days) as
    overrides and declaring the year complete."""

    code = "calendar_not_covered"

    def __init__(self, day: date) -> None:
        self.day = day
        self.year = day.year
        super().__init__(
            f"the working-day calendar does not cover {day.isoformat()}: chinese-calendar "
            f"{chinese_calendar.__version__} knows {_PACKAGE_YEARS.start}-{_PACKAGE_YEARS.stop - 1}; enter "
            f"{day.year}'s holidays and make-up working days as overrides and declare {day.year} complete"
        )

    @property
    def params(self) -> dict[str, str | int]:
        return {"day": self.day.isoformat(), "year": self.year}


@dataclass(frozen=True, slots=True)
class DayOverride:
    """An administrator's decision for one day: `workday` True (work, e.g. a make-up day) or False (rest)."""

    day: date
    workday: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Deadline:
    """`last_day`: working day N (local date); `due_at`: the end of it (exclusive, aware, court time zone);
    `first_day`: working day 1, where counting started."""

    first_day: date
    last_day: date
    due_at: datetime
    workdays: int


def package_years() -> range:
    """The years `chinese-calendar` ships data for (its holiday table's first and last year)."""
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return range(min(years), max(years) + 1)


_PACKAGE_YEARS = package_years()


class WorkdayCalendar:
    """Is a day a working day, and where do N working days end. Immutable: build a new one after overrides change."""

    def __init__(self, overrides: Iterable[DayOverride] | Mapping[date, DayOverride] = (), *,
                 complete_years: Iterable[int] = (), tz: ZoneInfo = COURT_TZ) -> None:
        items = overrides.values() if isinstance(overrides, Mapping) else overrides
        self._overrides: dict[date, DayOverride] = {o.day: o for o in items}
        self._complete_years = frozenset(complete_years)
        self.tz = tz

    @property
    def overrides(self) -> Mapping[date, DayOverride]:
        return dict(self._overrides)

    def covers(self, year: int) -> bool:
        """Whether every day of `year` can be answered without an error."""
        return year in _PACKAGE_YEARS or year in self._complete_years

    def is_workday(self, day: date) -> bool:
        """Override first; then the package; then, for a year declared complete, Monday to Friday.

        Raises CalendarNotCovered for any other day (never a guess)."""
        if isinstance(day, datetime):
            raise TypeError("is_workday takes a date; convert a datetime with local_date() first")
        found = self._overrides.get(day)
        if found is not None:
            return found.workday
        if day.year in _PACKAGE_YEARS:
            return bool(chinese_calendar.is_workday(day))
        if day.year in self._complete_years:
            return day.weekday() < 5
        raise CalendarNotCovered(day)

    def local_date(self, at: datetime | date) -> date:
        """The court's local date of an instant (aware datetimes only: a naive one has no meaning across machines)."""
        if isinstance(at, datetime):
            if at.tzinfo is None or at.utcoffset() is None:
                raise ValueError("deadline arithmetic needs an aware datetime (UTC or the court's zone)")
            return at.astimezone(self.tz).date()
        return at

    def next_workday(self, day: date) -> date:
        """The first working day strictly after `day`."""
        d = day + timedelta(days=1)
        for _ in range(MAX_WORKDAYS):
            if self.is_workday(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no working day within {MAX_WORKDAYS} days after {day.isoformat()}")  # pragma: no cover

    def previous_workday(self, day: date) -> date:
        """The last working day strictly before `day` (e.g. where a reminder "one working day before" falls)."""
        d = day - timedelta(days=1)
        for _ in range(MAX_WORKDAYS):
            if self.is_workday(d):
                return d
            d -= timedelta(days=1)
        raise ValueError(f"no working day within {MAX_WORKDAYS} days before {day.isoformat()}")  # pragma: no cover

    def add_workdays(self, start: datetime | date, n: int) -> date:
        """Working day N counted after `start`'s local date (the start day itself never counts); N=0 → that date."""
        if n < 0 or n > MAX_WORKDAYS:
            raise ValueError(f"working days must be 0 to {MAX_WORKDAYS}, got {n}")
        d = self.local_date(start)
        for _ in range(n):
            d = self.next_workday(d)
        return d

    def deadline(self, filed_at: datetime, n: int) -> Deadline:
        """The deadline of N working days for something filed at `filed_at` (see the module docstring)."""
        last = self.add_workdays(filed_at, n)
        first = self.next_workday(self.local_date(filed_at)) if n else last
        return Deadline(first, last, self.day_start(last + timedelta(days=1)), n)

    def day_start(self, day: date) -> datetime:
        """Local midnight at the start of `day`, aware (the court's zone has no DST, but stay correct if it had)."""
        return datetime.combine(day, time(0), self.tz)

    def workdays_between(self, start: datetime | date, end: datetime | date) -> int:
        """Working days d with start < d <= end (local dates), negative when end is before start.

        The inverse of add_workdays: workdays_between(s, add_workdays(s, n)) == n.
        """
        a, b = self.local_date(start), self.local_date(end)
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        count = 0
        d = a + timedelta(days=1)
        while d <= b:
            count += self.is_workday(d)
            d += timedelta(days=1)
        return sign * count
