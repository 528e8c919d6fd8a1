"""Photos a citizen attaches to a petition: the type read from the bytes (never the name), size- and count-capped.
Pure: the service stores what passes in the object store with its SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_PHOTOS = 6


@dataclass(frozen=True, slots=True)
class Photo:
    name: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class PhotoRefused(ValueError):
    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def sniff(data: bytes) -> str | None:
    """The image type from the first bytes: JPEG, PNG or WebP; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photos(photos: Sequence[Photo], max_bytes: int) -> list[tuple[Photo, str]]:
    """Each photo with its media type, or PhotoRefused for the first that is not accepted (all or nothing)."""
    if len(photos) > MAX_PHOTOS:
        raise PhotoRefused("photos_too_many", f"attach at most {MAX_PHOTOS} photos")
    out = []
    for i, photo in enumerate(photos, 1):
        if not photo.data:
            raise PhotoRefused("photo_empty", f"photo {i} is empty")
        if len(photo.data) > max_bytes:
            raise PhotoRefused("photo_too_large", f"photo {i} is over {max_bytes >> 20} MiB", 413)
        kind = sniff(photo.data)
        if kind is None:
            raise PhotoRefused("photo_unsupported", f"photo {i} is not a JPEG, PNG or WebP image", 415)
        out.append((photo, kind))
    return out
