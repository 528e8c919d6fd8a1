"""A pre-encoded test clip and a replay track for the media benchmark (`bench.sfu`).

Why pre-encoded: the benchmark measures the server, so the publisher must not spend a core encoding video
while the server is being timed. The clip is generated once with PyAV (640x480, 30 fps, ~1.5 Mbit/s, a keyframe
every 2 s; VP8 via libvpx, H.264 constrained baseline via libx264) and cached under `var/bench-cache/` (or
`$BENCH_CACHE_DIR`). Content is a drifting gradient, a moving box and fresh noise in every frame, so delta frames
carry real bits and the rate controller works at its target, as with a camera.

Besides the normal stream, every frame is also encoded as an intra frame (the "all-intra" version), so the
replay can answer a keyframe request the way a live encoder does (see `ClipTrack`).
"""

from __future__ import annotations

import asyncio
import fractions
import os
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

WIDTH, HEIGHT, FPS = 640, 480, 30
SECONDS = 10
GOP = 2 * FPS
BITRATE = 1_500_000
VIDEO_CLOCK = 90_000
_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
_FRAME_TICKS = VIDEO_CLOCK // FPS
_MAGIC = b"HCLIP1\n"
_VERSION = "v3"  # bump when the generator changes so a stale cache is never reused
_REC = struct.Struct("!BII")  # keyframe flag, normal length, intra length

CODECS = {"vp8": "libvpx", "h264": "libx264"}


@dataclass(frozen=True)
class Clip:
    """The encoded frames: `frames[i]` is the normal stream, `intra[i]` the same picture as a keyframe."""

    codec: str
    frames: list[bytes]
    intra: list[bytes]
    keyframes: list[bool]

    @property
    def bitrate(self) -> float:
        return sum(len(f) for f in self.frames) * 8 * FPS / len(self.frames)


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_CACHE_DIR") or Path.cwd() / "var" / "bench-cache")


def _picture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gradient drifting right, a box bouncing around, noise everywhere (a camera is never still)."""
    x = (np.arange(WIDTH, dtype=np.int32) * 255 // WIDTH + 3 * n) % 256
    y = np.arange(HEIGHT, dtype=np.int32) * 255 // HEIGHT
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.int32)
    img[..., 0] = x[None, :]
    img[..., 1] = y[:, None]
    img[..., 2] = (x[None, :] + y[:, None]) // 2
    bx = int((WIDTH - 120) * (0.5 + 0.5 * np.sin(n / 23)))
    by = int((HEIGHT - 120) * (0.5 + 0.5 * np.cos(n / 17)))
    img[by : by + 120, bx : bx + 120] = (230, 40 + (n * 5) % 200, 60)
    img += rng.integers(-12, 13, size=(HEIGHT, WIDTH, 1), dtype=np.int32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _encoder(codec: str, *, intra: bool, bit_rate: int) -> av.VideoCodecContext:
    ctx = av.CodecContext.create(CODECS[codec], "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.bit_rate = bit_rate
    ctx.gop_size = 1 if intra else 10 * GOP  # keyframes are forced every GOP frames, never placed by the encoder
    ctx.max_b_frames = 0
    if codec == "vp8":
        ctx.options = {"deadline": "realtime", "cpu-used": "4", "lag-in-frames": "0", "auto-alt-ref": "0",
                       "minrate": str(bit_rate), "maxrate": str(bit_rate), "bufsize": str(bit_rate),
                       "keyint_min": str(ctx.gop_size), "undershoot-pct": "95", "overshoot-pct": "15"}
    else:
        ctx.profile = "Constrained Baseline"
        keyint = ctx.gop_size
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "level": "31", "maxrate": str(bit_rate),
                       "bufsize": str(bit_rate), "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:"
                       "bframes=0:repeat-headers=1:sliced-threads=0"}
    return ctx


def _encode(codec: str, pictures: list[np.ndarray], *, intra: bool, bit_rate: int) -> tuple[list[bytes], list[bool]]:
    """One packet per picture; the clip's last second is encoded first and dropped, so the rate controller is
    already steady at frame 0 (as when the replay loops) instead of spending a huge first keyframe."""
    ctx = _encoder(codec, intra=intra, bit_rate=bit_rate)
    warmup = pictures[-FPS:]
    out: list[bytes] = []
    keys: list[bool] = []

    def take(packets: list[av.Packet]) -> None:
        for p in packets:
            out.append(bytes(p))
            keys.append(bool(p.is_keyframe))

    for i, img in enumerate(warmup + pictures):
        n = i - len(warmup)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        key = intra or (n >= 0 and n % GOP == 0)
        frame.pict_type = av.video.frame.PictureType.I if key else av.video.frame.PictureType.NONE
        take(ctx.encode(frame))
    take(ctx.encode(None))
    if len(out) != len(warmup) + len(pictures):
        raise RuntimeError(f"{codec}: {len(pictures)} pictures gave {len(out)} packets (want one per frame)")
    return out[len(warmup) :], keys[len(warmup) :]


def generate(codec: str, progress: bool = True) -> Clip:
    rng = np.random.default_rng(20240601)
    pictures = [_picture(n, rng) for n in range(SECONDS * FPS)]
    frames, keys = _encode(codec, pictures, intra=False, bit_rate=BITRATE)
    key_sizes = [len(f) for f, k in zip(frames, keys, strict=True) if k]
    # Intra frames about the size of the stream's own keyframes: what the live encoder would send on a PLI.
    want = sorted(key_sizes)[len(key_sizes) // 2]
    intra, _ = _encode(codec, pictures, intra=True, bit_rate=want * 8 * FPS)
    got = sum(map(len, intra)) / len(intra)
    if abs(got / want - 1) > 0.25:  # libvpx overshoots all-intra targets: correct once
        intra, _ = _encode(codec, pictures, intra=True, bit_rate=int(want * 8 * FPS * want / got))
    clip = Clip(codec, frames, intra, keys)
    if progress:
        print(f"  clip {codec}: {len(frames)} frames, {sum(keys)} keyframes, {clip.bitrate / 1e6:.2f} Mbit/s, "
              f"keyframe ~{sum(key_sizes) // len(key_sizes) // 1000} kB, "
              f"intra ~{sum(map(len, intra)) // len(intra) // 1000} kB", file=sys.stderr, flush=True)
    return clip


def _path(codec: str) -> Path:
    return cache_dir() / f"clip-{codec}-{WIDTH}x{HEIGHT}-{FPS}fps-{BITRATE // 1000}k-{_VERSION}.bin"


def save(clip: Clip, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(_MAGIC + struct.pack("!I", len(clip.frames)))
        for data, intra, key in zip(clip.frames, clip.intra, clip.keyframes, strict=True):
            f.write(_REC.pack(key, len(data), len(intra)) + data + intra)
    tmp.replace(path)


def load(codec: str) -> Clip:
    raw = _path(codec).read_bytes()
    if not raw.startswith(_MAGIC):
        raise ValueError(f"{_path(codec)} is not a bench clip")
    (count,) = struct.unpack_from("!I", raw, len(_MAGIC))
    pos = len(_MAGIC) + 4
    frames, intra, keys = [], [], []
    for _ in range(count):
        key, n, m = _REC.unpack_from(raw, pos)
        pos += _REC.size
        frames.append(raw[pos : pos + n])
        intra.append(raw[pos + n : pos + n + m])
        keys.append(bool(key))
        pos += n + m
    return Clip(codec, frames, intra, keys)


def ensure(codec: str) -> Clip:
    """The cached clip, generated first if missing (a few seconds of encoding, once)."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {sorted(CODECS)}")
    path = _path(codec)
    if not path.exists():
        print(f"  generating the {codec} bench clip into {path} ...", file=sys.stderr, flush=True)
        save(generate(codec), path)
    return load(codec)


class ClipTrack(MediaStreamTrack):
    """Replays the clip as encoded `av.Packet`s at 30 fps, forever; aiortc's sender only packetizes them.

    Bench-only simulation of a live encoder: a file replay cannot make a keyframe when asked, but a camera's
    encoder answers a PLI/FIR with one (~100 ms later, DESIGN "Media plane"). So `request_keyframe()` (hooked to
    the sender's PLI/FIR handling by `answer_keyframe_requests`) makes the next frame sent the all-intra encoding of
    that picture; the normal stream continues after it. The following delta frames reference the normal stream's
    picture, so a decoder would see slight drift until the next scheduled keyframe; the benchmark never decodes.
    """

    kind = "video"

    def __init__(self, clip: Clip) -> None:
        super().__init__()
        self.clip = clip
        self.sent = 0
        self.keyframes_requested = 0
        self.intra_sent = 0
        self._want_key = False
        self._start: float | None = None

    def request_keyframe(self) -> None:
        self.keyframes_requested += 1
        self._want_key = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        n = self.sent
        if self._start is None:
            self._start = time.monotonic()
        else:
            delay = self._start + n / FPS - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        i = n % len(self.clip.frames)
        data = self.clip.frames[i]
        if self._want_key and not self.clip.keyframes[i]:
            data = self.clip.intra[i]
            self.intra_sent += 1
        self._want_key = False
        packet = av.Packet(data)
        packet.pts = packet.dts = n * _FRAME_TICKS
        packet.time_base = _TIME_BASE
        self.sent += 1
        return packet


def answer_keyframe_requests(sender: object, track: ClipTrack) -> None:
    """Route the sender's PLI/FIR handling (aiortc calls `self._send_keyframe()`) to the replay track.

    Bench-only: aiortc's `_send_keyframe` would set a flag for its own encoder, which a packet replay never uses.
    """
    sender._send_keyframe = track.request_keyframe  # type: ignore[attr-defined]


def main() -> None:
    for codec in CODECS:
        clip = ensure(codec)
        print(f"{codec}: {len(clip.frames)} frames, {clip.bitrate / 1e6:.2f} Mbit/s")


if __name__ == "__main__":
    main()
