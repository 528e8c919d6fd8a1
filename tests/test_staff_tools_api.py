"""The staff tools' server APIs on SQLite and PostgreSQL (issue 15, item 4): the court's judges by name and the
panel refused for a non-judge (`panel_not_judge`), a mediation's recording switched from the staff API (through the
courtroom's own rules, on a real recorder), and the audit log paged and filtered for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_staff_api import Api, _api, _case_and_trial, _error


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for a in _api(tmp_path, court_url):
        yield a


@pytest.fixture
async def media_api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """With the media stack, so the courtroom has a real room recorder."""
    async for a in _api(tmp_path, court_url, media_enabled=True):
        yield a


def _when(hours: int = 1) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return {"scheduled_start": start.isoformat(), "scheduled_end": (start + timedelta(hours=1)).isoformat()}


async def test_judges_by_name_and_a_panel_of_non_judges_is_refused(api: Api) -> None:
    await api.login("clerk")
    listed = (await api.call("GET", "/api/court-staff", "clerk")).json()
    by_name = {s["display_name"]: s for s in listed}
    assert by_name["pres 姓名"]["judge"] and by_name["judge 姓名"]["judge"]
    assert not by_name["clerk 姓名"]["judge"] and not by_name["mediator 姓名"]["judge"]
    assert "admin 姓名" not in by_name  # no register person: cannot sit anywhere
    assert by_name["pres 姓名"]["person_id"] == api.people["pres"]

    case = (await _case_and_trial(api))["case"]
    # the clerk puts herself on the panel: refused with a code, nothing scheduled
    before = len((await api.call("GET", "/api/hearings", "clerk")).json())
    for panel, position in (([api.people["clerk"]], 1), ([api.people["pres"], api.people["mediator"]], 2)):
        body = _error(await api.call("POST", "/api/hearings", "clerk", json={
            "case_id": case["id"], "kind": "trial", **_when(), "panel": panel}), 422, "panel_not_judge")
        assert body["position"] == position
    assert len((await api.call("GET", "/api/hearings", "clerk")).json()) == before
    # judges picked from the list: scheduled, the first presides
    r = await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": case["id"], "kind": "trial", **_when(), "panel": [api.people["pres"], api.people["judge"]]})
    assert r.status_code == 201 and r.json()["panel"] == [api.people["pres"], api.people["judge"]]
    # a disabled judge no longer counts
    account = next(a for a in await api.auth.store.list_staff() if a.person_id == api.people["judge"])
    await api.auth.store.set_disabled(account.id, True)
    _error(await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": case["id"], "kind": "trial", **_when(), "panel": [api.people["judge"]]}), 422, "panel_not_judge")
    # the list needs register.read: a mediator has none
    await api.login("mediator")
    _error(await api.call("GET", "/api/court-staff", "mediator"), 403, "forbidden")


async def _mediation(api: Api) -> str:
    case = (await _case_and_trial(api, number="(2026)调解1号"))["case"]
    r = await api.call("POST", "/api/hearings", "clerk", json={"case_id": case["id"], "kind": "mediation", **_when()})
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    r = await api.call("POST", f"/api/hearings/{hid}/participants", "clerk",
                       json={"person_id": api.people["mediator"], "role": "mediator"})
    assert r.status_code == 201, r.text
    return str(hid)


async def test_a_mediator_starts_and_stops_the_recording_of_a_mediation(media_api: Api) -> None:
    api = media_api
    for who in ("clerk", "mediator", "admin"):
        await api.login(who)
    hid = await _mediation(api)
    path = f"/api/hearings/{hid}/recording/live"
    # no room yet (no link issued): the courtroom says so
    _error(await api.call("PUT", path, "mediator", json={"on": True}), 409, "no_room_yet")
    assert (await api.call("POST", f"/api/hearings/{hid}/my-link", "mediator")).status_code == 201
    state: dict[str, Any] = (await api.call("GET", path, "mediator")).json()
    assert state == {"recording": False, "may_control": False, "acted_as": "mediator", "state": "scheduled"}
    # before the session: the rule's refusal, with its code
    body = _error(await api.call("PUT", path, "mediator", json={"on": True}), 403)
    assert body["error"] != "forbidden" or body.get("action")  # a reason code the page can translate
    for move in ("open_lobby", "start_session"):
        r = await api.call("POST", f"/api/hearings/{hid}/procedure", "mediator", json={"transition": move})
        assert r.status_code == 200, r.text
    assert (await api.call("GET", path, "mediator")).json()["may_control"] is True
    r = await api.call("PUT", path, "mediator", json={"on": True})
    assert r.status_code == 200 and r.json()["recording"] is True, r.text
    assert (await api.call("GET", path, "clerk")).json() == {
        "recording": True, "may_control": False, "acted_as": None, "state": "in_session"}
    # the clerk (no seat in it) and an admin cannot switch it
    _error(await api.call("PUT", path, "clerk", json={"on": False}), 403, "no_court_role")
    _error(await api.call("PUT", path, "admin", json={"on": False}), 403, "no_court_role")
    r = await api.call("PUT", path, "mediator", json={"on": False, "reason": "caucus"})
    assert r.status_code == 200 and r.json()["recording"] is False
    entries = (await api.call("GET", f"/api/audit?subject=hearing:{hid}&action=recording.", "admin")).json()
    assert [e["action"] for e in entries["entries"]] == ["recording.paused", "recording.started"]
    assert {e["actor_name"] for e in entries["entries"]} == {"mediator 本人"}


async def test_a_trial_recording_cannot_be_switched_from_the_staff_page(media_api: Api) -> None:
    api = media_api
    for who in ("clerk", "pres"):
        await api.login(who)
    hid = (await _case_and_trial(api))["hearing"]["id"]
    assert (await api.call("POST", f"/api/hearings/{hid}/my-link", "pres")).status_code == 201
    for move in ("open_lobby", "start_session"):
        assert (await api.call("POST", f"/api/hearings/{hid}/procedure", "pres",
                               json={"transition": move})).status_code == 200
    path = f"/api/hearings/{hid}/recording/live"
    assert (await api.call("GET", path, "pres")).json()["may_control"] is False
    body = _error(await api.call("PUT", path, "pres", json={"on": False}), 403)
    assert body["acted_as"] == "presiding_judge"


async def test_the_audit_log_paged_and_filtered_for_admins(api: Api) -> None:
    for who in ("admin", "clerk"):
        await api.login(who)
    for n in range(5):
        assert (await api.call("POST", "/api/persons", "clerk", json={"name": f"人员{n}"})).status_code == 201
    # clerks may not read it
    _error(await api.call("GET", "/api/audit", "clerk"), 403, "forbidden")

    page = (await api.call("GET", "/api/audit?action=register.person&limit=2", "admin")).json()
    assert [e["action"] for e in page["entries"]] == ["register.person_created"] * 2
    assert page["entries"][0]["seq"] > page["entries"][1]["seq"]  # newest first
    assert page["entries"][0]["actor_name"] == "clerk 姓名"
    assert page["entries"][0]["subject_kind"] == "person" and page["entries"][0]["subject_label"] == "人员4"
    seen = [e["subject_label"] for e in page["entries"]]
    while page["next_before_seq"] is not None:
        page = (await api.call("GET", f"/api/audit?action=register.person&limit=2&before_seq="
                                      f"{page['next_before_seq']}", "admin")).json()
        seen += [e["subject_label"] for e in page["entries"]]
    assert seen[:5] == [f"人员{n}" for n in (4, 3, 2, 1, 0)]

    staff = {s["display_name"]: s["id"] for s in (await api.call("GET", "/api/staff-names", "admin")).json()}
    mine = (await api.call("GET", f"/api/audit?actor_id={staff['admin 姓名']}", "admin")).json()["entries"]
    assert mine and {e["action"] for e in mine} == {"staff.login"}
    today = datetime.now(UTC).date()
    assert (await api.call("GET", f"/api/audit?since={today + timedelta(days=1)}", "admin")).json()["entries"] == []
    assert (await api.call("GET", f"/api/audit?until={today}&action=register.", "admin")).json()["entries"]
    _error(await api.call("GET", f"/api/audit?since={today}&until={today - timedelta(days=1)}", "admin"), 422,
           "bad_range")
    _error(await api.call("GET", "/api/audit?limit=100000", "admin"), 422, "invalid_request")
    # a filter with LIKE's wildcards matches them literally
    assert (await api.call("GET", "/api/audit?action=%25", "admin")).json()["entries"] == []
    assert (await api.call("GET", "/api/audit?action=register_", "admin")).json()["entries"] == []
