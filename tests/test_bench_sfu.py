"""The media benchmark must keep running and keep its keyframe simulation honest (no speed asserts)."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.clip import Clip, ClipTrack, answer_keyframe_requests
from bench.sfu import REQUIRED
from bench.sfu_clients import _payload_types
from tests.conftest import ROOT


async def test_replay_answers_a_keyframe_request_with_the_intra_version_of_the_next_frame() -> None:
    clip = Clip("vp8", frames=[b"K0", b"d1", b"d2", b"d3"], intra=[b"K0", b"I1", b"I2", b"I3"],
                keyframes=[True, False, False, False])
    track = ClipTrack(clip)

    class Sender:
        def _send_keyframe(self) -> None:  # what aiortc's RTCRtpSender calls on PLI/FIR
            raise AssertionError("the replay's hook should have replaced this")

    sender = Sender()
    answer_keyframe_requests(sender, track)
    got = [bytes(await track.recv()), bytes(await track.recv())]
    sender._send_keyframe()
    got += [bytes(await track.recv()), bytes(await track.recv()), bytes(await track.recv())]
    assert got == [b"K0", b"d1", b"I2", b"d3", b"K0"]  # one intra frame, then the normal stream; loops forever
    assert track.keyframes_requested == 1 and track.intra_sent == 1
    pts = [await track.recv() for _ in range(2)]
    assert pts[1].pts - pts[0].pts == 3000 and pts[0].time_base.denominator == 90000  # 30 fps on the video clock


def test_subscribers_find_video_payload_types_in_the_server_offer() -> None:
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
           "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\na=rtpmap:97 VP8/90000\r\na=rtpmap:98 rtx/90000\r\n")
    assert _payload_types(sdp) == ({97}, {98}, "VP8")


def test_sfu_bench_runs_both_modes_and_reports_every_figure() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.sfu", "--subscribers", "1,2", "--seconds", "2", "--codec",
                          "vp8", "--modes", "sfu,mediarelay", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [(r["mode"], r["subscribers"]) for r in rows] == [("sfu", 1), ("sfu", 2), ("mediarelay", 1),
                                                             ("mediarelay", 2)]
    for r in rows:
        assert all(k in r for k in REQUIRED), r
        assert r["codec"] == "vp8"
        assert r["fps_per_sub_min"] > 0 and r["pkts_per_s_per_sub"] > 0, r
        assert r["first_frame_ms_p50"] is not None and r["first_frame_ms_max"] >= r["first_frame_ms_p50"], r
        assert r["server_cpu_s_per_s"] >= 0 and r["us_per_forwarded_packet"] is not None
