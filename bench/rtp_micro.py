"""Per-packet micro-benchmark of the SFU's RTP codecs: `python -m bench.rtp_micro [--number N] [--json]`.

Why: the forwarding path pays these functions once per packet per subscriber, and the design budget for the
Python rewrite is a few µs of the ~25-35 µs per forwarded packet (see DESIGN.md "Media plane").  The packet
is a realistic 1200-byte VP8 keyframe start with three one-byte header extensions (MID, abs-send-time,
transport-cc), as Chromium sends them; the subscriber negotiated MID, abs-send-time, transport-cc, video
orientation and toffset under different ids.  aiortc's `RtpPacket.parse` + `serialize` (with an extension
map, as its receiver uses it) is measured for comparison.  Figures are µs per call, best of 5 timeit runs.
"""

from __future__ import annotations

import argparse
import json
import struct
import timeit
from collections.abc import Callable

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media.payloads import vp8_is_keyframe
from media.rtp import (
    URI_ABS_SEND_TIME,
    URI_MID,
    URI_TOFFSET,
    URI_TRANSPORT_CC,
    URI_VIDEO_ORIENTATION,
    ExtensionRewriter,
    parse_rtp,
    rewrite_rtp,
)

PUB_IDS = {URI_MID: 4, URI_ABS_SEND_TIME: 2, URI_TRANSPORT_CC: 3, URI_VIDEO_ORIENTATION: 13, URI_TOFFSET: 14}
SUB_IDS = {URI_MID: 9, URI_ABS_SEND_TIME: 3, URI_TRANSPORT_CC: 5, URI_VIDEO_ORIENTATION: 11, URI_TOFFSET: 1}


def sample_packet(size: int = 1200) -> bytes:
    """A VP8 keyframe's first packet: 15-bit PictureID descriptor, key frame header, three extensions."""
    ext = bytes([0x40]) + b"0"  # MID "0" (id 4, 1 byte)
    ext += bytes([0x22]) + b"\x12\x34\x56"  # abs-send-time (id 2, 3 bytes)
    ext += bytes([0x31]) + b"\x01\x02"  # transport-cc (id 3, 2 bytes)
    ext += b"\x00" * (-len(ext) & 3)
    header = struct.pack("!BBHII", 0x90, 0x80 | 96, 4711, 123456789, 0x11223344)
    header += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    payload = bytes([0x90, 0x80, 0x81, 0x23]) + bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    payload += bytes(range(256)) * ((size - len(header) - len(payload)) // 256 + 1)
    return (header + payload)[:size]


def best_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def run(number: int) -> dict[str, float]:
    data = sample_packet()
    h = parse_rtp(data)
    rewriter = ExtensionRewriter(PUB_IDS, SUB_IDS, mid="video-3")
    block = rewriter.build(data, h, 0xABCDEF)
    payload = memoryview(data)[h.payload_offset : h.payload_end]
    assert vp8_is_keyframe(payload)

    def rewrite() -> bytes:
        return rewrite_rtp(data, h, ssrc=0xCAFEBABE, sequence=1000, timestamp=90000, payload_type=96, ext_block=block)

    def per_subscriber() -> bytes:
        b = rewriter.build(data, h, 0xABCDEF)
        return rewrite_rtp(data, h, ssrc=0xCAFEBABE, sequence=1000, timestamp=90000, payload_type=96, ext_block=b)

    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in PUB_IDS.items()])
    )

    def aiortc_round_trip() -> bytes:
        return RtpPacket.parse(data, ext_map).serialize(ext_map)

    return {
        "parse_rtp": best_us(lambda: parse_rtp(data), number),
        "ExtensionRewriter.build": best_us(lambda: rewriter.build(data, h, 0xABCDEF), number),
        "rewrite_rtp (new ext block)": best_us(rewrite, number),
        "rewrite_rtp (keep ext block)": best_us(
            lambda: rewrite_rtp(data, h, ssrc=1, sequence=2, timestamp=3, payload_type=96, ext_block=None), number
        ),
        "build + rewrite (per subscriber)": best_us(per_subscriber, number),
        "vp8_is_keyframe": best_us(lambda: vp8_is_keyframe(payload), number),
        "aiortc RtpPacket.parse+serialize": best_us(aiortc_round_trip, number),
        "on_packet, 2 subscribers": on_packet_us(),
        "on_packet, 2 subscribers + recorder": on_packet_us(taps=1),
    }


def on_packet_us(packets: int = 20000, taps: int = 0) -> float:
    """µs per incoming packet through `PublishedTrack.on_packet` with two subscribers (send is a no-op), best of 5.

    With `taps`, each packet is also handed to that many recorder-style taps (a deque append with a wall-clock
    time, what `recordings.recorder.TrackRecorder.on_rtp` does on the event loop).
    """
    import collections
    import time

    from media.tracks import CodecInfo, Forward, PublishedTrack

    codec = CodecInfo(name="VP8", clock_rate=90000, payload_type=96, rtx_payload_type=None)
    track = PublishedTrack(publisher_id="p", track_id="t", kind="video", ssrc=1, codec=codec, header_extensions={},
                           request_keyframe=lambda t: None)
    for i in range(2):
        track.forwards.append(Forward(track, f"s{i}", out_ssrc=100 + i, rtx_ssrc=None, codec=codec, mid=str(i),
                                      header_extensions={}, send=lambda b: True, initial_sequence=0,
                                      initial_timestamp=0))
    for _ in range(taps):
        dq: collections.deque[tuple[bytes, float]] = collections.deque(maxlen=4096)
        track.taps.append(lambda data, dq=dq: dq.append((data, time.time())))
    pkts = [struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, (seq // 10) * 3000, 1) + bytes([0x10, 0]) + bytes(1000)
            for seq in range(packets)]
    headers = [parse_rtp(p) for p in pkts]
    best = float("inf")
    now = 1000.0
    for _ in range(5):
        t0 = time.perf_counter()
        for p, h in zip(pkts, headers, strict=True):
            track.on_packet(p, h, now)
            now += 0.0005
        best = min(best, (time.perf_counter() - t0) / packets)
    return best * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per timeit run (5 runs, best kept)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args(argv)
    results = run(args.number)
    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in results.items()}))
        return
    print(f"1200-byte VP8 packet, 3 header extensions; µs per call, best of 5 × {args.number}")
    for name, us in results.items():
        print(f"  {name:<36} {us:8.3f} µs")


if __name__ == "__main__":
    main()
