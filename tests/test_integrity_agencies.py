"""Staff management of agency accounts (disable, re-enable, replace scopes) and agency-query snapshots, through
the real app on SQLite and PostgreSQL (the harness of tests/test_integrity_api.py).

Disabling must bite at once — on the agency's next request and on a query already past authentication — and every
change is in the hash-chained audit log with the staff member who made it and the state before and after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from integrity.service import QUERIED, AgencyDisabled, ScopeDenied
from tests.test_integrity_api import Env, _enforcement, _env, _error


@pytest.fixture
async def env(court_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async for e in _env(tmp_path, court_url, monkeypatch):
        yield e


async def _staff_id(env: Env, username: str) -> str:
    r = await env.client.get("/api/me", headers={"Authorization": f"Bearer {env.tokens[username]}"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _query(pid: str, scope: str = "procurement", purpose: str = "tender 2026-17 bidder check") -> dict[str, Any]:
    return {"person_id": pid, "scope": scope, "purpose": purpose}


async def _records(env: Env, pid: str) -> tuple[int, int, int]:
    """What a query leaves behind: audit entries, query rows shown to the person, code snapshots."""
    return (len(await env.audit()), len(await env.integrity.queries_of(pid)),
            len(await env.integrity.history(pid, limit=1000)))


async def test_disable_and_enable_an_agency(env: Env) -> None:
    pid = await env.person()
    agency_id, key = await env.agency(["procurement"])
    clerk = await _staff_id(env, "clerk")
    assert (await env.call("POST", "/agency/query", headers=key, json=_query(pid))).status_code == 200

    # Only staff who manage the register; an unknown agency is a 404.
    _error(await env.call("POST", f"/agencies/{agency_id}/disable"), 401)
    _error(await env.call("POST", f"/agencies/{agency_id}/disable", "judge"), 403)
    _error(await env.call("POST", f"/agencies/{agency_id}/disable", headers=key), 401)
    _error(await env.call("POST", "/agencies/no-such-agency/disable", "clerk"), 404, "not_found")
    assert await env.audit("integrity.agency_disabled") == []

    r = await env.call("POST", f"/agencies/{agency_id}/disable", "clerk")
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True and r.json()["changed"] is True and r.json()["disabled_at"]
    [entry] = await env.audit("integrity.agency_disabled")
    assert (entry.actor_id, entry.actor_role, entry.subject) == (clerk, "staff", f"agency:{agency_id}")
    assert entry.details["scopes"] == ["procurement"] and entry.details["disabled_at"] == r.json()["disabled_at"]

    # The key stops working at once, with a reason of its own (not "unknown key"), and the refusal records nothing.
    before = await _records(env, pid)
    body = _error(await env.call("POST", "/agency/query", headers=key, json=_query(pid)), 403, "agency_disabled")
    assert "disabled" in body["message"]
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"id_document": "110105198001030000", "scope": "procurement", "purpose": "tender 9"}),
           403, "agency_disabled")
    assert await _records(env, pid) == before

    # Disabling again changes nothing and is not audited again; the person still sees the earlier query.
    again = await env.call("POST", f"/agencies/{agency_id}/disable", "admin")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["disabled_at"] == r.json()["disabled_at"]
    assert len(await env.audit("integrity.agency_disabled")) == 1
    activity = (await env.call("GET", "/me/activity", headers=await env.access(pid))).json()
    assert [q["agency_id"] for q in activity["queries"]] == [agency_id]
    listed = (await env.call("GET", "/agencies", "clerk")).json()
    assert [(a["id"], a["disabled"]) for a in listed] == [(agency_id, True)]

    r = await env.call("POST", f"/agencies/{agency_id}/enable", "admin")
    assert r.status_code == 200 and r.json()["disabled"] is False and r.json()["changed"] is True, r.text
    [enabled] = await env.audit("integrity.agency_enabled")
    assert enabled.actor_id == await _staff_id(env, "admin") and enabled.subject == f"agency:{agency_id}"
    assert enabled.details["was_disabled_at"] == entry.details["disabled_at"]
    assert (await env.call("POST", "/agency/query", headers=key, json=_query(pid))).status_code == 200
    assert (await env.call("POST", f"/agencies/{agency_id}/enable", "admin")).json()["changed"] is False
    assert len(await env.audit("integrity.agency_enabled")) == 1
    assert len(await env.integrity.queries_of(pid)) == 2
    assert await env.services.audit.verify() is None


async def test_replace_scopes(env: Env) -> None:
    pid = await env.person()
    agency_id, key = await env.agency(["procurement"])
    clerk = await _staff_id(env, "clerk")
    path = f"/agencies/{agency_id}/scopes"

    _error(await env.call("PUT", path, "judge", json={"scopes": ["subsidy"]}), 403)
    _error(await env.call("PUT", "/agencies/no-such-agency/scopes", "clerk", json={"scopes": ["subsidy"]}),
           404, "not_found")
    for bad in (["subsidy", "spying"], ["everything"], [""]):
        body = _error(await env.call("PUT", path, "clerk", json={"scopes": bad}), 422, "scope_unknown")
        assert "procurement, subsidy, licensing, hiring" in body["message"]
    _error(await env.call("PUT", path, "clerk", json={"scopes": []}), 422, "invalid_request")
    for junk in ({"scopes": "subsidy"}, {"scopes": [1]}, {}):
        _error(await env.call("PUT", path, "clerk", json=junk), 422, "invalid_request")
    assert await env.audit("integrity.agency_scopes_changed") == []
    assert (await env.call("POST", "/agency/query", headers=key, json=_query(pid))).status_code == 200

    r = await env.call("PUT", path, "clerk", json={"scopes": ["subsidy", "hiring", "subsidy"]})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["hiring", "subsidy"] and r.json()["changed"] is True
    [entry] = await env.audit("integrity.agency_scopes_changed")
    assert (entry.actor_id, entry.actor_role, entry.subject) == (clerk, "staff", f"agency:{agency_id}")
    assert entry.details == {"before": ["procurement"], "after": ["hiring", "subsidy"],
                             "added": ["hiring", "subsidy"], "removed": ["procurement"]}

    # In force from the agency's next query.
    _error(await env.call("POST", "/agency/query", headers=key, json=_query(pid)), 403, "scope_denied")
    assert (await env.call("POST", "/agency/query", headers=key,
                           json=_query(pid, "subsidy", "subsidy application A-3"))).status_code == 200
    assert sorted(q.scope for q in await env.integrity.queries_of(pid)) == ["procurement", "subsidy"]

    same = await env.call("PUT", path, "admin", json={"scopes": ["hiring", "subsidy"]})
    assert same.status_code == 200 and same.json()["changed"] is False
    assert len(await env.audit("integrity.agency_scopes_changed")) == 1
    assert await env.services.audit.verify() is None


async def test_a_query_in_flight_loses_to_a_disable_or_a_scope_change(env: Env) -> None:
    """The agency authenticated before staff acted; its query must still be refused and record nothing."""
    pid = await env.person()
    agency_id, key = await env.agency(["procurement", "subsidy"])
    seen = await env.integrity.authenticate_agency(key["X-Agency-Key"])
    before = await _records(env, pid)

    await env.integrity.set_agency_scopes(agency_id, ["subsidy"], actor_id="staff-1")
    with pytest.raises(ScopeDenied):
        await env.integrity.query(seen, pid, "procurement", "tender 2026-17 bidder check")
    await env.integrity.disable_agency(agency_id, actor_id="staff-1")
    with pytest.raises(AgencyDisabled):
        await env.integrity.query(seen, pid, "subsidy", "subsidy application A-3")
    with pytest.raises(AgencyDisabled):
        await env.integrity.authenticate_agency(key["X-Agency-Key"])
    assert await _records(env, pid) == (before[0] + 2, before[1], before[2])  # only the two staff changes
    assert [e.action for e in (await env.audit())[-2:]] == ["integrity.agency_scopes_changed",
                                                            "integrity.agency_disabled"]


async def test_identical_agency_queries_leave_one_snapshot_and_every_query_visible(env: Env) -> None:
    pid = await env.person("王被执行")
    agency_id, key = await env.agency(["procurement"])
    for _ in range(5):
        r = await env.call("POST", "/agency/query", headers=key, json=_query(pid))
        assert r.status_code == 200 and r.json()["colour"] == "green", r.text
    history = await env.integrity.history(pid, limit=1000)
    assert [(h.trigger, h.colour) for h in history] == [(QUERIED, "green")]
    assert len(await env.audit("integrity.queried")) == 5

    me = await env.access(pid)
    activity = (await env.call("GET", "/me/activity", headers=me)).json()
    assert [(q["agency_id"], q["purpose"]) for q in activity["queries"]] == [
        (agency_id, "tender 2026-17 bidder check")] * 5
    assert [h["trigger"] for h in activity["history"]] == [QUERIED]

    # New facts are a new basis: the next query's result is kept once (beside the import's recomputation).
    assert (await env.import_json([_enforcement(pid, env.today)])).status_code == 200
    after_import = len(await env.integrity.history(pid, limit=1000))
    for _ in range(3):
        r = await env.call("POST", "/agency/query", headers=key, json=_query(pid))
        assert r.status_code == 200 and r.json()["colour"] == "yellow", r.text
    assert len(await env.integrity.history(pid, limit=1000)) == after_import == 2
    activity = (await env.call("GET", "/me/activity", headers=me)).json()
    assert sorted(q["colour"] for q in activity["queries"]) == ["green"] * 5 + ["yellow"] * 3
    assert await env.services.audit.verify() is None


async def test_no_query_is_recorded_after_a_concurrent_disable(env: Env) -> None:
    """Queries racing a disable: each either committed before the disable (its audit entry comes first) or is
    refused with `agency_disabled` and leaves nothing."""
    people = [await env.person(f"当事人{i}") for i in range(4)]
    agency_id, key = await env.agency(["hiring"])
    seen = await env.integrity.authenticate_agency(key["X-Agency-Key"])

    async def one(i: int) -> bool:
        try:
            await env.integrity.query(seen, people[i % len(people)], "hiring", f"candidate check {i}")
        except AgencyDisabled:
            return False
        return True

    async def disable() -> bool:
        await asyncio.sleep(0.005)
        await env.integrity.disable_agency(agency_id, actor_id="staff-1")
        return True

    outcomes = await asyncio.gather(*(one(i) for i in range(12)), disable())
    answered = sum(outcomes[:-1])
    entries = await env.audit()
    [disabled] = [e.seq for e in entries if e.action == "integrity.agency_disabled"]
    queried = [e.seq for e in entries if e.action == "integrity.queried"]
    assert len(queried) == answered and all(seq < disabled for seq in queried)
    assert sum([len(await env.integrity.queries_of(p)) for p in people]) == answered
    assert await env.services.audit.verify() is None
