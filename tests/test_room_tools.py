"""Room tools (issue 15 item 5) through real signalling: raise hand, chat on the record, screen sharing, mute all,
admit all, spotlight — each checked against the policy, refused with stable reasons, and chat in the signed
transcript. The pure parts (queue order, text cleaning, the transcript's chat section, the policy) are tested first.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docket.court import ParticipantStatus, Verification, VerificationMethod
from docket.room_chat import ChatRecord
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, allowed
from hearing.roles import ROLE_GRANTS, Role
from hearing.room_chat import SECTION_HEADING, clean_text, section, with_chat
from hearing.room_tools import hand_queue, lose_on_change, screen_track_id, sharer
from signaling.hub import media_permissions
from signaling.protocol import MAX_CHAT_CHARS
from tests.court import Seated, seat_hearing
from tests.live import Client, LiveServer, live_server

pytestmark = pytest.mark.timeout(120)
A = Action
S = ProcedureState
TRIAL = {"judge": Role.PRESIDING_JUDGE, "clerk": Role.CLERK, "plaintiff": Role.PLAINTIFF,
         "defendant": Role.DEFENDANT, "counsel": Role.COUNSEL, "witness": Role.WITNESS}


# ---- pure ------------------------------------------------------------------------------------------------------


@given(st.dictionaries(st.text(min_size=1, max_size=4),
                       st.fixed_dictionaries({"hand": st.one_of(st.none(), st.floats(0, 1e9)),
                                              "place": st.sampled_from(["room", "lobby", "private"])})))
def test_the_hand_queue_is_first_raised_first_and_only_the_room(members: dict[str, dict[str, Any]]) -> None:
    queue = hand_queue(members)
    assert set(queue) == {p for p, m in members.items() if m["hand"] is not None and m["place"] == "room"}
    times = [members[p]["hand"] for p in queue]
    assert times == sorted(times)


@given(st.text(max_size=MAX_CHAT_CHARS))
def test_chat_text_keeps_no_control_characters_and_is_never_blank(text: str) -> None:
    cleaned = clean_text(text)
    if cleaned is not None:
        assert cleaned == cleaned.strip() and cleaned
        assert all(ch == "\n" or ch.isprintable() or ch.isspace() for ch in cleaned)
        assert "\r" not in cleaned and "\x00" not in cleaned
    assert clean_text(" \n\t ") is None


def test_the_transcripts_chat_section_lists_each_message_once_in_order() -> None:
    at = datetime(2026, 12, 7, 2, 3, 4, tzinfo=UTC)
    chat = [ChatRecord("h", 1, "p1", "counsel", "李律师", "请看第三页", at),
            ChatRecord("h", 2, "p2", "presiding_judge", "王法官", "好的\n继续", at + timedelta(seconds=5))]
    tz = ZoneInfo("Asia/Shanghai")
    text = with_chat("原告陈述……\n", chat, tz)
    assert text.startswith("原告陈述……\n\n" + SECTION_HEADING)
    assert "[10:03:04] 代理人 李律师：请看第三页" in text
    assert "[10:03:09] 审判长 王法官：好的\n    继续" in text
    assert with_chat("原告陈述", [], tz) == "原告陈述"
    assert section(chat, tz) in with_chat("", chat, tz)


def test_the_policy_gives_the_room_tools_to_the_right_people() -> None:
    for role, kind, state in itertools.product(Role, HearingKind, ProcedureState):
        acts = allowed(role, kind, state)
        if A.CHAT in acts:  # whoever may chat may speak: the chat is speech on the record
            assert A.PUBLISH_AUDIO in acts, (role, kind, state)
        if A.RAISE_HAND in acts:
            assert A.PUBLISH_AUDIO in acts and role not in {Role.PRESIDING_JUDGE, Role.CLERK, Role.MEDIATOR}
        if A.SHARE_SCREEN in acts:  # counsel and staff present documents, in session only
            assert state == S.IN_SESSION and A.PUBLISH_VIDEO in acts, (role, kind, state)
            assert role not in {Role.PLAINTIFF, Role.DEFENDANT, Role.WITNESS, Role.OBSERVER}
        if A.GIVE_FLOOR in acts:
            assert "moderate" in ROLE_GRANTS[role], (role, kind, state)
    assert A.SHARE_SCREEN in allowed(Role.COUNSEL, HearingKind.TRIAL, S.IN_SESSION)
    assert A.SHARE_SCREEN not in allowed(Role.COUNSEL, HearingKind.TRIAL, S.RECESS)
    assert A.RAISE_HAND in allowed(Role.WITNESS, HearingKind.TRIAL, S.IN_SESSION)
    assert not allowed(Role.OBSERVER, HearingKind.TRIAL, S.IN_SESSION) & {A.CHAT, A.RAISE_HAND}


def test_the_media_plane_forwards_a_screen_only_while_its_sharer_may_share() -> None:
    sharing = {"place": "room", "actions": ["publish_video", "share_screen"], "screen": "2"}
    perms = media_permissions(sharing)
    assert (perms.screen_mid, perms.send_screen, perms.send_video) == ("2", True, True)
    recess = media_permissions({**sharing, "actions": ["publish_video"]})
    assert (recess.screen_mid, recess.send_screen) == ("2", False)
    assert lose_on_change({"hand": 1.0, "screen": "2"}, ["publish_audio"]) == {"hand": None, "screen": None}
    assert sharer({"a": {"place": "room"}, "b": sharing}) == ("b", "2")
    assert screen_track_id("b", "2") == "b.video.2"


# ---- through signalling ---------------------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s


async def seated_room(server: LiveServer, state: str = "in_session",
                      admit: tuple[str, ...] = ("plaintiff", "defendant", "counsel")
                      ) -> tuple[Seated, dict[str, Client]]:
    seated = await seat_hearing(server, "trial", TRIAL, state=state)
    clients: dict[str, Client] = {}
    for label in ("judge", "clerk", *admit):
        clients[label] = await server.client(seated.room, seated[label].token)
        await clients[label].expect("joined")
        if label not in ("judge", "clerk"):
            await clients["clerk"].send({"type": "admit", "participant_id": seated[label].participant_id,
                                         "verification": "id_card_on_video"})
            await clients[label].expect("placed", place="room")
            await clients[label].expect("permissions", place="room")
    return seated, clients


async def refused(c: Client, msg: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    await c.send(msg)
    try:
        err = await c.expect("error", timeout=5)
    except TimeoutError:
        raise AssertionError([m["type"] for m in c.seen][-15:]) from None
    assert (err["code"], err.get("reason")) == (code, reason), (msg, err)
    return err


async def close_all(clients: dict[str, Client]) -> None:
    for c in clients.values():
        await c.close()


async def test_raise_hand_queue_is_seen_by_the_judge_and_lowered_by_the_chair(server: LiveServer) -> None:
    seated, c = await seated_room(server)
    pid, did = seated["plaintiff"].participant_id, seated["defendant"].participant_id
    await c["defendant"].send({"type": "hand", "raised": True})
    await c["judge"].expect("hands", queue=[did])
    await c["plaintiff"].send({"type": "hand", "raised": True})
    await c["judge"].expect("hands", queue=[did, pid])
    await c["plaintiff"].send({"type": "hand", "raised": True})  # a second click changes nothing
    await refused(c["plaintiff"], {"type": "hand", "raised": False, "participant_id": did}, "forbidden",
                  "action_not_allowed")
    await refused(c["judge"], {"type": "hand", "raised": True, "participant_id": did}, "forbidden",
                  "not_to_yourself")
    await c["judge"].send({"type": "hand", "raised": False, "participant_id": did})
    await c["plaintiff"].expect("hands", queue=[pid])
    await c["plaintiff"].send({"type": "hand", "raised": False})
    await c["judge"].expect("hands", queue=[])
    # A newcomer is told the queue; a party in recess may not raise a hand.
    await c["defendant"].send({"type": "hand", "raised": True})
    await c["judge"].expect("hands", queue=[did])
    late = c["judge"] = await server.client(seated.room, seated["judge"].token)  # a reload: the same judge
    await late.expect("hands", queue=[did])
    await c["judge"].send({"type": "procedure", "transition": "recess"})
    # The judge's messages are handled in order: once this refusal comes, the recess has been announced.
    await refused(c["judge"], {"type": "hand", "raised": True}, "forbidden", "action_not_allowed")
    members = await server.services.hub.members(seated.room)
    assert members[did].get("hand") is None  # the recess lowers hands that may no longer be raised
    await refused(c["plaintiff"], {"type": "hand", "raised": True}, "forbidden", "action_not_allowed")
    assert "participant.hand_lowered" in [e.action for e in await server.services.audit.entries(limit=1000)]
    await close_all(c)


async def test_chat_reaches_the_room_is_stored_and_refused_where_the_rules_say(server: LiveServer) -> None:
    seated, c = await seated_room(server, admit=("plaintiff",))
    witness = await server.client(seated.room, seated["witness"].token)
    await witness.expect("joined")
    await c["plaintiff"].send({"type": "chat", "text": "  法官您好，\r\n我听不清  "})
    got = await c["judge"].expect("chat-message")
    entry = got["entry"]
    assert (entry["seq"], entry["text"], entry["role"], entry["private"]) == (1, "法官您好，\n我听不清", "plaintiff",
                                                                             False)
    assert entry["name"].startswith("plaintiff-")
    await c["clerk"].expect("chat-message")
    await refused(c["plaintiff"], {"type": "chat", "text": "\n\t "}, "conflict", "chat_empty")
    await c["plaintiff"].send({"type": "chat", "text": "x" * (MAX_CHAT_CHARS + 1)})
    assert (await c["plaintiff"].expect("error"))["code"] == "bad_message"
    # The lobby hears nothing of the chat and may not write in it.
    await refused(witness, {"type": "chat", "text": "我在等候"}, "forbidden", "moderator_in_lobby")
    assert not [m for m in witness.seen if m["type"] == "chat-message"]
    stored = await server.services.courtroom.chat.list(seated.hearing.id)
    assert [r.text for r in stored] == ["法官您好，\n我听不清"]
    # Someone coming in later gets the chat so far.
    late = c["judge"] = await server.client(seated.room, seated["judge"].token)  # a reload: the same judge
    history = await late.expect("chat-history")
    assert [e["text"] for e in history["entries"]] == ["法官您好，\n我听不清"]
    await witness.close()
    await close_all(c)


async def test_chat_goes_into_the_transcript_at_the_close_and_the_signature_binds_it(server: LiveServer) -> None:
    seated, c = await seated_room(server, admit=("plaintiff",))
    await c["plaintiff"].send({"type": "chat", "text": "请求出示第二份证据"})
    await c["judge"].expect("chat-message")
    transcripts = server.services.transcripts
    saved = await transcripts.save(seated.hearing.id, seated["clerk"].participant_id, "clerk", "书记员记录：开庭。", 0)
    assert not hasattr(saved, "code")
    await c["judge"].send({"type": "procedure", "transition": "close"})
    updated = await c["plaintiff"].expect("transcript-updated")
    latest = await transcripts.current(seated.hearing.id)
    assert latest is not None and latest.number == updated["version"] == 2
    assert latest.text.startswith("书记员记录：开庭。\n\n" + SECTION_HEADING)
    assert "原告 plaintiff-" in latest.text and "：请求出示第二份证据" in latest.text
    signed = await transcripts.sign(seated.hearing.id, seated["clerk"].participant_id, sha256=latest.sha256,
                                    method="none")
    assert getattr(signed, "signature", None) is not None, signed
    assert signed.signature.sha256 == latest.sha256 and signed.signature.version == 2
    assert "transcript.chat_added" in [e.action for e in await server.services.audit.entries(limit=1000)]
    assert await server.services.audit.verify() is None
    await refused(c["plaintiff"], {"type": "chat", "text": "闭庭后"}, "forbidden", "action_not_allowed")
    await close_all(c)


async def test_screen_sharing_follows_the_policy_one_at_a_time(server: LiveServer) -> None:
    seated, c = await seated_room(server)
    cid = seated["counsel"].participant_id
    await refused(c["plaintiff"], {"type": "screen-share", "sharing": True, "mid": "2"}, "forbidden",
                  "action_not_allowed")  # parties show exhibits, counsel share screens
    await c["counsel"].send({"type": "screen-share", "sharing": True})
    assert (await c["counsel"].expect("error"))["code"] == "bad_message"  # no mid: nothing to forward
    await c["counsel"].send({"type": "screen-share", "sharing": True, "mid": "2"})
    shared = await c["judge"].expect("screen-shared", participant_id=cid)
    assert shared == {"type": "screen-shared", "participant_id": cid, "track_id": f"{cid}.video.2"}
    member = (await server.services.hub.members(seated.room))[cid]
    assert media_permissions(member).screen_mid == "2" and media_permissions(member).send_screen
    await refused(c["judge"], {"type": "screen-share", "sharing": True, "mid": "3"}, "conflict", "screen_in_use")
    late = c["judge"] = await server.client(seated.room, seated["judge"].token)  # a reload: the same judge
    await late.expect("screen-shared", participant_id=cid)
    await c["counsel"].send({"type": "screen-share", "sharing": False})
    await c["plaintiff"].expect("screen-shared", participant_id=None, track_id=None)
    await c["counsel"].send({"type": "screen-share", "sharing": True, "mid": "2"})
    await c["plaintiff"].expect("screen-shared", participant_id=cid)
    await c["judge"].send({"type": "procedure", "transition": "recess"})
    await c["plaintiff"].expect("screen-shared", participant_id=None)  # the recess ends the sharing
    await refused(c["counsel"], {"type": "screen-share", "sharing": True, "mid": "2"}, "forbidden",
                  "action_not_allowed")
    actions = [e.action for e in await server.services.audit.entries(limit=1000)]
    assert {"screen.shared", "screen.stopped"} <= set(actions)
    await close_all(c)


async def test_mute_all_and_admit_all_for_the_clerk(server: LiveServer) -> None:
    seated, c = await seated_room(server, state="lobby_open", admit=("plaintiff",))
    waiting = {label: await server.client(seated.room, seated[label].token) for label in
               ("defendant", "counsel", "witness")}
    for w in waiting.values():
        await w.expect("joined")
    await server.services.court.record_verification(  # the defendant's ID was checked at the station already
        seated["defendant"].participant_id,
        Verification(VerificationMethod.ID_CARD_AT_STATION, seated["clerk"].participant_id, datetime.now(UTC)))
    await refused(c["plaintiff"], {"type": "admit-all"}, "forbidden", "action_not_allowed")
    await c["clerk"].send({"type": "admit-all"})
    result = await c["clerk"].expect("admit-all-result")
    assert (result["admitted"], result["unchecked"], result["witnesses"]) == (1, 1, 1)
    await waiting["defendant"].expect("placed", place="room")
    await c["clerk"].send({"type": "admit-all", "verification": "retina_scan"})
    assert (await c["clerk"].expect("error"))["reason"] == "verification_unknown"
    await c["clerk"].send({"type": "admit-all", "verification": "id_card_on_video"})
    result = await c["clerk"].expect("admit-all-result")
    assert (result["admitted"], result["unchecked"], result["witnesses"]) == (1, 0, 1)
    await waiting["counsel"].expect("placed", place="room")
    members = await server.services.hub.members(seated.room)
    assert members[seated["witness"].participant_id]["place"] == "lobby"  # witnesses are called one by one
    # Mute all: everyone in the room but court staff.
    await refused(c["plaintiff"], {"type": "mute-all"}, "forbidden", "action_not_allowed")
    await c["clerk"].send({"type": "mute-all"})
    muted = set()
    while len(muted) < 3:
        m = await c["judge"].expect("mute-state", audio_muted=True)
        muted.add(m["participant_id"])
    assert muted == {seated[x].participant_id for x in ("plaintiff", "defendant", "counsel")}
    members = await server.services.hub.members(seated.room)
    assert "audio" not in (members[seated["judge"].participant_id].get("held") or [])
    # The clerk's messages are handled in order: once this is answered, the mute-all is done and audited.
    await refused(c["clerk"], {"type": "hand", "raised": True}, "forbidden", "action_not_allowed")
    assert "participants.muted_all" in [e.action for e in await server.services.audit.entries(limit=1000)]
    for w in waiting.values():
        await w.close()
    await close_all(c)


async def test_spotlight_is_the_chairs_and_reaches_everyone(server: LiveServer) -> None:
    seated, c = await seated_room(server)
    cid = seated["counsel"].participant_id
    await refused(c["plaintiff"], {"type": "spotlight", "participant_id": cid}, "forbidden", "action_not_allowed")
    await refused(c["judge"], {"type": "spotlight", "participant_id": seated["witness"].participant_id},
                  "not_found", "not_in_room")
    await c["judge"].send({"type": "spotlight", "participant_id": cid})
    await c["plaintiff"].expect("spotlighted", participant_id=cid)
    late = c["judge"] = await server.client(seated.room, seated["judge"].token)  # a reload: the same judge
    await late.expect("spotlighted", participant_id=cid)
    await c["clerk"].send({"type": "spotlight", "participant_id": None})
    await c["defendant"].expect("spotlighted", participant_id=None)
    await close_all(c)


async def test_room_tools_are_not_live_actions_in_an_asynchronous_trial(server: LiveServer) -> None:
    seated = await seat_hearing(server, "async_trial", {"judge": Role.PRESIDING_JUDGE}, state="in_session")
    judge = await server.client(seated.room, seated["judge"].token)
    await judge.expect("joined")
    await judge.send({"type": "chat", "text": "hello"})
    assert (await judge.expect("error"))["code"] == "not_live"
    await judge.close()


async def test_a_private_rooms_chat_reaches_its_members_only_and_is_kept_nowhere(server: LiveServer) -> None:
    people = {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF, "defendant": Role.DEFENDANT}
    seated = await seat_hearing(server, "mediation", people, state="in_session")
    c: dict[str, Client] = {}
    for label in people:
        await server.services.court.set_participant_status(seated[label].participant_id,
                                                           ParticipantStatus.ADMITTED)
        c[label] = await server.client(seated.room, seated[label].token)
        await c[label].expect("joined")
    await c["mediator"].send({"type": "open-private-room", "participant_ids": [seated["plaintiff"].participant_id],
                              "label": "原告方"})
    rooms = {}
    for label in ("mediator", "plaintiff"):
        move = await c[label].expect("private-room", action="enter")
        rooms[label] = await server.client(move["room_id"], move["token"])
        await rooms[label].expect("joined")
    perms = await rooms["plaintiff"].expect("permissions")
    assert "chat" in perms["actions"]
    await rooms["plaintiff"].send({"type": "chat", "text": "只对调解员说"})
    got = await rooms["mediator"].expect("chat-message")
    assert got["entry"]["private"] is True and got["entry"]["seq"] == 0 and got["entry"]["text"] == "只对调解员说"
    # The other side, in the main room, hears nothing of it, and nothing is kept for the record.
    await c["defendant"].send({"type": "chat", "text": "主房间"})
    main = await c["defendant"].expect("chat-message")
    assert main["entry"]["seq"] == 1 and not main["entry"]["private"]
    assert not [m for m in c["defendant"].seen if m["type"] == "chat-message" and m["entry"]["private"]]
    stored = await server.services.courtroom.chat.list(seated.hearing.id)
    assert [r.text for r in stored] == ["主房间"]
    for client in (*c.values(), *rooms.values()):
        await client.close()
