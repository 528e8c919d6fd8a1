"""Who viewed what (电子质证): the court staff of a hearing read, per exhibit, who opened it and when
(`GET /api/rooms/{room}/exhibit-views`); parties and others are refused, and the refusal is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from docket.court import ParticipantStatus
from hearing.roles import Role
from tests.court import room_api, seat_hearing
from tests.live import LiveServer, live_server
from tests.test_exhibits_core import make_pdf

pytestmark = pytest.mark.timeout(120)

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
          "defendant": Role.DEFENDANT, "observer": Role.OBSERVER}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s



async def test_staff_see_who_viewed_each_exhibit_and_parties_are_refused(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    for label in ("plaintiff", "defendant", "observer"):
        await server.services.court.set_participant_status(seated[label].participant_id, ParticipantStatus.ADMITTED)
    async with room_api(server, seated, "plaintiff") as plaintiff, room_api(server, seated, "defendant") as defendant, \
            room_api(server, seated, "judge") as judge, room_api(server, seated, "clerk") as clerk, \
            room_api(server, seated, "observer") as observer:
        r = await plaintiff.post("/exhibits", files={"file": ("合同.pdf", make_pdf(2), "application/pdf")})
        assert r.status_code == 201, r.text
        contract = r.json()
        r = await plaintiff.post("/exhibits", files={"file": ("收据.pdf", make_pdf(1), "application/pdf")})
        receipt = r.json()

        # Nobody has opened anything yet: the exhibits are listed with no views.
        r = await judge.get("/exhibit-views")
        assert r.status_code == 200, r.text
        assert [(x["exhibit_id"], x["name"], x["views"]) for x in r.json()] == [
            (contract["id"], "合同.pdf", []), (receipt["id"], "收据.pdf", [])]

        # The defendant opens the contract twice (each link handed out is a view); the judge once.
        for client in (defendant, defendant, judge):
            assert (await client.get(f"/exhibits/{contract['id']}/view")).status_code == 200

        for staff in (judge, clerk):
            r = await staff.get("/exhibit-views")
            assert r.status_code == 200, r.text
            by_exhibit = {x["exhibit_id"]: x for x in r.json()}
            views = by_exhibit[contract["id"]]["views"]
            assert [(v["participant_id"], v["name"], v["role"]) for v in views] == [
                (seated["defendant"].participant_id, seated["defendant"].name, "defendant"),
                (seated["defendant"].participant_id, seated["defendant"].name, "defendant"),
                (seated["judge"].participant_id, seated["judge"].name, "presiding_judge")]
            times = [datetime.fromisoformat(v["at"]) for v in views]
            assert times == sorted(times)  # oldest first
            assert by_exhibit[receipt["id"]]["views"] == []
            assert not by_exhibit[contract["id"]]["withdrawn"]

        # Parties and the public are refused the list (403), whatever exhibits they may open themselves.
        for other in (plaintiff, defendant, observer):
            r = await other.get("/exhibit-views")
            assert r.status_code == 403 and r.json()["error"] == "not_permitted", r.text
            assert "court staff" in r.json()["message"]

    entries = await server.services.audit.entries(limit=1000)
    viewed = [e for e in entries if e.action == "exhibit.viewed"]
    assert len(viewed) == 3
    refusals = [e for e in entries if e.action == "exhibit.refused" and e.details.get("attempted") == "views"]
    assert {e.actor_id for e in refusals} == {seated[x].participant_id for x in ("plaintiff", "defendant",
                                                                                  "observer")}
    assert await server.services.audit.verify() is None


async def test_the_list_belongs_to_the_callers_hearing(server: LiveServer) -> None:
    """A judge of another hearing sees only their own hearing's exhibits (the room comes from their link)."""
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    other = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    await server.services.court.set_participant_status(seated["plaintiff"].participant_id,
                                                       ParticipantStatus.ADMITTED)
    async with room_api(server, seated, "plaintiff") as plaintiff, room_api(server, other, "judge") as stranger:
        r = await plaintiff.post("/exhibits", files={"file": ("合同.pdf", make_pdf(1), "application/pdf")})
        assert r.status_code == 201, r.text
        assert (await stranger.get("/exhibit-views")).json() == []
    async with httpx.AsyncClient(base_url=f"{server.base}/api/rooms/{seated.room}", timeout=30,
                                 headers={"Authorization": f"Bearer {other['judge'].token}"}) as wrong_room:
        r = await wrong_room.get("/exhibit-views")
        assert r.status_code == 401 and r.json()["error"] == "token_refused"
