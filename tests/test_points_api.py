"""The points HTTP API and page on a real app (create_app with real services), driven with httpx over ASGI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.factory import create_app
from app.services import Services, build_services, start_services, stop_services
from app.settings import load_settings
from docket.court import NewPerson
from docket.facts import FactKind, NewFact
from docket.facts_sql import SqlFactRecords
from points.api import PersonTokens
from tests.conftest import free_port
from tests.court import error, log_in_staff


@dataclass
class Env:
    services: Services
    client: httpx.AsyncClient
    tokens: PersonTokens
    facts: SqlFactRecords
    staff: dict[str, str] = field(default_factory=dict)  # username → session token

    async def person(self) -> tuple[str, dict[str, str]]:
        """A registered person and the headers carrying a points token issued for them by the clerk."""
        pid = (await self.services.court.create_person(NewPerson("积分当事人"))).id
        return pid, await self.link(pid)

    async def link(self, pid: str) -> dict[str, str]:
        """Headers carrying a new points token the clerk issued for the person."""
        r = await self.client.post("/api/points/staff/person-tokens", json={"person_id": pid},
                                   headers=self.as_("clerk"))
        assert r.status_code == 201, r.text
        assert r.json()["link"].endswith("/points#t=" + r.json()["token"])
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff[username]}"}

    async def fact(self, person_id: str, kind: FactKind, ref: str | None = None) -> str:
        return (await self.facts.add_fact(NewFact(person_id, kind, date(2026, 5, 1), "court", ref or uuid.uuid4().hex,
                                                  "(2026)民初9号", {"settlement_id": "s1"}))).id


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = load_settings(
        HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", HEARING_TOKEN_SECRET="test-secret-" + "x" * 32,
        hearing_env="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'court.db'}", redis_url="",
        s3_endpoint="", media_enabled=False,
    )
    services = build_services(settings)
    await start_services(services)
    app = create_app(settings, services)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    e = Env(services, client, app.state.points_tokens, SqlFactRecords(services.court.engine, services.court.url))
    logins = await log_in_staff(app.state.staff_auth, client, (
        ("clerk", "clerk"), ("judge", "judge"), ("mediator", "mediator")))
    e.staff = {name: login.token for name, login in logins.items()}
    try:
        yield e
    finally:
        await client.aclose()
        await stop_services(services)



async def test_earn_see_history_and_redeem(env: Env) -> None:
    pid, me = await env.person()
    await env.fact(pid, FactKind.SETTLEMENT_REACHED)
    await env.fact(pid, FactKind.MEDIATION_PARTICIPATION)
    performed = await env.fact(pid, FactKind.SETTLEMENT_PERFORMED)
    r = await env.client.get("/api/points/me", headers=me)
    assert r.status_code == 200 and r.json()["balance"] == 120 and r.json()["person_id"] == pid
    item = (await env.client.post("/api/points/staff/items", json={"name": "保温杯", "price": 50, "stock": 3},
                                  headers=env.as_("clerk"))).json()
    assert [i["id"] for i in (await env.client.get("/api/points/catalogue")).json()] == [item["id"]]

    body = {"item_id": item["id"], "quantity": 2, "idempotency_key": "click-1"}
    first = await env.client.post("/api/points/me/redemptions", json=body, headers=me)
    assert first.status_code == 201 and first.json()["balance_after"] == 20 and not first.json()["replayed"]
    again = await env.client.post("/api/points/me/redemptions", json=body, headers=me)
    assert again.status_code == 200 and again.json()["replayed"]
    assert again.json()["redemption_id"] == first.json()["redemption_id"]
    # Same key, different body: refused, nothing changes.
    error(await env.client.post("/api/points/me/redemptions", json={**body, "quantity": 1}, headers=me),
           409, "idempotency_conflict")
    error(await env.client.post("/api/points/me/redemptions", json={**body, "idempotency_key": "click-2"},
                                 headers=me), 409, "insufficient_points")
    error(await env.client.post("/api/points/me/redemptions", json={**body, "item_id": "nope",
                                                                       "idempotency_key": "click-3"}, headers=me),
           404, "not_found")
    error(await env.client.post("/api/points/me/redemptions", json={**body, "quantity": 0}, headers=me),
           422, "invalid_request")

    history = (await env.client.get("/api/points/me/history", headers=me)).json()
    assert history["balance"] == 20
    assert [(e["reason"], e["points"]) for e in history["entries"]] == [
        ("mediation_participation", 20), ("settlement_performed", 100), ("redemption", -100)]
    assert history["entries"][1]["reference"] == performed and history["entries"][1]["reason_text"]
    assert len((await env.client.get("/api/points/me/redemptions", headers=me)).json()) == 1

    # Void settlement: the credit is taken back by a compensating entry, shown with its reason.
    await env.fact(pid, FactKind.SETTLEMENT_VOID)
    history = (await env.client.get("/api/points/me/history", headers=me)).json()
    assert history["entries"][-1]["reason"] == "settlement_void" and history["balance"] == -80

    totals = (await env.client.get("/api/points/staff/totals", headers=env.as_("judge"))).json()
    assert totals == {"issued": 20, "redeemed": 100, "outstanding": -80, "accounts": 1, "entries": 4,
                      "redemptions": 1, "by_reason": {"mediation_participation": 20, "redemption": -100,
                                                      "settlement_performed": 100, "settlement_void": -100}}


async def test_staff_catalogue_follow_and_permissions(env: Env) -> None:
    pid, me = await env.person()
    await env.fact(pid, FactKind.JUDGMENT_PERFORMED_ON_TIME)
    assert (await env.client.post("/api/points/staff/follow", headers=env.as_("clerk"))).json() == {"facts_read": 1}
    assert (await env.client.get("/api/points/staff/totals", headers=env.as_("clerk"))).json()["issued"] == 50
    r = await env.client.post("/api/points/staff/items", json={"name": "x", "price": 0, "stock": 1},
                              headers=env.as_("clerk"))
    error(r, 422, "invalid_request")
    item = (await env.client.post("/api/points/staff/items", json={"name": "书", "price": 10, "stock": 1},
                                  headers=env.as_("clerk"))).json()
    r = await env.client.patch(f"/api/points/staff/items/{item['id']}", json={"active": False},
                               headers=env.as_("clerk"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await env.client.get("/api/points/catalogue")).json() == []
    error(await env.client.post("/api/points/me/redemptions", headers=me,
                                 json={"item_id": item["id"], "idempotency_key": "k"}), 409, "item_unavailable")
    error(await env.client.patch("/api/points/staff/items/nope", json={"stock": 1}, headers=env.as_("clerk")),
           404, "not_found")
    error(await env.client.post("/api/points/staff/items", json={"name": "x", "price": 1, "stock": 1},
                                 headers=env.as_("mediator")), 403, "forbidden")
    error(await env.client.get("/api/points/staff/totals", headers=env.as_("mediator")), 403, "forbidden")
    error(await env.client.get("/api/points/staff/totals"), 401, "not_authenticated")
    error(await env.client.post("/api/points/staff/person-tokens", json={"person_id": "ghost"},
                                 headers=env.as_("clerk")), 404, "not_found")
    actions = [a.action for a in await env.services.audit.entries(limit=1000)]
    assert {"points.token_issue", "points.item_add", "points.item_update"} <= set(actions)


async def test_person_tokens_are_checked(env: Env) -> None:
    pid, me = await env.person()
    error(await env.client.get("/api/points/me"), 401, "not_authenticated")
    error(await env.client.get("/api/points/me", headers={"Authorization": "Bearer nonsense"}), 401, "token_invalid")
    # A staff session token is not a points token, nor is a token for another audience signed with another key.
    error(await env.client.get("/api/points/me", headers=env.as_("clerk")), 401, "token_invalid")
    other = PersonTokens(b"k" * 32).issue(pid)[0]
    error(await env.client.get("/api/points/me", headers={"Authorization": f"Bearer {other}"}), 401, "token_invalid")
    expired = PersonTokens(env.tokens._key, clock=lambda: datetime.now(UTC) - timedelta(days=30)).issue(pid)[0]
    error(await env.client.get("/api/points/me", headers={"Authorization": f"Bearer {expired}"}), 401,
           "token_expired")
    # Signed with the court's key but never issued through the register (so never revocable): refused.
    ghost = env.tokens.issue("ghost")[0]
    error(await env.client.get("/api/points/me", headers={"Authorization": f"Bearer {ghost}"}), 401, "token_invalid")
    unissued = env.tokens.issue(pid)[0]
    error(await env.client.get("/api/points/me", headers={"Authorization": f"Bearer {unissued}"}), 401,
           "token_invalid")
    assert (await env.client.get("/api/points/me", headers=me)).json()["balance"] == 0


async def test_person_tokens_are_revocable_like_integrity_links(env: Env) -> None:
    pid, first = await env.person()
    second = await env.link(pid)
    assert first != second
    for headers in (first, second):
        assert (await env.client.get("/api/points/me", headers=headers)).status_code == 200
    error(await env.client.post("/api/points/staff/person-tokens/revoke", json={"person_id": pid},
                                 headers=env.as_("mediator")), 403, "forbidden")
    error(await env.client.post("/api/points/staff/person-tokens/revoke", json={"person_id": "ghost"},
                                 headers=env.as_("clerk")), 404, "not_found")
    r = await env.client.post("/api/points/staff/person-tokens/revoke", json={"person_id": pid},
                              headers=env.as_("clerk"))
    assert r.status_code == 200 and r.json() == {"revoked": 2}, r.text
    for headers in (first, second):
        body = error(await env.client.get("/api/points/me", headers=headers), 401, "token_revoked")
        assert "withdrawn" in body["message"]
    again = await env.client.post("/api/points/staff/person-tokens/revoke", json={"person_id": pid},
                                  headers=env.as_("clerk"))
    assert again.json() == {"revoked": 0}
    fresh = await env.link(pid)  # the clerk issues a new one afterwards
    assert (await env.client.get("/api/points/me", headers=fresh)).status_code == 200
    revokes = [e for e in await env.services.audit.entries(limit=1000) if e.action == "points.token_revoke"]
    assert [(e.subject, e.details["revoked"]) for e in revokes] == [(f"person:{pid}", 2)]  # none for the 0


async def test_page_and_openapi(env: Env) -> None:
    r = await env.client.get("/points")
    assert r.status_code == 200 and "/static/points/points.js" in r.text
    assert (await env.client.get("/static/points/points.js")).status_code == 200
    paths = (await env.client.get("/openapi.json")).json()["paths"]
    for path in ("/api/points/me", "/api/points/me/history", "/api/points/catalogue", "/api/points/me/redemptions",
                 "/api/points/staff/items", "/api/points/staff/items/{item_id}", "/api/points/staff/totals",
                 "/api/points/staff/person-tokens", "/api/points/staff/person-tokens/revoke",
                 "/api/points/staff/follow"):
        assert path in paths, path
