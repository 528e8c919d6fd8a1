"""The simulcast forwarding path without a network: three layers of synthetic VP8 in, one subscriber's stream out.

Whatever the targets do, the subscriber sees one stream: a new layer starts only at its keyframe, sequence numbers
run on by one, timestamps never go back, VP8 picture ids continue across switches; the recorder taps the top layer.
"""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from media.payloads import vp8_is_keyframe, vp8_picture_id, vp8_tl0picidx
from media.rtp import parse_rtp
from media.simulcast import Binding
from media.simulcast_forward import SimulcastForward, SimulcastLayers, layer_track
from media.tracks import CodecInfo, PublishedTrack

VP8 = CodecInfo("VP8", 90_000, 96)
RIDS = ("q", "h", "f")


def vp8_packet(ssrc: int, seq: int, ts: int, picture_id: int, tl0: int, key: bool, first: bool) -> bytes:
    header = struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    descriptor = bytes([0x90 if first else 0x80, 0xC0, 0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF, tl0])
    tag = (b"\x00\x00\x00\x9d\x01\x2a" if key else b"\x01\x00\x00\x00\x00\x00") + bytes(8)
    return header + descriptor + tag


def group_with_layers() -> tuple[PublishedTrack, list[PublishedTrack]]:
    group = PublishedTrack(publisher_id="judge", track_id="judge.video.1", kind="video", ssrc=0, codec=VP8,
                           header_extensions={}, request_keyframe=lambda t: None)
    group.simulcast = SimulcastLayers(group, RIDS)
    layers = [layer_track(group, Binding("1", i, rid), 1000 + i) for i, rid in enumerate(RIDS)]
    return group, layers


def subscribe(group: PublishedTrack, sent: list[bytes]) -> SimulcastForward:
    fwd = SimulcastForward(group, "party", out_ssrc=77, rtx_ssrc=None, codec=VP8, mid="3", header_extensions={},
                           send=lambda p: sent.append(p) or True, initial_sequence=65_530,
                           initial_timestamp=2**32 - 5000)
    group.forwards.append(fwd)
    return fwd


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([None, 0, 1, 2]), st.integers(1, 40)), min_size=1, max_size=12),
       st.integers(0, 40_000), st.integers(1, 29))
def test_switches_only_at_target_keyframes_with_continuous_numbering(plan: list[tuple[int | None, int]],
                                                                      pid0: int, gop: int) -> None:
    group, layers = group_with_layers()
    sent: list[bytes] = []
    fwd = subscribe(group, sent)
    frame = 0
    origins = [(i * 7919, i * 1_000_003, (pid0 + 5000 * i) & 0x7FFF) for i in range(3)]  # each layer its own
    expected_layers: list[int] = []
    for target, frames in plan:
        fwd.selector.target = target
        for _ in range(frames):
            for index, layer in enumerate(layers):
                seq0, ts0, p0 = origins[index]
                key = frame % gop == 0 or (index * 3 + frame) % 11 == 0
                for part in range(2):  # two packets a frame
                    data = vp8_packet(layer.ssrc, seq0 + 2 * frame + part, ts0 + 3000 * frame,
                                      (p0 + frame) & 0x7FFF, (frame + index) & 0xFF, key and part == 0, part == 0)
                    before = len(sent)
                    layer.on_packet(data, parse_rtp(data), frame / 30)
                    if len(sent) > before:
                        expected_layers.append(index)
            frame += 1
    outs = [parse_rtp(p) for p in sent]
    seqs = [h.sequence for h in outs]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    tss = [h.timestamp for h in outs]
    assert all(((b - a) & 0xFFFFFFFF) < 2**31 for a, b in itertools.pairwise(tss))
    pids = [vp8_picture_id(p[h.payload_offset:]) for p, h in zip(sent, outs, strict=True)]
    for i, (p, h) in enumerate(zip(sent, outs, strict=True)):
        payload = p[h.payload_offset:]
        if i == 0 or expected_layers[i] != expected_layers[i - 1]:  # the first packet of a layer: its keyframe
            assert vp8_is_keyframe(payload)
        if i > 0:
            step = (pids[i] - pids[i - 1]) & 0x7FFF  # type: ignore[operator]
            assert step in (0, 1), (i, pids[i - 1], pids[i])
            assert vp8_tl0picidx(payload) is not None
        if i > 0 and expected_layers[i] != expected_layers[i - 1]:
            assert pids[i] == (pids[i - 1] + 1) & 0x7FFF  # type: ignore[operator]


def test_a_nack_is_answered_from_the_layer_forwarded_and_the_recorder_gets_the_top_layer() -> None:
    group, layers = group_with_layers()
    sent: list[bytes] = []
    taped: list[bytes] = []
    group.taps.append(taped.append)
    fwd = subscribe(group, sent)
    fwd.selector.target = 1
    for frame in range(3):
        for index, layer in enumerate(layers):
            data = vp8_packet(layer.ssrc, 100 * index + frame, 3000 * frame, 10 * index + frame, 0, frame == 0, True)
            layer.on_packet(data, parse_rtp(data), frame / 30)
    assert [parse_rtp(p).ssrc for p in taped] == [1002] * 3
    assert len(sent) == 3 and fwd.layer == 1
    last = parse_rtp(sent[-1])
    assert fwd.retransmit(last.sequence, 1.0)
    again = parse_rtp(sent[-1])
    assert sent[-1][again.payload_offset:] == sent[-2][last.payload_offset:]  # the same packet, picture id mapped
    assert fwd.source() is layers[1]
