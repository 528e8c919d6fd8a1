"""The in-hearing HTTP API and the lobby: nobody waiting sees or changes the hearing's content; the clerk's identity
confirmation for signing is real (recorded by the clerk, bound to signer and hearing, single use); the hearing's
re-verification rule has a route. On a live server (SQLite), with the real lobby over signalling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hearing.roles import Role
from tests.court import Seated, room_api, seat_hearing
from tests.live import Client, LiveServer, live_server
from tests.test_exhibits_core import make_pdf

pytestmark = pytest.mark.timeout(180)

PEOPLE = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
          "defendant": Role.DEFENDANT, "witness": Role.WITNESS}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s



async def join(server: LiveServer, seated: Seated, label: str) -> tuple[Client, dict[str, Any]]:
    client = await server.client(seated.room, seated[label].token)
    return client, await client.expect("joined")


async def admit(judge: Client, participant_id: str, waiting: Client) -> None:
    """The real lobby: the presiding judge checks identity and admits; the waiting person is placed in the room."""
    await judge.send({"type": "admit", "participant_id": participant_id, "verification": "id_card_on_video"})
    await waiting.expect("placed", place="room")


async def content_requests(client: httpx.AsyncClient, exhibit_id: str) -> dict[str, httpx.Response]:
    """Every in-hearing route that shows or changes the hearing's content."""
    pdf = make_pdf(1)
    return {
        "transcript": await client.get("/transcript"),
        "transcript.pdf": await client.get("/transcript.pdf"),
        "list": await client.get("/exhibits"),
        "view": await client.get(f"/exhibits/{exhibit_id}/view"),
        "opinions": await client.get(f"/exhibits/{exhibit_id}/opinions"),
        "opinion": await client.post(f"/exhibits/{exhibit_id}/opinion", json={"stance": "object"}),
        "upload": await client.post("/exhibits", files={"file": ("x.pdf", pdf, "application/pdf")}),
        "present": await client.post("/presentation", json={"exhibit_id": exhibit_id, "page": 1}),
        "sign": await client.post("/transcript/sign", json={"sha256": "0" * 64, "method": "id_document"}),
    }


async def test_waiting_party_and_witness_are_refused_until_admitted(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    async with room_api(server, seated, "judge") as judge, room_api(server, seated, "clerk") as clerk, \
            room_api(server, seated, "plaintiff") as plaintiff, room_api(server, seated, "witness") as witness:
        # Court staff never wait: their links work before they have even joined the room.
        r = await judge.post("/exhibits", files={"file": ("借条.pdf", make_pdf(2), "application/pdf")})
        assert r.status_code == 201, r.text
        exhibit_id = r.json()["id"]
        assert (await judge.post("/presentation", json={"exhibit_id": exhibit_id, "page": 1})).status_code == 204
        r = await clerk.put("/transcript", json={"text": "审判长：现在开庭。", "base_version": 0})
        assert r.status_code == 200, r.text

        judge_ws, _ = await join(server, seated, "judge")
        party_ws, joined = await join(server, seated, "plaintiff")
        witness_ws, wjoined = await join(server, seated, "witness")
        assert joined["participant"]["place"] == "lobby" and wjoined["participant"]["place"] == "lobby"

        # Waiting in the lobby / apart: every content route is a 403 saying to wait for the court.
        for who, client, words in ((plaintiff, plaintiff, "lobby"), (witness, witness, "witnesses wait apart")):
            answers = await content_requests(client, exhibit_id)
            for route, r in answers.items():
                assert r.status_code == 403, (route, r.text)
                body = r.json()
                assert body["error"] == "not_admitted", (route, body)
                assert words in body["message"] and "wait for the court to admit you" in body["message"]
            del who

        # Admitted through the real lobby, the party has what the policy gives a party in session.
        await admit(judge_ws, seated["plaintiff"].participant_id, party_ws)
        assert (await plaintiff.get("/transcript")).json()["text"] == "审判长：现在开庭。"
        assert [e["id"] for e in (await plaintiff.get("/exhibits")).json()] == [exhibit_id]
        assert (await plaintiff.get(f"/exhibits/{exhibit_id}/view")).status_code == 200
        assert (await plaintiff.get(f"/exhibits/{exhibit_id}/opinions")).status_code == 200
        r = await plaintiff.post(f"/exhibits/{exhibit_id}/opinion", json={"stance": "object"})
        assert r.status_code == 201, r.text
        r = await plaintiff.post("/exhibits", files={"file": ("合同.pdf", make_pdf(1), "application/pdf")})
        assert r.status_code == 201, r.text
        assert (await plaintiff.post("/presentation", json={"exhibit_id": exhibit_id, "page": 2})).status_code == 204
        assert (await plaintiff.get("/transcript.pdf")).status_code == 200

        # A called witness follows the hearing: the transcript, and only the exhibit on screen; the policy gives a
        # witness no uploads, presenting or opinions.
        await admit(judge_ws, seated["witness"].participant_id, witness_ws)
        # Admitted while it is presented, the witness is told what is on screen (not only those joining straight in).
        shown = await witness_ws.expect("exhibit-presented")
        assert (shown["exhibit_id"], shown["page"]) == (exhibit_id, 2)
        assert (await witness.get("/transcript")).status_code == 200
        assert [e["id"] for e in (await witness.get("/exhibits")).json()] == [exhibit_id]
        assert (await witness.get(f"/exhibits/{exhibit_id}/view")).status_code == 200
        other = (await plaintiff.get("/exhibits")).json()[1]["id"]
        r = await witness.get(f"/exhibits/{other}/view")
        assert r.status_code == 403 and r.json()["error"] == "not_permitted"
        r = await witness.get(f"/exhibits/{other}/opinions")
        assert r.status_code == 403 and r.json()["error"] == "not_permitted"
        for r in (await witness.post("/exhibits", files={"file": ("w.pdf", make_pdf(1), "application/pdf")}),
                  await witness.post("/presentation", json={"exhibit_id": None}),
                  await witness.post(f"/exhibits/{exhibit_id}/opinion", json={"stance": "agree"})):
            assert r.status_code == 403 and r.json()["error"] == "not_permitted", r.text

        # After testifying the witness is sent back: the content closes again.
        await judge_ws.send({"type": "send-to-lobby", "participant_id": seated["witness"].participant_id})
        await witness_ws.expect("placed", place="lobby")
        r = await witness.get("/transcript")
        assert r.status_code == 403 and r.json()["error"] == "not_admitted"
        for c in (judge_ws, party_ws, witness_ws):
            await c.close()
    assert await server.services.audit.verify() is None


async def test_admitted_people_read_and_sign_after_the_close_and_the_never_admitted_do_not(
        server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    judge_ws, _ = await join(server, seated, "judge")
    clerk_ws, _ = await join(server, seated, "clerk")
    party_ws, _ = await join(server, seated, "plaintiff")
    await admit(judge_ws, seated["plaintiff"].participant_id, party_ws)
    defendant_ws, _ = await join(server, seated, "defendant")  # waits in the lobby to the end
    async with room_api(server, seated, "clerk") as clerk, room_api(server, seated, "plaintiff") as plaintiff, \
            room_api(server, seated, "defendant") as defendant:
        text = "审判长：现在开庭。\n审判长：现在闭庭。"
        assert (await clerk.put("/transcript", json={"text": text, "base_version": 0})).status_code == 200
        # Confirmed on video while in session; the never-admitted defendant cannot be.
        r = await clerk.post("/transcript/confirmations", json={"participant_id": seated["plaintiff"].participant_id})
        assert r.status_code == 201, r.text
        r = await clerk.post("/transcript/confirmations", json={"participant_id": seated["defendant"].participant_id})
        assert r.status_code == 403 and r.json()["error"] == "not_admitted"
        await judge_ws.send({"type": "procedure", "transition": "close"})
        await party_ws.expect("room-state", state="closed")

        record = await server.services.court.get_participant(seated["plaintiff"].participant_id)
        assert record.status.value == "admitted"  # closing sends nobody back to the lobby
        read = (await plaintiff.get("/transcript")).json()
        assert read["text"] == text and seated["plaintiff"].participant_id in read["pending"]
        assert seated["defendant"].participant_id not in read["pending"]  # never admitted: does not sign
        r = await plaintiff.post("/transcript/sign", json={"sha256": read["sha256"], "method": "staff_confirmed"})
        assert r.status_code == 201, r.text
        assert (await plaintiff.get("/transcript.pdf")).content.startswith(b"%PDF")

        for r in (await defendant.get("/transcript"),
                  await defendant.post("/transcript/sign", json={"sha256": read["sha256"], "method": "none"})):
            assert r.status_code == 403 and r.json()["error"] == "not_admitted"
    for c in (judge_ws, clerk_ws, party_ws, defendant_ws):
        await c.close()


async def test_the_clerks_confirmation_is_recorded_bound_and_single_use(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    judge_ws, _ = await join(server, seated, "judge")
    party_ws, _ = await join(server, seated, "plaintiff")
    await admit(judge_ws, seated["plaintiff"].participant_id, party_ws)
    plaintiff_id = seated["plaintiff"].participant_id
    async with room_api(server, seated, "clerk") as clerk, room_api(server, seated, "judge") as judge, \
            room_api(server, seated, "plaintiff") as plaintiff:
        assert (await clerk.put("/transcript", json={"text": "笔录正文", "base_version": 0})).status_code == 200
        # The clerk must be in the room, seeing the signer; nobody but the clerk confirms; nobody confirms themself.
        r = await clerk.post("/transcript/confirmations", json={"participant_id": plaintiff_id})
        assert r.status_code == 403 and r.json()["error"] == "not_admitted"  # the clerk has not come in yet
        assert "join the hearing room" in r.json()["message"]
        clerk_ws, _ = await join(server, seated, "clerk")
        await party_ws.close()
        r = await clerk.post("/transcript/confirmations", json={"participant_id": plaintiff_id})
        assert r.status_code == 409 and r.json()["error"] == "not_present"
        party_ws, back = await join(server, seated, "plaintiff")
        assert back["participant"]["place"] == "room"  # admitted already
        r = await judge.post("/transcript/confirmations", json={"participant_id": plaintiff_id})
        assert r.status_code == 403 and r.json()["error"] == "not_permitted"
        r = await plaintiff.post("/transcript/confirmations",
                                 json={"participant_id": seated["clerk"].participant_id})
        assert r.status_code == 403 and r.json()["error"] == "not_permitted"
        r = await clerk.post("/transcript/confirmations", json={"participant_id": seated["clerk"].participant_id})
        assert r.status_code == 403 and r.json()["error"] == "bad_confirmer"
        r = await clerk.post("/transcript/confirmations", json={"participant_id": "no-such-participant"})
        assert r.status_code == 404

        # Confirmed while in session (seen on video before the close); signed after it.
        r = await clerk.post("/transcript/confirmations", json={"participant_id": plaintiff_id})
        assert r.status_code == 201, r.text
        given = r.json()
        assert (given["participant_id"], given["confirmed_by"]) == (plaintiff_id, seated["clerk"].participant_id)
        await judge_ws.send({"type": "procedure", "transition": "close"})
        await party_ws.expect("room-state", state="closed")
        current = (await plaintiff.get("/transcript")).json()
        assert [c["participant_id"] for c in current["confirmations"]] == [plaintiff_id]
        # Naming someone else as the confirming clerk is refused, even though a confirmation exists.
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed",
                                                           "confirmed_by": seated["judge"].participant_id})
        assert r.status_code == 403 and r.json()["error"] == "bad_confirmer"
        r = await plaintiff.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed"})
        assert r.status_code == 201, r.text
        assert r.json()["method"] == "staff_confirmed"
        assert (await plaintiff.get("/transcript")).json()["confirmations"] == []  # used up
        # The clerk signs too, confirmed by nobody else: the clerk's own record of themself does not exist.
        r = await clerk.post("/transcript/sign", json={"sha256": current["sha256"], "method": "staff_confirmed"})
        assert r.status_code == 403 and r.json()["error"] == "not_confirmed"
        await clerk_ws.close()
    actions = [e.action for e in await server.services.audit.entries(limit=1000)]
    assert actions.count("transcript.identity_confirmed") == 1 and actions.count("transcript.signed") == 1
    signed = next(e for e in await server.services.audit.entries(limit=1000) if e.action == "transcript.signed")
    assert signed.details["confirmed_by"] == seated["clerk"].participant_id and signed.details["confirmation_id"]
    for c in (judge_ws, party_ws):
        await c.close()


async def test_the_reverification_rule_is_set_by_the_clerk_or_presiding_judge(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", PEOPLE, state="in_session")
    judge_ws, _ = await join(server, seated, "judge")
    party_ws, _ = await join(server, seated, "plaintiff")
    await admit(judge_ws, seated["plaintiff"].participant_id, party_ws)
    async with room_api(server, seated, "clerk") as clerk, room_api(server, seated, "judge") as judge, \
            room_api(server, seated, "plaintiff") as plaintiff:
        r = await plaintiff.put("/transcript/reverification", json={"roles": []})
        assert r.status_code == 403 and r.json()["error"] == "not_permitted"
        r = await clerk.put("/transcript/reverification", json={"roles": ["observer"]})
        assert r.status_code == 422 and r.json()["error"] == "not_a_signer"
        r = await clerk.put("/transcript/reverification", json={"roles": ["defendant", "witness"]})
        assert r.status_code == 200 and r.json() == {"roles": ["defendant", "witness"], "default": False}
        r = await judge.put("/transcript/reverification", json={"roles": None})
        assert r.status_code == 200 and r.json()["default"] and "plaintiff" in r.json()["roles"]
        r = await judge.put("/transcript/reverification", json={"roles": ["witness"]})
        assert r.status_code == 200
        assert (await plaintiff.get("/transcript")).json()["reverify_roles"] == ["witness"]

        assert (await clerk.put("/transcript", json={"text": "笔录", "base_version": 0})).status_code == 200
        await judge_ws.send({"type": "procedure", "transition": "close"})
        await party_ws.expect("room-state", state="closed")
        sha = (await plaintiff.get("/transcript")).json()["sha256"]
        r = await plaintiff.post("/transcript/sign", json={"sha256": sha, "method": "none"})
        assert r.status_code == 201, r.text  # the plaintiff no longer has to re-verify in this hearing
        r = await clerk.put("/transcript/reverification", json={"roles": None})
        assert r.status_code == 409 and r.json()["error"] == "frozen"
    actions = [e.action for e in await server.services.audit.entries(limit=1000)]
    assert actions.count("transcript.reverification_set") == 3
    for c in (judge_ws, party_ws):
        await c.close()
