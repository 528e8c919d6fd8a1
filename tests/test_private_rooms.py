"""Private rooms (caucus, 背靠背调解): opened by the mediator, entered only by their members, never recorded,
closed back into the hearing — by the mediator or by the hearing leaving session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from docket.court import ParticipantStatus
from hearing.roles import ROLE_GRANTS, Role
from signaling.closecodes import CloseCode
from tests.conftest import wait_until
from tests.court import Seated, seat_hearing
from tests.live import Client, LiveServer, live_server

pytestmark = pytest.mark.timeout(120)

MEDIATION = {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF, "counsel": Role.COUNSEL,
             "defendant": Role.DEFENDANT}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, MEDIA_ENABLED=False) as s:
        yield s


async def in_room(server: LiveServer, seated: Seated, *labels: str) -> dict[str, Client]:
    for label in labels:
        await server.services.court.set_participant_status(seated[label].participant_id, ParticipantStatus.ADMITTED)
    clients = {}
    for label in labels:
        c = await server.client(seated.room, seated[label].token)
        assert (await c.expect("joined"))["participant"]["place"] == "room"
        clients[label] = c
    return clients


async def enter(server: LiveServer, main: Client) -> tuple[Client, dict[str, Any]]:
    move = await main.expect("private-room", action="enter")
    c = await server.client(move["room_id"], move["token"])
    joined = await c.expect("joined")
    return c, {**joined, "token": move["token"]}


async def test_a_caucus_with_one_side_and_back(server: LiveServer) -> None:
    seated = await seat_hearing(server, "mediation", MEDIATION, state="in_session")
    c = await in_room(server, seated, "mediator", "plaintiff", "counsel", "defendant")
    side = [seated["plaintiff"].participant_id, seated["counsel"].participant_id]
    await c["plaintiff"].send({"type": "open-private-room", "participant_ids": side})
    assert (await c["plaintiff"].expect("error"))["code"] == "forbidden"
    both_sides = [*side, seated["defendant"].participant_id]  # not a caucus: one side would hear the other's
    await c["mediator"].send({"type": "open-private-room", "participant_ids": both_sides, "label": "x"})
    refused = await c["mediator"].expect("error")
    assert refused["code"] == "forbidden" and "one side" in refused["message"]

    await c["mediator"].send({"type": "open-private-room", "participant_ids": side, "label": "原告方"})
    placed = await c["plaintiff"].expect("placed", place="private")
    assert placed["reason"] == "原告方"
    assert (await c["plaintiff"].expect("permissions", place="private"))["actions"] == []
    seen = await c["defendant"].expect("participant-joined")
    assert seen["participant"]["place"] == "private"  # the other side sees they stepped out, nothing more

    caucus, tokens = {}, {}
    for label in ("plaintiff", "counsel", "mediator"):  # the mediator sits in the caucus they opened
        caucus[label], joined = await enter(server, c[label])
        tokens[label] = joined["token"]
        assert joined["participant"]["id"] == seated[label].participant_id
    state = await caucus["plaintiff"].expect("room-state")
    assert state["private"] is True and state["recording"] is False and state["label"] == "原告方"
    perms = await caucus["plaintiff"].expect("permissions")
    assert {"publish_audio", "subscribe"} <= set(perms["actions"])
    assert {p["id"] for p in joined["participants"]} == set(side)  # the mediator came in last: sees the side only

    room_id = joined["room_id"]
    def rooms_listed() -> list[dict[str, Any]]:
        return [m for m in c["mediator"].seen if m["type"] == "private-rooms" and m["rooms"]]

    await wait_until(lambda: bool(rooms_listed()), timeout=30)
    listed = rooms_listed()
    assert listed and listed[-1]["rooms"][0]["label"] == "原告方"
    assert set(listed[-1]["rooms"][0]["members"]) == {*side, seated["mediator"].participant_id}
    assert not [m for m in c["defendant"].seen if m["type"] == "private-rooms"]  # staff only
    # Staff see the room by its id, never its signalling room id: only members are handed that (issue 14).
    assert "room_id" not in listed[-1]["rooms"][0] and room_id not in str(listed[-1])
    # The other side cannot get in: not with their own link, not even with a token the court signed for that room.
    stray = await server.client(room_id, seated["defendant"].token)
    assert (await stray.wait_closed())[0] == CloseCode.WRONG_ROOM
    forged, _ = server.services.tokens.issue_join(
        room_id=room_id, role="defendant", name="x", grants=ROLE_GRANTS[Role.DEFENDANT], ttl_seconds=60,
        participant_id=seated["defendant"].participant_id)
    stray = await server.client(room_id, forged)
    code, reason = await stray.wait_closed()
    assert code == CloseCode.FORBIDDEN and "not open to you" in reason
    await caucus["plaintiff"].send({"type": "remove", "participant_id": seated["counsel"].participant_id})
    assert (await caucus["plaintiff"].expect("error"))["code"] == "forbidden"

    await c["mediator"].send({"type": "close-private-room", "id": "no-such-room"})
    assert (await c["mediator"].expect("error"))["code"] == "not_found"
    await c["mediator"].send({"type": "close-private-room", "room_id": room_id})  # a member names the room it is in
    assert (await caucus["plaintiff"].wait_closed())[0] == 1000
    assert (await c["plaintiff"].expect("private-room", action="leave"))["room_id"] == room_id
    back = await c["plaintiff"].expect("placed", place="room")
    assert seated["defendant"].participant_id in {p["id"] for p in back["participants"]}
    assert "publish_audio" in (await c["plaintiff"].expect("permissions", place="room"))["actions"]
    assert (await c["mediator"].expect("private-rooms", rooms=[]))["rooms"] == []
    again = await server.client(room_id, tokens["plaintiff"])  # the caucus link died with the room
    assert (await again.wait_closed())[0] == CloseCode.TOKEN_REVOKED
    actions = [e.action for e in await server.services.audit.entries(limit=1000)]
    assert {"private_room.opened", "private_room.closed"} <= set(actions)
    for client in c.values():
        await client.close()


async def test_closing_the_hearing_closes_its_private_rooms(server: LiveServer) -> None:
    seated = await seat_hearing(server, "mediation", MEDIATION, state="in_session")
    c = await in_room(server, seated, "mediator", "plaintiff", "defendant")
    await c["mediator"].send({"type": "open-private-room",
                              "participant_ids": [seated["defendant"].participant_id]})
    caucus, joined = await enter(server, c["defendant"])
    await c["mediator"].send({"type": "procedure", "transition": "close"})
    assert (await caucus.wait_closed())[0] == 1000
    await c["defendant"].expect("private-room", action="leave", room_id=joined["room_id"])
    await c["defendant"].expect("room-state", state="closed")
    assert await server.services.court.list_private_rooms(seated.hearing.id) == []
    for client in c.values():
        await client.close()


async def test_in_a_trial_the_judge_opens_a_counsel_room_without_entering(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF,
                                                  "counsel": Role.COUNSEL, "defendant": Role.DEFENDANT},
                                state="in_session")
    c = await in_room(server, seated, "judge", "plaintiff", "counsel")
    pair = [seated["plaintiff"].participant_id, seated["counsel"].participant_id]
    await c["judge"].send({"type": "open-private-room", "participant_ids": pair, "label": "律师会见"})
    await enter(server, c["plaintiff"])
    rooms = await server.services.court.list_private_rooms(seated.hearing.id)
    assert len(rooms) == 1 and set(rooms[0].members) == set(pair)  # the judge is not in it
    await c["judge"].send({"type": "open-private-room", "participant_ids": [seated["defendant"].participant_id]})
    assert (await c["judge"].expect("error"))["code"] == "conflict"  # not in the room
    for client in c.values():
        await client.close()


async def test_removal_ends_the_caucus_session_too(server: LiveServer) -> None:
    """Issue 14 item 3: removed from the hearing, a participant used to keep their caucus connection and media."""
    seated = await seat_hearing(server, "mediation", MEDIATION, state="in_session")
    c = await in_room(server, seated, "mediator", "plaintiff", "counsel", "defendant")
    side = [seated["plaintiff"].participant_id, seated["counsel"].participant_id]
    await c["mediator"].send({"type": "open-private-room", "participant_ids": side, "label": "原告方"})
    caucus = {label: (await enter(server, c[label])) for label in ("plaintiff", "counsel", "mediator")}
    room_id = caucus["mediator"][1]["room_id"]
    plaintiff_id = seated["plaintiff"].participant_id

    await c["mediator"].send({"type": "remove", "participant_id": plaintiff_id, "reason": "扰乱秩序"})
    assert (await c["plaintiff"].wait_closed())[0] == CloseCode.REMOVED
    code, reason = await caucus["plaintiff"][0].wait_closed()  # the caucus connection ends with the main one
    assert code == CloseCode.REMOVED and "removed" in reason
    await caucus["counsel"][0].expect("participant-left", participant_id=plaintiff_id, reason="removed")
    assert plaintiff_id not in await server.services.hub.members(room_id)
    again = await server.client(room_id, caucus["plaintiff"][1]["token"])  # nor can the caucus link bring them back
    assert (await again.wait_closed())[0] == CloseCode.TOKEN_REVOKED
    await caucus["counsel"][0].send({"type": "ping"})  # the others' caucus goes on
    await caucus["counsel"][0].expect("pong")
    for label in ("counsel", "mediator"):
        await caucus[label][0].close()
    for label in ("mediator", "counsel", "defendant"):
        await c[label].close()


async def test_a_withdrawn_link_ends_the_caucus_session_too(server: LiveServer) -> None:
    """A new link withdraws the old one (hearing.join_links): the sessions it opened end, the caucus one included."""
    from hearing.join_links import issue_participant_link

    seated = await seat_hearing(server, "mediation", MEDIATION, state="in_session")
    c = await in_room(server, seated, "mediator", "defendant")
    defendant_id = seated["defendant"].participant_id
    await c["mediator"].send({"type": "open-private-room", "participant_ids": [defendant_id]})
    caucus, joined = await enter(server, c["defendant"])
    mediator_caucus, _ = await enter(server, c["mediator"])
    services = server.services

    class Rooms:
        async def assign_room(self, hearing_id: str, room_id: str) -> str:
            return seated.room

    link = await issue_participant_link(services.court, services.records, services.tokens, Rooms(), server.base,
                                        hearing_id=seated.hearing.id, participant_id=defendant_id)
    assert link.revoked  # the old link
    assert services.courtroom is not None
    for jti in link.revoked:  # what the staff API does after issuing (app/factory.py: end_sessions)
        await services.courtroom.end_sessions_of_link(link.room_id, jti, "this link was withdrawn by the court")
    assert (await c["defendant"].wait_closed())[0] == CloseCode.TOKEN_REVOKED
    assert (await caucus.wait_closed())[0] == CloseCode.TOKEN_REVOKED
    await mediator_caucus.expect("participant-left", participant_id=defendant_id)
    again = await server.client(joined["room_id"], joined["token"])
    assert (await again.wait_closed())[0] == CloseCode.TOKEN_REVOKED
    fresh = await server.client(seated.room, link.url.split("#token=", 1)[1])  # the new link works
    assert (await fresh.expect("joined"))["participant"]["id"] == defendant_id
    for client in (fresh, mediator_caucus, c["mediator"]):
        await client.close()


@pytest.mark.redis
@pytest.mark.postgres
async def test_removal_ends_a_caucus_session_held_by_another_instance(tmp_path: Path, pg_url: str, redis_url: str,
                                                                      redis_prefix: str) -> None:
    """The main room on instance a, the caucus connection on instance b: the kick travels over the room bus."""
    shared = {"database_url": pg_url, "redis_url": redis_url, "redis_prefix": redis_prefix, "MEDIA_ENABLED": False}
    async with live_server(tmp_path / "a", **shared) as a, live_server(tmp_path / "b", **shared) as b:
        seated = await seat_hearing(a, "mediation", MEDIATION, state="in_session")
        c = await in_room(a, seated, "mediator", "plaintiff", "defendant")
        plaintiff_id = seated["plaintiff"].participant_id
        await c["mediator"].send({"type": "open-private-room", "participant_ids": [plaintiff_id]})
        caucus = {label: await enter(b, c[label]) for label in ("plaintiff", "mediator")}  # both on instance b
        await c["mediator"].send({"type": "remove", "participant_id": plaintiff_id})
        assert (await c["plaintiff"].wait_closed())[0] == CloseCode.REMOVED
        assert (await caucus["plaintiff"][0].wait_closed())[0] == CloseCode.REMOVED
        await caucus["mediator"][0].expect("participant-left", participant_id=plaintiff_id, reason="removed")
        for client in (caucus["mediator"][0], c["mediator"], c["defendant"]):
            await client.close()
