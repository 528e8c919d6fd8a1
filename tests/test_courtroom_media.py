"""The courtroom's rules reach the media plane: the lobby gets no media; the procedure decides who is heard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hearing.roles import Role
from media.sfu import PAUSED_BY_PUBLISHER_RULE
from tests.conftest import until
from tests.court import Seated, seat_hearing
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1") as s:
        yield s



async def admitted(server: LiveServer, seated: Seated, judge: MediaClient, label: str, **kw: object) -> MediaClient:
    ws = await server.client(seated.room, seated[label].token)
    joined = await ws.expect("joined")
    await judge.ws.send({"type": "admit", "participant_id": seated[label].participant_id,
                         "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    return await MediaClient.attach(ws, joined, **kw)


async def test_a_waiting_witness_gets_no_media_until_called(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF,
                                                  "witness": Role.WITNESS}, state="in_session")
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    party = await admitted(server, seated, judge, "plaintiff", publish_video=False)
    judge_id = seated["judge"].participant_id
    await party.wait_frames(judge_id, "video", 5)

    ws = await server.client(seated.room, seated["witness"].token)
    joined = await ws.expect("joined")
    assert joined["participant"]["place"] == "lobby"
    witness = await MediaClient.attach(ws, joined, publish_video=False)
    await witness.wait_for(lambda: bool(witness.errors))
    assert witness.errors[0]["code"] == "forbidden"
    seen = party.from_publisher(judge_id, "video")
    assert seen is not None
    target = seen.frames + 30
    await party.wait_frames(judge_id, "video", target)  # the hearing went on meanwhile...
    assert witness.received == {} and witness.pc.remoteDescription is None  # ...without the witness
    sfu = server.services.sfu
    assert sfu is not None and seated["witness"].participant_id not in sfu.rooms[seated.room].peers

    await judge.ws.send({"type": "admit", "participant_id": seated["witness"].participant_id,
                         "verification": "id_card_on_video"})  # called to testify
    await until(lambda: any(m.get("type") == "placed" for m in ws.seen))
    await witness.close_media()
    witness = await MediaClient.attach(ws, joined, publish_video=False)
    await witness.wait_frames(judge_id, "video", 5)
    for c in (witness, party, judge):
        await c.close()


async def test_in_recess_the_parties_are_not_heard(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF},
                                state="in_session")
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    party = await admitted(server, seated, judge, "plaintiff")
    judge_id, party_id = seated["judge"].participant_id, seated["plaintiff"].participant_id
    await judge.wait_frames(party_id, "video", 5)
    await judge.wait_frames(party_id, "audio", 5)

    await judge.ws.send({"type": "procedure", "transition": "recess"})
    sfu = server.services.sfu
    assert sfu is not None
    room = sfu.rooms[seated.room]
    tracks = [t for t in room.tracks.values() if t.publisher_id == party_id]
    assert {t.kind for t in tracks} == {"audio", "video"}
    await until(lambda: all(f.stream.paused_for(PAUSED_BY_PUBLISHER_RULE) for t in tracks for f in t.forwards))
    sent = {id(f): f.stream.packets_sent for t in tracks for f in t.forwards}
    arrived = {id(t): t.packets_in for t in tracks}
    await until(lambda: all(t.packets_in >= arrived[id(t)] + 50 for t in tracks))  # the party keeps sending...
    assert {id(f): f.stream.packets_sent for t in tracks for f in t.forwards} == sent  # ...and nothing goes out
    seen = party.from_publisher(judge_id, "video")
    assert seen is not None
    await party.wait_frames(judge_id, "video", seen.frames + 10)  # the court is still heard in recess

    await judge.ws.send({"type": "procedure", "transition": "resume"})
    heard = judge.from_publisher(party_id, "video")
    assert heard is not None
    await judge.wait_frames(party_id, "video", heard.frames + 10)
    for c in (party, judge):
        await c.close()


async def test_a_listener_chooses_original_or_interpreted_audio(server: LiveServer) -> None:
    """The interpreter publishes a separate audio track; a listener who wants the original pauses it."""
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF,
                                                  "interpreter": Role.INTERPRETER}, state="in_session")
    judge = await MediaClient.join(server, seated.room, seated["judge"].token, publish_video=False)
    interpreter = await admitted(server, seated, judge, "interpreter", publish_video=False)
    listener = await admitted(server, seated, judge, "plaintiff", publish_audio=False, publish_video=False)
    judge_id, interpreter_id = seated["judge"].participant_id, seated["interpreter"].participant_id
    await listener.wait_frames(interpreter_id, "audio", 5)
    await listener.wait_frames(judge_id, "audio", 5)

    await listener.ws.send({"type": "subscription", "publisher_id": interpreter_id, "kind": "audio", "paused": True})
    sfu = server.services.sfu
    assert sfu is not None
    peer = sfu.rooms[seated.room].peers[seated["plaintiff"].participant_id]
    to_listener = [f for f in peer.forwards.values() if f.track.publisher_id == interpreter_id]
    assert len(to_listener) == 1
    fwd = to_listener[0]
    await until(lambda: fwd.stream.paused)
    sent, arrived = fwd.stream.packets_sent, fwd.track.packets_in
    await until(lambda: fwd.track.packets_in >= arrived + 50)  # the interpreter goes on...
    assert fwd.stream.packets_sent == sent  # ...unheard by this listener, who still hears the judge
    heard = listener.from_publisher(judge_id, "audio")
    assert heard is not None
    await listener.wait_frames(judge_id, "audio", heard.frames + 10)

    await listener.ws.send({"type": "subscription", "publisher_id": interpreter_id, "kind": "audio",
                            "paused": False})
    await until(lambda: fwd.stream.packets_sent > sent + 10)  # interpreted again
    for c in (listener, interpreter, judge):
        await c.close()
