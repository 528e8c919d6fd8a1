"""A clerk records what became of a case; the integrity code and the points follow from those facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from docket.court import NewCase, NewPerson, Party, PartySide
from docket.facts import FactKind
from docket.facts_sql import SqlFactRecords
from docket.staff_sql import SqlStaffStore
from hearing.staff_auth import StaffAuth, cheap_hasher
from integrity.rules import compute
from tests.live import live_server

pytestmark = pytest.mark.timeout(120)
PASSWORD = "correct horse battery staple"


async def test_outcomes_are_recorded_once_as_court_facts(tmp_path: Path) -> None:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as server:
        s = server.services
        await StaffAuth(SqlStaffStore(s.court.engine), s.audit, hasher=cheap_hasher()).create_account(
            "clerk", "李书记员", ["clerk"], PASSWORD)
        zhang = await s.court.create_person(NewPerson("张某", birth_date=date(1980, 1, 1)))
        zhao = await s.court.create_person(NewPerson("赵某", birth_date=date(1979, 1, 1)))
        stranger = await s.court.create_person(NewPerson("路人"))
        case = await s.court.create_case(NewCase("(2026)测结果1号", "debt", [
            Party(zhang.id, PartySide.PLAINTIFF), Party(zhao.id, PartySide.DEFENDANT)]))
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            token = (await http.post("/api/login", json={"username": "clerk", "password": PASSWORD})).json()["token"]
            http.cookies.clear()
            http.headers["Authorization"] = f"Bearer {token}"
            url = f"/api/cases/{case.id}/outcomes"
            today = datetime.now(UTC).date()
            body = {"person_id": zhao.id, "kind": "defaulter_listed", "occurred_on": today.isoformat(),
                    "reference": "(2026)测执1号"}
            first = await http.post(url, json=body)
            assert first.status_code == 201, first.text
            again = await http.post(url, json=body)  # the same outcome again: the same fact
            assert again.status_code == 201 and again.json()["fact_id"] == first.json()["fact_id"]
            changed = await http.post(url, json={**body, "occurred_on": (today - timedelta(days=3)).isoformat()})
            assert changed.status_code == 409 and changed.json()["error"] == "conflicting_fact"
            for bad in ({**body, "person_id": stranger.id}, {**body, "kind": "party_to_case"},
                        {**body, "occurred_on": (today + timedelta(days=1)).isoformat()}, {**body, "kind": "x"}):
                assert (await http.post(url, json=bad)).status_code == 422, bad
            settled = await http.post(url, json={"person_id": zhang.id, "kind": "settlement_reached",
                                                 "occurred_on": today.isoformat(), "reference": "调解书1",
                                                 "settlement_id": "s1"})
            assert settled.status_code == 201
            listed = (await http.get(url)).json()
            assert {(o["person_id"], o["kind"]) for o in listed} == {(zhao.id, "defaulter_listed"),
                                                                       (zhang.id, "settlement_reached")}
        facts = await SqlFactRecords(s.court.engine, s.court.url).facts_of(zhao.id)
        listed_fact = next(f for f in facts if f.kind is FactKind.DEFAULTER_LISTED)
        assert listed_fact.source == "court" and listed_fact.case_number == case.case_number
        result = compute(facts, zhao.birth_date, datetime.now(UTC).date())
        assert result.colour is not None and result.colour.value == "red"  # a listed defaulter (失信被执行人)
        assert [e.action for e in await s.audit.entries(limit=1000)].count("integrity.fact_recorded") == 2
        assert await s.audit.verify() is None
