"""Start-up recovery of a killed recorder's work directory (recordings/leftovers.py): the segment being written is
removed, a closed segment that never reached the spool is quarantined with a note (never chained), interrupted
chain-head writes are removed; and `start_services` runs it before the spool's recovery."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from app.services import build_services, start_services, stop_services
from app.settings import load_settings
from recordings.depacketize import EncodedFrame
from recordings.leftovers import recover_leftovers
from recordings.segment_writer import ClosedSegment, SegmentWriter, TrackClock
from tests.test_recording_export import _opus_frames

TRACK = "p-judge.audio.1"


def kill_mid_recording(work: Path) -> tuple[list[ClosedSegment], Path]:
    """A recorder's work dir as SIGKILL leaves it: two closed segments not yet moved into the spool (the process
    died between SegmentWriter closing them and TrackRecorder._spool), and the open one's `.part`."""
    writer = SegmentWriter(work / "segments", TRACK, "opus", TrackClock(48000, 0, 0.0, 0.0), target_duration=1.0)
    closed: list[ClosedSegment] = []
    for ts, data, key in _opus_frames(2.5, 440):
        closed += writer.write(EncodedFrame(data, ts, key, 0, 0))
    writer.abort()  # the open segment stays as it was on disk
    parts = list((work / "segments").glob("*.part"))
    assert len(closed) == 2 and len(parts) == 1
    return closed, parts[0]


def test_partial_files_go_and_closed_unchained_segments_are_quarantined(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    work, quarantine = tmp_path / "work", tmp_path / "quarantine"
    closed, part = kill_mid_recording(work)
    (work / "heads").mkdir()
    head = work / "heads" / "h1.json"
    head.write_text('{"seq": 7, "hash": "ab"}')
    interrupted_head = work / "heads" / "h1.json.tmp-0123456789ab"
    interrupted_head.write_text('{"seq": 8')

    with caplog.at_level(logging.WARNING, logger="hearing.recordings"):
        left = recover_leftovers(work, quarantine)

    assert sorted(left.removed) == sorted([part, interrupted_head])
    assert not part.exists() and not interrupted_head.exists() and head.exists()  # the head itself is kept
    assert list((work / "segments").iterdir()) == []  # nothing left for a new recorder of the track to overwrite
    assert len(left.quarantined) == 2 and all(p.parent == quarantine for p in left.quarantined)
    for seg, moved in zip(closed, sorted(left.quarantined), strict=True):
        assert moved.name.endswith(seg.path.name)
        data = moved.read_bytes()
        assert hashlib.sha256(data).hexdigest() == seg.sha256 and len(data) == seg.size  # complete, untouched
        note = json.loads(moved.with_name(moved.name + ".json").read_text())
        assert note["sha256"] == seg.sha256 and note["size"] == seg.size
        assert (note["track_id"], note["index"]) == (TRACK, seg.index)
        assert note["original_path"] == str(seg.path) and "NOT part of any recording" in note["what"]
        assert abs(note["start_s"] - seg.start_time) < 0.001 and abs(note["end_s"] - seg.end_time) < 0.001
    messages = [r.getMessage() for r in caplog.records]
    assert any(part.name in m and "lost" in m for m in messages)
    assert sum("never chained" in m and "NOT part of the recording" in m for m in messages) == 2

    again = recover_leftovers(work, quarantine)  # idempotent: a second start finds nothing
    assert again.removed == [] and again.quarantined == []
    assert len(list(quarantine.glob("*.json"))) == 2


def test_nothing_to_do_and_unknown_files_are_left_alone(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert recover_leftovers(work, tmp_path / "q").quarantined == []  # a first start: no work dir yet
    (work / "segments").mkdir(parents=True)
    stray = work / "segments" / "notes.txt"
    stray.write_text("an operator's file")
    left = recover_leftovers(work, tmp_path / "q")
    assert left.removed == [] and left.quarantined == [] and stray.exists() and not (tmp_path / "q").exists()


async def test_start_services_recovers_the_work_directory_before_the_spool(tmp_path: Path) -> None:
    var = tmp_path / "var"
    work = var / "recordings" / "work"
    closed, part = kill_mid_recording(work)
    settings = load_settings(HEARING_VAR_DIR=var, HEARING_TOKEN_SECRET="t" * 40, hearing_env="test",
                             HEARING_PORT=8000, redis_url="", s3_endpoint="", ICE_HOST_ADDRESSES="127.0.0.1")
    services = build_services(settings)
    lines: list[str] = []
    await start_services(services, progress=lines.append)
    try:
        assert services.recorder is not None and services.recorder.work_dir == work
        assert not part.exists() and not any(p.exists() for p in (c.path for c in closed))
        quarantined = sorted((var / "recordings" / "quarantine").glob("*.webm"))
        assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in quarantined] == [c.sha256 for c in closed]
        assert any("2 recording segments never chained" in line for line in lines), lines
        assert services.recorder.spool.pending == 0  # quarantined, not spooled: no manifest will name them
    finally:
        await stop_services(services)
