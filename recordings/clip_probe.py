"""What a recorded clip is, read from its bytes: container sniffed from the first bytes, codecs and duration by
demuxing with PyAV (packets only, never decoding), then checked against the clip policy.

A browser's MediaRecorder writes WebM (VP8/VP9 + Opus) in Chromium and Firefox and MP4 (H.264 + AAC) in Safari;
Chromium's WebM carries no duration in its header (it is written live), so the duration is taken from the last
packet's end, which costs one pass over the packets (a 3-minute clip: a few thousand packets, milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

__all__ = ["AUDIO_CODECS", "CONTAINER_TYPES", "VIDEO_CODECS", "ClipProbe", "ProbeFailed", "probe_file", "sniff"]

CONTAINER_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}
"""Container → the media type it is declared as (an `audio/...` declaration is accepted for the same container)."""
VIDEO_CODECS = frozenset({"vp8", "vp9", "h264"})
AUDIO_CODECS = frozenset({"opus", "aac"})
_EBML = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """'webm', 'mp4' or None from the first bytes (at least 12). Matroska that is not WebM is told apart by PyAV's
    doctype check in `probe_file`."""
    if head.startswith(_EBML):
        return "webm"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    return None


class ProbeFailed(ValueError):
    """PyAV could not demux the bytes: not a media file, or truncated."""


@dataclass(frozen=True, slots=True)
class ClipProbe:
    container: str  # webm | mp4
    video_codec: str | None
    audio_codec: str | None
    duration_ms: int
    width: int | None
    height: int | None
    streams: tuple[str, ...]  # every stream's codec name, in order (extra streams are refused by the policy)


def _end_ms(packet: Any) -> int | None:
    if packet.pts is None or packet.time_base is None:
        return None
    end = packet.pts + (packet.duration or 0)
    return int(end * packet.time_base * 1000)


def probe_file(path: Path, container: str) -> ClipProbe:
    """Demux `path` (sniffed as `container`) and report its streams and duration. Blocking: run in a thread."""
    try:
        with av.open(str(path), mode="r") as media:
            fmt = media.format.name
            if container == "webm" and "matroska" not in fmt and "webm" not in fmt:
                raise ProbeFailed(f"sniffed as WebM but demuxed as {fmt}")
            if container == "mp4" and "mp4" not in fmt:
                raise ProbeFailed(f"sniffed as MP4 but demuxed as {fmt}")
            names = tuple(s.codec_context.name for s in media.streams)
            video = next((s for s in media.streams if s.type == "video"), None)
            audio = next((s for s in media.streams if s.type == "audio"), None)
            start: int | None = None
            end = 0
            for packet in media.demux():
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream flush packets
                ms = _end_ms(packet)
                if ms is None:
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    first = int(packet.pts * packet.time_base * 1000)
                    start = first if start is None else min(start, first)
                end = max(end, ms)
            duration = max(0, end - (start or 0))
            return ClipProbe(
                container=container,
                video_codec=video.codec_context.name if video is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                duration_ms=duration,
                width=(video.codec_context.width or None) if video is not None else None,
                height=(video.codec_context.height or None) if video is not None else None,
                streams=names,
            )
    except ProbeFailed:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise ProbeFailed(f"{type(exc).__name__}: {exc}") from exc
