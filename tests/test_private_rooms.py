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

    await c["mediator"].send({"type": "close-private-room", "room_id": room_id})
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
