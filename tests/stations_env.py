"""A real app (create_app with real services) for the connect-a-judge tests, driven with httpx over ASGI.

Logs in an admin, a clerk and judges; creates a station with a device link and puts judges on duty. The stations
API's clock is the test's (`Env.clock`), so waiting times, pickup timeouts and opening hours are deterministic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.factory import create_app
from app.services import Services, build_services, start_services, stop_services
from app.settings import load_settings
from docket.audit import AuditEntry
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.conftest import free_port

PASSWORD = "correct horse battery"
COURT = "demo-court"
MONDAY_10 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Asia/Shanghai


class Clock:
    def __init__(self, now: datetime = MONDAY_10) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Env:
    services: Services
    app: Any
    client: httpx.AsyncClient
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)  # username → session token
    staff_ids: dict[str, str] = field(default_factory=dict)
    station_id: str = ""
    link: str = ""  # the station's device link token
    link_id: str = ""

    @property
    def auth(self) -> StaffAuth:
        return self.app.state.staff_auth  # type: ignore[no-any-return]

    async def call(self, method: str, path: str, as_: str | None = None, *, station: bool = False,
                   headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        h = dict(headers or {})
        if as_:
            h["Authorization"] = f"Bearer {self.tokens[as_]}"
        if station:
            h["X-Station-Link"] = self.link
        return await self.client.request(method, path, headers=h, **kw)

    async def ok(self, method: str, path: str, as_: str | None = None, *, status: int = 200, **kw: Any) -> Any:
        r = await self.call(method, path, as_, **kw)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    async def staff(self, username: str, roles: list[str]) -> str:
        account = await self.auth.create_account(username, f"{username} 法官", roles, PASSWORD)
        r = await self.client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.tokens[username] = r.json()["token"]
        self.staff_ids[username] = account.id
        self.client.cookies.clear()
        return account.id

    async def on_duty(self, username: str, *, hours: float = 8, starts_in: float = -1, court: str = COURT,
                      role: str = "judge") -> None:
        start = self.clock.now + timedelta(hours=starts_in)
        await self.ok("POST", "/api/duty/shifts", "clerk", status=201, json={
            "court_code": court, "staff_id": self.staff_ids[username], "duty_role": role,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()})

    async def request(self, **overrides: Any) -> httpx.Response:
        body = {"caller_name": "王村民", "verification_method": "id_card_at_station", "category": "legal_advice",
                "summary": "土地承包合同纠纷咨询"} | overrides
        return await self.call("POST", "/api/stations/me/calls", station=True, json=body)

    async def audit(self, prefix: str = "") -> list[AuditEntry]:
        entries: list[AuditEntry] = []
        while batch := await self.services.audit.entries(entries[-1].seq if entries else 0, 500):
            entries += batch
        return [e for e in entries if e.action.startswith(prefix)]


@asynccontextmanager
async def stations_env(tmp_path: Path, database_url: str, *, judges: int = 2, hours: str | None = "mon-fri 08:30-17:30",
                       **settings: Any) -> AsyncIterator[Env]:
    values: dict[str, Any] = {
        "HEARING_PORT": free_port(), "HEARING_VAR_DIR": tmp_path / "var", "HEARING_TOKEN_SECRET": "t" * 40,
        "hearing_env": "test", "database_url": database_url, "redis_url": "", "s3_endpoint": "",
        "media_enabled": False, "stations_pickup_timeout_seconds": 120, "resume_grace_seconds": 30,
        # Up to 20 judges log in from this one test address: the per-address login throttle is tested on its own.
        "login_attempts_per_minute": 600, "login_burst": 1000,
    } | settings
    cfg = load_settings(**values)
    services = build_services(cfg)
    await start_services(services)
    app = create_app(cfg, services)
    clock = Clock()
    app.state.stations.clock = clock
    app.state.staff_auth.hasher = cheap_hasher()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    env = Env(services, app, client, clock)
    try:
        await env.staff("admin", ["admin"])
        await env.staff("clerk", ["clerk"])
        for i in range(1, judges + 1):
            await env.staff(f"judge{i}", ["judge"])
        s = await env.ok("POST", "/api/stations", "admin", status=201, json={
            "kind": "village", "name": "石桥村工作站", "location": "石桥镇"})
        env.station_id = s["id"]
        await env.ok("PUT", f"/api/stations/{env.station_id}/service", "admin",
                     json={"court_code": COURT, "opening_hours": hours})
        link = await env.ok("POST", f"/api/stations/{env.station_id}/links", "clerk", status=201,
                            json={"label": "村委会电脑"})
        env.link, env.link_id = link["token"], link["id"]
        yield env
    finally:
        await client.aclose()
        await stop_services(services)


@dataclass
class Desk:
    """A station with a device link and judges on duty on a running server (live tests, browser tests, demo)."""

    base: str
    station_id: str
    link: str
    tokens: dict[str, str]  # username → staff session token
    staff_ids: dict[str, str]

    def client(self, as_: str | None = None, *, station: bool = False) -> httpx.AsyncClient:
        h = {}
        if as_:
            h["Authorization"] = f"Bearer {self.tokens[as_]}"
        if station:
            h["X-Station-Link"] = self.link
        return httpx.AsyncClient(base_url=self.base, headers=h, timeout=30)


async def seat_desk(services: Services, base: str, *, judges: int = 1, hours: str | None = None) -> Desk:
    """Staff accounts (cheap hashes), a village station attached to COURT, its device link, judges on duty now."""
    from docket.court import NewStation
    from docket.staff_sql import SqlStaffStore

    assert services.stations is not None
    auth = StaffAuth(SqlStaffStore(services.court.engine), services.audit, hasher=cheap_hasher())
    tokens, ids = {}, {}
    for name, roles in [("clerk", ["clerk"])] + [(f"judge{i}", ["judge"]) for i in range(1, judges + 1)]:
        shown = "书记员" if name == "clerk" else f"{name} 法官"
        ids[name] = (await auth.create_account(name, shown, roles, PASSWORD)).id
        tokens[name] = (await auth.login(name, PASSWORD))[0]
    store = services.stations.store
    now = datetime.now(UTC)
    station = await services.court.create_station(NewStation("village", "石桥村工作站", "石桥镇"))
    await store.configure_station(station.id, court_code=COURT, area="石桥镇", opening_hours=hours,
                                  actor=(ids["clerk"], "staff"), now=now)
    _, link = await store.issue_link(station.id, "村委会电脑", actor=(ids["clerk"], "staff"), now=now)
    for i in range(1, judges + 1):
        await store.add_shift(court_code=COURT, staff_id=ids[f"judge{i}"], duty_role="judge",
                              starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=8),
                              actor=(ids["clerk"], "staff"), now=now)
    return Desk(base, station.id, link, tokens, ids)
