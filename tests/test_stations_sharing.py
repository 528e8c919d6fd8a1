"""Shared courts (共享法庭) over the real API on SQLite and PostgreSQL: court B lends its courtroom station and a
judge; an admin of court A books them for a scheduled hearing; only B approves or declines, only A cancels; an
overlapping booking of the same resource is refused approval; every step audited. Plus the pure overlap rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docket.court import HearingKind, NewCase, NewHearing
from stations.sharing import DECISIONS, BookingState, Decision, overlaps
from tests.stations_env import Env, stations_env

T0 = datetime(2026, 12, 7, tzinfo=UTC)
minutes = st.integers(0, 10_000)


@given(minutes, minutes, minutes, minutes)
def test_overlap_is_symmetric_and_half_open(a: int, b: int, c: int, d: int) -> None:
    x = (T0 + timedelta(minutes=min(a, b)), T0 + timedelta(minutes=max(a, b) + 1))
    y = (T0 + timedelta(minutes=min(c, d)), T0 + timedelta(minutes=max(c, d) + 1))
    assert overlaps(x, y) == overlaps(y, x)
    assert overlaps(x, y) == any(x[0] <= T0 + timedelta(minutes=m) < x[1] and y[0] <= T0 + timedelta(minutes=m) < y[1]
                                 for m in range(min(a, b, c, d), max(a, b, c, d) + 2))
    assert not overlaps(x, (x[1], x[1] + timedelta(minutes=5)))  # back to back is fine


def test_only_requested_bookings_are_decided() -> None:
    assert DECISIONS[Decision.APPROVE][0] == {BookingState.REQUESTED}
    assert DECISIONS[Decision.CANCEL][0] == {BookingState.REQUESTED, BookingState.APPROVED}


@pytest.fixture
async def env(court_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    async with stations_env(tmp_path, court_url, judges=1) as e:
        yield e


async def test_court_a_books_court_bs_courtroom_and_judge_with_bs_approval(env: Env) -> None:
    admin_a = await env.staff("admin_a", ["admin"])
    admin_b = await env.staff("admin_b", ["admin"])
    for staff_id, court in ((admin_a, "court-a"), (admin_b, "court-b"), (env.staff_ids["judge1"], "court-b")):
        await env.ok("PUT", "/api/shared/members", "admin", status=204, json={"staff_id": staff_id,
                                                                               "court_code": court})
    room = await env.ok("POST", "/api/stations", "admin", status=201,
                        json={"kind": "courtroom", "name": "乙法院第三法庭", "location": "乙区"})
    await env.ok("PUT", f"/api/stations/{room['id']}/service", "admin", json={"court_code": "court-b"})
    r = await env.call("POST", "/api/shared/resources", "admin_a", json={"kind": "courtroom", "target_id": room["id"]})
    assert r.status_code == 422 and r.json()["error"] == "not_a_courtroom"  # not court A's to lend
    r = await env.call("POST", "/api/shared/resources", "admin_b", json={"kind": "courtroom",
                                                                           "target_id": env.station_id})
    assert r.status_code == 422 and r.json()["error"] == "not_a_courtroom"  # a village station is not a courtroom
    courtroom = await env.ok("POST", "/api/shared/resources", "admin_b", status=201,
                             json={"kind": "courtroom", "target_id": room["id"]})
    judge = await env.ok("POST", "/api/shared/resources", "admin_b", status=201,
                         json={"kind": "judge", "target_id": env.staff_ids["judge1"]})
    listed = await env.ok("GET", "/api/shared/resources", "clerk")
    assert {r["label"] for r in listed} == {"乙法院第三法庭", "judge1 法官"}

    case = await env.services.court.create_case(NewCase("(2026)甲民初7号", "借款合同纠纷"))
    hearing = await env.services.court.create_hearing(NewHearing(case.id, HearingKind.TRIAL, T0,
                                                                 T0 + timedelta(hours=2)))
    when = {"hearing_id": hearing.id, "starts_at": "2026-12-08T09:00:00+08:00", "ends_at": "2026-12-08T11:00:00+08:00"}
    r = await env.call("POST", "/api/shared/bookings", "admin_b", json={"resource_id": courtroom["id"], **when})
    assert r.status_code == 422 and r.json()["error"] == "own_resource"
    r = await env.call("POST", "/api/shared/bookings", "clerk", json={"resource_id": courtroom["id"], **when})
    assert r.status_code == 403
    first = await env.ok("POST", "/api/shared/bookings", "admin_a", status=201,
                         json={"resource_id": courtroom["id"], **when})
    assert first["state"] == "requested" and first["borrower_court"] == "court-a"
    r = await env.call("POST", f"/api/shared/bookings/{first['id']}/approve", "admin_a", json={})
    assert r.status_code == 403 and r.json()["error"] == "not_your_decision"  # the borrower cannot approve itself
    approved = await env.ok("POST", f"/api/shared/bookings/{first['id']}/approve", "admin_b", json={"reason": "同意"})
    assert approved["state"] == "approved"
    overlapping = await env.ok("POST", "/api/shared/bookings", "admin_a", status=201, json={
        "resource_id": courtroom["id"], **when | {"starts_at": "2026-12-08T10:30:00+08:00",
                                                  "ends_at": "2026-12-08T12:00:00+08:00"}})
    r = await env.call("POST", f"/api/shared/bookings/{overlapping['id']}/approve", "admin_b", json={})
    assert r.status_code == 409 and r.json()["error"] == "resource_busy"
    declined = await env.ok("POST", f"/api/shared/bookings/{overlapping['id']}/decline", "admin_b",
                            json={"reason": "时间冲突"})
    assert declined["state"] == "declined"
    lent_judge = await env.ok("POST", "/api/shared/bookings", "admin_a", status=201,
                              json={"resource_id": judge["id"], **when})
    r = await env.call("POST", f"/api/shared/bookings/{lent_judge['id']}/cancel", "admin_b", json={})
    assert r.status_code == 403  # only the borrower cancels
    assert (await env.ok("POST", f"/api/shared/bookings/{lent_judge['id']}/cancel", "admin_a", json={}))["state"] == \
        "cancelled"
    r = await env.call("POST", f"/api/shared/bookings/{lent_judge['id']}/approve", "admin_b", json={})
    assert r.status_code == 409 and r.json()["error"] == "booking_state"
    for who in ("admin_a", "admin_b"):
        assert len(await env.ok("GET", "/api/shared/bookings", who)) == 3
    assert [e.action for e in await env.audit("court.booking")] == [
        "court.booking_requested", "court.booking_approve", "court.booking_requested", "court.booking_decline",
        "court.booking_requested", "court.booking_cancel"]
    r = await env.call("GET", "/api/shared/bookings", "admin")
    assert r.status_code == 403 and r.json()["error"] == "no_court"
