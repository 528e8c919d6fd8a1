"""The daily filing limit: how many petitions one filing session, and one phone number, may file per court day.

Why: filing needs no account (a citizen at home opens a link), so nothing but a limit stops one browser or one
person from flooding the hotline's queue. Two counts, both over the court-local calendar day of the filing: the
filing session's petitions (one browser's 24-hour session) and the contact phone's (one person, across sessions and
stations). Pure: the service counts in its filing transaction (after taking the court's number lock, so two
concurrent filings cannot both pass) and asks `refusal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class LimitScope(StrEnum):
    SESSION = "session"  # this filing session (this browser)
    PHONE = "phone"  # this contact phone number (this person)


@dataclass(frozen=True, slots=True)
class FilingLimits:
    per_session: int = 3
    per_phone: int = 5

    def __post_init__(self) -> None:
        if self.per_session < 1 or self.per_phone < 1:
            raise ValueError("a daily filing limit is at least 1")


@dataclass(frozen=True, slots=True)
class LimitReached:
    scope: LimitScope
    limit: int
    retry_at: datetime  # the next court-local midnight: when filing is possible again


def court_day(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the court-local day holding `now`, as aware instants."""
    day = now.astimezone(tz).date()
    start = datetime.combine(day, time(0), tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tz)


def refusal(limits: FilingLimits, *, session_count: int | None, phone_count: int, now: datetime,
            tz: ZoneInfo) -> LimitReached | None:
    """None if one more petition may be filed today; else which limit it would pass. `session_count` is None for a
    filing without a citizen's session (staff filing for someone: only the person's limit applies)."""
    retry = court_day(now, tz)[1]
    if session_count is not None and session_count >= limits.per_session:
        return LimitReached(LimitScope.SESSION, limits.per_session, retry)
    if phone_count >= limits.per_phone:
        return LimitReached(LimitScope.PHONE, limits.per_phone, retry)
    return None
