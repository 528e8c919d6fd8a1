"""Exhibits and the transcript over HTTP, authenticated by each participant's own link, on a live server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hearing.roles import Role
from tests.court import Seated, room_api, seat_hearing
from tests.live import LiveServer, live_server
from tests.test_exhibits_core import EXE, make_pdf

pytestmark = pytest.mark.timeout(120)

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
          "defendant": Role.DEFENDANT, "observer": Role.OBSERVER}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s



async def admit_all(server: LiveServer, seated: Seated, *labels: str) -> None:
    """Parties in the register as admitted (the lobby itself is tested in test_courtroom)."""
    from docket.court import ParticipantStatus

    for label in labels:
        await server.services.court.set_participant_status(seated[label].participant_id, ParticipantStatus.ADMITTED)


async def test_links_authenticate_and_strangers_are_refused(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    other = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    async with room_api(server, seated, None) as anon:
        r = await anon.get("/exhibits")
        assert r.status_code == 401 and "Bearer" in r.json()["message"]
    async with httpx.AsyncClient(base_url=f"{server.base}/api/rooms/{seated.room}", timeout=30,
                                 headers={"Authorization": f"Bearer {other['plaintiff'].token}"}) as wrong:
        r = await wrong.get("/exhibits")
        assert r.status_code == 401 and r.json()["error"] == "token_refused"  # a link for another room
    async with room_api(server, seated, "plaintiff") as me:
        r = await me.get("/exhibits")  # a valid link, but still in the lobby
        assert r.status_code == 403 and r.json()["error"] == "not_admitted"
        await admit_all(server, seated, "plaintiff")
        assert (await me.get("/exhibits")).json() == []


async def test_exhibits_upload_present_view_and_opinions(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    await admit_all(server, seated, "plaintiff", "defendant", "observer")
    judge_ws = await server.client(seated.room, seated["judge"].token)
    await judge_ws.expect("joined")
    pdf = make_pdf(3)
    async with room_api(server, seated, "plaintiff") as plaintiff, room_api(server, seated, "defendant") as defendant, \
            room_api(server, seated, "observer") as observer, room_api(server, seated, "judge") as judge:
        r = await plaintiff.post("/exhibits", files={"file": ("合同.pdf", pdf, "application/pdf")})
        assert r.status_code == 201, r.text
        exhibit = r.json()
        assert (exhibit["page_count"], exhibit["sha256"]) == (3, hashlib.sha256(pdf).hexdigest())
        r = await plaintiff.post("/exhibits", files={"file": ("evidence.pdf", EXE, "application/pdf")})
        assert r.status_code == 415 and r.json()["message"]
        r = await observer.post("/exhibits", files={"file": ("x.pdf", pdf, "application/pdf")})
        assert r.status_code == 403

        r = await judge.post("/presentation", json={"exhibit_id": exhibit["id"], "page": 2})
        assert r.status_code == 204, r.text
        shown = await judge_ws.expect("exhibit-presented")
        assert (shown["exhibit_id"], shown["page"], shown["page_count"]) == (exhibit["id"], 2, 3)
        r = await judge.post("/presentation", json={"exhibit_id": exhibit["id"], "page": 9})
        assert r.status_code == 422
        late = await server.client(seated.room, seated["clerk"].token)  # comes in later: sees the same page
        assert (await late.expect("exhibit-presented"))["page"] == 2
        await late.close()

        view = await defendant.get(f"/exhibits/{exhibit['id']}/view")
        assert view.status_code == 200, view.text
        async with httpx.AsyncClient(timeout=30) as raw:
            fetched = await raw.get(view.json()["url"])
        assert fetched.content == pdf
        r = await defendant.post(f"/exhibits/{exhibit['id']}/opinion",
                                 json={"stance": "object", "text": "签名不是被告本人所签"})
        assert r.status_code == 201 and r.json()["revision"] == 1
        r = await observer.post(f"/exhibits/{exhibit['id']}/opinion", json={"stance": "agree"})
        assert r.status_code == 403
        r = await defendant.post(f"/exhibits/{exhibit['id']}/opinion", json={"stance": "maybe"})
        assert r.status_code == 422
        opinions = (await judge.get(f"/exhibits/{exhibit['id']}/opinions")).json()
        assert [(o["stance"], o["participant_id"]) for o in opinions] == [
            ("object", seated["defendant"].participant_id)]
    actions = [e.action for e in await server.services.audit.entries(limit=1000)]
    assert {"exhibit.uploaded", "exhibit.viewed", "exhibit.presented", "exhibit.opinion_given"} <= set(actions), actions
    assert await server.services.audit.verify() is None
    await judge_ws.close()


async def test_transcript_autosave_sign_and_pdf(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    await admit_all(server, seated, "plaintiff", "defendant", "clerk")
    party_ws = await server.client(seated.room, seated["plaintiff"].token)
    await party_ws.expect("joined")
    async with room_api(server, seated, "clerk") as clerk, room_api(server, seated, "plaintiff") as plaintiff:
        r = await clerk.put("/transcript", json={"text": "审判长：现在开庭。", "base_version": 0})
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["version"] == 1
        assert (await party_ws.expect("transcript-updated"))["version"] == 1
        r = await clerk.put("/transcript", json={"text": "审判长：现在开庭。\n原告：请求支付货款。", "base_version": 1})
        assert r.json()["version"] == 2
        r = await clerk.put("/transcript", json={"text": "stale edit", "base_version": 1})
        assert r.status_code == 409 and r.json()["latest_version"] == 2
        r = await plaintiff.put("/transcript", json={"text": "原告改写", "base_version": 2})
        assert r.status_code == 403
        current = (await plaintiff.get("/transcript")).json()
        assert "plaintiff" in current["reverify_roles"] and current["confirmations"] == []
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed"})
        assert r.status_code == 409  # the hearing is not closed yet

        # The clerk confirms the party while both are on video, before the close.
        clerk_ws = await server.client(seated.room, seated["clerk"].token)
        await clerk_ws.expect("joined")
        r = await clerk.post("/transcript/confirmations", json={"participant_id": seated["plaintiff"].participant_id})
        assert r.status_code == 201, r.text
        judge = await server.client(seated.room, seated["judge"].token)
        await judge.expect("joined")
        await judge.send({"type": "procedure", "transition": "close"})
        await party_ws.expect("room-state", state="closed")
        # Closed: no video flows any more, so "confirmed by the clerk on video" is refused, with its code.
        r = await clerk.post("/transcript/confirmations", json={"participant_id": seated["plaintiff"].participant_id})
        assert r.status_code == 409 and r.json()["error"] == "no_video_after_close", r.text
        r = await plaintiff.post("/transcript/sign", json={"sha256": "0" * 64, "method": "staff_confirmed"})
        assert r.status_code == 409 and r.json()["error"] == "stale_hash"
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "none"})
        assert r.status_code == 422  # a party must re-verify before signing
        # Naming another participant is no confirmation: only the clerk who confirmed counts.
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed",
                                                           "confirmed_by": seated["judge"].participant_id})
        assert r.status_code == 403 and r.json()["error"] == "bad_confirmer"
        assert (await plaintiff.get("/transcript")).json()["confirmations"][0]["confirmed_by"] == \
            seated["clerk"].participant_id
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed"})
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 2
        await clerk_ws.close()
        r = await clerk.put("/transcript", json={"text": "after signing", "base_version": 2})
        assert r.status_code == 409  # frozen once signed
        pdf = await plaintiff.get("/transcript.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        await judge.close()
    await party_ws.close()


async def test_openapi_documents_the_in_hearing_routes(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
        spec = (await client.get("/openapi.json")).json()
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops  # the asynchronous trial's: its own test
             if p.startswith("/api/rooms/") and not p.startswith("/api/rooms/{room_id}/async")}
    assert found == {
        ("get", "/api/rooms/{room_id}/exhibits"), ("post", "/api/rooms/{room_id}/exhibits"),
        ("get", "/api/rooms/{room_id}/exhibits/{exhibit_id}/view"),
        ("post", "/api/rooms/{room_id}/exhibits/{exhibit_id}/opinion"),
        ("get", "/api/rooms/{room_id}/exhibits/{exhibit_id}/opinions"), ("post", "/api/rooms/{room_id}/presentation"),
        ("get", "/api/rooms/{room_id}/exhibit-views"),
        ("get", "/api/rooms/{room_id}/transcript"), ("put", "/api/rooms/{room_id}/transcript"),
        ("post", "/api/rooms/{room_id}/transcript/sign"), ("get", "/api/rooms/{room_id}/transcript.pdf"),
        ("post", "/api/rooms/{room_id}/transcript/confirmations"),
        ("put", "/api/rooms/{room_id}/transcript/reverification"),
    }
    for path, ops in spec["paths"].items():
        if path.startswith("/api/rooms/"):
            for op in ops.values():
                assert op.get("tags") in (["in the hearing"], ["asynchronous trial"]) and op.get("security"), path
