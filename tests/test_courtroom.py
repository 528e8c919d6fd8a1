"""The courtroom's rules through real signalling: lobby, admission, judge controls, procedure, refusals.

Every refusal is checked with a hand-crafted message from a client that does not play by the UI's rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from docket.court import ParticipantStatus
from hearing.roles import Role
from signaling.closecodes import CloseCode
from tests.court import Seated, bind_new_link, seat_hearing
from tests.live import Client, LiveServer, live_server

pytestmark = pytest.mark.timeout(120)

TRIAL = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
         "defendant": Role.DEFENDANT, "witness": Role.WITNESS}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s


async def join(server: LiveServer, seated: Seated, label: str) -> tuple[Client, dict[str, Any]]:
    c = await server.client(seated.room, seated[label].token)
    joined = await c.expect("joined")
    return c, joined


async def status(server: LiveServer, seated: Seated, label: str) -> ParticipantStatus:
    return (await server.services.court.get_participant(seated[label].participant_id)).status


async def audit_actions(server: LiveServer) -> list[str]:
    return [e.action for e in await server.services.audit.entries(limit=1000)]


async def test_parties_wait_in_the_lobby_and_staff_see_them(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    party, joined = await join(server, seated, "plaintiff")
    assert joined["participant"]["place"] == "lobby"
    assert joined["participants"] == []  # the lobby sees nobody
    state = await party.expect("room-state")
    assert (state["state"], state["kind"], state["hearing_id"]) == ("lobby_open", "trial", seated.hearing.id)
    perms = await party.expect("permissions")
    assert perms["place"] == "lobby" and perms["actions"] == []
    seen = await judge.expect("participant-joined")
    assert seen["participant"]["id"] == seated["plaintiff"].participant_id
    assert seen["participant"]["place"] == "lobby"
    # A second party in the room would not hear of the waiting one: only staff do.
    await party.send({"type": "offer", "sdp": "v=0\r\n"})
    err = await party.expect("error")
    assert err["code"] == "forbidden" and "lobby" in err["message"]
    judge_perms = next(m for m in judge.seen if m["type"] == "permissions")  # arrived before the lobby news
    assert judge_perms["place"] == "room" and "admit_deny" in judge_perms["actions"]
    assert "start_session" in judge_perms["transitions"]


async def test_admission_needs_an_identity_check_and_then_the_party_sees_the_room(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    party, _ = await join(server, seated, "plaintiff")
    pid = seated["plaintiff"].participant_id
    await judge.expect("participant-joined")
    await judge.send({"type": "admit", "participant_id": pid})
    err = await judge.expect("error")
    assert err["code"] == "conflict" and "identity" in err["message"]
    await judge.send({"type": "admit", "participant_id": pid, "verification": "retina_scan"})
    assert (await judge.expect("error"))["code"] == "bad_message"
    await judge.send({"type": "admit", "participant_id": pid, "verification": "id_card_on_video"})
    placed = await party.expect("placed")
    assert placed["place"] == "room"
    assert [p["id"] for p in placed["participants"]] == [seated["judge"].participant_id]
    perms = await party.expect("permissions", place="room")
    assert {"publish_audio", "publish_video", "subscribe"} <= set(perms["actions"])
    upsert = await judge.expect("participant-joined")
    assert upsert["participant"]["place"] == "room"
    record = await server.services.court.get_participant(pid)
    assert record.status is ParticipantStatus.ADMITTED
    assert record.verification is not None and record.verification.verified_by == seated["judge"].participant_id
    assert {"participant.verified", "participant.admitted"} <= set(await audit_actions(server))
    assert await server.services.audit.verify() is None
    # Once admitted, a reload goes straight back into the room.
    await party.close()
    again, joined = await join(server, seated, "plaintiff")
    assert joined["participant"]["place"] == "room"
    await again.close()


async def test_a_party_cannot_moderate_even_with_hand_crafted_messages(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    clerk, _ = await join(server, seated, "clerk")
    party, _ = await join(server, seated, "plaintiff")
    other, _ = await join(server, seated, "defendant")
    pid, oid = seated["plaintiff"].participant_id, seated["defendant"].participant_id
    # In the lobby: nothing at all.
    for msg in ({"type": "admit", "participant_id": oid, "verification": "known_to_court"},
                {"type": "procedure", "transition": "start_session"}, {"type": "lock", "locked": True}):
        await party.send(msg)
        err = await party.expect("error")
        assert err["code"] == "forbidden", err
    # Admitted into the room: still no moderator actions.
    await clerk.send({"type": "admit", "participant_id": pid, "verification": "id_card_at_station"})
    await party.expect("placed", place="room")
    hand_crafted = [
        {"type": "admit", "participant_id": oid, "verification": "known_to_court"},
        {"type": "deny", "participant_id": oid},
        {"type": "remove", "participant_id": seated["clerk"].participant_id},
        {"type": "send-to-lobby", "participant_id": seated["clerk"].participant_id},
        {"type": "mute-participant", "participant_id": seated["judge"].participant_id, "kind": "audio"},
        {"type": "lock", "locked": True},
        {"type": "procedure", "transition": "start_session"},
        {"type": "procedure", "transition": "seal"},
    ]
    for msg in hand_crafted:
        await party.send(msg)
        err = await party.expect("error")
        assert err["code"] == "forbidden", (msg, err)
    assert await status(server, seated, "defendant") is ParticipantStatus.WAITING
    hearing = await server.services.court.get_hearing(seated.hearing.id)
    assert (hearing.state, hearing.locked) == ("lobby_open", False)
    assert "procedure.refused" in await audit_actions(server)  # trying to move the procedure is itself recorded
    for c in (judge, clerk, party, other):
        await c.close()


async def test_deny_and_remove_end_the_link(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    party, _ = await join(server, seated, "plaintiff")
    await judge.send({"type": "deny", "participant_id": seated["plaintiff"].participant_id, "reason": "wrong person"})
    code, reason = await party.wait_closed()
    assert code == CloseCode.REMOVED and "wrong person" in reason
    assert await status(server, seated, "plaintiff") is ParticipantStatus.DENIED
    again = await server.client(seated.room, seated["plaintiff"].token)
    assert (await again.wait_closed())[0] == CloseCode.FORBIDDEN

    other, _ = await join(server, seated, "defendant")
    await judge.send({"type": "admit", "participant_id": seated["defendant"].participant_id,
                      "verification": "id_card_on_video"})
    await other.expect("placed", place="room")
    await judge.send({"type": "remove", "participant_id": seated["defendant"].participant_id, "reason": "disorder"})
    left = await judge.expect("participant-left", participant_id=seated["defendant"].participant_id)
    assert left["reason"] == "removed"
    assert (await other.wait_closed())[0] == CloseCode.REMOVED
    again = await server.client(seated.room, seated["defendant"].token)
    code, reason = await again.wait_closed()
    assert code == CloseCode.FORBIDDEN and "removed" in reason
    actions = await audit_actions(server)
    assert {"participant.denied", "participant.removed"} <= set(actions)
    await judge.close()


async def test_send_back_to_the_lobby_and_mute(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    party, _ = await join(server, seated, "plaintiff")
    other, _ = await join(server, seated, "defendant")
    for label, c in (("plaintiff", party), ("defendant", other)):
        await judge.send({"type": "admit", "participant_id": seated[label].participant_id,
                          "verification": "id_card_on_video"})
        await c.expect("placed", place="room")
    pid = seated["plaintiff"].participant_id
    await judge.send({"type": "mute-participant", "participant_id": pid, "kind": "audio"})
    muted = await other.expect("mute-state", participant_id=pid)
    assert muted["audio_muted"] is True
    member = (await server.services.hub.members(seated.room))[pid]
    assert member["held"] == ["audio"]
    await party.send({"type": "mute", "kind": "audio", "muted": False})  # unmuting yourself lifts the hold
    await other.expect("mute-state", participant_id=pid, audio_muted=False)
    assert (await server.services.hub.members(seated.room))[pid]["held"] == []

    await judge.send({"type": "send-to-lobby", "participant_id": pid, "reason": "wait outside"})
    placed = await party.expect("placed", place="lobby")
    assert placed["reason"] == "wait outside"
    assert (await party.expect("permissions", place="lobby"))["actions"] == []
    gone = await other.expect("participant-left", participant_id=pid)
    assert gone["reason"] == "lobby"
    back = await judge.expect("participant-joined")
    assert back["participant"]["id"] == pid and back["participant"]["place"] == "lobby"
    assert await status(server, seated, "plaintiff") is ParticipantStatus.WAITING
    await judge.send({"type": "send-to-lobby", "participant_id": seated["judge"].participant_id})
    assert (await judge.expect("error"))["code"] == "forbidden"
    for c in (judge, party, other):
        await c.close()


async def test_a_locked_room_admits_nobody_new(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    waiting, _ = await join(server, seated, "plaintiff")
    await judge.send({"type": "lock", "locked": True})
    state = await waiting.expect("room-state", locked=True)
    assert state["state"] == "lobby_open"
    late = await server.client(seated.room, seated["defendant"].token)
    code, reason = await late.wait_closed()
    assert code == CloseCode.FORBIDDEN and "locked" in reason
    await judge.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                      "verification": "known_to_court"})
    assert (await judge.expect("error"))["code"] == "conflict"
    await judge.send({"type": "lock", "locked": False})
    await waiting.expect("room-state", locked=False)
    now, joined = await join(server, seated, "defendant")
    assert joined["participant"]["place"] == "lobby"
    assert {"hearing.locked", "hearing.unlocked"} <= set(await audit_actions(server))
    for c in (judge, waiting, now):
        await c.close()


async def test_procedure_moves_are_broadcast_with_new_permissions(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    judge, _ = await join(server, seated, "judge")
    party, _ = await join(server, seated, "plaintiff")
    witness, _ = await join(server, seated, "witness")
    await judge.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                      "verification": "id_card_on_video"})
    await party.expect("placed", place="room")
    await judge.send({"type": "procedure", "transition": "start_session"})
    for c in (judge, party, witness):  # the lobby hears the state too
        await c.expect("room-state", state="in_session")
    perms = await party.expect("permissions", place="room")
    assert "present_exhibit" in perms["actions"]
    await judge.send({"type": "procedure", "transition": "start_session"})
    assert (await judge.expect("error"))["code"] == "conflict"
    await judge.send({"type": "procedure", "transition": "recess"})
    await party.expect("room-state", state="recess")
    perms = await party.expect("permissions", place="room")
    assert "subscribe" in perms["actions"]  # in recess parties only listen
    assert not {"publish_audio", "publish_video"} & set(perms["actions"])
    await judge.send({"type": "procedure", "transition": "no_such_move"})
    assert (await judge.expect("error"))["code"] == "conflict"
    hearing = await server.services.court.get_hearing(seated.hearing.id)
    assert hearing.state == "recess"
    assert (await audit_actions(server)).count("procedure.transition") == 2
    for c in (judge, party, witness):
        await c.close()


async def test_deliberation_is_for_the_panel_only(server: LiveServer) -> None:
    seated = await seat_hearing(server, "deliberation", {"judge": Role.PRESIDING_JUDGE, "second": Role.JUDGE,
                                                         "intruder": Role.PLAINTIFF})
    judge, joined = await join(server, seated, "judge")
    assert joined["participant"]["place"] == "room"
    second, joined = await join(server, seated, "second")
    assert joined["participant"]["place"] == "room"
    intruder = await server.client(seated.room, seated["intruder"].token)
    code, reason = await intruder.wait_closed()
    assert code == CloseCode.FORBIDDEN and "deliberation" in reason
    # A party's link for another hearing cannot be pointed at the deliberation room either.
    trial = await seat_hearing(server, "trial", {"plaintiff": Role.PLAINTIFF})
    token = await bind_new_link(server, seated.room, trial["plaintiff"].participant_id, Role.PLAINTIFF, "x")
    stray = await server.client(seated.room, token)
    assert (await stray.wait_closed())[0] == CloseCode.FORBIDDEN
    await judge.close()
    await second.close()


async def test_a_replaced_link_stops_working(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", TRIAL)
    seat = seated["plaintiff"]
    await bind_new_link(server, seated.room, seat.participant_id, seat.role, seat.name)
    old = await server.client(seated.room, seat.token)
    code, reason = await old.wait_closed()
    assert code == CloseCode.TOKEN_REVOKED and "newer" in reason


async def test_production_refuses_rooms_that_are_not_hearings(tmp_path: Path) -> None:
    async with live_server(tmp_path, MEDIA_ENABLED=False, hearing_env="production") as server:
        c = await server.client("adhoc", await server.token("adhoc"))
        code, reason = await c.wait_closed()
        assert code == CloseCode.FORBIDDEN and "not a hearing" in reason


async def test_a_procedure_move_made_outside_signalling_reaches_the_room(server: LiveServer) -> None:
    """The staff API moves the procedure through the same service: the room hears it and permissions follow."""
    from hearing.procedure_service import Actor

    seated = await seat_hearing(server, "trial", TRIAL)
    party, _ = await join(server, seated, "plaintiff")
    await party.expect("permissions", place="lobby")
    applied = await server.services.procedure.transition(
        seated.hearing.id, Actor(seated["judge"].participant_id, Role.PRESIDING_JUDGE), "start_session")
    assert not hasattr(applied, "code"), applied
    assert (await party.expect("room-state"))["state"] == "in_session"
    assert (await party.expect("permissions"))["actions"] == []  # still in the lobby: nothing yet
    await party.close()


async def test_live_session_moderation_in_an_asynchronous_trial_is_refused_as_not_live(server: LiveServer) -> None:
    """An asynchronous trial (异步审理) has no live session: lock, mute, recording, private rooms and sending back to
    the lobby answer the stable code `not_live` (translated in web/js/i18n.js), not a generic conflict; admitting
    after an identity check still works as in any hearing."""
    from pathlib import Path as _Path

    seated = await seat_hearing(server, "async_trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF})
    judge, _ = await join(server, seated, "judge")
    party, _ = await join(server, seated, "plaintiff")
    await judge.expect("participant-joined")
    pid = seated["plaintiff"].participant_id
    for msg in ({"type": "lock", "locked": True}, {"type": "recording", "on": False},
                {"type": "mute-participant", "participant_id": pid, "kind": "audio"},
                {"type": "send-to-lobby", "participant_id": pid}):
        await judge.send(msg)
        err = await judge.expect("error")
        assert err["code"] == "not_live" and "asynchronous" in err["message"], (msg, err)
    await judge.send({"type": "admit", "participant_id": pid})  # no verification: the lobby's own refusal
    assert (await judge.expect("error"))["code"] == "conflict"
    await judge.send({"type": "admit", "participant_id": pid, "verification": "id_card_on_video"})
    await party.expect("placed", place="room")
    assert "hearing.locked" not in await audit_actions(server)
    i18n = (_Path(__file__).resolve().parent.parent / "web" / "js" / "i18n.js").read_text(encoding="utf-8")
    assert i18n.count("err_not_live:") == 2  # zh and en
    for c in (judge, party):
        await c.close()
