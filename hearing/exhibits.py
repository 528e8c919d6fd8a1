"""Evidence exhibits (电子质证, examining evidence electronically): the court's rules, pure and without I/O.

What is decided here, each as a value or a typed refusal (`Refused(code, reason)`, a sentence the person can
act on), never an exception for a bad request:

- `check_upload`: is this file an exhibit the court accepts? The type is detected from the bytes (magic numbers),
  never from the filename or the client's content type, and the type the client declared must agree — an
  ``.exe`` renamed ``.pdf`` is refused, and so is a PDF sent as ``image/png``. Accepted: PDF, PNG, JPEG, WebP.
  Empty files and files over the size limit are refused. A PDF must open with pypdf, must not be encrypted
  (everyone in the hearing must be able to read it without a password) and must have at least one page; an
  image's container must be whole (not truncated) and its dimensions sane, since every participant's browser,
  often an old PC at a village station, has to render it. The filename is kept only as a sanitised display name:
  storage keys never contain it.
- `may_upload`: who may put an exhibit before the court. Derived from the permission policy: a role may upload in
  a kind of hearing iff the policy lets it present exhibits (`Action.PRESENT_EXHIBIT`) in some state of that kind
  — judges, clerks, mediators, the parties (plaintiff, defendant), counsel and the prosecutor; not witnesses,
  interpreters, officers, detainees (their counsel uploads) or the public. Uploading is open before and during
  the hearing (scheduled, lobby open, in session, recess): parties file evidence ahead (举证) and produce more in
  session; once the hearing is closed the evidence is fixed.
- `present`: which exhibit and page everyone sees. Only a role holding PRESENT_EXHIBIT in the current state may
  change it (in the policy: in session only); the page must be within 1..page_count; presenting nothing clears it.
- `check_opinion`: each person on the parties' side (plaintiff, defendant, counsel, prosecutor, and a detainee,
  who is the accused in a criminal trial) gives one of agree / object / partially agree (认可 / 不认可 / 部分认可)
  with free text up to a limit, per exhibit. A later opinion by the same participant supersedes the earlier one,
  which is kept. Opinions may be given from the moment the hearing is scheduled (written opinions, 书面质证意见)
  until it closes, not after.
- `may_view`: who may open an exhibit's file. Those who may upload in this kind of hearing and the parties' side
  may open any exhibit of the hearing until the record is sealed (they prepare, examine and then sign the
  transcript); anyone who may watch the hearing right now (a witness, an interpreter, the public at a trial) may
  open only the exhibit being presented, which they are shown anyway.
- `may_withdraw`: an exhibit is never deleted, only withdrawn, by its uploader or by court staff (judges, clerk,
  mediator), before the hearing closes.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from enum import StrEnum

from pypdf import PdfReader

from docket.exhibits import Exhibit, Presentation
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, allowed, may
from hearing.roles import Role

S = ProcedureState
R = Role

MIB = 1024 * 1024
DEFAULT_MAX_SIZE = 50 * MIB
MAX_OPINION_CHARS = 2000
MAX_DISPLAY_NAME_CHARS = 120
MAX_IMAGE_SIDE = 20_000
MAX_IMAGE_PIXELS = 100_000_000  # a 600 dpi A4 scan is ~35 million pixels


class MediaType(StrEnum):
    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"


EXTENSIONS: dict[MediaType, tuple[str, ...]] = {
    MediaType.PDF: (".pdf",),
    MediaType.PNG: (".png",),
    MediaType.JPEG: (".jpg", ".jpeg"),
    MediaType.WEBP: (".webp",),
}
_ALIASES = {"image/jpg": MediaType.JPEG, "image/pjpeg": MediaType.JPEG, "application/x-pdf": MediaType.PDF}


class Stance(StrEnum):
    """A party's opinion on an exhibit (质证意见)."""

    AGREE = "agree"  # 认可
    OBJECT = "object"  # 不认可 / 异议
    PARTIALLY_AGREE = "partially_agree"  # 部分认可


class ExhibitRefusal(StrEnum):
    UNKNOWN = "unknown"  # not a role, kind or state of this court
    NOT_FOUND = "not_found"  # no such hearing, exhibit or participant
    NOT_PERMITTED = "not_permitted"  # the role may not do this (audited by the service)
    WRONG_STATE = "wrong_state"  # not now: e.g. presenting outside the session, an opinion after closing
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    TYPE_MISMATCH = "type_mismatch"  # the declared type is not what the bytes are
    DAMAGED = "damaged"  # the file does not open, or is truncated
    ENCRYPTED = "encrypted"
    NO_PAGES = "no_pages"
    IMAGE_TOO_LARGE = "image_too_large"  # too many pixels for the participants' browsers
    WITHDRAWN = "withdrawn"
    WRONG_HEARING = "wrong_hearing"  # the exhibit belongs to another hearing
    PAGE_OUT_OF_RANGE = "page_out_of_range"
    INVALID_STANCE = "invalid_stance"
    TEXT_TOO_LONG = "text_too_long"


@dataclass(frozen=True, slots=True)
class Refused:
    code: ExhibitRefusal
    reason: str


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """A file the court accepts, and what the register records about it."""

    media_type: MediaType
    size: int
    page_count: int
    sha256: str
    display_name: str


@dataclass(frozen=True, slots=True)
class CheckedOpinion:
    stance: Stance
    text: str


# ---- who, when ----------------------------------------------------------------------------------------------

UPLOAD_STATES = frozenset({S.SCHEDULED, S.LOBBY_OPEN, S.IN_SESSION, S.RECESS})
"""Before and during the hearing; after closing, the evidence is fixed."""
OPINION_STATES = UPLOAD_STATES
OPINION_ROLES = frozenset({R.PLAINTIFF, R.DEFENDANT, R.COUNSEL, R.PROSECUTOR, R.DETAINEE})
"""The parties' side: who examines the evidence and answers for a side."""
COURT_STAFF = frozenset({R.PRESIDING_JUDGE, R.JUDGE, R.CLERK, R.MEDIATOR})


def _takes_part(role: Role, kind: HearingKind) -> bool:
    """Whether the policy gives the role anything at all in this kind of hearing."""
    return any(allowed(role, kind, state) for state in ProcedureState)


UPLOADERS: dict[HearingKind, frozenset[Role]] = {
    kind: frozenset(r for r in Role if any(may(r, kind, s, Action.PRESENT_EXHIBIT) for s in ProcedureState))
    for kind in HearingKind
}
"""Per kind: the roles that may present exhibits in some state, and so may upload them."""


def _parse(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str
) -> tuple[HearingKind, ProcedureState, Role] | Refused:
    try:
        return HearingKind(kind), ProcedureState(state), Role(role)
    except ValueError as exc:
        return Refused(ExhibitRefusal.UNKNOWN, f"{exc}; use a role, hearing kind and state of this court")


def _words(code: str) -> str:
    return code.replace("_", " ")


def _a(code: str) -> str:
    words = _words(code)
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def may_upload(kind: HearingKind | str, state: ProcedureState | str, role: Role | str) -> Refused | None:
    """None if `role` may upload an exhibit now; else why not."""
    parsed = _parse(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    if role not in UPLOADERS[kind]:
        return Refused(ExhibitRefusal.NOT_PERMITTED,
                       f"{_a(role.value)} may not put exhibits before the court in {_a(kind.value)} hearing; "
                       "ask counsel or the clerk to file it")
    if state not in UPLOAD_STATES:
        return Refused(ExhibitRefusal.WRONG_STATE,
                       f"the hearing is {_words(state.value)}: exhibits can be filed only before and during it")
    return None


def may_view(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, exhibit: Exhibit,
    presentation: Presentation,
) -> Refused | None:
    """None if `role` may open the exhibit's file now; else why not."""
    parsed = _parse(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    if state is S.RECORD_SEALED:
        return Refused(ExhibitRefusal.WRONG_STATE,
                       "the record is sealed; exhibits of a sealed hearing are requested from the court's archive")
    if role in UPLOADERS[kind] or (role in OPINION_ROLES and _takes_part(role, kind)):
        return None
    if may(role, kind, state, Action.SUBSCRIBE) and presentation.exhibit_id == exhibit.id:
        return None
    return Refused(ExhibitRefusal.NOT_PERMITTED,
                   f"{_a(role.value)} may open only the exhibit being presented, and only while watching the hearing")


def may_withdraw(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, actor_id: str, exhibit: Exhibit
) -> Refused | None:
    """None if the actor may withdraw the exhibit: its uploader or court staff, before the hearing closes."""
    parsed = _parse(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    own = actor_id == exhibit.uploaded_by and role in UPLOADERS[kind]
    if not own and not (role in COURT_STAFF and role in UPLOADERS[kind]):
        return Refused(ExhibitRefusal.NOT_PERMITTED, "only whoever filed an exhibit, or court staff, may withdraw it")
    if state not in UPLOAD_STATES:
        return Refused(ExhibitRefusal.WRONG_STATE,
                       f"the hearing is {_words(state.value)}: its exhibits can no longer be withdrawn")
    if exhibit.withdrawn:
        return Refused(ExhibitRefusal.WITHDRAWN, "this exhibit is already withdrawn")
    return None


# ---- presentation -------------------------------------------------------------------------------------------


def present(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, actor_id: str,
    current: Presentation, exhibit: Exhibit | None, page: int = 1,
) -> Presentation | Refused:
    """The presentation after `role` asks to show `exhibit` at `page` (None: show nothing).

    Returns `current` itself when nothing changes (the same exhibit and page again), so the caller neither
    writes, audits nor broadcasts a repeated click. Otherwise the result has the next version; the store
    stamps the time.
    """
    parsed = _parse(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    if not may(role, kind, state, Action.PRESENT_EXHIBIT):
        if role in UPLOADERS[kind]:
            return Refused(ExhibitRefusal.WRONG_STATE,
                           f"exhibits are presented only while the hearing is in session (it is "
                           f"{_words(state.value)})")
        return Refused(ExhibitRefusal.NOT_PERMITTED,
                       f"{_a(role.value)} may not present exhibits in {_a(kind.value)} hearing")
    if exhibit is None:
        if not current.showing:
            return current
        return Presentation(current.hearing_id, None, None, current.version + 1, actor_id, role.value)
    if exhibit.hearing_id != current.hearing_id:
        return Refused(ExhibitRefusal.WRONG_HEARING, "that exhibit belongs to another hearing")
    if exhibit.withdrawn:
        return Refused(ExhibitRefusal.WITHDRAWN, "that exhibit was withdrawn and can no longer be presented")
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= exhibit.page_count:
        return Refused(ExhibitRefusal.PAGE_OUT_OF_RANGE,
                       f"page {page!r} does not exist: this exhibit has pages 1 to {exhibit.page_count}")
    if (current.exhibit_id, current.page) == (exhibit.id, page):
        return current
    return Presentation(current.hearing_id, exhibit.id, page, current.version + 1, actor_id, role.value)


# ---- opinions -----------------------------------------------------------------------------------------------

def _clean_text(text: str) -> str:
    """NFC, line ends as \\n, no control or invisible format characters (bidi overrides), trimmed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for ch in text:
        if ch in "\n\t":
            kept.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        elif ch.isspace():
            kept.append(" ")
        else:
            kept.append(ch)
    return "".join(kept).strip()


def check_opinion(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, exhibit: Exhibit,
    stance: Stance | str, text: str = "", *, max_chars: int = MAX_OPINION_CHARS,
) -> CheckedOpinion | Refused:
    """The opinion as it will be stored, or why it cannot be given."""
    parsed = _parse(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    if role not in OPINION_ROLES or not _takes_part(role, kind):
        return Refused(ExhibitRefusal.NOT_PERMITTED,
                       f"{_a(role.value)} does not give opinions on evidence; only the parties, their counsel "
                       "and the prosecutor do")
    if state not in OPINION_STATES:
        return Refused(ExhibitRefusal.WRONG_STATE,
                       f"the hearing is {_words(state.value)}: opinions on evidence can no longer be given")
    if exhibit.withdrawn:
        return Refused(ExhibitRefusal.WITHDRAWN, "that exhibit was withdrawn; there is nothing to give an opinion on")
    try:
        parsed_stance = Stance(stance)
    except ValueError:
        return Refused(ExhibitRefusal.INVALID_STANCE,
                       f"{stance!r} is not an opinion; choose one of {', '.join(s.value for s in Stance)}")
    if not isinstance(text, str):
        return Refused(ExhibitRefusal.INVALID_STANCE, "the opinion's text must be text")
    cleaned = _clean_text(text)
    if len(cleaned) > max_chars:
        return Refused(ExhibitRefusal.TEXT_TOO_LONG,
                       f"the opinion is {len(cleaned)} characters; shorten it to {max_chars} or fewer")
    return CheckedOpinion(parsed_stance, cleaned)


# ---- upload validation --------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def detect_type(data: bytes) -> MediaType | None:
    """The type the bytes say they are (magic numbers), or None for anything the court does not accept."""
    if data.startswith(b"%PDF-"):
        return MediaType.PDF
    if data.startswith(PNG_SIGNATURE):
        return MediaType.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return MediaType.WEBP
    return None


def normalise_declared_type(declared: str | None) -> str:
    """Lower case, parameters dropped ("; charset=..."), common aliases mapped (image/jpg is image/jpeg)."""
    value = (declared or "").split(";", 1)[0].strip().lower()
    return str(_ALIASES.get(value, value))


def _png_size(data: bytes) -> tuple[int, int] | str:
    if len(data) < 8 + 25 + 12 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        return "the PNG has no image header"
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        return "the PNG's image header is corrupt"
    if not data.endswith(_PNG_IEND):
        return "the PNG is truncated or has data appended after its end"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | str:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return "the JPEG's structure is corrupt"
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or image data before any frame header
            return "the JPEG has no frame header"
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if length < 2:
            return "the JPEG's structure is corrupt"
        if marker in _JPEG_SOF:
            if length < 8 or i + 9 > n:
                return "the JPEG's frame header is truncated"
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):  # trailing zero padding is common
                return "the JPEG is truncated or has data appended after its end"
            return width, height
        i += 2 + length
    return "the JPEG is truncated"


def _webp_size(data: bytes) -> tuple[int, int] | str:
    if len(data) < 30 or struct.unpack("<I", data[4:8])[0] + 8 != len(data):
        return "the WebP file is truncated or has data appended after its end"
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return "the WebP image is corrupt"
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return "the WebP image is corrupt"
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return "the WebP file holds no image"


_IMAGE_SIZE = {MediaType.PNG: _png_size, MediaType.JPEG: _jpeg_size, MediaType.WEBP: _webp_size}


def image_size(media_type: MediaType, data: bytes) -> tuple[int, int] | str:
    """(width, height) read from the image's header, or what is wrong with the container. Nothing is decoded."""
    return _IMAGE_SIZE[media_type](data)


def _check_image(media_type: MediaType, data: bytes) -> Refused | None:
    size = image_size(media_type, data)
    if isinstance(size, str):
        return Refused(ExhibitRefusal.DAMAGED, f"{size}; export or scan it again and upload the new file")
    width, height = size
    if width < 1 or height < 1:
        return Refused(ExhibitRefusal.DAMAGED, "the image has no pixels; export or scan it again")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        return Refused(ExhibitRefusal.IMAGE_TOO_LARGE,
                       f"the image is {width}×{height} pixels, too large to show on every participant's screen; "
                       f"scale it to at most {MAX_IMAGE_SIDE} pixels a side and {MAX_IMAGE_PIXELS // 1_000_000} "
                       "million pixels")
    return None


def pdf_page_count(data: bytes) -> int | Refused:
    """Open the PDF with pypdf: its page count, or why it cannot be an exhibit.

    pypdf parses untrusted input here, so any exception it raises (its own errors, but also KeyError, ValueError
    or RecursionError on malformed files) means "does not open" rather than a crash.
    """
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return Refused(ExhibitRefusal.ENCRYPTED,
                           "the PDF is encrypted or password-protected, so not everyone in the hearing could "
                           "read it; save or print it as a PDF without a password and upload that")
        pages = len(reader.pages)
        for page in reader.pages:  # every page must resolve to a page with a size
            box = page.mediabox
            if box.width <= 0 or box.height <= 0:
                raise ValueError("a page has no area")
    except Exception:  # untrusted input: see the docstring
        return Refused(ExhibitRefusal.DAMAGED,
                       "the PDF does not open (damaged or not really a PDF); save it again as a PDF and upload that")
    if pages < 1:
        return Refused(ExhibitRefusal.NO_PAGES, "the PDF has no pages")
    return pages


_NAME_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')


def display_name(filename: str | None, media_type: MediaType) -> str:
    """A name safe to show and to offer as a download name: never a storage key, never trusted.

    Path parts dropped; Unicode NFC; control and invisible format characters removed (a right-to-left override
    can make "gpj.exe" display as "exe.jpg"); characters Windows refuses in file names replaced; leading dots
    removed; at most MAX_DISPLAY_NAME_CHARS characters; the extension of the detected type appended when the
    name does not already end in one, so the name never suggests another type than the file has.
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(
        " " if ch.isspace() else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") or ch.isspace()
    )
    name = _NAME_FORBIDDEN.sub("_", " ".join(name.split())).strip(" .")
    extensions = EXTENSIONS[media_type]
    stem, ext = name, ""
    if name.lower().endswith(extensions):
        stem, dot, tail = name.rpartition(".")
        ext = dot + tail
        stem = stem.rstrip(" .")
    if not stem:
        stem = "exhibit"
    if not ext:
        ext = extensions[0]
    stem = stem[: MAX_DISPLAY_NAME_CHARS - len(ext)].rstrip(" .") or "exhibit"
    return stem + ext


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def check_upload(
    filename: str | None, declared_type: str | None, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE
) -> CheckedUpload | Refused:
    """Whether `data` may become an exhibit, and what the register records about it.

    Runs pypdf and hashes the bytes: call it off the event loop for large files. The HTTP layer should stop
    reading a body beyond `max_size` itself; this check is the rule, not the only guard.
    """
    size = len(data)
    if size == 0:
        return Refused(ExhibitRefusal.EMPTY, "the file is empty; choose the file again and upload it")
    if size > max_size:
        return Refused(ExhibitRefusal.TOO_LARGE,
                       f"the file is {_mib(size)}; exhibits may be at most {_mib(max_size)}; split or compress it")
    media_type = detect_type(data)
    if media_type is None:
        return Refused(ExhibitRefusal.UNSUPPORTED_TYPE,
                       "the file is not a PDF, PNG, JPEG or WebP image (whatever its name says); "
                       "convert it to PDF and upload that")
    declared = normalise_declared_type(declared_type)
    if declared != media_type.value:
        return Refused(ExhibitRefusal.TYPE_MISMATCH,
                       f"the file was sent as {declared or 'an unstated type'!s} but its content is "
                       f"{media_type.value}; check you picked the right file, or rename it to match its content")
    if media_type is MediaType.PDF:
        pages = pdf_page_count(data)
        if isinstance(pages, Refused):
            return pages
    else:
        refused = _check_image(media_type, data)
        if refused is not None:
            return refused
        pages = 1
    return CheckedUpload(media_type, size, pages, hashlib.sha256(data).hexdigest(),
                         display_name(filename, media_type))
