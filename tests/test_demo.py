"""The demo court: real register data and links that go through the lobby like any hearing; safe to run twice."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from docket.court import HearingKind
from hearing.demo import DEMO_HEARINGS, seed_demo_court
from hearing.roles import Role
from signaling.closecodes import CloseCode
from tests.live import live_server

pytestmark = pytest.mark.timeout(120)


async def test_demo_court_links_work_and_a_second_run_replaces_them(tmp_path: Path) -> None:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as server:
        s = server.services
        first = await seed_demo_court(s.court, s.records, s.tokens, server.base, audit=s.audit)
        assert [d.spec.kind for d in first] == [HearingKind.TRIAL, HearingKind.MEDIATION, HearingKind.DELIBERATION,
                                                HearingKind.ASYNC_TRIAL]
        assert [len(d.links) for d in first] == [len(spec.seats) for spec in DEMO_HEARINGS]
        trial = first[0]
        by_role = {seat.role: seat.link for seat in trial.links}
        judge = await server.client(trial.hearing.room_id or "", by_role[Role.PRESIDING_JUDGE].url.split("#token=")[1])
        assert (await judge.expect("joined"))["participant"]["place"] == "room"
        party = await server.client(trial.hearing.room_id or "", by_role[Role.PLAINTIFF].url.split("#token=")[1])
        assert (await party.expect("joined"))["participant"]["place"] == "lobby"
        deliberation = first[2]
        assert {seat.role for seat in deliberation.links} == {Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK}
        await party.close()
        await judge.close()
        # The asynchronous trial (异步审理): scheduled, each link opens its /async page, where a party consents.
        async_trial = first[3]
        assert async_trial.hearing.state == "scheduled"
        seats = {seat.role: seat for seat in async_trial.links}
        assert all("/async#token=" in seat.url for seat in async_trial.links)
        room = async_trial.hearing.room_id or ""
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            page = await http.get(seats[Role.PLAINTIFF].url.split("#")[0])
        assert page.status_code == 200 and "async.js" in page.text
        for role in (Role.PLAINTIFF, Role.DEFENDANT):
            token = seats[role].url.split("#token=")[1]
            async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
                r = await http.post(f"/api/rooms/{room}/async/consent", json={"given": True},
                                    headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
        assert r.json()["trial"]["missing_consent"] == []

        second = await seed_demo_court(s.court, s.records, s.tokens, server.base, audit=s.audit)
        assert [d.hearing.id for d in second] == [d.hearing.id for d in first]  # the same hearings, new links
        old = await server.client(trial.hearing.room_id or "", by_role[Role.PLAINTIFF].url.split("#token=")[1])
        assert (await old.wait_closed())[0] == CloseCode.TOKEN_REVOKED
        assert len(await s.court.list_cases()) == 1
