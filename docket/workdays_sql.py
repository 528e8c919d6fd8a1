"""The working-day override table over the records database: what administrators decided, audited.

`calendar()` reads the table fresh each time (a few dozen rows), so every instance computes the same deadlines
right after an override changes, and after a restart; nothing is cached between calls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.sql import parse_url
from docket.tables_foundations import workday_overrides, workday_years
from docket.transactions import transaction
from docket.workdays import COURT_TZ, DayOverride, WorkdayCalendar, package_years

MAX_REASON = 200


def _reason(reason: str) -> str:
    text = " ".join(str(reason).split())
    if not text or len(text) > MAX_REASON:
        raise ValueError(f"an override needs a reason of 1 to {MAX_REASON} characters")
    return text


async def calendar_in(conn: AsyncConnection, *, tz: ZoneInfo = COURT_TZ) -> WorkdayCalendar:
    """The calendar as the table stands inside the caller's transaction."""
    days = [DayOverride(r.day, bool(r.workday), r.reason) for r in await conn.execute(select(workday_overrides))]
    years = [int(r.year) for r in await conn.execute(select(workday_years.c.year))]
    return WorkdayCalendar(days, complete_years=years, tz=tz)


class SqlWorkdayOverrides:
    def __init__(self, engine: AsyncEngine, url: str | URL, *, tz: ZoneInfo = COURT_TZ) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url
        self.tz = tz

    async def calendar(self) -> WorkdayCalendar:
        async with transaction(self.engine, self._url, "reading the working-day overrides") as conn:
            return await calendar_in(conn, tz=self.tz)

    async def set_day(self, day: date, workday: bool, reason: str, *, actor_id: str, actor_role: str) -> None:
        """Decide one day (replacing an earlier decision), audited in the same transaction."""
        text = _reason(reason)
        async with transaction(self.engine, self._url, "setting a working-day override", write=True) as conn:
            await conn.execute(delete(workday_overrides).where(workday_overrides.c.day == day))
            await conn.execute(workday_overrides.insert().values(day=day, workday=workday, reason=text,
                                                                 set_by=actor_id, set_at=datetime.now(UTC)))
            await append_in(conn, AuditEvent(actor_id, actor_role, "workdays.override_set", f"workday:{day}",
                                             {"workday": workday, "reason": text}))

    async def clear_day(self, day: date, *, actor_id: str, actor_role: str) -> bool:
        async with transaction(self.engine, self._url, "clearing a working-day override", write=True) as conn:
            result = await conn.execute(delete(workday_overrides).where(workday_overrides.c.day == day))
            if result.rowcount:
                await append_in(conn, AuditEvent(actor_id, actor_role, "workdays.override_cleared",
                                                 f"workday:{day}", {}))
            return bool(result.rowcount)

    async def declare_year(self, year: int, reason: str, *, actor_id: str, actor_role: str) -> None:
        """Declare `year` complete: its holidays and make-up days are entered; other days follow the weekday rule."""
        if year in package_years():
            raise ValueError(f"{year} is in the chinese-calendar package already; override single days instead")
        text = _reason(reason)
        async with transaction(self.engine, self._url, "declaring a working-day year", write=True) as conn:
            await conn.execute(delete(workday_years).where(workday_years.c.year == year))
            await conn.execute(workday_years.insert().values(year=year, reason=text, set_by=actor_id,
                                                             set_at=datetime.now(UTC)))
            await append_in(conn, AuditEvent(actor_id, actor_role, "workdays.year_declared", f"workyear:{year}",
                                             {"reason": text}))
