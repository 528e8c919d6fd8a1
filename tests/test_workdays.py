"""Working-day deadlines on the real chinese-calendar data: National Day, Spring Festival and 调休 weekends.

The dated expectations are the State Council's published holiday notices (2024, 2025), written out by hand here so the
tests check the calendar against the notices, not against itself.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docket.audit import SqlAuditLog
from docket.migrate import upgrade
from docket.sql import make_engine
from docket.workdays import COURT_TZ, CalendarNotCovered, DayOverride, WorkdayCalendar, package_years
from docket.workdays_sql import SqlWorkdayOverrides

CAL = WorkdayCalendar()
D = date.fromisoformat


def bj(text: str) -> datetime:
    """A Beijing wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=COURT_TZ)


# ---- the notices ----------------------------------------------------------------------------------------

NOTICE_2025 = {
    # Spring Festival: 28 Jan - 4 Feb off; Sunday 26 Jan and Saturday 8 Feb worked.
    "holidays": ["2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-01", "2025-02-02", "2025-02-03",
                 "2025-02-04",
                 # National Day + Mid-Autumn: 1 - 8 Oct off; Sunday 28 Sep and Saturday 11 Oct worked.
                 "2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04", "2025-10-05", "2025-10-06", "2025-10-07",
                 "2025-10-08"],
    "makeup": ["2025-01-26", "2025-02-08", "2025-09-28", "2025-10-11"],
}
NOTICE_2024 = {
    "holidays": ["2024-02-10", "2024-02-11", "2024-02-12", "2024-02-13", "2024-02-14", "2024-02-15", "2024-02-16",
                 "2024-02-17", "2024-10-01", "2024-10-02", "2024-10-03", "2024-10-04", "2024-10-05", "2024-10-06",
                 "2024-10-07"],
    "makeup": ["2024-02-04", "2024-02-18", "2024-09-29", "2024-10-12"],
}


@pytest.mark.parametrize("notice", [NOTICE_2024, NOTICE_2025])
def test_the_notices_holidays_and_makeup_days(notice: dict[str, list[str]]) -> None:
    for day in notice["holidays"]:
        assert not CAL.is_workday(D(day)), day
    for day in notice["makeup"]:
        assert D(day).weekday() >= 5, f"{day} is a weekend day worked as 调休"
        assert CAL.is_workday(D(day)), day


@pytest.mark.parametrize(("filed", "n", "last"), [
    # Filed the afternoon before National Day 2025: the holiday is skipped, the make-up Saturday counts.
    ("2025-09-30T15:00", 1, "2025-10-09"),
    ("2025-09-30T15:00", 2, "2025-10-10"),
    ("2025-09-30T15:00", 3, "2025-10-11"),  # Saturday 11 Oct is a working day (调休)
    ("2025-09-30T15:00", 5, "2025-10-14"),
    # Filed during the holiday: counting starts at the next working day.
    ("2025-10-03T09:00", 1, "2025-10-09"),
    # Filed on the make-up Sunday before it: that day is not counted even though it is a working day.
    ("2025-09-28T10:00", 1, "2025-09-29"),
    ("2025-09-28T10:00", 3, "2025-10-09"),
    # Filed on the make-up Saturday: Sunday rests, Monday is day 1.
    ("2025-10-11T23:59", 1, "2025-10-13"),
    # Spring Festival 2025: filed on the Monday before, Tuesday starts the holiday.
    ("2025-01-27T08:00", 1, "2025-02-05"),
    ("2025-01-25T12:00", 1, "2025-01-26"),  # Saturday filing, the Sunday is worked
    ("2025-02-07T17:00", 1, "2025-02-08"),  # Friday filing, the Saturday is worked
    ("2025-02-07T17:00", 3, "2025-02-11"),
    # Spring Festival 2024: Sunday 4 Feb and Sunday 18 Feb worked.
    ("2024-02-09T10:00", 1, "2024-02-18"),
    ("2024-02-09T10:00", 5, "2024-02-22"),
    # National Day 2024: Saturday 12 Oct worked.
    ("2024-09-30T10:00", 1, "2024-10-08"),
    ("2024-09-30T10:00", 5, "2024-10-12"),
    # A plain week: filed Friday, 1/3/5 days land Monday/Wednesday/Friday.
    ("2025-11-07T11:00", 1, "2025-11-10"),
    ("2025-11-07T11:00", 3, "2025-11-12"),
    ("2025-11-07T11:00", 5, "2025-11-14"),
])
def test_deadlines_around_holidays(filed: str, n: int, last: str) -> None:
    deadline = CAL.deadline(bj(filed), n)
    assert deadline.last_day == D(last)
    assert deadline.due_at == datetime.combine(D(last) + timedelta(days=1), time(0), COURT_TZ)
    assert CAL.workdays_between(bj(filed), D(last)) == n


def test_the_filing_instant_is_read_in_the_courts_time_zone() -> None:
    # 16:30 UTC on 30 Sep is 00:30 on 1 Oct in Beijing: a holiday filing, not a 30 Sep one.
    late = datetime(2025, 9, 29, 16, 30, tzinfo=UTC)  # 00:30 on 30 Sep Beijing
    assert CAL.deadline(late, 1).last_day == D("2025-10-09")
    early = datetime(2025, 9, 29, 15, 59, tzinfo=UTC)  # 23:59 on 29 Sep Beijing
    assert CAL.deadline(early, 1).last_day == D("2025-09-30")
    with pytest.raises(ValueError, match="aware"):
        CAL.deadline(datetime(2025, 9, 29, 12), 1)


def test_a_reply_at_the_last_second_is_in_time() -> None:
    deadline = CAL.deadline(bj("2025-09-30T15:00"), 1)
    assert bj("2025-10-09T23:59:59.999999") < deadline.due_at <= bj("2025-10-10T00:00")


# ---- exhaustive against an independent count ------------------------------------------------------------

_YEARS = package_years()
_ALL_DAYS = [date(_YEARS.start, 1, 1) + timedelta(days=i)
             for i in range((date(_YEARS.stop - 1, 12, 31) - date(_YEARS.start, 1, 1)).days + 1)]
_WORKDAYS = [d for d in _ALL_DAYS if chinese_calendar.is_workday(d)]


def _oracle(filed: date, n: int) -> date:
    """Working day n after `filed`: the n-th entry of the sorted working-day list past `filed`."""
    i = bisect.bisect_right(_WORKDAYS, filed)
    return filed if n == 0 else _WORKDAYS[i + n - 1]


@pytest.mark.parametrize("season", [(9, 20, 10, 20), (1, 15, 2, 28)], ids=["national-day", "spring-festival"])
def test_every_filing_day_of_every_season_matches_the_count(season: tuple[int, int, int, int]) -> None:
    m1, d1, m2, d2 = season
    checked = 0
    for year in _YEARS:
        day = date(year, m1, d1)
        while day <= date(year, m2, d2):
            for n in (0, 1, 3, 5):
                got = CAL.add_workdays(day, n)
                assert got == _oracle(day, n), (day, n)
                if n:
                    assert CAL.is_workday(got)
            day += timedelta(days=1)
            checked += 1
    assert checked == sum((date(y, m2, d2) - date(y, m1, d1)).days + 1 for y in _YEARS)


def test_makeup_weekends_count_and_weekday_holidays_do_not() -> None:
    for d in _ALL_DAYS:
        if d.weekday() >= 5 and chinese_calendar.is_workday(d):
            prev = CAL.previous_workday(d)
            assert CAL.next_workday(prev) == d, d  # a 调休 weekend day is stepped on, not over
        if d.weekday() < 5 and not chinese_calendar.is_workday(d):
            assert CAL.next_workday(d - timedelta(days=1)) != d, d


# ---- properties -----------------------------------------------------------------------------------------

_covered = st.datetimes(min_value=datetime(_YEARS.start, 1, 2), max_value=datetime(_YEARS.stop - 1, 11, 1),
                        timezones=st.just(COURT_TZ))


@settings(max_examples=300, deadline=None)
@given(filed=_covered, n=st.integers(0, 10), m=st.integers(0, 10))
def test_counting_composes_and_inverts(filed: datetime, n: int, m: int) -> None:
    a = CAL.add_workdays(filed, n)
    assert CAL.add_workdays(a, m) == CAL.add_workdays(filed, n + m)
    assert CAL.workdays_between(filed, a) == n
    assert CAL.workdays_between(a, filed) == -n
    if n:
        assert CAL.is_workday(a) and a > filed.date()
    deadline = CAL.deadline(filed, n)
    assert deadline.due_at > filed
    assert deadline.due_at.astimezone(UTC) == CAL.day_start(a + timedelta(days=1)).astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(filed=_covered, n=st.integers(1, 10))
def test_a_rest_day_filing_counts_like_the_working_day_before_it(filed: datetime, n: int) -> None:
    day = filed.date()
    if CAL.is_workday(day):
        return
    assert CAL.add_workdays(day, n) == CAL.add_workdays(CAL.previous_workday(day), n)


@settings(max_examples=200, deadline=None)
@given(filed=_covered, n=st.integers(0, 10), hour=st.integers(0, 23))
def test_the_hour_of_filing_never_matters(filed: datetime, n: int, hour: int) -> None:
    assert CAL.add_workdays(filed.replace(hour=hour), n) == CAL.add_workdays(filed, n)


# ---- overrides and years the package does not know -------------------------------------------------------


def test_an_override_beats_the_package() -> None:
    cal = WorkdayCalendar([DayOverride(D("2025-11-10"), False, "local closure: flood"),
                           DayOverride(D("2025-11-08"), True, "make-up for the closure")])
    assert not cal.is_workday(D("2025-11-10")) and CAL.is_workday(D("2025-11-10"))
    assert cal.is_workday(D("2025-11-08")) and not CAL.is_workday(D("2025-11-08"))
    assert cal.deadline(bj("2025-11-07T11:00"), 1).last_day == D("2025-11-08")
    assert cal.deadline(bj("2025-11-07T11:00"), 2).last_day == D("2025-11-11")


def test_an_uncovered_year_is_refused_not_guessed() -> None:
    first_unknown = _YEARS.stop
    with pytest.raises(CalendarNotCovered) as caught:
        CAL.is_workday(date(first_unknown, 3, 3))
    assert caught.value.code == "calendar_not_covered"
    assert caught.value.params == {"day": f"{first_unknown}-03-03", "year": first_unknown}
    # A deadline that runs into that year is refused too, even when filed in a known year.
    with pytest.raises(CalendarNotCovered):
        CAL.deadline(bj(f"{first_unknown - 1}-12-30T10:00"), 5)
    assert not CAL.covers(first_unknown)


def test_an_override_decides_its_day_and_a_declared_year_follows_the_weekday_rule() -> None:
    year = _YEARS.stop
    new_year = DayOverride(date(year, 1, 1), False, "元旦")
    cal = WorkdayCalendar([new_year])
    assert not cal.is_workday(date(year, 1, 1))
    with pytest.raises(CalendarNotCovered):
        cal.is_workday(date(year, 1, 4))
    declared = WorkdayCalendar([new_year], complete_years=[year])
    assert declared.covers(year)
    monday = next(date(year, 1, d) for d in range(2, 9) if date(year, 1, d).weekday() == 0)
    assert declared.is_workday(monday) and not declared.is_workday(monday - timedelta(days=1))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add_workdays(date(2025, 1, 1), -1)
    with pytest.raises(TypeError):
        CAL.is_workday(datetime(2025, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]


# ---- the override table -----------------------------------------------------------------------------------


async def test_overrides_in_the_database_are_audited_and_seen_at_once(court_url: str) -> None:
    await upgrade(court_url)
    engine = make_engine(court_url)
    try:
        table = SqlWorkdayOverrides(engine, court_url)
        other = SqlWorkdayOverrides(engine, court_url)  # another instance on the same database
        year = _YEARS.stop
        with pytest.raises(CalendarNotCovered):
            (await other.calendar()).is_workday(date(year, 2, 1))
        await table.set_day(date(year, 2, 1), False, "春节", actor_id="admin-1", actor_role="admin")
        await table.set_day(date(2025, 11, 8), True, "make-up", actor_id="admin-1", actor_role="admin")
        await table.set_day(date(2025, 11, 8), False, "make-up withdrawn", actor_id="admin-1", actor_role="admin")
        cal = await other.calendar()
        assert not cal.is_workday(date(year, 2, 1))
        assert cal.overrides[date(2025, 11, 8)].reason == "make-up withdrawn"
        await table.declare_year(year, f"{year} notice entered", actor_id="admin-1", actor_role="admin")
        assert (await other.calendar()).covers(year)
        with pytest.raises(ValueError):
            await table.declare_year(2025, "already known", actor_id="admin-1", actor_role="admin")
        with pytest.raises(ValueError):
            await table.set_day(date(2025, 11, 9), True, "  ", actor_id="admin-1", actor_role="admin")
        assert await table.clear_day(date(2025, 11, 8), actor_id="admin-1", actor_role="admin")
        assert not await table.clear_day(date(2025, 11, 8), actor_id="admin-1", actor_role="admin")
        audit = SqlAuditLog(engine, court_url)
        actions = [e.action for e in await audit.entries()]
        assert actions == ["workdays.override_set"] * 3 + ["workdays.year_declared", "workdays.override_cleared"]
        assert await audit.verify() is None
    finally:
        await engine.dispose()
