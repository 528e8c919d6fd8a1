"""A GStreamer late joiner, 20 times: `python -m bench.interop_late_join [--tries 20] [--codec VP8|H264]`.

Issue 19's done-when: a late joiner from a second WebRTC stack gets media in 20 of 20 tries. An aiortc judge
(video+audio) and clerk (audio) publish; a GStreamer webrtcbin peer (tests/gst_peer.py under Debian's
/usr/bin/python3) joins, must decode the judge's video and audio and the clerk's audio within 30 s, and leaves;
again. Prints how many tries got media and the seconds from join to media (median/min/max). The suite runs the
same loop three times (tests/test_interop_gstreamer.py). Needs scripts/ensure-system-deps.sh's GStreamer packages.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path


async def run(tries: int, codec: str) -> int:
    from tests.gst_client import gstreamer_available
    from tests.live import live_server
    from tests.test_interop_gstreamer import late_joins

    if not gstreamer_available():
        print("GStreamer webrtcbin / python3-gi not installed (scripts/ensure-system-deps.sh)", file=sys.stderr)
        return 2
    got: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with live_server(Path(tmp), video_codec=codec) as server:
            for _ in range(tries):  # one try at a time, so a failure is counted and the next one still runs
                try:
                    got += await late_joins(server, 1, codec=codec)
                except (AssertionError, TimeoutError) as exc:
                    print(f"try failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"{codec} room: GStreamer late joiner got media in {len(got)} of {tries} tries")
    if got:
        print(f"join → media: median {statistics.median(got):.2f} s, min {min(got):.2f} s, max {max(got):.2f} s")
    return 0 if len(got) == tries else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--codec", choices=["VP8", "H264"], default="VP8")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.tries, args.codec)))


if __name__ == "__main__":
    main()
