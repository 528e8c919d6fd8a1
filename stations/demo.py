"""The demo station `hearing demo` sets up: a village station of the demo court with a fresh device link, and a
duty shift covering the next twelve hours for the judge app/ hands in (the account itself is app/'s business,
since passwords are hashed by the staff login). Running it again reuses the station and shift and replaces the
link (the previous one is withdrawn)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from docket.court import CourtRecords, NewStation, StationKind
from stations.store_sql import SqlStations, StationInfo

DEMO_STATION = "示例村工作站"
DEMO_COURT = "demo-court"
DEMO_HOURS = None  # always open, so the demo works at any time of day


@dataclass(frozen=True, slots=True)
class DemoDesk:
    station: StationInfo
    link_token: str


async def seed_demo_desk(court: CourtRecords, store: SqlStations, judge_staff_id: str, *, actor: tuple[str, str],
                         now: datetime) -> DemoDesk:
    existing = next((s for s in await store.list_stations() if s.name == DEMO_STATION), None)
    station_id = existing.id if existing else (await court.create_station(
        NewStation(StationKind.VILLAGE, DEMO_STATION, "示例镇"))).id
    station = await store.configure_station(station_id, court_code=DEMO_COURT, area="示例镇", opening_hours=DEMO_HOURS,
                                            actor=actor, now=now)
    if not any(s.covers(now + timedelta(hours=1)) for s in await store.shifts(around=now, staff_id=judge_staff_id)):
        await store.add_shift(court_code=DEMO_COURT, staff_id=judge_staff_id, duty_role="judge", starts_at=now,
                              ends_at=now + timedelta(hours=12), actor=actor, now=now)
    for old in await store.live_links(station_id):  # like the demo hearing's links: the previous run's are withdrawn
        await store.revoke_link(old.id, actor=actor, now=now)
    _, token = await store.issue_link(station_id, "演示电脑 demo PC", actor=actor, now=now)
    return DemoDesk(station, token)
