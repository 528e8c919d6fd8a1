"""The embedded object store: one file per key under a directory, for `make run` and single-node deployments.

Layout: the object under key ``a/b.webm`` is the file ``<root>/a/b.webm``; its content type lives in the
sidecar ``<root>/a/b.webm~meta.json``. Temp files are ``<name>~tmp~<random>``. A multipart upload is the marker
``<name>~mpu~<upload id>`` (its content type) and one file per part, ``<name>~mpu~<upload id>~<number>``.
``~`` can never appear in a key (see `check_key`), so sidecars and temp files never collide with an object and
list() skips them by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from recordings.durable import fsync_dir
from recordings.objectstore import (
    MAX_PARTS,
    MIN_PART_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreError,
    PartTooSmall,
    UploadedPart,
    check_key,
)

_MARK = "~"  # never valid in a key: marks sidecars and temp files
_META_SUFFIX = "~meta.json"
_DEFAULT_TYPE = "application/octet-stream"
MAX_PRESIGN = timedelta(days=7)  # the S3 limit; enforced here too so both backends accept the same inputs

SignatureCheck = Literal["ok", "bad_signature", "expired"]


def _atomic_write(target: Path, data: bytes) -> None:
    """Temp file beside the target, fsync, rename: readers see the old or the new object, never half."""
    tmp = target.with_name(f"{target.name}{_MARK}tmp{_MARK}{secrets.token_hex(6)}")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def _expires_seconds(expires: timedelta) -> int:
    seconds = int(expires.total_seconds())
    if not 1 <= seconds <= MAX_PRESIGN.total_seconds():
        raise ValueError(f"presigned URL expiry must be between 1 second and 7 days, got {expires}")
    return seconds


class LocalObjectStore:
    """`ObjectStore` over a local directory; presigned URLs are HMAC-signed, served by `local_objects_router`.

    delete() of a missing key is a no-op (as on S3), so retried clean-ups never fail.
    list() returns content_type "" (S3's listing has no content types; stat() has them on both backends).
    """

    def __init__(self, root: Path, *, url_base: str, signing_key: bytes) -> None:
        if not signing_key:
            raise ValueError("LocalObjectStore needs a non-empty signing_key for presigned URLs")
        self.root = Path(root)
        self.url_base = url_base.rstrip("/")
        self._signing_key = signing_key

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r})"

    # -- paths -------------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file holding `key` (it may not exist). Validates the key, so the path never leaves root."""
        check_key(key)
        if _MARK in key:  # pragma: no cover - check_key already rejects it; kept as a guard for the layout
            raise InvalidKey(f"invalid object key {key!r}")
        return self.root.joinpath(*key.split("/"))

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + _META_SUFFIX)

    # -- sync bodies (run in a worker thread) ------------------------------------------------------

    def _info(self, key: str, path: Path) -> ObjectInfo:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from None
        if not path.is_file():
            raise ObjectNotFound(f"no object {key!r} in {self.root} (it is a directory of other objects)")
        content_type = _DEFAULT_TYPE
        try:
            content_type = str(json.loads(self._meta_path(path).read_text("utf-8"))["content_type"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a missing/corrupt sidecar (crash between the two renames) only loses the type
        return ObjectInfo(
            key=key,
            size=st.st_size,
            content_type=content_type,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
        )

    def _put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        path = self.path_for(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Data first, then type: a crash in between leaves the right bytes with a stale/default type.
            _atomic_write(path, data)
            _atomic_write(self._meta_path(path), json.dumps({"content_type": content_type}).encode())
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise ObjectStoreError(
                f"cannot store {key!r} in {self.root}: a key is both an object and a folder of objects "
                f"({exc}); the local store cannot hold 'a' and 'a/b' at once"
            ) from exc
        except OSError as exc:
            raise ObjectStoreError(
                f"cannot write object {key!r} under {self.root}: {exc}; check the directory exists, "
                "is writable and the disk is not full"
            ) from exc
        return self._info(key, path)

    def _get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from None
        except OSError as exc:
            raise ObjectStoreError(f"cannot read object {key!r} under {self.root}: {exc}") from exc

    def _list(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        start = self.root
        folder = prefix.rpartition("/")[0]
        if folder:
            try:  # walk only the prefix's folder; an invalid folder cannot match any key
                start = self.path_for(folder)
            except InvalidKey:
                return out
        if not start.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if _MARK not in d]
            rel_dir = Path(dirpath).relative_to(self.root)
            for name in filenames:
                if _MARK in name:
                    continue
                key = (rel_dir / name).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:  # deleted while listing
                    continue
                out.append(
                    ObjectInfo(
                        key=key,
                        size=st.st_size,
                        content_type="",
                        modified=datetime.fromtimestamp(st.st_mtime, UTC),
                        etag=f"{st.st_size:x}-{st.st_mtime_ns:x}",
                    )
                )
        out.sort(key=lambda i: i.key)
        return out

    def _delete(self, key: str) -> None:
        path = self.path_for(key)
        if path.is_dir():
            return  # a "folder" is not an object: nothing to delete, as on S3
        for p in (path, self._meta_path(path)):
            try:
                p.unlink()
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as exc:
                raise ObjectStoreError(f"cannot delete object {key!r} under {self.root}: {exc}") from exc

    def _mpu_marker(self, key: str, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ObjectStoreError(f"no multipart upload {upload_id!r} of {key!r}")
        path = self.path_for(key)
        return path.with_name(f"{path.name}{_MARK}mpu{_MARK}{upload_id}")

    def _live_marker(self, key: str, upload_id: str) -> Path:
        marker = self._mpu_marker(key, upload_id)
        if not marker.is_file():
            raise ObjectStoreError(f"no multipart upload {upload_id!r} of {key!r} in {self.root} "
                                   "(completed or aborted already?)")
        return marker

    def _create_multipart(self, key: str, content_type: str) -> str:
        upload_id = secrets.token_hex(16)
        marker = self._mpu_marker(key, upload_id)
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(marker, json.dumps({"content_type": content_type}).encode())
        except OSError as exc:
            raise ObjectStoreError(f"cannot start a multipart upload of {key!r} under {self.root}: {exc}") from exc
        return upload_id

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        marker = self._live_marker(key, upload_id)
        try:
            _atomic_write(marker.with_name(f"{marker.name}{_MARK}{number:05d}"), data)
        except OSError as exc:
            raise ObjectStoreError(f"cannot store part {number} of {key!r} under {self.root}: {exc}") from exc
        return UploadedPart(number, hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))

    def _complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> ObjectInfo:
        marker = self._live_marker(key, upload_id)
        ordered = sorted(parts, key=lambda p: p.number)
        if any(p.size < MIN_PART_SIZE for p in ordered[:-1]):
            raise PartTooSmall(f"multipart {key!r}: every part but the last must be at least {MIN_PART_SIZE} bytes")
        path = self.path_for(key)
        tmp = path.with_name(f"{path.name}{_MARK}tmp{_MARK}{secrets.token_hex(6)}")
        try:
            with open(tmp, "xb") as out:
                for p in ordered:
                    part = marker.with_name(f"{marker.name}{_MARK}{p.number:05d}")
                    data = part.read_bytes()
                    if len(data) != p.size or hashlib.md5(data, usedforsecurity=False).hexdigest() != p.etag:
                        raise ObjectStoreError(f"multipart {key!r}: part {p.number} is not the one uploaded")
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
            content_type = str(json.loads(marker.read_text("utf-8"))["content_type"])
            os.replace(tmp, path)
            fsync_dir(path.parent)
            _atomic_write(self._meta_path(path), json.dumps({"content_type": content_type}).encode())
        except FileNotFoundError as exc:
            raise ObjectStoreError(f"multipart {key!r}: a part was never uploaded ({exc.filename})") from exc
        except OSError as exc:
            raise ObjectStoreError(f"cannot complete multipart {key!r} under {self.root}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._abort_multipart(key, upload_id)
        return self._info(key, path)

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        marker = self._mpu_marker(key, upload_id)
        if not marker.parent.is_dir():
            return
        for leftover in marker.parent.glob(f"{marker.name}{_MARK}*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()

    def _ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.root.is_dir():
                raise NotADirectoryError(f"{self.root} is not a directory")
            probe = self.root / f".ping{_MARK}tmp{_MARK}{secrets.token_hex(6)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ObjectStoreError(
                f"local object store at {self.root} is not a writable directory ({exc}); "
                "check the recordings directory setting and its permissions"
            ) from exc

    # -- the ObjectStore interface -----------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str = _DEFAULT_TYPE) -> ObjectInfo:
        check_key(key)
        return await asyncio.to_thread(self._put, key, bytes(data), content_type)

    async def get(self, key: str) -> bytes:
        check_key(key)
        return await asyncio.to_thread(self._get, key)

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path_for(key)
        return await asyncio.to_thread(self._info, key, path)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        return await asyncio.to_thread(self._list, prefix)

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._delete, key)

    async def presigned_get(self, key: str, expires: timedelta) -> str:
        check_key(key)
        expires_at = int(time.time()) + _expires_seconds(expires)
        return f"{self.url_base}/objects/{key}?expires={expires_at}&signature={self.sign(key, expires_at)}"

    async def create_multipart(self, key: str, content_type: str = _DEFAULT_TYPE) -> str:
        check_key(key)
        return await asyncio.to_thread(self._create_multipart, key, content_type)

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        check_key(key)
        if not 1 <= number <= MAX_PARTS:
            raise ValueError(f"part numbers are 1 to {MAX_PARTS}, got {number}")
        return await asyncio.to_thread(self._upload_part, key, upload_id, number, bytes(data))

    async def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> ObjectInfo:
        check_key(key)
        return await asyncio.to_thread(self._complete_multipart, key, upload_id, list(parts))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._abort_multipart, key, upload_id)

    async def ping(self) -> None:
        await asyncio.to_thread(self._ping)

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    # -- presigned URL signatures ------------------------------------------------------------------

    def sign(self, key: str, expires_at: int) -> str:
        """Hex HMAC-SHA256 over key and expiry; the newline keeps ("a1", 2) and ("a", 12) apart."""
        msg = f"{key}\n{int(expires_at)}".encode()
        return hmac.new(self._signing_key, msg, hashlib.sha256).hexdigest()

    def check_presigned(
        self, key: str, expires: int, signature: str, now: float | None = None
    ) -> SignatureCheck:
        """Signature first, then expiry: a tampered expiry reads as a bad signature, not as "expired"."""
        if not hmac.compare_digest(self.sign(key, expires).encode(), signature.encode("utf-8", "replace")):
            return "bad_signature"
        if (time.time() if now is None else now) > expires:
            return "expired"
        return "ok"

    def verify_presigned(self, key: str, expires: int, signature: str, now: float | None = None) -> bool:
        return self.check_presigned(key, expires, signature, now) == "ok"
