"""A hearing recorded through the SFU: segments land in the object store while it runs; the manifest verifies;
pauses are entries with their reason and who; the segments decode and add up to the time in session."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from hearing.roles import Role
from recordings.manifest import verify_store
from tests.conftest import free_port, until
from tests.court import seat_hearing
from tests.live import LiveServer, live_server
from tests.media_client import MediaClient
from tests.test_cli import HEARING, cli_env

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(tmp_path, ICE_HOST_ADDRESSES="127.0.0.1") as s:
        yield s



def decoded_frames(blobs: list[bytes]) -> int:
    frames = 0
    for blob in blobs:
        with av.open(io.BytesIO(blob)) as container:
            frames += sum(1 for _ in container.decode(video=0))
    return frames


async def test_a_session_is_recorded_in_verifiable_segments(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE, "plaintiff": Role.PLAINTIFF})
    hid = seated.hearing.id
    judge = await MediaClient.join(server, seated.room, seated["judge"].token)
    ws = await server.client(seated.room, seated["plaintiff"].token)
    joined = await ws.expect("joined")
    await judge.ws.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                         "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    party = await MediaClient.attach(ws, joined)
    await party.wait_frames(seated["judge"].participant_id, "video", 5)
    objects = server.services.objects

    async def segments() -> list[str]:
        return [o.key for o in await objects.list(f"recordings/{hid}/tracks/")]

    assert await segments() == []  # nothing is recorded before the session opens
    await judge.ws.send({"type": "procedure", "transition": "start_session"})
    await until(lambda: server.services.recorder is not None and server.services.recorder.is_recording(seated.room))

    async def three_video_segments_each() -> bool:
        keys = await segments()
        return all(sum(1 for k in keys if f"/{who}.video." in k) >= 3
                   for who in (seated["judge"].participant_id, seated["plaintiff"].participant_id))

    await until(three_video_segments_each)  # uploaded while the hearing runs
    await judge.ws.send({"type": "procedure", "transition": "recess"})
    await until(lambda: not server.services.recorder.is_recording(seated.room))  # type: ignore[union-attr]
    await judge.ws.send({"type": "procedure", "transition": "resume"})
    await until(lambda: server.services.recorder.is_recording(seated.room))  # type: ignore[union-attr]
    await judge.ws.send({"type": "procedure", "transition": "close"})
    await until(lambda: seated.room not in server.services.recorder.sessions)  # type: ignore[union-attr]
    await asyncio.wait_for(server.services.recorder.spool.drain(), 60)  # type: ignore[union-attr]

    entries, broken = await verify_store(objects, hid)
    assert broken is None, broken
    kinds = [e.type for e in entries]
    assert kinds[0] == "start" and kinds[-1] == "stop" and "pause" in kinds and "resume" in kinds
    pause = next(e for e in entries if e.type == "pause")
    assert pause.data["reason"] == "recess" and pause.data["actor_id"] == seated["judge"].participant_id
    resume = next(e for e in entries if e.type == "resume")
    stop = entries[-1]
    in_session_us = pause.data["at_us"] + (stop.data["at_us"] - resume.data["at_us"])

    judge_video = [e for e in entries if e.type == "segment" and e.data["track_id"].startswith(
        f"{seated['judge'].participant_id}.video.")]
    recorded_us = sum(e.data["end_us"] - e.data["start_us"] for e in judge_video)
    segment_us = int(server.settings.recording_segment_seconds * 1_000_000)
    # Within one segment (plus the first keyframe's wait at the start and after the recess).
    assert abs(recorded_us - in_session_us) <= 2 * segment_us, (recorded_us, in_session_us)
    assert all(e.data["starts_with_keyframe"] for e in judge_video)
    blobs = [await objects.get(e.data["key"]) for e in judge_video]
    assert decoded_frames(blobs) >= len(judge_video) * 10  # they decode (no transcoding was done)
    audio = [e for e in entries if e.type == "segment" and e.data["kind"] == "audio"]
    assert audio and all(e.data["codec"] == "opus" for e in audio)
    for c in (party, judge):
        await c.close()

    # `hearing verify-recording` recomputes every hash; one flipped byte is named.
    env = cli_env(server.settings.var_dir, free_port(), HEARING_TOKEN_SECRET=server.settings.token_secret,
                  DATABASE_URL=server.settings.effective_database_url)
    ok = await asyncio.to_thread(subprocess.run, [HEARING, "verify-recording", hid], env=env, capture_output=True,
                                 text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact" in ok.stdout
    victim = judge_video[1].data["key"]
    path = server.settings.objects_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    bad = await asyncio.to_thread(subprocess.run, [HEARING, "verify-recording", hid], env=env, capture_output=True,
                                  text=True, timeout=120)
    assert bad.returncode == 1 and victim in bad.stdout and "segment_altered" in bad.stdout


async def test_a_mediation_is_recorded_only_when_the_mediator_chooses(server: LiveServer) -> None:
    seated = await seat_hearing(server, "mediation", {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF},
                                state="lobby_open")
    hid = seated.hearing.id
    mediator = await MediaClient.join(server, seated.room, seated["mediator"].token)
    ws = await server.client(seated.room, seated["plaintiff"].token)
    joined = await ws.expect("joined")
    await mediator.ws.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                            "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    await ws.send({"type": "procedure", "transition": "start_session"})
    assert (await ws.expect("error"))["code"] == "forbidden"
    await mediator.ws.send({"type": "procedure", "transition": "start_session"})
    state = await ws.expect("room-state", state="in_session")
    assert state["recording"] is False  # a mediation is not recorded unless the mediator starts it
    recorder = server.services.recorder
    assert recorder is not None and seated.room not in recorder.sessions
    await ws.send({"type": "recording", "on": True})
    assert (await ws.expect("error"))["code"] == "forbidden"  # a party cannot
    await mediator.ws.send({"type": "recording", "on": True})
    assert (await ws.expect("room-state"))["recording"] is True
    party = await MediaClient.attach(ws, joined, publish_video=False)
    await until(lambda: recorder.is_recording(seated.room))
    await party.wait_frames(seated["mediator"].participant_id, "video", 5)
    await mediator.ws.send({"type": "recording", "on": False, "reason": "the parties speak off the record"})
    await until(lambda: not recorder.is_recording(seated.room))
    await mediator.ws.send({"type": "procedure", "transition": "close"})
    await until(lambda: seated.room not in recorder.sessions)
    await asyncio.wait_for(recorder.spool.drain(), 60)
    entries, broken = await verify_store(server.services.objects, hid)
    assert broken is None
    pause = next(e for e in entries if e.type == "pause")
    assert pause.data == {**pause.data, "reason": "the parties speak off the record",
                          "actor_id": seated["mediator"].participant_id}
    assert entries[0].type == "start" and entries[-1].type == "stop"
    for c in (party, mediator):
        await c.close()


async def test_nobody_pauses_a_trial(server: LiveServer) -> None:
    seated = await seat_hearing(server, "trial", {"judge": Role.PRESIDING_JUDGE}, state="in_session")
    judge = await server.client(seated.room, seated["judge"].token)
    await judge.expect("joined")
    await judge.send({"type": "recording", "on": False, "reason": "please"})
    err = await judge.expect("error")
    assert err["code"] == "forbidden" and "recording" in err["message"]
    await judge.close()


async def test_a_private_room_is_never_recorded(server: LiveServer) -> None:
    seated = await seat_hearing(server, "mediation", {"mediator": Role.MEDIATOR, "plaintiff": Role.PLAINTIFF},
                                state="in_session")
    mediator = await server.client(seated.room, seated["mediator"].token)
    await mediator.expect("joined")
    ws = await server.client(seated.room, seated["plaintiff"].token)
    await ws.expect("joined")
    await mediator.send({"type": "admit", "participant_id": seated["plaintiff"].participant_id,
                         "verification": "id_card_on_video"})
    await ws.expect("placed", place="room")
    await mediator.send({"type": "recording", "on": True})  # the hearing itself is being recorded...
    recorder = server.services.recorder
    assert recorder is not None
    await until(lambda: recorder.is_recording(seated.room))
    await mediator.send({"type": "open-private-room", "participant_ids": [seated["plaintiff"].participant_id]})
    move = await ws.expect("private-room", action="enter")
    caucus = await MediaClient.join(server, move["room_id"], move["token"])
    await until(lambda: any(m["type"] == "room-state" for m in caucus.ws.seen))
    state = next(m for m in caucus.ws.seen if m["type"] == "room-state")
    assert state["private"] is True and state["recording"] is False
    sfu = server.services.sfu
    assert sfu is not None
    await until(lambda: len(sfu.tracks_of(move["room_id"])) == 2)  # ...while the caucus publishes
    assert all(track.taps == [] for track in sfu.tracks_of(move["room_id"]))
    assert move["room_id"] not in recorder.sessions
    await caucus.close()
    for c in (ws, mediator):
        await c.close()
