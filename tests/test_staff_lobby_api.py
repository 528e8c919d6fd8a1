"""The lobby run from the staff API: the same courtroom rules as the in-room console, in the caller's role."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from docket.court import ParticipantStatus
from docket.staff_sql import SqlStaffStore
from hearing.roles import Role
from hearing.staff_auth import StaffAuth, cheap_hasher
from tests.court import seat_hearing
from tests.live import live_server

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery staple"


async def test_a_clerk_admits_and_denies_through_the_api(court_url: str, tmp_path: Path) -> None:
    """On each backend (conftest's `court_url`): a SQLite file, then a fresh PostgreSQL database."""
    async with live_server(tmp_path, MEDIA_ENABLED=False, database_url=court_url) as server:
        s = server.services
        seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK,
                                                      "plaintiff": Role.PLAINTIFF, "defendant": Role.DEFENDANT})
        setup = StaffAuth(SqlStaffStore(s.court.engine), s.audit, hasher=cheap_hasher())
        await setup.create_account("clerk", "李书记员", ["clerk"], PASSWORD, person_id=seated["clerk"].person_id)
        await setup.create_account("other", "局外人", ["clerk"], PASSWORD)
        plaintiff = await server.client(seated.room, seated["plaintiff"].token)
        await plaintiff.expect("joined")
        defendant = await server.client(seated.room, seated["defendant"].token)
        await defendant.expect("joined")
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            for user in ("other", "clerk"):
                token = (await http.post("/api/login", json={"username": user, "password": PASSWORD})).json()["token"]
                http.cookies.clear()
                http.headers["Authorization"] = f"Bearer {token}"
                r = await http.get(f"/api/hearings/{seated.hearing.id}/lobby")
                if user == "other":
                    assert r.status_code == 403  # not part of this hearing
            waiting = r.json()
            assert {w["participant_id"] for w in waiting} == {seated["plaintiff"].participant_id,
                                                              seated["defendant"].participant_id}
            base = f"/api/hearings/{seated.hearing.id}/lobby"
            r = await http.post(f"{base}/{seated['plaintiff'].participant_id}/admit", json={})
            assert r.status_code == 409 and "identity" in r.json()["message"]
            r = await http.post(f"{base}/{seated['plaintiff'].participant_id}/admit",
                                json={"verification": "id_card_at_station"})
            assert r.status_code == 200 and r.json()["acted_as"] == "clerk"
            await plaintiff.expect("placed", place="room")
            r = await http.post(f"{base}/{seated['defendant'].participant_id}/deny", json={"reason": "wrong person"})
            assert r.status_code == 200
            assert (await defendant.wait_closed())[0] == 4013
            r = await http.post(f"{base}/nobody/admit", json={"verification": "known_to_court"})
            assert r.status_code == 404
        assert (await s.court.get_participant(seated["defendant"].participant_id)).status is ParticipantStatus.DENIED
        entry = [e for e in await s.audit.entries(limit=1000) if e.action == "participant.admitted"][-1]
        assert entry.actor_id == seated["clerk"].participant_id and entry.actor_role == "clerk"
        await plaintiff.close()
