"""The daily filing limit's pure rule (petitions/limits.py): which count stops a filing, and when filing reopens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from petitions.limits import FilingLimits, LimitScope, court_day, refusal

TZ = ZoneInfo("Asia/Shanghai")
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@given(now=instants, per_session=st.integers(1, 20), per_phone=st.integers(1, 20),
       session=st.none() | st.integers(0, 30), phone=st.integers(0, 30))
def test_a_filing_passes_exactly_while_both_counts_are_under_their_limits(
        now: datetime, per_session: int, per_phone: int, session: int | None, phone: int) -> None:
    limits = FilingLimits(per_session, per_phone)
    reached = refusal(limits, session_count=session, phone_count=phone, now=now, tz=TZ)
    under = (session is None or session < per_session) and phone < per_phone
    assert (reached is None) == under
    if reached is not None:
        # the session's limit is named first: it is the one this browser can do nothing about but wait
        expected = LimitScope.SESSION if session is not None and session >= per_session else LimitScope.PHONE
        assert reached.scope is expected
        assert reached.limit == (per_session if expected is LimitScope.SESSION else per_phone)
        assert reached.retry_at > now and reached.retry_at - now <= timedelta(days=1)
        local = reached.retry_at.astimezone(TZ)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)  # the next court-local midnight


@given(now=instants)
def test_the_court_day_holds_now_and_is_one_local_day(now: datetime) -> None:
    start, end = court_day(now, TZ)
    assert start <= now < end and end - start == timedelta(days=1)  # China has no DST
    assert start.astimezone(TZ).date() == now.astimezone(TZ).date()


def test_the_court_day_is_the_local_day_not_utc() -> None:
    late_utc = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)  # 01:30 on the 8th in Beijing
    start, _ = court_day(late_utc, TZ)
    assert start == datetime(2026, 12, 8, tzinfo=TZ)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        FilingLimits(0, 5)
