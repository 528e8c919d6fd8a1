"""One namespace of rooms (issue 14, item 4): a hearing can never be given an open private room's id (and so walk a
clerk into a caucus), nor an ad-hoc room's; private rooms' ids are the server's own, in a prefix nobody else uses.

The register on both backends, the rooms table, and the staff API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from docket.court import HearingKind, NewHearing, NewParticipant
from docket.court_sql import SqlCourtRecords
from docket.room_ids import PRIVATE_KIND, PRIVATE_PREFIX, RoomIdTaken, namespace_problem, new_private_room_id
from docket.sql import open_records
from tests.test_docket_court import START, _case_with_people
from tests.test_staff_api import Api, _api, _case_and_trial, _error

END = START + timedelta(hours=1)


@given(room_id=st.from_regex(r"[A-Za-z0-9_\-]{1,64}", fullmatch=True),
       kind=st.sampled_from([PRIVATE_KIND, *HearingKind]))
def test_the_private_prefix_belongs_to_private_rooms_alone(room_id: str, kind: str) -> None:
    problem = namespace_problem(room_id, kind)
    assert (problem is None) == (room_id.startswith(PRIVATE_PREFIX) == (kind == PRIVATE_KIND))
    assert namespace_problem(new_private_room_id(), PRIVATE_KIND) is None


async def test_no_hearing_takes_a_private_or_ad_hoc_rooms_id(court: SqlCourtRecords, court_url: str) -> None:
    case_id, people = await _case_with_people(court)
    mediation = await court.create_hearing(NewHearing(case_id, HearingKind.MEDIATION, START, END, room_id="med-1"))
    member = await court.add_participant(NewParticipant(mediation.id, people[0].id, "plaintiff"))
    caucus_id = new_private_room_id()
    await court.open_private_room(mediation.id, caucus_id, "原告方", [member.id], "mediator-1")

    for room_id in (caucus_id, "private-mine"):  # the caucus itself, or anything in its prefix
        with pytest.raises(RoomIdTaken):
            await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, END, room_id=room_id))
    with pytest.raises(RoomIdTaken, match="another hearing"):
        await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, END, room_id="med-1"))
    records = await open_records(court_url, migrate=False)
    try:
        await records.create_room("adhoc-1", "a test room", "trial")  # `hearing token --room adhoc-1`
        with pytest.raises(RoomIdTaken, match="already a room"):
            await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, END, room_id="adhoc-1"))
        with pytest.raises(RoomIdTaken, match="reserved for private rooms"):  # no ad-hoc room in the prefix
            await records.create_room(f"{PRIVATE_PREFIX}x", "t", "trial")
        with pytest.raises(RoomIdTaken):  # and no private room outside it
            await records.create_room("med-2", "t", PRIVATE_KIND)
    finally:
        await records.close()
    # Nor the other way round: a private room never takes a hearing's or another room's id.
    for room_id in ("med-1", "adhoc-1", caucus_id):
        with pytest.raises(RoomIdTaken):
            await court.open_private_room(mediation.id, room_id, "x", [member.id], "mediator-1")
    assert [h.id for h in await court.list_hearings()] == [mediation.id]


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for a in _api(tmp_path, court_url):
        yield a


async def test_the_staff_api_refuses_a_taken_room_id(api: Api) -> None:
    await api.login("clerk")
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    pid = (await api.call("POST", f"/api/hearings/{hid}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff"})).json()["id"]
    caucus = new_private_room_id()
    await api.services.court.open_private_room(hid, caucus, "原告方", [pid], "mediator-1")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=4)
    body = {"case_id": made["case"]["id"], "kind": "trial", "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=1)).isoformat(), "panel": [api.people["pres"]]}
    for room_id in (caucus, "private-0000", hid):  # hid: the first link gave the trial its own id as its room
        await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk")
        _error(await api.call("POST", "/api/hearings", "clerk", json={**body, "room_id": room_id}), 409,
               "room_id_taken")
    assert [h["id"] for h in (await api.call("GET", "/api/hearings", "clerk")).json()] == [hid]
    ok = await api.call("POST", "/api/hearings", "clerk", json={**body, "room_id": "court-3"})
    assert ok.status_code == 201 and ok.json()["room_id"] == "court-3"
