"""Real recorded-clip files, encoded with PyAV: WebM (VP8/VP9 + Opus) as Chromium's MediaRecorder writes,
MP4 (H.264 + AAC) as Safari's does, and refusable ones (other codecs, too long). Noise frames make the size grow
with the bitrate, so a test can ask for a clip big enough to span several 5 MiB multipart parts."""

from __future__ import annotations

import fractions
import io

import av
import numpy as np

CONTAINERS = {"webm": "webm", "mp4": "mp4"}


def make_clip(container: str = "webm", *, video: str | None = "libvpx", audio: str | None = "libopus",
              seconds: float = 2.0, width: int = 160, height: int = 120, fps: int = 15,
              bitrate: int = 300_000, seed: int = 1) -> bytes:
    """Encode a clip in memory and return its bytes."""
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    with av.open(out, mode="w", format=CONTAINERS[container]) as media:
        vstream = astream = None
        if video is not None:
            vstream = media.add_stream(video, rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.bit_rate = bitrate
            if video.startswith("libvpx"):
                vstream.options = {"deadline": "realtime", "cpu-used": "8"}
            elif video == "libx264":
                vstream.options = {"preset": "ultrafast"}
        if audio is not None:
            astream = media.add_stream(audio, rate=48_000)
            astream.layout = "mono"
        frames = int(seconds * fps)
        samples_per_frame = 960
        audio_frames = int(seconds * 48_000 / samples_per_frame)
        for i in range(max(frames, audio_frames)):
            if vstream is not None and i < frames:
                img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                frame.time_base = fractions.Fraction(1, fps)
                for packet in vstream.encode(frame):
                    media.mux(packet)
            if astream is not None and i < audio_frames:
                tone = (np.sin(np.arange(samples_per_frame) * 0.05 + i) * 3000).astype(np.int16)
                aframe = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
                aframe.sample_rate = 48_000
                aframe.pts = i * samples_per_frame
                aframe.time_base = fractions.Fraction(1, 48_000)
                for packet in astream.encode(aframe):
                    media.mux(packet)
        for stream in (vstream, astream):
            if stream is not None:
                for packet in stream.encode(None):
                    media.mux(packet)
    return out.getvalue()
