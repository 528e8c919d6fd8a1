"""Media survives the failures people actually have: a new transport (ICE restart), a vanished client."""

from __future__ import annotations

from hearing.roles import Role
from media import aiortc_glue as glue
from tests.conftest import until
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient, MovingVideoTrack, ToneTrack

ROOM = "recovery"


async def participant(server: LiveServer, role: Role, name: str, **kw) -> MediaClient:  # type: ignore[no-untyped-def]
    return await MediaClient.join(server, ROOM, await server.token(ROOM, role, name), **kw)



async def test_ice_restart_with_a_new_transport_brings_media_back(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张")
        await party.wait_frames(judge.participant_id, "video", 5)
        await judge.wait_frames(party.participant_id, "video", 5)
        old_peer = server.services.sfu.rooms[ROOM].peers[party.participant_id]

        # The party's network changed: it builds a new PeerConnection (new ICE credentials) and offers again
        # on the same signalling session, as the web client does when ICE fails.
        await party.pc.close()
        party.pc = glue.new_peer_connection([])
        party.received.clear()
        party.mid_to_publisher.clear()
        party.rebind_track_handler()
        party.local_tracks = [ToneTrack(), MovingVideoTrack()]  # aiortc ends tracks with their PeerConnection
        for track in party.local_tracks:
            party.pc.addTransceiver(track, direction="sendonly")
        await party.pc.setLocalDescription(await party.pc.createOffer())
        await party.ws.send({"type": "offer", "sdp": party.pc.localDescription.sdp})

        await party.wait_frames(judge.participant_id, "video", 10)
        new_peer = server.services.sfu.rooms[ROOM].peers[party.participant_id]
        assert new_peer is not old_peer and old_peer.closed
        rec = await judge.wait_for_publisher(party.participant_id, "video")
        start = rec.frames
        await judge.wait_frames(party.participant_id, "video", start + 10)
        for c in (judge, party):
            await c.close()


async def test_a_vanished_client_is_freed_after_the_grace_window(tmp_path) -> None:
    async with live_server(tmp_path, resume_grace_seconds=1.0) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张")
        await judge.wait_frames(party.participant_id, "video", 5)
        sfu = server.services.sfu
        assert sfu.peer_count() == 2
        await party.pc.close()  # the station PC crashes: no leave, no close handshake
        for t in party._tasks:
            t.cancel()
        await party.ws.drop()
        await until(lambda: sfu.peer_count() == 1)
        await judge.wait_for(lambda: len(judge.removed) == 2)
        room = sfu.rooms[ROOM]
        assert all(t.publisher_id == judge.participant_id for t in room.tracks.values())
        await judge.close()


async def test_resume_keeps_media_flowing(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        judge = await participant(server, Role.PRESIDING_JUDGE, "王")
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False, publish_audio=False)
        await party.wait_frames(judge.participant_id, "video", 5)
        resume_token = party.joined["resume_token"]
        for t in party._tasks[:1]:
            t.cancel()  # stop the signalling reader of the dropped socket
        await party.ws.drop()
        rec = party.from_publisher(judge.participant_id, "video")
        assert rec is not None
        start = rec.frames
        await party.wait_frames(judge.participant_id, "video", start + 30)  # media does not wait for signalling
        back = await server.client(ROOM, resume_token=resume_token)
        assert (await back.expect("joined"))["resumed"] is True
        assert server.services.sfu.peer_count() == 2
        await back.send({"type": "leave"})
        await back.wait_closed()
        await judge.close()
        await party.pc.close()


async def test_answer_without_offer_is_refused(tmp_path) -> None:
    async with live_server(tmp_path) as server:
        party = await participant(server, Role.PLAINTIFF, "张", publish_video=False)
        await party.wait_for(lambda: party.pc.remoteDescription is not None)
        desc = party.pc.localDescription
        await party.ws.send({"type": "answer", "sdp": desc.sdp})
        await party.wait_for(lambda: bool(party.errors))
        assert "no server offer" in party.errors[0]["message"]
        await party.close()
