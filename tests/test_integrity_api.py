"""The integrity HTTP API (/api/integrity) on a real app (create_app with real services), driven with httpx over ASGI.

Staff accounts log in at POST /api/login (clerk/admin import facts, create agencies, issue access links; a judge
decides appeals). The integrity service is built by create_app; the tests swap in a subclass (monkeypatching the
name create_app looks up) only to hold a handle on it and to give it a clock and a frozen monotonic clock, so the
rate limit and expiries are deterministic. Everything else is the production wiring.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.factory as factory
from app.factory import create_app
from app.services import Services, build_services, start_services, stop_services
from app.settings import load_settings
from docket.audit import AuditEntry
from docket.court import NewPerson
from hearing.staff_auth import StaffAuth, cheap_hasher
from integrity.rules import RULESET_VERSION
from integrity.service import IntegrityService
from integrity.signing import verify
from tests.conftest import free_port

PASSWORD = "correct horse battery"
RESIDENT_ID = "11010519800103005X"
ENF_CASE = "(2026)示例执1号"
SPEND_CASE = "(2025)示例执9号"
SOURCE = "city-exchange"


class Clock:
    """The service's wall clock: starts at the real now (so /verify, which reads the real time, accepts codes the
    service signs) and moves only when a test says so."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Monotonic:
    """Frozen unless advanced: the agency rate limit's token bucket never refills behind a test's back."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    services: Services
    client: httpx.AsyncClient
    integrity: IntegrityService
    clock: Clock
    monotonic: Monotonic
    tokens: dict[str, str] = field(default_factory=dict)  # staff username → session token

    @property
    def today(self) -> date:
        return self.clock.now.date()

    async def call(self, method: str, path: str, as_: str | None = None, *, headers: dict[str, str] | None = None,
                   **kw: Any) -> httpx.Response:
        h = dict(headers or {})
        if as_:
            h["Authorization"] = f"Bearer {self.tokens[as_]}"
        return await self.client.request(method, f"/api/integrity{path}", headers=h, **kw)

    async def person(self, name: str = "李当事人", *, birth: date | None = date(1980, 1, 3),
                     id_document: str | None = None) -> str:
        return (await self.services.court.create_person(NewPerson(name, id_document, birth))).id

    async def access(self, person_id: str) -> dict[str, str]:
        """The headers of a person holding the access link a clerk issued for them."""
        r = await self.call("POST", "/access-links", "clerk", json={"person_id": person_id})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert token.startswith("ipa_") and r.json()["url"].endswith(f"/integrity#access={token}")
        return {"X-Integrity-Access": token}

    async def agency(self, scopes: list[str], name: str = "市财政局 Finance bureau") -> tuple[str, dict[str, str]]:
        r = await self.call("POST", "/agencies", "admin", json={"name": name, "scopes": scopes})
        assert r.status_code == 201, r.text
        assert r.json()["scopes"] == sorted(scopes) and r.json()["api_key"].startswith("ica_")
        return r.json()["id"], {"X-Agency-Key": r.json()["api_key"]}

    async def import_json(self, facts: list[dict[str, Any]], source: str = SOURCE) -> httpx.Response:
        return await self.call("POST", "/imports?format=json", "clerk",
                               content=json.dumps({"source": source, "facts": facts}).encode())

    async def audit(self, action: str | None = None) -> list[AuditEntry]:
        entries: list[AuditEntry] = []
        while True:
            batch = await self.services.audit.entries(entries[-1].seq if entries else 0, 500)
            if not batch:
                break
            entries += batch
        return [e for e in entries if action is None or e.action == action]


def _settings(tmp_path: Path, database_url: str) -> Any:
    return load_settings(
        HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", HEARING_TOKEN_SECRET="test-secret-" + "x" * 32,
        hearing_env="test", database_url=database_url, redis_url="", s3_endpoint="", media_enabled=False,
    )


async def _env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    clock, monotonic = Clock(), Monotonic()
    built: list[IntegrityService] = []

    class Handle(IntegrityService):
        def __init__(self, *args: Any, **kw: Any) -> None:
            kw.setdefault("clock", clock)
            kw.setdefault("monotonic", monotonic)
            super().__init__(*args, **kw)
            built.append(self)

    monkeypatch.setattr(factory, "IntegrityService", Handle)
    settings = _settings(tmp_path, database_url)
    services = build_services(settings)
    services.court._iterations = 1_000  # identity-document hashing cost: tests need not be slow
    await start_services(services)
    app = create_app(settings, services)
    assert len(built) == 1
    auth: StaffAuth = app.state.staff_auth
    auth.hasher = cheap_hasher()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    env = Env(services, client, built[0], clock, monotonic)
    for username, roles in (("admin", "admin"), ("clerk", "clerk"), ("judge", "judge"), ("mediator", "mediator")):
        await auth.create_account(username, f"{username} 姓名", [roles], PASSWORD)
        r = await client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        env.tokens[username] = r.json()["token"]
    client.cookies.clear()  # requests authenticate with the header only
    try:
        yield env
    finally:
        await client.aclose()
        await stop_services(services)


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async for e in _env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'court.db'}", monkeypatch):
        yield e


@pytest.fixture
async def env_both(court_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async for e in _env(tmp_path, court_url, monkeypatch):
        yield e


def _error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def _enforcement(person_id: str, today: date, ref: str = "X-1") -> dict[str, Any]:
    return {"person_id": person_id, "kind": "enforcement_opened",
            "occurred_on": (today - timedelta(days=30)).isoformat(), "source_ref": ref,
            "case_number": ENF_CASE, "details": {"order": "R-9"}}


def _spending(person_id: str, today: date, ref: str = "X-2") -> dict[str, Any]:
    return {"person_id": person_id, "kind": "spending_restriction",
            "occurred_on": (today - timedelta(days=20)).isoformat(), "source_ref": ref, "case_number": SPEND_CASE,
            "expires_on": (today + timedelta(days=90)).isoformat()}


# ---- agency queries ------------------------------------------------------------------------------------------

async def test_agency_query_answers_only_colour_and_each_query_is_one_audited_entry(env_both: Env) -> None:
    env = env_both
    pid = await env.person("王被执行")
    r = await env.import_json([_enforcement(pid, env.today)])
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    agency_id, key = await env.agency(["procurement", "subsidy"])

    answers = []
    for purpose in ("tender 2026-17 bidder check", "subsidy application A-3"):
        scope = "procurement" if "tender" in purpose else "subsidy"
        r = await env.call("POST", "/agency/query", headers=key,
                           json={"person_id": pid, "scope": scope, "purpose": purpose})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"colour", "valid_until", "verification_code"}
        assert body["colour"] == "yellow"  # 70 − 20, and an open enforcement forces yellow
        for leak in (ENF_CASE, "执", "enforcement", "R-9", "王被执行", pid, "score", "reason"):
            assert leak not in r.text, leak
        answers.append(body)
    public = (await env.call("GET", "/public-key")).text
    claims = verify(answers[0]["verification_code"], public, datetime.now(UTC))
    assert claims.colour == "yellow" and pid not in claims.subject

    queried = await env.audit("integrity.queried")
    assert len(queried) == 2
    assert [(e.actor_id, e.actor_role, e.subject) for e in queried] == [(agency_id, "agency", f"person:{pid}")] * 2
    assert [(e.details["scope"], e.details["purpose"], e.details["colour"]) for e in queried] == [
        ("procurement", "tender 2026-17 bidder check", "yellow"), ("subsidy", "subsidy application A-3", "yellow")]
    assert {e.details["agency_id"] for e in queried} == {agency_id}
    assert all(ENF_CASE not in json.dumps(e.details, ensure_ascii=False) for e in queried)
    assert len({e.details["query_id"] for e in queried}) == 2

    # Refusals record nothing: no audit entry, no query shown to the person.
    before = len(await env.audit())
    for body in ({"person_id": pid, "scope": "procurement"}, {"person_id": pid, "scope": "procurement", "purpose": ""},
                 {"person_id": pid, "scope": "procurement", "purpose": "   \t "}):
        _error(await env.call("POST", "/agency/query", headers=key, json=body), 422, "purpose_missing")
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"person_id": pid, "scope": "hiring", "purpose": "civil service exam"}),
           403, "scope_denied")
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"person_id": pid, "scope": "spying", "purpose": "curiosity only"}), 403, "scope_denied")
    tender = {"person_id": pid, "scope": "procurement", "purpose": "tender 1"}
    _error(await env.call("POST", "/agency/query", headers={"X-Agency-Key": "ica_forged"}, json=tender),
           401, "agency_unknown")
    _error(await env.call("POST", "/agency/query", json=tender), 401, "agency_unknown")
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"person_id": "no-such-person", "scope": "procurement", "purpose": "tender 1"}),
           404, "not_found")
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"scope": "procurement", "purpose": "tender 1"}), 422, "invalid_request")
    assert len(await env.audit()) == before
    assert len(await env.integrity.queries_of(pid)) == 2

    # The person sees who queried, when and why.
    me = await env.access(pid)
    activity = (await env.call("GET", "/me/activity", headers=me)).json()
    seen = sorted((q["agency_id"], q["agency"], q["scope"], q["purpose"], q["colour"]) for q in activity["queries"])
    assert seen == [
        (agency_id, "市财政局 Finance bureau", "procurement", "tender 2026-17 bidder check", "yellow"),
        (agency_id, "市财政局 Finance bureau", "subsidy", "subsidy application A-3", "yellow")]
    assert await env.services.audit.verify() is None


async def test_query_by_identity_document(env: Env) -> None:
    pid = await env.person("证件当事人", id_document=RESIDENT_ID)
    _, key = await env.agency(["licensing"])
    r = await env.call("POST", "/agency/query", headers=key,
                       json={"id_document": RESIDENT_ID, "scope": "licensing", "purpose": "food licence L-77"})
    assert r.status_code == 200 and r.json()["colour"] == "green", r.text
    assert [e.details["person_id"] for e in await env.audit("integrity.queried")] == [pid]
    assert RESIDENT_ID not in json.dumps([e.details for e in await env.audit()])
    _error(await env.call("POST", "/agency/query", headers=key,
                          json={"id_document": "110105198001030000", "scope": "licensing", "purpose": "licence L-78"}),
           404, "not_found")
    r = await env.call("POST", "/agency/query", headers=key,
                       json={"person_id": pid, "id_document": RESIDENT_ID, "scope": "licensing", "purpose": "L-79"})
    _error(r, 422, "invalid_request")
    assert len(await env.audit("integrity.queried")) == 1


async def test_rate_limit_refuses_after_the_burst_and_records_nothing(env: Env) -> None:
    pid = await env.person()
    _, key = await env.agency(["hiring"])
    body = {"person_id": pid, "scope": "hiring", "purpose": "civil service recruitment 2026"}
    for _ in range(20):  # burst 20
        assert (await env.call("POST", "/agency/query", headers=key, json=body)).status_code == 200
    r = await env.call("POST", "/agency/query", headers=key, json=body)
    _error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert len(await env.audit("integrity.queried")) == 20
    assert len(await env.integrity.queries_of(pid)) == 20
    # Another agency has its own bucket.
    _, other = await env.agency(["hiring"], name="市人社局")
    assert (await env.call("POST", "/agency/query", headers=other, json=body)).status_code == 200
    env.monotonic.now += 2.0  # 0.5 tokens/s: one more query after two seconds
    assert (await env.call("POST", "/agency/query", headers=key, json=body)).status_code == 200
    _error(await env.call("POST", "/agency/query", headers=key, json=body), 429, "rate_limited")
    assert len(await env.audit("integrity.queried")) == 22
    assert await env.services.audit.verify() is None


# ---- imports -------------------------------------------------------------------------------------------------

async def test_json_import_all_or_nothing_idempotent_and_conflicts_refused(env: Env) -> None:
    pid = await env.person()
    good, bad = _enforcement(pid, env.today), {**_spending(pid, env.today), "occurred_on": "2026-13-40"}
    body = _error(await env.import_json([good, bad]), 422, "import_rejected")
    assert {"row": 2, "field": "occurred_on"} in [{k: e[k] for k in ("row", "field")} for e in body["errors"]]
    assert all(e["message"] for e in body["errors"])
    assert await env.integrity.facts.facts_of(pid) == []
    assert await env.audit("integrity.facts_imported") == []

    r = await env.import_json([good, _spending(pid, env.today)])
    assert r.status_code == 200 and r.json() == {"source": SOURCE, "rows": 2, "recorded": 2, "unchanged": 0}, r.text
    again = await env.import_json([good, _spending(pid, env.today)])
    assert again.json() == {"source": SOURCE, "rows": 2, "recorded": 0, "unchanged": 2}
    stored = await env.integrity.facts.facts_of(pid)
    assert sorted(f.source_ref for f in stored) == ["X-1", "X-2"]
    assert len(await env.audit("integrity.facts_imported")) == 1  # the idempotent re-import appended nothing

    # The same reference with other content refuses the whole file, including its new rows.
    changed = {**good, "occurred_on": (env.today - timedelta(days=29)).isoformat()}
    new_row = {**_spending(pid, env.today, ref="X-3")}
    body = _error(await env.import_json([new_row, changed]), 422, "import_rejected")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "source_ref")]
    assert await env.integrity.facts.facts_of(pid) == stored
    assert len(await env.audit("integrity.facts_imported")) == 1

    # A reserved source, an unknown person, garbage, an empty file: refused, never a 500.
    _error(await env.import_json([_enforcement(pid, env.today, "C-1")], source="court"), 422, "import_rejected")
    body = _error(await env.import_json([{**good, "person_id": "ghost", "source_ref": "G-1"}]), 422, "import_rejected")
    assert body["errors"][0]["field"] == "person_id"
    _error(await env.import_json([]), 422, "import_rejected")
    for raw in (b"", b"{not json", b"\xff\xfe", b"[1,2]", b'{"source": "x", "facts": [1, "a", null]}'):
        r = await env.call("POST", "/imports?format=json", "clerk", content=raw)
        _error(r, 422)
    _error(await env.call("POST", "/imports?format=xml", "clerk", content=b"<a/>"), 422, "invalid_request")
    assert await env.integrity.facts.facts_of(pid) == stored


async def test_an_import_dated_in_the_future_is_refused_with_the_row(env: Env) -> None:
    """As the court's outcomes API refuses one: a fact that has not happened must not count on a code."""
    pid = await env.person()
    real_today = datetime.now(UTC).date()
    ahead = {**_enforcement(pid, env.today, ref="F-1"), "occurred_on": (real_today + timedelta(days=3)).isoformat()}
    body = _error(await env.import_json([_spending(pid, env.today), ahead]), 422, "import_rejected")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "occurred_on")]
    assert "in the future" in body["errors"][0]["message"]
    assert await env.integrity.facts.facts_of(pid) == []
    assert await env.audit("integrity.facts_imported") == []

async def test_csv_import_by_identity_document_with_bom_and_row_errors(env: Env) -> None:
    pid = await env.person("表格当事人", id_document=RESIDENT_ID)
    day = (env.today - timedelta(days=10)).isoformat()
    header = "id_document,kind,occurred_on,source_ref,case_number,details\n"
    bad = header + (f"{RESIDENT_ID},judgment_performed_on_time,{day},CSV-1,(2026)民初1号,\n"
                    f"{RESIDENT_ID},not_a_kind,{day},CSV-2,(2026)民初2号,\n")
    body = _error(await env.call("POST", f"/imports?format=csv&source={SOURCE}", "clerk", content=bad.encode()),
                  422, "import_rejected")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "kind")]
    assert await env.integrity.facts.facts_of(pid) == []

    good = "\ufeff" + header + (f'{RESIDENT_ID},judgment_performed_on_time,{day},CSV-1,(2026)民初1号,"{{""j"": 1}}"\n')
    r = await env.call("POST", f"/imports?format=csv&source={SOURCE}", "clerk", content=good.encode())
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    r = await env.call("POST", f"/imports?format=csv&source={SOURCE}", "clerk", content=good.encode())
    assert r.json()["recorded"] == 0 and r.json()["unchanged"] == 1
    [fact] = await env.integrity.facts.facts_of(pid)
    assert fact.details == {"j": 1} and fact.case_number == "(2026)民初1号"
    assert RESIDENT_ID not in json.dumps(dict(fact.details))

    _error(await env.call("POST", "/imports?format=csv", "clerk", content=good.encode()), 422, "invalid_request")
    _error(await env.call("POST", f"/imports?format=csv&source={SOURCE}", "clerk", content=b"wrong,header\n1,2\n"),
           422, "import_rejected")
    _error(await env.call("POST", f"/imports?format=csv&source={SOURCE}", "clerk", content=b"\xff\xfe\x00"),
           422, "import_rejected")
    # Staff only, and only those who may write the register.
    _error(await env.call("POST", f"/imports?format=csv&source={SOURCE}", content=good.encode()), 401)
    _error(await env.call("POST", f"/imports?format=csv&source={SOURCE}", "judge", content=good.encode()), 403)
    assert len(await env.integrity.facts.facts_of(pid)) == 1


# ---- the person, appeals, the judge --------------------------------------------------------------------------

async def test_person_sees_reasons_and_a_judge_grants_an_appeal(env: Env) -> None:
    pid = await env.person("申诉人")
    await env.import_json([_enforcement(pid, env.today), _spending(pid, env.today)])
    me = await env.access(pid)
    code = (await env.call("GET", "/me", headers=me)).json()
    assert (code["colour"], code["score"], code["not_scored"]) == ("red", 35, None)  # 70 − 20 − 15 < 40
    reasons = {r["code"]: r for r in code["reasons"]}
    assert set(reasons) == {"enforcement_open", "spending_restricted"}
    assert reasons["enforcement_open"]["case_numbers"] == [ENF_CASE]
    assert reasons["spending_restricted"]["case_numbers"] == [SPEND_CASE]
    assert reasons["spending_restricted"]["expires_on"] == (env.today + timedelta(days=90)).isoformat()
    assert "<svg" in code["qr_svg"] and code["verification_code"].startswith("IC1.")
    disputed = reasons["enforcement_open"]["fact_ids"]
    assert len(disputed) == 1

    _error(await env.call("GET", "/me"), 401, "access_denied")
    _error(await env.call("GET", "/me", headers={"X-Integrity-Access": "ipa_forged"}), 401, "access_denied")
    # Another person's fact cannot be disputed.
    other = await env.person("旁人")
    await env.import_json([_enforcement(other, env.today, ref="O-1")])
    [foreign] = await env.integrity.facts.facts_of(other)
    _error(await env.call("POST", "/me/appeals", headers=me, json={"kind": "appeal", "text": "x",
                                                                   "fact_ids": [foreign.id]}), 422, "invalid_request")
    _error(await env.call("POST", "/me/appeals", headers=me, json={"kind": "plea", "text": "x"}), 422)
    _error(await env.call("POST", "/me/appeals", headers=me, json={"kind": "appeal", "text": ""}), 422)

    r = await env.call("POST", "/me/appeals", headers=me, json={
        "kind": "appeal", "text": "The enforcement was closed in March; the exchange never sent the closing.",
        "evidence": ["执行结案通知书 (2026)示例执1号之一", "  ", "receipt R-9 paid"], "fact_ids": disputed})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    appeal_id = r.json()["id"]

    _error(await env.call("GET", "/appeals", "clerk"), 403, "forbidden")
    _error(await env.call("GET", "/appeals"), 401)
    queue = (await env.call("GET", "/appeals", "judge")).json()
    assert [(a["id"], a["person_id"], a["kind"], a["fact_ids"]) for a in queue] == [
        (appeal_id, pid, "appeal", disputed)]
    assert queue[0]["evidence"] == ["执行结案通知书 (2026)示例执1号之一", "receipt R-9 paid"]

    _error(await env.call("POST", f"/appeals/{appeal_id}/decision", "clerk", json={"grant": True, "decision": "ok"}),
           403)
    _error(await env.call("POST", f"/appeals/{appeal_id}/decision", "judge", json={"grant": True, "decision": " "}),
           422)
    _error(await env.call("POST", "/appeals/nope/decision", "judge", json={"grant": True, "decision": "ok"}),
           404, "not_found")
    r = await env.call("POST", f"/appeals/{appeal_id}/decision", "judge",
                       json={"grant": True, "decision": "Closing notice verified with the enforcement bureau."})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": appeal_id, "status": "granted", "colour": "yellow", "score": 55}
    _error(await env.call("POST", f"/appeals/{appeal_id}/decision", "judge", json={"grant": False, "decision": "no"}),
           409, "already_decided")

    after = (await env.call("GET", "/me", headers=me)).json()
    assert (after["colour"], after["score"]) == ("yellow", 55)
    assert [r["code"] for r in after["reasons"]] == ["spending_restricted"]
    activity = (await env.call("GET", "/me/activity", headers=me)).json()
    assert [(a["id"], a["status"]) for a in activity["appeals"]] == [(appeal_id, "granted")]
    assert activity["appeals"][0]["decision"].startswith("Closing notice")
    assert [h["colour"] for h in activity["history"]][:2] == ["yellow", "red"]
    assert (await env.call("GET", "/appeals", "judge")).json() == []

    decided = await env.audit("integrity.appeal_decided")
    recomputed = await env.audit("integrity.recomputed")
    assert [(e.subject, e.details["outcome"], e.details["fact_ids"]) for e in decided] == [
        (f"appeal:{appeal_id}", "granted", disputed)]
    assert [(e.subject, e.details["colour"], e.details["score"]) for e in recomputed] == [
        (f"person:{pid}", "yellow", 55)]
    assert decided[0].seq < recomputed[0].seq
    assert len(await env.audit("integrity.appeal_filed")) == 1
    assert await env.services.audit.verify() is None


async def test_a_refused_appeal_changes_nothing(env: Env) -> None:
    pid = await env.person()
    await env.import_json([_enforcement(pid, env.today)])
    me = await env.access(pid)
    r = await env.call("POST", "/me/appeals", headers=me, json={"kind": "repair", "text": "I paid."})
    appeal_id = r.json()["id"]
    r = await env.call("POST", f"/appeals/{appeal_id}/decision", "judge",
                       json={"grant": False, "decision": "No proof of payment."})
    assert r.json()["status"] == "refused" and r.json()["colour"] == "yellow"
    assert (await env.call("GET", "/me", headers=me)).json()["colour"] == "yellow"


async def test_access_links_expire_and_need_a_clerk(env: Env) -> None:
    pid = await env.person()
    _error(await env.call("POST", "/access-links", json={"person_id": pid}), 401)
    _error(await env.call("POST", "/access-links", "judge", json={"person_id": pid}), 403)
    _error(await env.call("POST", "/access-links", "clerk", json={"person_id": "ghost"}), 404, "not_found")
    me = await env.access(pid)
    assert (await env.call("GET", "/me", headers=me)).status_code == 200
    env.clock.advance(timedelta(days=7, seconds=1))
    _error(await env.call("GET", "/me", headers=me), 401, "access_denied")
    issued = await env.audit("integrity.access_issued")
    assert [e.subject for e in issued] == [f"person:{pid}"]


async def test_staff_revoke_a_persons_access_links(env_both: Env) -> None:
    env = env_both
    pid, other = await env.person(), await env.person("旁人")
    first, second, theirs = await env.access(pid), await env.access(pid), await env.access(other)
    for headers in (first, second, theirs):
        assert (await env.call("GET", "/me", headers=headers)).status_code == 200

    # Only staff who may issue links may withdraw them; an unknown person is a 404. Refusals change nothing.
    before = len(await env.audit())
    _error(await env.call("POST", "/access-links/revoke", json={"person_id": pid}), 401)
    _error(await env.call("POST", "/access-links/revoke", "judge", json={"person_id": pid}), 403, "forbidden")
    _error(await env.call("POST", "/access-links/revoke", "clerk", json={"person_id": "ghost"}), 404, "not_found")
    _error(await env.call("POST", "/access-links/revoke", "clerk", json={}), 422, "invalid_request")
    assert len(await env.audit()) == before
    assert (await env.call("GET", "/me", headers=first)).status_code == 200

    r = await env.call("POST", "/access-links/revoke", "clerk", json={"person_id": pid})
    assert r.status_code == 200 and r.json() == {"revoked": 2}, r.text
    for headers in (first, second):
        for path in ("/me", "/me/activity"):
            body = _error(await env.call("GET", path, headers=headers), 401, "access_revoked")
            assert "withdrawn" in body["message"] and "new one" in body["message"]
        _error(await env.call("POST", "/me/appeals", headers=headers, json={"kind": "appeal", "text": "x"}),
               401, "access_revoked")
    assert (await env.call("GET", "/me", headers=theirs)).status_code == 200  # another person's link stands

    revoked = await env.audit("integrity.access_revoked")
    assert [(e.actor_role, e.subject, e.details) for e in revoked] == [("staff", f"person:{pid}", {"revoked": 2})]
    # Nothing left to withdraw: nothing audited. A link issued afterwards works.
    r = await env.call("POST", "/access-links/revoke", "admin", json={"person_id": pid})
    assert r.json() == {"revoked": 0}
    assert len(await env.audit("integrity.access_revoked")) == 1
    fresh = await env.access(pid)
    assert (await env.call("GET", "/me", headers=fresh)).status_code == 200
    _error(await env.call("GET", "/me", headers=first), 401, "access_revoked")
    assert await env.services.audit.verify() is None


# ---- the signed code -----------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_verify_accepts_the_code_and_refuses_tampered_and_expired_ones(env: Env) -> None:
    pid = await env.person()
    await env.import_json([_enforcement(pid, env.today)])
    code = (await env.call("GET", "/me", headers=await env.access(pid))).json()["verification_code"]
    r = await env.call("POST", "/verify", json={"token": code})
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is True and r.json()["colour"] == "yellow"
    assert r.json()["ruleset_version"] == RULESET_VERSION

    prefix, payload, sig = code.split(".")
    claims = json.loads(_unb64(payload))
    greener = f"{prefix}.{_b64(json.dumps({**claims, 'col': 'green'}, sort_keys=True, separators=(',', ':')).encode())}"
    _error(await env.call("POST", "/verify", json={"token": f"{greener}.{sig}"}), 422, "code_bad_signature")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    _error(await env.call("POST", "/verify", json={"token": f"{prefix}.{payload}.{flipped}"}), 422,
           "code_bad_signature")

    # Expired: a code the court's own key signed, whose validity ended an hour ago.
    now = datetime.now(UTC)
    expired = env.integrity.signer.issue(person_id=pid, colour="green", ruleset_version="2026.1",
                                         issued_at=now - timedelta(days=2), expires_at=now - timedelta(hours=1))
    _error(await env.call("POST", "/verify", json={"token": expired}), 422, "code_expired")
    # A code from another court's key.
    from integrity.signing import CodeSigner

    alien = CodeSigner.generate().issue(person_id=pid, colour="green", ruleset_version="2026.1", issued_at=now,
                                        expires_at=now + timedelta(days=1))
    _error(await env.call("POST", "/verify", json={"token": alien}), 422, "code_bad_signature")
    for token in ("", "abc", "IC1.a.b", "XX1.a.b", "IC1..", "." * 5000, "IC1.é.é"):
        _error(await env.call("POST", "/verify", json={"token": token}), 422)
    _error(await env.call("POST", "/verify", json={"token": 5}), 422, "invalid_request")
    _error(await env.call("POST", "/verify", json={}), 422, "invalid_request")


# ---- minors --------------------------------------------------------------------------------------------------

async def test_minors_and_unknown_ages_are_never_scored(env: Env) -> None:
    minor = await env.person("少年", birth=env.today - timedelta(days=15 * 365))
    unknown = await env.person("无生日", birth=None)
    r = await env.import_json([{**_enforcement(minor, env.today), "kind": "defaulter_listed"},
                               _enforcement(unknown, env.today, ref="U-1")])
    assert r.status_code == 200, r.text
    code = (await env.call("GET", "/me", headers=await env.access(minor))).json()
    assert (code["colour"], code["score"], code["not_scored"], code["reasons"]) == (None, None, "minor", [])
    assert "<svg" in code["qr_svg"]
    assert verify(code["verification_code"], env.integrity.signer.public_pem(), datetime.now(UTC)).colour == "none"
    code = (await env.call("GET", "/me", headers=await env.access(unknown))).json()
    assert (code["colour"], code["not_scored"]) == (None, "birth_date_unknown")

    _, key = await env.agency(["subsidy"])
    r = await env.call("POST", "/agency/query", headers=key,
                       json={"person_id": minor, "scope": "subsidy", "purpose": "student subsidy S-1"})
    assert r.status_code == 200 and r.json()["colour"] == "none", r.text
    assert [e.details["colour"] for e in await env.audit("integrity.queried")] == ["none"]


# ---- robustness ----------------------------------------------------------------------------------------------

@pytest.fixture
def junk() -> Iterator[list[Any]]:
    yield [None, 0, -1, 1.5, True, "", "x" * 10_000, [], {}, ["a"], {"a": 1}, "\u0000", "\ud7ff"]


async def test_bad_input_never_gives_a_500(env: Env, junk: list[Any]) -> None:
    pid = await env.person()
    me = await env.access(pid)
    _, key = await env.agency(["procurement"])
    seen: set[int] = set()

    async def check(r: httpx.Response) -> None:
        assert r.status_code < 500, (r.request.method, r.request.url, r.text[:300])
        seen.add(r.status_code)

    for value in junk:
        for field_ in ("person_id", "id_document", "scope", "purpose"):
            body = {"person_id": pid, "scope": "procurement", "purpose": "tender T-1", field_: value}
            if field_ == "id_document":
                body.pop("person_id")
            await check(await env.call("POST", "/agency/query", headers=key, json=body))
            env.monotonic.now += 10  # keep the bucket full: this test is about input, not rate
        for field_ in ("kind", "text", "evidence", "fact_ids"):
            await check(await env.call("POST", "/me/appeals", headers=me,
                                       json={"kind": "appeal", "text": "t", field_: value}))
        for field_ in ("name", "scopes"):
            await check(await env.call("POST", "/agencies", "admin",
                                       json={"name": "n", "scopes": ["hiring"], field_: value}))
        await check(await env.call("POST", "/access-links", "clerk", json={"person_id": value}))
        await check(await env.call("POST", "/appeals/x/decision", "judge", json={"grant": value, "decision": value}))
        await check(await env.call("POST", "/verify", json={"token": value}))
        await check(await env.import_json([{"person_id": pid, "kind": value, "occurred_on": value,
                                            "source_ref": value, "case_number": value, "expires_on": value,
                                            "details": value}]))
        await check(await env.call("GET", "/me", headers={"X-Integrity-Access": ascii(value)[:500]}))
    for raw in (b"", b"null", b"[]", b"{", "{\"scope\": \"\u00e9\"}".encode(), b"\xff"):
        await check(await env.call("POST", "/agency/query", headers=key, content=raw))
        await check(await env.call("POST", "/me/appeals", headers=me, content=raw))
    long_date = {"person_id": pid, "kind": "enforcement_opened", "occurred_on": "9999-12-31", "source_ref": "F-1",
                 "expires_on": "0001-01-01"}
    await check(await env.import_json([long_date]))
    await check(await env.import_json([{**long_date, "expires_on": None, "details": {"name": "张三"}}]))
    await check(await env.import_json([{**long_date, "source_ref": "F-2", "details": {"n": 1e400}}]))
    assert 500 not in seen and seen <= {200, 201, 401, 403, 404, 409, 422}, seen
    assert await env.services.audit.verify() is None


async def test_an_identity_document_is_not_looked_up_before_scope_purpose_and_rate_are_checked(env: Env) -> None:
    """An agency must not learn who is in the court's register (404 vs 200) for a scope it lacks or without a
    purpose, nor make the slow document lookup past its rate limit."""
    await env.person("证件当事人", id_document=RESIDENT_ID)
    _, key = await env.agency(["licensing"])
    for number in (RESIDENT_ID, "110105198001030000"):
        _error(await env.call("POST", "/agency/query", headers=key,
                              json={"id_document": number, "scope": "hiring", "purpose": "civil service exam"}),
               403, "scope_denied")
        _error(await env.call("POST", "/agency/query", headers=key,
                              json={"id_document": number, "scope": "licensing", "purpose": ""}),
               422, "purpose_missing")
    body = {"id_document": "110105198001030000", "scope": "licensing", "purpose": "licence L-1"}
    for _ in range(20):
        _error(await env.call("POST", "/agency/query", headers=key, json=body), 404, "not_found")
    _error(await env.call("POST", "/agency/query", headers=key, json=body), 429, "rate_limited")
    assert await env.audit("integrity.queried") == []
