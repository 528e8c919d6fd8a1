"""Evidence files attached to an appeal or repair request (信用修复): what the court accepts, and where it keeps them.

Pure checks, no I/O: the type is read from the bytes (magic numbers), never from the file name or the browser's
content type, so a renamed executable is refused; only PDF, PNG and JPEG are accepted (what a person scans or
photographs a receipt or a court notice as), each at most `MAX_EVIDENCE_BYTES`, at most `MAX_EVIDENCE_FILES` per
appeal. The file name is kept only as a cleaned display name; storage keys never contain it.

`EvidenceStore` is the little the integrity service needs of an object store. app/ passes the platform's object
store (recordings.objectstore.ObjectStore, local directory or S3); integrity/ never imports recordings/.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

MIB = 1024 * 1024
MAX_EVIDENCE_BYTES = 10 * MIB
MAX_EVIDENCE_FILES = 10
MAX_NAME_CHARS = 120
VIEW_TTL = timedelta(minutes=5)
"""How long a judge's link to an evidence file works: long enough to open it, short enough not to be shared."""
KEY_PREFIX = "integrity/evidence"


class EvidenceType(StrEnum):
    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"


class RefusalCode(StrEnum):
    EMPTY = "evidence_empty"
    TOO_LARGE = "evidence_too_large"
    UNSUPPORTED_TYPE = "evidence_unsupported_type"
    TOO_MANY = "evidence_too_many"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a file is refused, as a stable code and a sentence the person can act on."""

    code: RefusalCode
    message: str


@runtime_checkable
class EvidenceStore(Protocol):
    """Put an object, read it back, hand out an expiring read link, remove it (undoing a failed filing)."""

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> Any: ...

    async def get(self, key: str) -> bytes: ...

    async def presigned_get(self, key: str, expires: timedelta) -> str: ...

    async def delete(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class EvidenceUpload:
    """A file as the person sent it."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CheckedEvidence:
    """A file the court accepts: its detected type, size, SHA-256 and display name."""

    name: str
    media_type: EvidenceType
    size: int
    sha256: str
    data: bytes


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """An evidence file as recorded (table integrity_evidence)."""

    id: str
    appeal_id: str
    name: str
    media_type: str
    size: int
    sha256: str
    object_key: str
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class EvidenceLink:
    """An expiring link to one evidence file, handed out after the view was audited."""

    url: str
    expires_at: datetime
    file: EvidenceFile


def detect_type(data: bytes) -> EvidenceType | None:
    """The type the bytes say they are (magic numbers), or None for anything else."""
    if data.startswith(b"%PDF-"):
        return EvidenceType.PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return EvidenceType.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return EvidenceType.JPEG
    return None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


def display_name(name: str | None, media_type: EvidenceType) -> str:
    """The file's name for people (last path part, no control characters, at most MAX_NAME_CHARS), or a neutral
    one when the browser sent none."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    cleaned = _UNSAFE.sub(" ", base).strip().strip(".") or f"evidence.{media_type.name.lower()}"
    return cleaned[:MAX_NAME_CHARS]


def size_label(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def check_file(upload: EvidenceUpload, *, max_bytes: int = MAX_EVIDENCE_BYTES) -> CheckedEvidence | Refusal:
    """The accepted file, or why it is refused and what to send instead."""
    label = f"the file {display_name(upload.name, EvidenceType.PDF)!r}" if upload.name else "the file"
    if not upload.data:
        return Refusal(RefusalCode.EMPTY, f"{label} is empty; choose the file again")
    if len(upload.data) > max_bytes:
        return Refusal(RefusalCode.TOO_LARGE,
                       f"{label} is over the limit of {size_label(max_bytes)} per file; scan it at a lower "
                       "resolution or split it")
    media_type = detect_type(upload.data)
    if media_type is None:
        return Refusal(RefusalCode.UNSUPPORTED_TYPE,
                       f"{label} is not a PDF, PNG or JPEG file (judged by its content, not its name); "
                       "send the document as one of those")
    return CheckedEvidence(display_name(upload.name, media_type), media_type, len(upload.data),
                           hashlib.sha256(upload.data).hexdigest(), upload.data)


def check_files(uploads: list[EvidenceUpload], *, max_bytes: int = MAX_EVIDENCE_BYTES,
                max_files: int = MAX_EVIDENCE_FILES) -> list[CheckedEvidence] | Refusal:
    """All files accepted, or the first refusal: an appeal is filed with all its files or not at all."""
    if len(uploads) > max_files:
        return Refusal(RefusalCode.TOO_MANY, f"attach at most {max_files} files to one appeal ({len(uploads)} "
                                             "given); combine pages into one PDF")
    checked: list[CheckedEvidence] = []
    for upload in uploads:
        result = check_file(upload, max_bytes=max_bytes)
        if isinstance(result, Refusal):
            return result
        checked.append(result)
    return checked


def evidence_digest(files: list[tuple[str, str]]) -> str:
    """SHA-256 over the (evidence id, file SHA-256) pairs, sorted: one short value binding an audit entry to the
    exact files recorded with it (the audit log keeps details small), recomputable from integrity_evidence."""
    return hashlib.sha256("\n".join(f"{i}:{h}" for i, h in sorted(files)).encode()).hexdigest()


def object_key(appeal_id: str, evidence_id: str) -> str:
    """Ids only: a person's file name never reaches the store."""
    return f"{KEY_PREFIX}/{appeal_id}/{evidence_id}"
