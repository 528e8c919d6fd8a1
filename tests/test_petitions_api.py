"""The petitions HTTP API on a real app (create_app with real services) on SQLite and PostgreSQL, driven with httpx
over ASGI: filing with a recorded clip and photos, the citizen's access, triage, contact, reply, rating, reopen,
the board with its lights, rates and CSV, typed errors."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app.factory import create_app
from app.services import Services, build_services, start_services, stop_services
from app.settings import load_settings
from docket.audit import SqlAuditLog
from docket.court import NewStation, StationKind
from recordings.clips import ClipActor, ClipService
from stations.store_sql import SqlStations
from stations.vocab import CallState
from tests.clip_files import make_clip
from tests.conftest import free_port
from tests.court import error, log_in_staff

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


@dataclass
class Env:
    services: Services
    client: httpx.AsyncClient
    clips: ClipService
    staff: dict[str, str] = field(default_factory=dict)  # username → session token
    ids: dict[str, str] = field(default_factory=dict)  # username → account id

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff[username]}"}

    async def clip(self, owner: str) -> str:
        """A clip through the shared clip mechanism (the browser uses its HTTP routes: tests/test_web_petitions)."""
        data = make_clip(seconds=1.0)
        actor = ClipActor(owner, "citizen", "citizen")
        upload = await self.clips.create_upload(actor, "petition", size=len(data), content_type="video/webm",
                                                sha256=hashlib.sha256(data).hexdigest())

        async def body() -> AsyncIterator[bytes]:
            yield data

        await self.clips.append(upload.id, owner, 0, len(data), body())
        return (await self.clips.complete(upload.id, actor)).id


@pytest.fixture
async def env(tmp_path: Path, court_url: str) -> AsyncIterator[Env]:
    settings = load_settings(
        HEARING_PORT=free_port(), HEARING_VAR_DIR=tmp_path / "var", HEARING_TOKEN_SECRET="test-secret-" + "x" * 32,
        hearing_env="test", database_url=court_url, redis_url="", s3_endpoint="", media_enabled=False,
    )
    services = build_services(settings)
    await start_services(services)
    app = create_app(settings, services)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    e = Env(services, client, ClipService(services.court.engine, services.court.url, services.objects))
    logins = await log_in_staff(app.state.staff_auth, client, (
        ("clerk", "clerk"), ("judge", "judge"), ("other", "judge"), ("boss", "presiding_judge")))
    e.staff = {name: login.token for name, login in logins.items()}
    e.ids = {name: login.account_id for name, login in logins.items()}
    try:
        yield e
    finally:
        await client.aclose()
        await stop_services(services)



async def _file(env: Env, **fields: Any) -> dict[str, Any]:
    session = (await env.client.post("/api/petitions/filing-sessions")).json()["token"]
    clip_ids = fields.pop("clip_ids", None)
    if clip_ids == "record":
        draft = jwt.decode(session, options={"verify_signature": False})["sub"]
        clip_ids = [await env.clip(f"petition-filing:{draft}")]
    body = {"category": "enforcement", "description": "执行款三个月没有到账", "contact_name": "王五",
            "contact_phone": "13900001111", "clip_ids": clip_ids or [], **fields}
    r = await env.client.post("/api/petitions", json=body, headers={"X-Petition-Filing": session})
    assert r.status_code == 201, r.text
    return r.json()


async def test_citizen_files_with_a_clip_and_follows_it_to_the_end(env: Env) -> None:
    filed = await _file(env, clip_ids="record")
    assert filed["number"].startswith("20") and len(filed["status_code"]) == 12
    citizen = {"X-Petition-Access": filed["access"]}
    me = filed["petition"]
    assert me["status"] == "filed" and me["klass"] == "personal" and me["working_days"] == 3
    assert [a["kind"] for a in me["attachments"]] == ["clip"]
    assert "contact_phone" not in me and "events" not in me  # the citizen's view holds no staff-only fields

    # the number and code open it again, as typed by a person
    r = await env.client.post("/api/petitions/lookup", json={"number": filed["number"],
                                                            "code": filed["status_code"].lower().replace("-", " ")})
    assert r.status_code == 200, r.text
    error(await env.client.post("/api/petitions/lookup", json={"number": filed["number"], "code": "AAAAA-AAAAAA"}),
           404, "petition_not_found")

    # the clerk sees it in the queue and on the board, assigns it
    queue = (await env.client.get("/api/petitions/queue", headers=env.as_("clerk"))).json()
    [row] = [q for q in queue if q["number"] == filed["number"]]
    pid = row["id"]
    assert row["light"] == "grey"
    error(await env.client.post(f"/api/petitions/{pid}/triage", json={"handler_id": env.ids["judge"],
                                                                      "handler_kind": "judge"},
                                 headers=env.as_("judge")), 403, "forbidden")
    r = await env.client.post(f"/api/petitions/{pid}/triage", json={"handler_id": env.ids["judge"],
                                                                   "handler_kind": "judge"}, headers=env.as_("clerk"))
    assert r.status_code == 200 and r.json()["status"] == "assigned", r.text
    [notice] = (await env.client.get("/api/petitions/inbox", headers=env.as_("judge"))).json()["notifications"]
    assert notice["code"] == "petition.assigned" and notice["params"]["petition_no"] == filed["number"]
    assert (await env.client.post("/api/petitions/inbox/read", headers=env.as_("judge"))).json() == {"read": 1}
    error(await env.client.post(f"/api/petitions/{pid}/class", json={"klass": "urgent", "reason": " "},
                                 headers=env.as_("clerk")), 422, "reason_required")

    # the handler plays the clip (audited), contacts the citizen, replies
    view = (await env.client.get(f"/api/petitions/{pid}", headers=env.as_("judge"))).json()
    att = view["attachments"][0]
    r = await env.client.get(f"/api/petitions/{pid}/attachments/{att['id']}", headers=env.as_("judge"))
    assert r.status_code == 200 and r.json()["media_type"] == "video/webm", r.text
    played = await env.client.get(r.json()["url"])
    assert played.status_code == 200 and hashlib.sha256(played.content).hexdigest() == att["sha256"]
    error(await env.client.get(f"/api/petitions/{pid}", headers=env.as_("other")), 404, "petition_not_found")
    error(await env.client.post(f"/api/petitions/{pid}/reply", json={"outcome": "resolved", "resolution": "x",
                                                                     "reply_text": "y"}, headers=env.as_("judge")),
           409, "wrong_state")  # contact the citizen first
    error(await env.client.post(f"/api/petitions/{pid}/contacts", json={"channel": "phone", "note": "hi"},
                                 headers=env.as_("other")), 403, "not_your_petition")
    r = await env.client.post(f"/api/petitions/{pid}/contacts", json={"channel": "phone", "note": "已电话联系"},
                              headers=env.as_("judge"))
    assert r.status_code == 200 and r.json()["status"] == "contacted", r.text
    reply_clip = await env.clip(f"staff:{env.ids['judge']}")
    r = await env.client.post(f"/api/petitions/{pid}/reply", json={
        "outcome": "resolved", "resolution": "执行款已发放", "reply_clip_id": reply_clip}, headers=env.as_("judge"))
    assert r.status_code == 200 and r.json()["light"] == "blue", r.text

    # the citizen sees the reply, plays the reply clip, rates, reopens once
    me = (await env.client.get("/api/petitions/mine", headers=citizen)).json()
    assert me["status"] == "replied" and me["resolution"] == "执行款已发放" and me["may_rate"] and me["may_reopen"]
    reply_att = next(a for a in me["attachments"] if a["role"] == "reply")
    r = await env.client.get(f"/api/petitions/mine/attachments/{reply_att['id']}", headers=citizen)
    assert r.status_code == 200, r.text
    error(await env.client.post("/api/petitions/mine/rating", json={"rating": "great"}, headers=citizen),
           422, "invalid_request")
    r = await env.client.post("/api/petitions/mine/rating", json={"rating": "basically"}, headers=citizen)
    assert r.status_code == 200 and r.json()["rating"] == "basically"
    error(await env.client.post("/api/petitions/mine/rating", json={"rating": "satisfied"}, headers=citizen),
           409, "wrong_state")
    r = await env.client.post("/api/petitions/mine/reopen", json={"reason": "钱还没到"}, headers=citizen)
    assert r.status_code == 200 and r.json()["status"] == "assigned" and not r.json()["may_reopen"]

    # the board: light, rates, CSV; supervisors and clerks only
    error(await env.client.get("/api/petitions/board", headers=env.as_("judge")), 403, "forbidden")
    board = (await env.client.get("/api/petitions/board", params={"category": "enforcement"},
                                  headers=env.as_("boss"))).json()
    assert [p["number"] for p in board["petitions"]] == [filed["number"]] and board["lights"]["grey"] == 1
    assert (await env.client.get("/api/petitions/board", params={"category": "conduct"},
                                 headers=env.as_("boss"))).json()["petitions"] == []
    rates = (await env.client.get("/api/petitions/board/rates", headers=env.as_("boss"))).json()
    [month] = rates["months"]
    assert month["petitions"] == 1 and month["response"]["denominator"] == 0  # the new cycle is not yet measurable
    assert [h["handler_name"] for h in rates["handlers"]] == ["Judge"]
    r = await env.client.get("/api/petitions/board.csv", headers=env.as_("clerk"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][0] == "编号" and rows[1][0] == filed["number"] and rows[1][2] == "执行"
    assert "13900001111" not in r.text
    error(await env.client.get("/api/petitions/board", params={"due_from": "yesterday"}, headers=env.as_("boss")),
           422, "invalid_request")

    audit = SqlAuditLog(env.services.court.engine, env.services.court.url)
    actions = [e.action for e in await audit.entries(limit=1000) if e.subject == f"petition:{pid}"]
    assert actions == ["petition.filed", "petition.triage", "petition.attachment_viewed", "petition.contact",
                       "petition.reply", "petition.attachment_viewed", "petition.rate", "petition.reopen"]
    assert (await audit.check()).broken is None


async def test_filing_refusals_are_typed_and_file_nothing(env: Env) -> None:
    error(await env.client.post("/api/petitions", json={"category": "enforcement", "contact_name": "a",
                                                         "contact_phone": "123"}), 401, "petition_token_missing")
    session = (await env.client.post("/api/petitions/filing-sessions")).json()["token"]
    headers = {"X-Petition-Filing": session}
    base = {"category": "filing", "description": "立案难", "contact_name": "李四", "contact_phone": "13700000000"}
    error(await env.client.post("/api/petitions", json={**base, "category": "weather"}, headers=headers),
           422, "invalid_request")
    error(await env.client.post("/api/petitions", json={**base, "court": "elsewhere"}, headers=headers),
           422, "court_unknown")
    error(await env.client.post("/api/petitions", json={**base, "contact_phone": "call me"}, headers=headers),
           422, "phone_invalid")
    error(await env.client.post("/api/petitions", content=b"{" + b" " * (70 << 10) + b"}",
                                 headers={**headers, "Content-Type": "application/json"}), 413, "request_too_large")
    # a clip of another filing session is not this petition's
    foreign = await env.clip("petition-filing:someone-else")
    error(await env.client.post("/api/petitions", json={**base, "clip_ids": [foreign]}, headers=headers),
           404, "clip_unknown")
    # photos by multipart: the type is read from the bytes
    form = {k: v for k, v in base.items()}
    r = await env.client.post("/api/petitions", data=form, files=[("photos", ("a.png", b"GIF89a" + b"0" * 50))],
                              headers=headers)
    error(r, 415, "photo_unsupported")
    assert (await env.client.get("/api/petitions/board", headers=env.as_("clerk"))).json()["petitions"] == []
    r = await env.client.post("/api/petitions", data=form, files=[("photos", ("a.png", PNG))], headers=headers)
    assert r.status_code == 201, r.text
    assert [a["media_type"] for a in r.json()["petition"]["attachments"]] == ["image/png"]
    error(await env.client.get("/api/petitions/mine", headers={"X-Petition-Access": session}), 401,
           "petition_token_invalid")  # a filing token is not an access token


async def test_meta_pages_and_openapi(env: Env) -> None:
    meta = (await env.client.get("/api/petitions/meta")).json()
    assert {c["code"]: c["working_days"] for c in meta["categories"]}["safety"] == 1
    assert meta["courts"] == [{"code": "main", "name": "本院"}]
    for path in ("/petitions", "/petitions/staff"):
        r = await env.client.get(path)
        assert r.status_code == 200 and 'lang="zh-CN"' in r.text
    assert "/api/petitions/board" in (await env.client.get("/openapi.json")).json()["paths"]


async def test_a_station_operator_files_for_a_citizen_with_their_own_clip(env: Env) -> None:
    station = await env.services.court.create_station(NewStation(StationKind.VILLAGE, "示例村服务站"))
    clip = await env.clip(f"staff:{env.ids['clerk']}")
    court = env.services.court
    call = await SqlStations(court.engine, court.url).create_call(  # type: ignore[attr-defined]
        court_code="main", station_id=station.id, requested_by=env.ids["clerk"], actor_role="staff",
        caller_name="钱六", verification_method="id_card_at_station", category="mediation", summary="邻里纠纷",
        state=CallState.ENDED, reason=None, now=datetime.now(UTC))
    body = {"category": "dispute", "description": "邻里纠纷", "contact_name": "钱六", "contact_phone": "13600000000",
            "clip_ids": [clip], "station_id": station.id, "source_call_id": call.id}
    r = await env.client.post("/api/petitions", json=body, headers=env.as_("clerk"))
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    [row] = [q for q in (await env.client.get("/api/petitions/queue", headers=env.as_("clerk"))).json()
             if q["number"] == number]
    view = (await env.client.get(f"/api/petitions/{row['id']}", headers=env.as_("clerk"))).json()
    assert (view["filed_by"], view["station_id"], view["source_call_id"]) == ("staff", station.id, call.id)
    assert view["klass"] == "complex" and [a["kind"] for a in view["attachments"]] == ["clip"]
    # a clip another staff member uploaded is not theirs to attach
    other_clip = await env.clip(f"staff:{env.ids['judge']}")
    error(await env.client.post("/api/petitions", json={**body, "clip_ids": [other_clip]}, headers=env.as_("clerk")),
           404, "clip_unknown")
    # at a station PC the operator is logged in while the citizen's page files with its session's clip
    session = (await env.client.post("/api/petitions/filing-sessions")).json()["token"]
    draft = jwt.decode(session, options={"verify_signature": False})["sub"]
    citizen_clip = await env.clip(f"petition-filing:{draft}")
    r = await env.client.post("/api/petitions", json={**body, "clip_ids": [citizen_clip]},
                              headers={**env.as_("clerk"), "X-Petition-Filing": session})
    assert r.status_code == 201, r.text
    r = await env.client.post("/api/petitions", json={**body, "clip_ids": []},
                              headers={"Authorization": "Bearer hs_stale", "X-Petition-Filing": session})
    assert r.status_code == 201, r.text  # a stale operator session does not stop the citizen
    r = await env.client.post(f"/api/petitions/{row['id']}/link", headers=env.as_("clerk"))
    assert r.status_code == 201 and "/petitions#access=" in r.json()["url"]
    access = r.json()["url"].split("#access=")[1]
    mine = (await env.client.get("/api/petitions/mine", headers={"X-Petition-Access": access})).json()
    assert mine["number"] == number
