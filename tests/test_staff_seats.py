"""Seats follow their holders (issue 14, item 2): no admin or clerk can obtain a judge's, a clerk's or a mediator's
seat; each staff member gets their own link through their own login (POST /api/hearings/{id}/my-link).

API level, on the real app (tests.test_staff_api's fixture), plus the pure rule `own_seat` under hypothesis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from docket.court import Hearing, HearingKind, NewHearing, Participant, ParticipantStatus
from docket.staff import StaffRole
from hearing.roles import Role
from hearing.staff_auth import STAFF_SEATS, StaffPrincipal, hearing_role, own_seat
from tests.test_staff_api import Api, _api, _case_and_trial, _error


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The staff API's app on each backend in turn (SQLite, PostgreSQL), with its staff accounts."""
    async for a in _api(tmp_path, court_url):
        yield a


async def _participant(api: Api, hid: str, person_id: str, role: str) -> str:
    r = await api.call("POST", f"/api/hearings/{hid}/participants", "clerk",
                       json={"person_id": person_id, "role": role})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_nobody_issues_a_judges_link_but_the_judge(api: Api) -> None:
    for who in ("clerk", "admin", "pres", "judge", "outsider"):
        await api.login(who)
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    pres_pid = await _participant(api, hid, api.people["pres"], "presiding_judge")
    judge_pid = await _participant(api, hid, api.people["judge"], "judge")

    # The presiding judge takes their own seat; the link is theirs.
    r = await api.call("POST", f"/api/hearings/{hid}/my-link", "pres")
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["participant_id"] == pres_pid and mine["role"] == "presiding_judge"
    assert r.headers["cache-control"] == "no-store"

    # The clerk and the admin, who may issue links, cannot mint it (which would withdraw the judge's link).
    for who in ("clerk", "admin"):
        for pid in (pres_pid, judge_pid):
            body = _error(await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", who), 403,
                          "staff_seat")
            assert "own login" in body["message"]
    assert not await api.services.records.is_revoked(mine["token_id"])
    assert (await api.services.court.get_participant(pres_pid)).token_jti == mine["token_id"]
    # Nor can they take it through "my link": it is not their seat.
    for who in ("clerk", "admin", "outsider"):
        _error(await api.call("POST", f"/api/hearings/{hid}/my-link", who), 403, "no_seat")
    # The panel judge gets their own seat, as judge; its link is bound to their record.
    r = await api.call("POST", f"/api/hearings/{hid}/my-link", "judge")
    assert r.status_code == 201 and r.json()["participant_id"] == judge_pid and r.json()["role"] == "judge"
    # The others' seats are issued as before.
    plaintiff_pid = await _participant(api, hid, made["plaintiff"]["id"], "plaintiff")
    r = await api.call("POST", f"/api/hearings/{hid}/participants/{plaintiff_pid}/link", "clerk")
    assert r.status_code == 201, r.text
    _error(await api.call("POST", f"/api/hearings/{hid}/participants/{plaintiff_pid}/link", "judge"), 403, "forbidden")
    issued = [e for e in await api.services.audit.entries(0, 1000) if e.action == "link.issued"]
    pres_id = (await api.auth.store.find_staff("pres")).id  # type: ignore[union-attr]
    assert [e.actor_id for e in issued if e.details["role"] == "presiding_judge"] == [pres_id]


async def test_a_panel_judge_not_yet_listed_takes_the_seat_with_their_link(api: Api) -> None:
    for who in ("clerk", "pres", "judge"):
        await api.login(who)
    made = await _case_and_trial(api, kind="deliberation", number="(2026)示例民初7号")
    hid = made["hearing"]["id"]
    seats = (await api.call("GET", "/api/me/seats", "judge")).json()
    assert [(s["hearing"]["id"], s["role"], s["participant_id"]) for s in seats] == [(hid, "judge", None)]
    assert (await api.call("GET", "/api/me/seats", "clerk")).json() == []
    r = await api.call("POST", f"/api/hearings/{hid}/my-link", "judge")
    assert r.status_code == 201, r.text
    pid = r.json()["participant_id"]
    listed = await api.services.court.get_participant(pid)
    assert listed.person_id == api.people["judge"] and listed.role == "judge"
    assert (await api.call("GET", "/api/me/seats", "judge")).json()[0]["participant_id"] == pid
    # Asking again replaces their own link (and only theirs); still nobody else can.
    again = (await api.call("POST", f"/api/hearings/{hid}/my-link", "judge")).json()
    assert again["revoked_token_ids"] == [r.json()["token_id"]]
    _error(await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk"), 403, "staff_seat")
    # The deliberation's clerk seat is the clerk's own too: a clerk record for the clerk's person.
    clerk_pid = await _participant(api, hid, api.people["clerk"], "clerk")
    _error(await api.call("POST", f"/api/hearings/{hid}/participants/{clerk_pid}/link", "clerk"), 403,
           "staff_seat")  # not even for herself through the clerks' door: her own login's door is my-link
    r = await api.call("POST", f"/api/hearings/{hid}/my-link", "clerk")
    assert r.status_code == 201 and r.json()["participant_id"] == clerk_pid and r.json()["role"] == "clerk"


async def test_a_clerk_on_a_panel_or_listed_as_mediator_holds_no_seat(api: Api) -> None:
    """The register alone does not make a seat: the account must be qualified for it (a clerk is not a judge)."""
    for who in ("clerk", "mediator"):
        await api.login(who)
    made = await _case_and_trial(api)
    case_id = made["case"]["id"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    r = await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": case_id, "kind": "trial", "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=1)).isoformat(), "panel": [api.people["clerk"]]})
    _error(r, 422, "panel_not_judge")  # scheduling refuses it (issue 15, item 4); an older register may hold one:
    hid = (await api.services.court.create_hearing(NewHearing(
        case_id, HearingKind.TRIAL, start, start + timedelta(hours=1), panel=[api.people["clerk"]]))).id
    _error(await api.call("POST", f"/api/hearings/{hid}/my-link", "clerk"), 403, "no_seat")
    pid = await _participant(api, hid, api.people["clerk"], "presiding_judge")
    _error(await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk"), 403, "staff_seat")
    assert (await api.services.court.get_participant(pid)).token_jti is None

    r = await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": case_id, "kind": "mediation", "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=1)).isoformat()})
    med = r.json()["id"]
    mediator_pid = await _participant(api, med, api.people["mediator"], "mediator")
    _error(await api.call("POST", f"/api/hearings/{med}/participants/{mediator_pid}/link", "clerk"), 403,
           "staff_seat")
    r = await api.call("POST", f"/api/hearings/{med}/my-link", "mediator")
    assert r.status_code == 201 and r.json()["participant_id"] == mediator_pid


# ---- the pure rule --------------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 7, tzinfo=UTC)
PERSONS = ["p1", "p2", "p3"]


def _hearing(panel: list[str]) -> Hearing:
    return Hearing("h", "c", HearingKind.TRIAL, NOW, NOW + timedelta(hours=1), tuple(panel), "scheduled", None, True,
                   NOW, NOW)


@given(
    staff_roles=st.frozensets(st.sampled_from(list(StaffRole))),
    person=st.sampled_from(PERSONS),
    panel=st.lists(st.sampled_from(PERSONS), unique=True, max_size=3),
    listed=st.dictionaries(st.sampled_from(PERSONS), st.sampled_from(list(Role))),
)
def test_own_seat_is_only_ever_the_principals_own_staff_seat(staff_roles: frozenset[StaffRole], person: str,
                                                             panel: list[str], listed: dict[str, Role]) -> None:
    principal = StaffPrincipal("s", "u", "n", person, staff_roles, "x", NOW)
    hearing = _hearing(panel)
    participants = [Participant(f"pid-{p}", "h", p, r.value, ParticipantStatus.WAITING, None, None, None, NOW)
                    for p, r in listed.items()]
    seat = own_seat(principal, hearing, participants)
    if seat is None:
        return
    assert seat.role in STAFF_SEATS and seat.role == hearing_role(principal, hearing, participants)
    if seat.participant is None:  # only a panel judge may take an unlisted seat
        assert person in panel and person not in listed
    else:
        assert seat.participant.person_id == person and seat.participant.role == seat.role.value
    if seat.role in (Role.PRESIDING_JUDGE, Role.JUDGE):
        assert staff_roles & {StaffRole.PRESIDING_JUDGE, StaffRole.JUDGE}
    if seat.role is Role.CLERK:
        assert StaffRole.CLERK in staff_roles
