"""The staff HTTP API on a real app (create_app with real services), driven with httpx over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.factory import create_app
from app.services import Services, build_services, start_services, stop_services
from app.settings import load_settings
from docket.audit import AuditEvent, append_in
from docket.court import NewPerson
from docket.transactions import transaction
from hearing.roles import ROLE_GRANTS, Role
from hearing.staff_auth import SESSION_TTL, StaffAuth, cheap_hasher
from tests.conftest import free_port

PASSWORD = "correct horse battery"
RESIDENT_ID = "11010519800103005X"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Api:
    services: Services
    auth: StaffAuth
    clock: Clock
    client: httpx.AsyncClient
    people: dict[str, str] = field(default_factory=dict)  # staff username → their register person id
    tokens: dict[str, str] = field(default_factory=dict)  # staff username → session token

    async def staff(self, username: str, roles: str, *, person: bool = True) -> None:
        person_id = None
        if person:
            person_id = (await self.services.court.create_person(NewPerson(f"{username} 本人"))).id
            self.people[username] = person_id
        await self.auth.create_account(username, f"{username} 姓名", roles.split(","), PASSWORD, person_id=person_id)

    async def login(self, username: str) -> str:
        r = await self.client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.client.cookies.clear()  # requests below authenticate with the header unless a test says otherwise
        self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    async def call(self, method: str, path: str, as_: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        return await self.client.request(method, path, headers=headers, **kw)


def _settings(tmp_path: Path, database_url: str, *, media_enabled: bool = False) -> Any:
    return load_settings(
        HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", HEARING_TOKEN_SECRET="test-secret-" + "x" * 32,
        hearing_env="test", database_url=database_url, redis_url="", s3_endpoint="", media_enabled=media_enabled,
    )


async def _api(tmp_path: Path, database_url: str, *, media_enabled: bool = False) -> AsyncIterator[Api]:
    settings = _settings(tmp_path, database_url, media_enabled=media_enabled)
    services = build_services(settings)
    await start_services(services)
    app = create_app(settings, services)
    auth: StaffAuth = app.state.staff_auth
    clock = Clock()
    auth.hasher = cheap_hasher()
    auth.clock = clock
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    api = Api(services, auth, clock, client)
    for username, roles, person in (("admin", "admin", False), ("clerk", "clerk", True),
                                    ("pres", "presiding_judge", True), ("judge", "judge", True),
                                    ("outsider", "judge", True), ("mediator", "mediator", True)):
        await api.staff(username, roles, person=person)
    try:
        yield api
    finally:
        await client.aclose()
        await stop_services(services)


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app on each backend in turn (conftest's `court_url`): a SQLite file, then a fresh PostgreSQL database."""
    async for a in _api(tmp_path, court_url):
        yield a


def _error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["error"] == code, body
    return body


async def _case_and_trial(api: Api, kind: str = "trial", number: str = "(2026)示例民初1号") -> dict[str, Any]:
    """As the clerk: two parties, a case, a hearing with pres + judge on the panel."""
    plaintiff = (await api.call("POST", "/api/persons", "clerk", json={"name": "张原告"})).json()
    defendant = (await api.call("POST", "/api/persons", "clerk", json={"name": "赵被告"})).json()
    case = await api.call("POST", "/api/cases", "clerk", json={
        "case_number": number, "cause": "contract dispute",
        "parties": [{"person_id": plaintiff["id"], "side": "plaintiff"},
                    {"person_id": defendant["id"], "side": "defendant"}]})
    assert case.status_code == 201, case.text
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    hearing = await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": case.json()["id"], "kind": kind, "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=2)).isoformat(),
        "panel": [api.people["pres"], api.people["judge"]]})
    assert hearing.status_code == 201, hearing.text
    return {"plaintiff": plaintiff, "defendant": defendant, "case": case.json(), "hearing": hearing.json()}


# ---- login, sessions -----------------------------------------------------------------------------------------


async def test_login_me_cookie_and_logout(api: Api) -> None:
    r = await api.client.get("/api/me")
    body = _error(r, 401, "not_authenticated")
    assert "POST /api/login" in body["message"] and r.headers["www-authenticate"] == "Bearer"
    _error(await api.client.post("/api/login", json={"username": "clerk", "password": "wrong password!"}), 401,
           "bad_credentials")
    _error(await api.client.post("/api/login", json={"username": "ghost", "password": PASSWORD}), 401,
           "bad_credentials")

    r = await api.client.post("/api/login", json={"username": "CLERK", "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert r.json()["staff"]["username"] == "clerk" and r.json()["staff"]["roles"] == ["clerk"]
    assert "links.issue" in r.json()["staff"]["permissions"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert f"max-age={int(SESSION_TTL.total_seconds())}" in cookie and "secure" not in cookie  # http base URL
    assert r.headers["cache-control"] == "no-store"

    # The cookie alone authenticates (the staff web pages)...
    me = await api.client.get("/api/me")
    assert me.status_code == 200 and me.json()["person_id"] == api.people["clerk"]
    # ...and so does the header alone.
    api.client.cookies.clear()
    assert (await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    _error(await api.client.get("/api/me", headers={"Authorization": "Bearer hs_forged"}), 401, "session_invalid")

    out = await api.client.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200 and "max-age=0" in out.headers["set-cookie"].lower()
    body = _error(await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}), 401,
                  "session_invalid")
    assert "ended" in body["message"]
    actions = [(e.action, e.actor_id) for e in await api.services.audit.entries(0, 100)]
    clerk_id = (await api.auth.store.find_staff("clerk")).id  # type: ignore[union-attr]
    assert ("staff.login", clerk_id) in actions and ("staff.logout", clerk_id) in actions
    assert ("staff.login_failed", clerk_id) in actions and ("staff.login_failed", "anonymous") in actions


async def test_lockout_and_expiry_follow_the_clock(api: Api) -> None:
    api.auth.max_failed_logins = 5  # opted in: off by default (issue 14; logins are throttled per address)
    for _ in range(4):
        _error(await api.client.post("/api/login", json={"username": "judge", "password": "guess-guess"}), 401)
    body = _error(await api.client.post("/api/login", json={"username": "judge", "password": "guess-guess"}), 423,
                  "locked")
    assert "locked until" in body["message"] and body["locked_until"]
    _error(await api.client.post("/api/login", json={"username": "judge", "password": PASSWORD}), 423, "locked")
    api.clock.advance(timedelta(minutes=15))
    token = await api.login("judge")

    api.clock.advance(SESSION_TTL)
    body = _error(await api.call("GET", "/api/me", "judge"), 401, "session_invalid")
    assert "expired" in body["message"] and token


# ---- the register -------------------------------------------------------------------------------------------


async def test_register_flow_and_refusals(api: Api) -> None:
    await api.login("clerk")
    r = await api.call("POST", "/api/persons", "clerk", json={"name": "钱证人", "id_document": RESIDENT_ID})
    assert r.status_code == 201, r.text
    assert r.json()["id_document_last4"] == "005X" and r.json()["birth_date"] == "1980-01-03"
    assert RESIDENT_ID not in r.text and "id_document\"" not in r.text
    found = await api.call("POST", "/api/persons/search", "clerk", json={"id_document": RESIDENT_ID})
    assert [p["id"] for p in found.json()] == [r.json()["id"]]
    assert (await api.call("GET", f"/api/persons/{r.json()['id']}", "clerk")).json()["name"] == "钱证人"

    station = await api.call("POST", "/api/stations", "clerk", json={
        "kind": "village", "name": "东村服务站", "latitude": 39.9, "longitude": 116.4})
    assert station.status_code == 201, station.text
    assert [s["id"] for s in (await api.call("GET", "/api/stations?kind=village", "clerk")).json()] == [
        station.json()["id"]]

    made = await _case_and_trial(api)
    hearing = made["hearing"]
    assert hearing["kind"] == "trial" and hearing["recorded"] and hearing["state"] == "scheduled"
    assert hearing["panel"] == [api.people["pres"], api.people["judge"]]
    assert len((await api.call("GET", f"/api/cases/{made['case']['id']}", "clerk")).json()["parties"]) == 2
    _error(await api.call("POST", "/api/cases", "clerk", json={"case_number": "(2026)示例民初1号",
                                                                 "cause": "again"}), 409, "duplicate")
    witness = await api.call("POST", f"/api/cases/{made['case']['id']}/parties", "clerk",
                             json={"person_id": r.json()["id"], "side": "third_party"})
    assert witness.status_code == 201 and len(witness.json()["parties"]) == 3

    p = await api.call("POST", f"/api/hearings/{hearing['id']}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff", "station_id": station.json()["id"]})
    assert p.status_code == 201, p.text
    assert p.json()["status"] == "waiting" and p.json()["token_id"] is None
    _error(await api.call("POST", f"/api/hearings/{hearing['id']}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "witness"}), 409, "duplicate")
    body = _error(await api.call("POST", f"/api/hearings/{hearing['id']}/participants", "clerk", json={
        "person_id": made["defendant"]["id"], "role": "judge"}), 422, "role_not_admitted")
    assert "panel" in body["message"]

    # A deliberation (合议) admits the panel and the clerk only.
    start = datetime.now(UTC) + timedelta(days=1)
    delib = await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": made["case"]["id"], "kind": "deliberation", "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=1)).isoformat(),
        "panel": [api.people["pres"], api.people["judge"]]})
    assert delib.status_code == 201 and delib.json()["recorded"] is False
    body = _error(await api.call("POST", f"/api/hearings/{delib.json()['id']}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff"}), 422, "role_not_admitted")
    assert "deliberation (合议) admits only clerk, judge, presiding_judge" in body["message"]
    assert body["role"] == "plaintiff" and body["kind"] == "deliberation"
    ok = await api.call("POST", f"/api/hearings/{delib.json()['id']}/participants", "clerk", json={
        "person_id": api.people["judge"], "role": "judge"})
    assert ok.status_code == 201, ok.text
    _error(await api.call("POST", "/api/hearings", "clerk", json={
        "case_id": made["case"]["id"], "kind": "deliberation", "scheduled_start": start.isoformat(),
        "scheduled_end": (start + timedelta(hours=1)).isoformat()}), 422, "invalid_request")

    audited = {e.action for e in await api.services.audit.entries(0, 1000)}
    assert {"register.person_created", "register.case_created", "register.hearing_created",
            "register.participant_added", "register.station_created", "register.party_added"} <= audited
    texts = [str(e.details) for e in await api.services.audit.entries(0, 1000)]
    assert not any("钱证人" in t or RESIDENT_ID in t or "005X" in t for t in texts)


async def test_bad_input_is_a_readable_4xx_never_500(api: Api) -> None:
    await api.login("clerk")
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    start = datetime(2026, 6, 1, 9, 0)
    cases = [
        ("POST", "/api/hearings", {"case_id": made["case"]["id"], "kind": "trial",
                                   "scheduled_start": start.isoformat(),
                                   "scheduled_end": (start + timedelta(hours=1)).isoformat()},
         422, "scheduled_start"),
        ("POST", "/api/hearings", {"case_id": made["case"]["id"], "kind": "picnic",
                                   "scheduled_start": "2026-06-01T09:00:00Z", "scheduled_end": "2026-06-01T10:00:00Z"},
         422, "kind"),
        ("POST", "/api/hearings", {"case_id": made["case"]["id"], "kind": "trial",
                                   "scheduled_start": "2026-06-01T10:00:00Z", "scheduled_end": "2026-06-01T09:00:00Z"},
         422, "end after it starts"),
        ("POST", "/api/hearings", {"case_id": "no-such-case", "kind": "trial",
                                   "scheduled_start": "2026-06-01T09:00:00Z", "scheduled_end": "2026-06-01T10:00:00Z"},
         404, "no case"),
        ("POST", "/api/hearings", {"case_id": made["case"]["id"], "kind": "trial", "room_id": "bad room!",
                                   "scheduled_start": "2026-06-01T09:00:00Z", "scheduled_end": "2026-06-01T10:00:00Z"},
         422, "room_id"),
        ("POST", "/api/persons", {"name": "x", "nickname": "y"}, 422, "nickname"),
        ("POST", "/api/persons", {}, 422, "name"),
        ("POST", "/api/persons", {"name": "x", "id_document": "   "}, 422, "identity-document"),
        ("POST", "/api/stations", {"kind": "village", "name": "x", "latitude": 91, "longitude": 0}, 422,
         "not a place on Earth"),
        ("POST", f"/api/hearings/{hid}/participants", {"person_id": made["plaintiff"]["id"], "role": "bailiff"},
         422, "role"),
        ("POST", "/api/hearings/nope/participants", {"person_id": made["plaintiff"]["id"], "role": "plaintiff"},
         404, "no hearing"),
        ("GET", "/api/persons/nope", None, 404, "no person"),
        ("POST", f"/api/hearings/{hid}/procedure", {"transition": "adjourn"}, 422, "transition"),
        ("GET", "/api/stats?since=yesterday", None, 422, "not a date"),
        ("GET", "/api/stats?since=2026-06-01T09:00:00", None, 422, "no time zone"),
        ("GET", "/api/stats?since=2026-06-02&until=2026-06-01", None, 422, "after since"),
    ]
    for method, path, body, status, words in cases:
        r = await api.call(method, path, "clerk", json=body)
        err = _error(r, status)
        assert words in err["message"], (path, body, err)
    r = await api.client.post("/api/persons", content=b"{not json", headers={
        "Authorization": f"Bearer {api.tokens['clerk']}", "Content-Type": "application/json"})
    _error(r, 422, "invalid_request")


# ---- authorisation ------------------------------------------------------------------------------------------


async def test_who_may_do_what(api: Api) -> None:
    for who in ("clerk", "judge", "outsider", "admin", "mediator"):
        await api.login(who)
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    pid = (await api.call("POST", f"/api/hearings/{hid}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff"})).json()["id"]

    body = _error(await api.call("POST", "/api/persons", "judge", json={"name": "x"}), 403, "forbidden")
    assert body["missing_permission"] == "register.write" and "judge" in body["message"]
    assert _error(await api.call("GET", "/api/cases", "judge"), 403)["missing_permission"] == "register.read"
    body = _error(await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "judge"), 403)
    assert body["missing_permission"] == "links.issue"
    assert _error(await api.call("GET", "/api/stats", "mediator"), 403)["missing_permission"] == "stats.view"
    _error(await api.client.post("/api/persons", json={"name": "x"}), 401, "not_authenticated")

    # Judges see their own hearings only; clerks and admins see all.
    assert [h["id"] for h in (await api.call("GET", "/api/hearings", "judge")).json()] == [hid]
    assert (await api.call("GET", "/api/hearings", "outsider")).json() == []
    assert [h["id"] for h in (await api.call("GET", "/api/hearings", "admin")).json()] == [hid]
    assert (await api.call("GET", f"/api/hearings/{hid}", "judge")).json()["your_role"] == "judge"
    body = _error(await api.call("GET", f"/api/hearings/{hid}", "outsider"), 403)
    assert body["missing_permission"] == "hearings.view_all"
    _error(await api.call("GET", f"/api/hearings/{hid}/participants", "outsider"), 403)
    assert len((await api.call("GET", f"/api/hearings/{hid}/participants", "judge")).json()) == 1
    # A mediator on the hearing as a participant sees it.
    await api.call("POST", f"/api/hearings/{hid}/participants", "clerk",
                   json={"person_id": api.people["outsider"], "role": "witness"})
    assert [h["id"] for h in (await api.call("GET", "/api/hearings", "outsider")).json()] == [hid]

    # The admin keeps the register but holds no role in a hearing.
    body = _error(await api.call("POST", f"/api/hearings/{hid}/procedure", "admin",
                                 json={"transition": "open_lobby"}), 403)
    assert body["missing_permission"] == "procedure.change"
    body = _error(await api.call("POST", f"/api/hearings/{hid}/procedure", "outsider",
                                 json={"transition": "open_lobby"}), 403)
    assert body["missing_permission"] == "hearing_role"  # a witness here, not a judge of it


# ---- links --------------------------------------------------------------------------------------------------


async def test_link_issuance(api: Api) -> None:
    await api.login("clerk")
    await api.login("admin")
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    pid = (await api.call("POST", f"/api/hearings/{hid}/participants", "clerk", json={
        "person_id": made["plaintiff"]["id"], "role": "plaintiff"})).json()["id"]
    r = await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk")
    assert r.status_code == 201, r.text
    first = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert first["url"].startswith(f"{api.services.settings.base_url}/join#token=")
    assert first["room_id"] == hid and first["participant_id"] == pid and first["role"] == "plaintiff"
    assert set(first["grants"]) == ROLE_GRANTS[Role.PLAINTIFF]
    claims = api.services.tokens.verify_join(first["url"].split("#token=", 1)[1], hid)
    assert claims.participant_id == pid and claims.jti == first["token_id"] and claims.role == "plaintiff"
    detail = (await api.call("GET", f"/api/hearings/{hid}", "clerk")).json()
    assert detail["room_id"] == hid and detail["participants"][0]["token_id"] == first["token_id"]

    r = await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "admin", json={"ttl_seconds": 900})
    second = r.json()
    assert r.status_code == 201 and second["revoked_token_ids"] == [first["token_id"]]
    assert await api.services.records.is_revoked(first["token_id"])
    assert not await api.services.records.is_revoked(second["token_id"])
    assert (await api.services.court.get_participant(pid)).token_jti == second["token_id"]
    lifetime = datetime.fromisoformat(second["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=890) < lifetime <= timedelta(seconds=900)

    _error(await api.call("POST", f"/api/hearings/{hid}/participants/{pid}/link", "clerk",
                          json={"ttl_seconds": 30}), 422, "invalid_request")
    _error(await api.call("POST", f"/api/hearings/{hid}/participants/nope/link", "clerk"), 404, "not_found")
    issued = [e for e in await api.services.audit.entries(0, 1000) if e.action == "link.issued"]
    assert len(issued) == 2 and all("张原告" not in str(e.details) for e in issued)


# ---- procedure and statistics -------------------------------------------------------------------------------


async def _append_at(api: Api, at: datetime, hearing_id: str, kind: str, source: str, target: str) -> None:
    url = api.services.settings.effective_database_url
    async with transaction(api.services.court.engine, make_url(url), "test append", write=True) as conn:
        await append_in(conn, AuditEvent("p-x", "mediator", "procedure.transition", f"hearing:{hearing_id}",
                                         {"transition": "x", "from": source, "to": target, "kind": kind}), at=at)


async def test_procedure_through_the_api_and_stats(api: Api) -> None:
    for who in ("clerk", "pres", "judge"):
        await api.login(who)
    made = await _case_and_trial(api)
    hid = made["hearing"]["id"]
    await api.call("POST", f"/api/hearings/{hid}/participants", "clerk",
                   json={"person_id": api.people["clerk"], "role": "clerk"})

    async def move(who: str, transition: str) -> httpx.Response:
        return await api.call("POST", f"/api/hearings/{hid}/procedure", who, json={"transition": transition})

    detail = (await api.call("GET", f"/api/hearings/{hid}", "pres")).json()
    assert detail["your_role"] == "presiding_judge" and "open_lobby" in detail["available_transitions"]
    r = await move("clerk", "open_lobby")
    assert r.status_code == 200, r.text
    assert r.json()["acted_as"] == "clerk" and r.json()["to_state"] == "lobby_open"
    body = _error(await move("clerk", "start_session"), 403, "not_permitted")
    assert body["missing_permission"] == "change_procedure_state" and body["acted_as"] == "clerk"
    _error(await move("judge", "start_session"), 403, "not_permitted")  # a panel judge does not lead a trial
    for transition, state in (("start_session", "in_session"), ("recess", "recess"), ("resume", "in_session"),
                              ("close", "closed"), ("seal", "record_sealed")):
        r = await move("pres", transition)
        assert r.status_code == 200 and r.json()["hearing"]["state"] == state, r.text
    _error(await move("pres", "seal"), 409, "terminal")
    moves = [e for e in await api.services.audit.entries(0, 1000) if e.action == "procedure.transition"]
    pres_id = (await api.auth.store.find_staff("pres")).id  # type: ignore[union-attr]
    assert [e.actor_id for e in moves][1:] == [pres_id] * 5 and moves[1].actor_role == "presiding_judge"

    stats = (await api.call("GET", "/api/stats", "judge")).json()
    trial = next(k for k in stats["by_kind"] if k["kind"] == "trial")
    assert trial["hearings_held"] == 1 and trial["label_zh"] == "庭审" and trial["minutes_in_session"] >= 0
    assert stats["hearings_held"] == 1 and len(stats["by_kind"]) == 6

    # A mediation held on 2025-03-01: in session 10:00–10:30 and 10:40–11:00, closed at 11:00, sealed next day.
    day = datetime(2025, 3, 1, tzinfo=UTC)
    for hh, mm, source, target in ((9, 50, "lobby_open", "in_session"), (10, 30, "in_session", "recess"),
                                   (10, 40, "recess", "in_session"), (11, 0, "in_session", "closed")):
        await _append_at(api, day.replace(hour=hh, minute=mm) + timedelta(minutes=10 if hh == 9 else 0), "med-1",
                         "mediation", source, target)
    await _append_at(api, day + timedelta(days=1), "med-1", "mediation", "closed", "record_sealed")
    got = (await api.call("GET", "/api/stats?since=2025-03-01&until=2025-03-01", "clerk")).json()
    by_kind = {k["kind"]: k for k in got["by_kind"]}
    assert by_kind["mediation"]["hearings_held"] == 1 and by_kind["mediation"]["minutes_in_session"] == 50.0
    assert by_kind["trial"]["hearings_held"] == 0 and got["minutes_in_session"] == 50.0
    got = (await api.call("GET", "/api/stats?since=2025-03-01T10:15:00Z&until=2025-03-01T10:50:00%2B00:00",
                          "clerk")).json()
    assert got["minutes_in_session"] == 25.0 and got["hearings_held"] == 0  # 15 + 10 minutes; closed at 11:00
    assert (await api.services.audit.verify()) is None


# ---- OpenAPI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("court_url", ["sqlite"], indirect=True)  # the schema does not depend on the database
async def test_openapi_lists_every_staff_endpoint_with_tags(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    expected = {
        ("post", "/api/login"), ("post", "/api/logout"), ("get", "/api/me"),
        ("post", "/api/persons"), ("get", "/api/persons/{person_id}"), ("post", "/api/persons/search"),
        ("post", "/api/stations"), ("get", "/api/stations"),
        ("post", "/api/cases"), ("get", "/api/cases"), ("get", "/api/cases/{case_id}"),
        ("post", "/api/cases/{case_id}/parties"),
        ("post", "/api/hearings"), ("get", "/api/hearings"), ("get", "/api/hearings/{hearing_id}"),
        ("post", "/api/hearings/{hearing_id}/participants"), ("get", "/api/hearings/{hearing_id}/participants"),
        ("post", "/api/hearings/{hearing_id}/procedure"),
        ("post", "/api/hearings/{hearing_id}/participants/{participant_id}/link"),
        ("post", "/api/hearings/{hearing_id}/my-link"), ("get", "/api/me/seats"),
        ("get", "/api/stats"),
        ("get", "/api/hearings/{hearing_id}/lobby"),
        ("post", "/api/hearings/{hearing_id}/lobby/{participant_id}/admit"),
        ("post", "/api/hearings/{hearing_id}/lobby/{participant_id}/deny"),
        ("get", "/api/hearings/{hearing_id}/recording"),
        ("post", "/api/cases/{case_id}/outcomes"), ("get", "/api/cases/{case_id}/outcomes"),
        ("get", "/api/hearings/{hearing_id}/recording/tracks/{track_id}/segments"),
        ("get", "/api/court-staff"), ("get", "/api/staff-names"), ("get", "/api/audit"),
        ("get", "/api/hearings/{hearing_id}/recording/live"), ("put", "/api/hearings/{hearing_id}/recording/live"),
        ("get", "/api/me/async-inbox"),
    }
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops
             if p.startswith("/api/") and not p.startswith(("/api/rooms/", "/api/points/", "/api/integrity/",
                                                            "/api/clips/", "/api/petitions",
                                                            "/api/stations/", "/api/duty", "/api/shared/",
                                                            "/api/seat-codes/", "/api/links/"))}
    # (in-hearing, points, integrity, clip, petition, stations and short-code routes are checked by their own tests;
    # the short-code ones need no login: the code or the link is the key)
    assert found == expected
    for method, path in expected:
        op = spec["paths"][path][method]
        assert op.get("tags"), (method, path)
        if path != "/api/login":
            assert op.get("security"), (method, path)  # the bearer / cookie schemes are documented
    assert {"HTTPBearer", "APIKeyCookie"} <= set(spec["components"]["securitySchemes"])


# ---- end to end: a link issued here joins through signalling --------------------------------------------------


async def test_issued_links_join_the_hearing_room(court_url: str, tmp_path: Path) -> None:
    from docket.staff_sql import SqlStaffStore
    from tests.live import live_server

    async with live_server(tmp_path, media_enabled=False, database_url=court_url) as server:
        services = server.services
        setup = StaffAuth(SqlStaffStore(services.court.engine), services.audit, hasher=cheap_hasher())
        await setup.create_account("clerk", "李书记员", ["clerk"], PASSWORD)
        judge = await services.court.create_person(NewPerson("王审判长"))
        await setup.create_account("pres", "王审判长", ["presiding_judge"], PASSWORD, person_id=judge.id)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            token = (await http.post("/api/login", json={"username": "clerk", "password": PASSWORD})).json()["token"]
            http.headers["Authorization"] = f"Bearer {token}"
            http.cookies.clear()
            plaintiff = (await http.post("/api/persons", json={"name": "张原告"})).json()
            case = (await http.post("/api/cases", json={"case_number": "(2026)示例民初9号", "cause": "debt"})).json()
            start = datetime.now(UTC)
            hearing = (await http.post("/api/hearings", json={
                "case_id": case["id"], "kind": "trial", "scheduled_start": start.isoformat(),
                "scheduled_end": (start + timedelta(hours=1)).isoformat(), "panel": [judge.id]})).json()
            hid = hearing["id"]
            links = {}
            pid = (await http.post(f"/api/hearings/{hid}/participants",
                                   json={"person_id": plaintiff["id"], "role": "plaintiff"})).json()["id"]
            links["plaintiff"] = (pid, (await http.post(f"/api/hearings/{hid}/participants/{pid}/link")).json())
            async with httpx.AsyncClient(base_url=server.base, timeout=30) as own:  # the judge's own login
                login = await own.post("/api/login", json={"username": "pres", "password": PASSWORD})
                own.cookies.clear()
                own.headers["Authorization"] = f"Bearer {login.json()['token']}"
                mine = (await own.post(f"/api/hearings/{hid}/my-link")).json()
                links["presiding_judge"] = (mine["participant_id"], mine)
            old = links["plaintiff"][1]["url"].split("#token=")[1]
            live = await server.client(hid, old)  # connected with the link about to be withdrawn
            await live.expect("joined")
            newer = (await http.post(f"/api/hearings/{hid}/participants/{links['plaintiff'][0]}/link")).json()
            code, reason = await live.wait_closed()  # withdrawn now, not only for the next join
            assert code == 4005 and "withdrawn" in reason

        presiding = await server.client(hid, links["presiding_judge"][1]["url"].split("#token=")[1])
        joined = await presiding.expect("joined")
        assert joined["participant"]["id"] == links["presiding_judge"][0] and joined["room_id"] == hid
        replaced = await server.client(hid, old)
        code, _ = await replaced.wait_closed()
        assert code is not None and code >= 4000
        party = await server.client(hid, newer["url"].split("#token=")[1])
        assert (await party.expect("joined"))["participant"]["id"] == links["plaintiff"][0]
        for c in (presiding, replaced, party):
            await c.close()
