"""The object-store interface: recordings and exhibits go through this, never to a backend directly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,1023}$")


class ObjectStoreError(Exception):
    """The backend failed or refused; the message says which object and what to do."""


class ObjectNotFound(ObjectStoreError):
    """No object under that key."""


class InvalidKey(ObjectStoreError, ValueError):
    """Keys are relative, slash-separated, without '..' or empty parts, so both backends agree on them."""


def check_key(key: str) -> str:
    """Reject keys that would escape a directory or that S3 and a filesystem would treat differently."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise InvalidKey(f"invalid object key {key!r}: use letters, digits, '.', '_', '-' and '/' only")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidKey(f"invalid object key {key!r}: empty, '.' or '..' path parts are not allowed")
    return key


MIN_PART_SIZE = 5 << 20
"""S3's smallest multipart part (every part but the last); the local store enforces it too, so both agree."""
MAX_PARTS = 10_000


class PartTooSmall(ObjectStoreError, ValueError):
    """A multipart part other than the last is under MIN_PART_SIZE."""


@dataclass(frozen=True, slots=True)
class UploadedPart:
    """One part of a multipart upload, as `upload_part` answered: its number (1..MAX_PARTS), ETag and size."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    modified: datetime
    etag: str = ""


@runtime_checkable
class ObjectStore(Protocol):
    """Put/get/stat/list/delete and presigned GET. Implemented by the local directory and S3 (minio SDK)."""

    async def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> ObjectInfo: ...

    async def get(self, key: str) -> bytes: ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """All objects whose key starts with `prefix` (nested too), sorted by key.

        content_type is "" here (S3's listing does not report it); use stat() for it.
        """
        ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error (S3's semantics), so retried clean-ups succeed."""
        ...

    async def presigned_get(self, key: str, expires: timedelta) -> str: ...

    # Multipart: an object written in parts (clips arriving in chunks over a bad link), invisible until completed.
    # Parts may be re-uploaded under the same number (the last one wins), so a retried part is harmless.

    async def create_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        """Start a multipart upload of `key`; returns its upload id (the backend's, opaque)."""
        ...

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart: ...

    async def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> ObjectInfo:
        """Join the parts (in number order) into the object. Raises PartTooSmall if a non-last part is short."""
        ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the parts of an upload; idempotent, like delete."""
        ...

    async def ping(self) -> None:
        """Raise ObjectStoreError when the backend cannot be reached (used by /readyz)."""
        ...

    async def close(self) -> None: ...

