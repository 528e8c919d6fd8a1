"""`ObjectStore` over MinIO or any S3 endpoint, via the synchronous `minio` SDK run in worker threads."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import GOVERNANCE
from minio.datatypes import Part
from minio.error import MinioException, S3Error
from minio.retention import Retention
from urllib3.exceptions import HTTPError as Urllib3Error

from recordings.objectstore import (
    MAX_PARTS,
    MIN_PART_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreError,
    PartTooSmall,
    UploadedPart,
    check_key,
)

T = TypeVar("T")

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject"})
_BUCKET_TAKEN = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_CREDENTIALS = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
MAX_PRESIGN = timedelta(days=7)  # S3's limit for SigV4 presigned URLs


def _http_client(secure: bool, connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    """Short timeouts, so an outage surfaces in seconds (minio's default: 5 min, 5 tries).

    One retry for a refused or dropped connection; a server that answers 5xx (a busy or briefly failing
    endpoint) gets three, with backoff, since it is demonstrably up.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=urllib3.Retry(total=4, connect=1, read=1, status=3, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )


class S3ObjectStore:
    """`ObjectStore` over one S3 bucket.

    The bucket is created if missing on first use: `ping()` (which the app awaits at start-up) or any other
    operation does it once, so a fresh MinIO works without a setup step.
    delete() of a missing key is a no-op (S3's own semantics).
    list() returns content_type "" (S3's ListObjects does not report it; use stat()).
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        object_lock_days: int = 0,
        object_lock_prefix: str = "recordings/",
    ) -> None:
        self.endpoint = endpoint
        # Evidence under WORM retention: with object_lock_days > 0 the bucket is created with object locking and
        # every object under `object_lock_prefix` is put under GOVERNANCE retention until now + that many days
        # (S3/MinIO then refuse to delete or overwrite that version; only a governance-bypass grant can).
        self.object_lock_days = object_lock_days
        self.object_lock_prefix = object_lock_prefix
        self.bucket = bucket
        self.secure = secure
        self._http = _http_client(secure, connect_timeout, read_timeout)
        # An explicit region spares minio a GetBucketLocation round trip before every first request.
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region,
            http_client=self._http,
        )
        self._bucket_ready = False
        self._bucket_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    # -- error mapping -----------------------------------------------------------------------------

    def _where(self) -> str:
        scheme = "https" if self.secure else "http"
        return f"S3 endpoint {scheme}://{self.endpoint}, bucket {self.bucket!r}"

    def _translate(self, exc: Exception, what: str, key: str | None) -> ObjectStoreError:
        if isinstance(exc, S3Error):
            if exc.code in _NOT_FOUND and key is not None:
                return ObjectNotFound(f"no object {key!r} in bucket {self.bucket!r}")
            if exc.code == "NoSuchBucket":
                return ObjectStoreError(
                    f"{what}: bucket {self.bucket!r} does not exist at {self._where()}; it was deleted after "
                    "start-up? restart the app (it creates the bucket) or check S3_BUCKET"
                )
            if exc.code in _CREDENTIALS:
                return ObjectStoreError(
                    f"{what}: {self._where()} refused the credentials ({exc.code}); "
                    "check S3_ACCESS_KEY and S3_SECRET_KEY"
                )
            return ObjectStoreError(f"{what}: {self._where()} answered {exc.code}: {exc.message}")
        if isinstance(exc, (Urllib3Error, OSError)):
            return ObjectStoreError(
                f"{what}: cannot reach {self._where()} ({type(exc).__name__}: {exc}); "
                "is the S3 endpoint running? check S3_ENDPOINT"
            )
        return ObjectStoreError(f"{what}: {self._where()} failed ({type(exc).__name__}: {exc})")

    async def _call(self, what: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run one blocking SDK call in a thread and turn every backend failure into ObjectStoreError."""
        try:
            return await asyncio.to_thread(fn)
        except ObjectStoreError:
            raise
        except (MinioException, Urllib3Error, OSError) as exc:
            raise self._translate(exc, what, key) from exc

    # -- bucket ------------------------------------------------------------------------------------

    def _ensure_bucket_sync(self) -> None:
        if self._client.bucket_exists(self.bucket):
            return
        try:
            self._client.make_bucket(self.bucket, object_lock=self.object_lock_days > 0)
        except S3Error as exc:
            if exc.code not in _BUCKET_TAKEN:  # another node created it in between
                raise

    async def ensure_bucket(self) -> None:
        """Create the bucket if missing; done once per store, then remembered."""
        if self._bucket_ready:
            return
        async with self._bucket_lock:
            if not self._bucket_ready:
                await self._call("create bucket", None, self._ensure_bucket_sync)
                self._bucket_ready = True

    # -- the ObjectStore interface -----------------------------------------------------------------

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        check_key(key)
        await self.ensure_bucket()
        payload = bytes(data)
        retention, headers = self._retention(key, payload)
        result = await self._call(
            f"put {key!r}", key,
            lambda: self._client.put_object(
                self.bucket, key, io.BytesIO(payload), len(payload), content_type=content_type,
                metadata=headers, retention=retention,
            ),
        )
        etag = (result.etag or "").strip('"')
        return ObjectInfo(key, len(payload), content_type, result.last_modified or datetime.now(UTC), etag)

    def _retention(self, key: str, payload: bytes) -> tuple[Retention | None, dict[str, str] | None]:
        """The retention for `key` (None when object locking is off or the key is not a recording).

        S3 wants an integrity checksum with every object-lock put (Content-MD5 or an x-amz-checksum-*); minio
        signs plain-HTTP payloads with SHA-256 but sends neither, so the SHA-256 checksum header goes along.
        """
        if self.object_lock_days <= 0 or not key.startswith(self.object_lock_prefix):
            return None, None
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.object_lock_days)
        checksum = base64.b64encode(hashlib.sha256(payload).digest()).decode()
        return Retention(GOVERNANCE, until), {"x-amz-sdk-checksum-algorithm": "SHA256",
                                              "x-amz-checksum-sha256": checksum}

    def _get_sync(self, key: str) -> bytes:
        response = self._client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def get(self, key: str) -> bytes:
        check_key(key)
        await self.ensure_bucket()
        return await self._call(f"get {key!r}", key, lambda: self._get_sync(key))

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        await self.ensure_bucket()
        obj = await self._call(f"stat {key!r}", key, lambda: self._client.stat_object(self.bucket, key))
        return ObjectInfo(
            key=key,
            size=int(obj.size or 0),
            content_type=obj.content_type or "application/octet-stream",
            modified=obj.last_modified or datetime.now(UTC),
            etag=(obj.etag or "").strip('"'),
        )

    def _list_sync(self, prefix: str) -> list[ObjectInfo]:
        infos = [
            ObjectInfo(
                key=str(o.object_name),
                size=int(o.size or 0),
                content_type="",
                modified=o.last_modified or datetime.now(UTC),
                etag=(o.etag or "").strip('"'),
            )
            for o in self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            if not o.is_dir
        ]
        infos.sort(key=lambda i: i.key)
        return infos

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        await self.ensure_bucket()
        return await self._call(f"list {prefix!r}", None, lambda: self._list_sync(prefix))

    async def delete(self, key: str) -> None:
        check_key(key)
        await self.ensure_bucket()
        await self._call(f"delete {key!r}", key, lambda: self._client.remove_object(self.bucket, key))

    async def presigned_get(self, key: str, expires: timedelta) -> str:
        """Signed locally (no request): with the region fixed, minio needs no network to sign."""
        check_key(key)
        if not timedelta(seconds=1) <= expires <= MAX_PRESIGN:
            raise ValueError(f"presigned URL expiry must be between 1 second and 7 days, got {expires}")
        return await self._call(
            f"presign {key!r}", key,
            lambda: self._client.presigned_get_object(self.bucket, key, expires=expires),
        )

    # -- multipart ---------------------------------------------------------------------------------------
    # minio's high-level put_object does multipart only from one stream in one call; a resumable upload spans many
    # requests (and instances), so the four S3 calls are used directly. They are underscore methods of `Minio`
    # (stable since minio 7.0); tests/test_objectstore.py's multipart cases fail loudly if an upgrade moves them.

    async def create_multipart(self, key: str, content_type: str = "application/octet-stream") -> str:
        check_key(key)
        await self.ensure_bucket()
        return await self._call(f"start multipart {key!r}", key, lambda: self._client._create_multipart_upload(
            self.bucket, key, {"Content-Type": content_type}))

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        check_key(key)
        if not 1 <= number <= MAX_PARTS:
            raise ValueError(f"part numbers are 1 to {MAX_PARTS}, got {number}")
        payload = bytes(data)
        etag = await self._call(f"upload part {number} of {key!r}", key, lambda: self._client._upload_part(
            self.bucket, key, payload, None, upload_id, number))
        return UploadedPart(number, str(etag).strip('"'), len(payload))

    async def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> ObjectInfo:
        check_key(key)
        ordered = sorted(parts, key=lambda p: p.number)
        if any(p.size < MIN_PART_SIZE for p in ordered[:-1]):
            raise PartTooSmall(f"multipart {key!r}: every part but the last must be at least {MIN_PART_SIZE} bytes")
        await self._call(f"complete multipart {key!r}", key, lambda: self._client._complete_multipart_upload(
            self.bucket, key, upload_id, [Part(p.number, p.etag) for p in ordered]))
        if self.object_lock_days > 0 and key.startswith(self.object_lock_prefix):
            # As put() does for evidence: the assembled object goes under retention (set on the completed object;
            # a retention sent with CreateMultipartUpload is not honoured by every S3 implementation).
            until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.object_lock_days)
            await self._call(f"retain {key!r}", key, lambda: self._client.set_object_retention(
                self.bucket, key, Retention(GOVERNANCE, until)))
        return await self.stat(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)

        def abort() -> None:
            try:
                self._client._abort_multipart_upload(self.bucket, key, upload_id)
            except S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise

        await self._call(f"abort multipart {key!r}", key, abort)

    async def ping(self) -> None:
        """Reach the endpoint and make sure the bucket exists (creating it on first start)."""
        await self._call("ping", None, self._ensure_bucket_sync)
        self._bucket_ready = True

    async def close(self) -> None:
        self._http.clear()
