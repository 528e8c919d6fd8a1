"""The exhibit rules (电子质证) without I/O: file checks on real generated files, who may do what, page bounds."""

from __future__ import annotations

import hashlib
import io
import struct
import unicodedata
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from docket.exhibits import Exhibit, Presentation
from hearing.exhibits import (
    COURT_STAFF,
    DEFAULT_MAX_SIZE,
    EXTENSIONS,
    MAX_DISPLAY_NAME_CHARS,
    MAX_OPINION_CHARS,
    OPINION_ROLES,
    UPLOAD_STATES,
    UPLOADERS,
    CheckedOpinion,
    CheckedUpload,
    ExhibitRefusal,
    MediaType,
    Refused,
    Stance,
    check_opinion,
    check_upload,
    display_name,
    image_size,
    may_upload,
    may_view,
    may_withdraw,
    present,
)
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, may
from hearing.roles import Role

K, S, R = HearingKind, ProcedureState, Role
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- real files, generated ----------------------------------------------------------------------------------


def make_pdf(pages: int = 2, *, password: str | None = None) -> bytes:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, encrypt=password) if password else canvas.Canvas(buf)
    for n in range(1, pages + 1):
        pdf.drawString(72, 720, f"Exhibit page {n}")
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_png(width: int = 32, height: int = 24, *, claimed: tuple[int, int] | None = None) -> bytes:
    """An RGB gradient PNG built by hand; `claimed` writes other dimensions into the header (a pixel bomb)."""
    rows = b"".join(b"\x00" + bytes((x * 7 + y) % 256 for x in range(width) for _ in range(3)) for y in range(height))
    w, h = claimed or (width, height)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def _encode_image(codec: str, pix_fmt: str, width: int, height: int) -> bytes:
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
    pixels = np.random.default_rng(7).integers(0, 255, (height, width, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format=pix_fmt)
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def make_jpeg(width: int = 64, height: int = 48) -> bytes:
    return _encode_image("mjpeg", "yuvj420p", width, height)


def make_webp(width: int = 64, height: int = 48) -> bytes:
    return _encode_image("libwebp", "yuv420p", width, height)


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(40) + b"This program cannot be run in DOS"
PDF = make_pdf(2)
PNG = make_png()
JPEG = make_jpeg()
WEBP = make_webp()
IMAGES = {MediaType.PNG: PNG, MediaType.JPEG: JPEG, MediaType.WEBP: WEBP}


def exhibit(pages: int = 3, *, hearing_id: str = "h1", exhibit_id: str = "e1", uploaded_by: str = "p-plaintiff",
            withdrawn: bool = False) -> Exhibit:
    return Exhibit(exhibit_id, hearing_id, uploaded_by, "plaintiff", "contract.pdf", "application/pdf", 1000, pages,
                   "0" * 64, f"exhibits/{hearing_id}/{exhibit_id}", datetime(2026, 6, 1, tzinfo=UTC), withdrawn)


def refused(result: object, code: ExhibitRefusal) -> Refused:
    assert isinstance(result, Refused), result
    assert result.code is code, result
    assert len(result.reason) > 10  # a sentence, not a code
    return result


# ---- upload: real files accepted ----------------------------------------------------------------------------


def test_a_real_pdf_is_accepted_with_its_pages_and_hash() -> None:
    checked = check_upload("借款合同.pdf", "application/pdf", PDF)
    assert checked == CheckedUpload(MediaType.PDF, len(PDF), 2, hashlib.sha256(PDF).hexdigest(), "借款合同.pdf")


@pytest.mark.parametrize(("media_type", "name"), [(MediaType.PNG, "photo.png"), (MediaType.JPEG, "scan.jpeg"),
                                                  (MediaType.WEBP, "screenshot.webp")])
def test_real_images_are_accepted_as_one_page(media_type: MediaType, name: str) -> None:
    data = IMAGES[media_type]
    checked = check_upload(name, media_type.value, data)
    assert isinstance(checked, CheckedUpload), checked
    assert (checked.media_type, checked.page_count, checked.size, checked.display_name) == (media_type, 1, len(data),
                                                                                            name)


def test_image_dimensions_are_read_from_the_headers() -> None:
    assert image_size(MediaType.PNG, PNG) == (32, 24)
    assert image_size(MediaType.JPEG, JPEG) == (64, 48)
    assert image_size(MediaType.WEBP, WEBP) == (64, 48)
    assert image_size(MediaType.JPEG, make_jpeg(320, 16)) == (320, 16)


@pytest.mark.parametrize("declared", ["application/pdf", "APPLICATION/PDF", "application/pdf; charset=binary",
                                      " application/x-pdf "])
def test_declared_pdf_type_variants_agree(declared: str) -> None:
    assert isinstance(check_upload("a.pdf", declared, PDF), CheckedUpload)


def test_image_jpg_alias_agrees() -> None:
    assert isinstance(check_upload("a.jpg", "image/jpg", JPEG), CheckedUpload)


# ---- upload: refusals ---------------------------------------------------------------------------------------


def test_an_exe_renamed_pdf_is_refused_whatever_it_claims() -> None:
    refused(check_upload("evidence.pdf", "application/pdf", EXE), ExhibitRefusal.UNSUPPORTED_TYPE)
    refused(check_upload("evidence.pdf", "application/pdf", b"<html><script>alert(1)</script>"),
            ExhibitRefusal.UNSUPPORTED_TYPE)


def test_the_declared_type_must_agree_with_the_bytes() -> None:
    reason = refused(check_upload("photo.png", "image/png", PDF), ExhibitRefusal.TYPE_MISMATCH).reason
    assert "image/png" in reason and "application/pdf" in reason
    refused(check_upload("a.pdf", "application/octet-stream", PDF), ExhibitRefusal.TYPE_MISMATCH)
    refused(check_upload("a.pdf", None, PDF), ExhibitRefusal.TYPE_MISMATCH)
    refused(check_upload("a.jpg", "image/png", JPEG), ExhibitRefusal.TYPE_MISMATCH)


def test_empty_and_oversized_files_are_refused_at_the_boundary() -> None:
    refused(check_upload("a.pdf", "application/pdf", b""), ExhibitRefusal.EMPTY)
    assert isinstance(check_upload("a.pdf", "application/pdf", PDF, max_size=len(PDF)), CheckedUpload)
    reason = refused(check_upload("a.pdf", "application/pdf", PDF, max_size=len(PDF) - 1),
                     ExhibitRefusal.TOO_LARGE).reason
    assert str(len(PDF) - 1) in reason
    assert DEFAULT_MAX_SIZE == 50 * 1024 * 1024


def test_the_default_limit_is_50_mib() -> None:
    at_limit_plus_one = b"%PDF-" + bytes(DEFAULT_MAX_SIZE - 4)
    assert "50.0 MiB" in refused(check_upload("big.pdf", "application/pdf", at_limit_plus_one),
                                 ExhibitRefusal.TOO_LARGE).reason


def test_an_encrypted_pdf_is_refused() -> None:
    locked = make_pdf(1, password="secret")
    assert PdfReader(io.BytesIO(locked)).is_encrypted
    assert "password" in refused(check_upload("a.pdf", "application/pdf", locked), ExhibitRefusal.ENCRYPTED).reason


@pytest.mark.parametrize("data", [b"%PDF-", b"%PDF-1.7\n%%EOF\n", PDF[: len(PDF) // 3], b"%PDF-1.4\n" + EXE])
def test_broken_pdfs_are_refused(data: bytes) -> None:
    refused(check_upload("a.pdf", "application/pdf", data), ExhibitRefusal.DAMAGED)


def test_broken_images_are_refused() -> None:
    refused(check_upload("a.png", "image/png", PNG + b"PK\x03\x04appended zip"), ExhibitRefusal.DAMAGED)
    bad_crc = bytearray(PNG)
    bad_crc[20] ^= 0xFF
    refused(check_upload("a.png", "image/png", bytes(bad_crc)), ExhibitRefusal.DAMAGED)
    refused(check_upload("a.jpg", "image/jpeg", b"\xff\xd8\xff\xd9"), ExhibitRefusal.DAMAGED)
    refused(check_upload("a.webp", "image/webp", WEBP + b"\x00\x00"), ExhibitRefusal.DAMAGED)
    refused(check_upload("a.png", "image/png", make_png(claimed=(0, 24))), ExhibitRefusal.DAMAGED)


def test_a_pixel_bomb_is_refused_from_its_header() -> None:
    bomb = make_png(claimed=(30_000, 30_000))
    assert "30000×30000" in refused(check_upload("a.png", "image/png", bomb), ExhibitRefusal.IMAGE_TOO_LARGE).reason
    refused(check_upload("a.png", "image/png", make_png(claimed=(20_000, 6_000))), ExhibitRefusal.IMAGE_TOO_LARGE)
    assert isinstance(check_upload("a.png", "image/png", make_png(claimed=(10_000, 10_000))), CheckedUpload)


# ---- upload: properties -------------------------------------------------------------------------------------


def _pypdf_accepts(data: bytes) -> bool:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        return not reader.is_encrypted and len(reader.pages) >= 1
    except Exception:  # untrusted input: any failure is "does not open"
        return False


@FAST
@given(st.binary(max_size=2048))
def test_random_bytes_never_pass_as_pdf_unless_pypdf_opens_them(tail: bytes) -> None:
    result = check_upload("x.pdf", "application/pdf", b"%PDF-" + tail)
    if isinstance(result, CheckedUpload):
        assert _pypdf_accepts(b"%PDF-" + tail)
    else:
        assert result.code in {ExhibitRefusal.DAMAGED, ExhibitRefusal.NO_PAGES, ExhibitRefusal.ENCRYPTED}


@FAST
@given(st.integers(0, len(PDF)), st.binary(min_size=1, max_size=64))
def test_damaged_real_pdfs_pass_only_if_they_still_open(cut: int, noise: bytes) -> None:
    damaged = PDF[:cut] + noise + PDF[cut + len(noise):]
    result = check_upload("x.pdf", "application/pdf", damaged)
    if isinstance(result, CheckedUpload):
        assert _pypdf_accepts(damaged) and result.sha256 == hashlib.sha256(damaged).hexdigest()


@FAST
@given(st.binary(min_size=1, max_size=512), st.sampled_from([t.value for t in MediaType]))
def test_random_bytes_without_a_known_signature_are_never_accepted(data: bytes, declared: str) -> None:
    assume(not data.startswith((b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"RIFF")))
    refused(check_upload("x", declared, data), ExhibitRefusal.UNSUPPORTED_TYPE)


@FAST
@given(st.sampled_from(list(IMAGES)), st.data())
def test_every_truncated_image_is_refused(media_type: MediaType, data: st.DataObject) -> None:
    whole = IMAGES[media_type]
    cut = data.draw(st.integers(1, len(whole) - 1))
    result = check_upload("x", media_type.value, whole[:cut])
    assert isinstance(result, Refused)


@FAST
@given(st.binary(min_size=1, max_size=200), st.integers(1, 200))
def test_size_limit_is_checked_before_the_content(data: bytes, limit: int) -> None:
    result = check_upload("x.pdf", "application/pdf", data, max_size=limit)
    if len(data) > limit:
        refused(result, ExhibitRefusal.TOO_LARGE)
    else:
        assert not (isinstance(result, Refused) and result.code is ExhibitRefusal.TOO_LARGE)


# ---- display names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given_name", "media_type", "expected"), [
    ("C:\\Users\\张三\\Desktop\\借条.pdf", MediaType.PDF, "借条.pdf"),
    ("../../etc/passwd", MediaType.PDF, "passwd.pdf"),
    ("evidence.exe", MediaType.PDF, "evidence.exe.pdf"),
    ("photo\u202egnp.exe", MediaType.PNG, "photognp.exe.png"),  # the right-to-left override is removed
    ("..", MediaType.PDF, "exhibit.pdf"),
    ("", MediaType.JPEG, "exhibit.jpg"),
    (None, MediaType.WEBP, "exhibit.webp"),
    ("  scan   of\tpage.JPEG ", MediaType.JPEG, "scan of page.JPEG"),
    ('a<b>c:"d|e?f*.pdf', MediaType.PDF, "a_b_c__d_e_f_.pdf"),
    (".hidden.png", MediaType.PNG, "hidden.png"),
])
def test_display_names_are_sanitised(given_name: str | None, media_type: MediaType, expected: str) -> None:
    assert display_name(given_name, media_type) == expected


def test_long_names_keep_their_extension() -> None:
    name = display_name("证" * 500 + ".pdf", MediaType.PDF)
    assert len(name) == MAX_DISPLAY_NAME_CHARS and name.endswith("证.pdf")


@FAST
@given(st.text(max_size=300), st.sampled_from(list(MediaType)))
def test_any_filename_becomes_a_safe_display_name(name: str, media_type: MediaType) -> None:
    shown = display_name(name, media_type)
    assert 1 < len(shown) <= MAX_DISPLAY_NAME_CHARS
    assert shown.lower().endswith(EXTENSIONS[media_type])
    assert not shown.startswith((".", " "))
    assert not any(c in shown for c in '/\\<>:"|?*')
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn") for c in shown)
    assert shown == unicodedata.normalize("NFC", shown)


# ---- who may upload -----------------------------------------------------------------------------------------


def test_upload_roles_follow_the_presentation_policy() -> None:
    assert UPLOADERS[K.TRIAL] == {R.PRESIDING_JUDGE, R.JUDGE, R.CLERK, R.PLAINTIFF, R.DEFENDANT, R.COUNSEL,
                                  R.PROSECUTOR}
    assert UPLOADERS[K.DELIBERATION] == {R.PRESIDING_JUDGE, R.JUDGE, R.CLERK}
    assert R.MEDIATOR in UPLOADERS[K.MEDIATION]
    for kind in K:
        assert not {R.WITNESS, R.OBSERVER, R.OFFICER, R.INTERPRETER, R.DETAINEE} & UPLOADERS[kind]


@pytest.mark.parametrize("kind", list(K))
@pytest.mark.parametrize("role", list(R))
def test_upload_matrix(kind: HearingKind, role: Role) -> None:
    presents_somewhere = any(may(role, kind, s, Action.PRESENT_EXHIBIT) for s in S)
    for state in S:
        result = may_upload(kind, state, role)
        if not presents_somewhere:
            refused(result, ExhibitRefusal.NOT_PERMITTED)
        elif state in UPLOAD_STATES:
            assert result is None
        else:
            refused(result, ExhibitRefusal.WRONG_STATE)


def test_upload_examples() -> None:
    assert may_upload("trial", "scheduled", "plaintiff") is None  # filed ahead of the hearing (举证)
    assert may_upload("trial", "recess", "counsel") is None
    assert "closed" in refused(may_upload("trial", "closed", "plaintiff"), ExhibitRefusal.WRONG_STATE).reason
    refused(may_upload("trial", "in_session", "witness"), ExhibitRefusal.NOT_PERMITTED)
    refused(may_upload("trial", "in_session", "judge_of_appeal"), ExhibitRefusal.UNKNOWN)


# ---- presentation -------------------------------------------------------------------------------------------

NOTHING = Presentation("h1")


@pytest.mark.parametrize("kind", list(K))
@pytest.mark.parametrize("role", list(R))
def test_only_roles_holding_present_exhibit_now_may_change_the_presentation(kind: HearingKind, role: Role) -> None:
    for state in S:
        result = present(kind, state, role, "a1", NOTHING, exhibit(), 1)
        if may(role, kind, state, Action.PRESENT_EXHIBIT):
            assert isinstance(result, Presentation) and result.version == 1
        else:
            assert isinstance(result, Refused)
            assert result.code in {ExhibitRefusal.NOT_PERMITTED, ExhibitRefusal.WRONG_STATE}


def test_presenting_then_paging_then_clearing() -> None:
    first = present("trial", "in_session", "clerk", "clerk-1", NOTHING, exhibit(3), 1)
    assert first == Presentation("h1", "e1", 1, 1, "clerk-1", "clerk")
    second = present("trial", "in_session", "presiding_judge", "judge-1", first, exhibit(3), 3)
    assert isinstance(second, Presentation) and (second.page, second.version, second.changed_by) == (3, 2, "judge-1")
    assert present("trial", "in_session", "clerk", "clerk-1", second, exhibit(3), 3) is second  # no change
    cleared = present("trial", "in_session", "clerk", "clerk-1", second, None)
    assert isinstance(cleared, Presentation) and not cleared.showing and cleared.page is None
    assert cleared.version == 3
    assert present("trial", "in_session", "clerk", "clerk-1", cleared, None) is cleared


def test_presentation_refusals() -> None:
    assert "in session" in refused(present("trial", "lobby_open", "plaintiff", "p", NOTHING, exhibit()),
                                   ExhibitRefusal.WRONG_STATE).reason
    refused(present("trial", "recess", "presiding_judge", "j", NOTHING, exhibit()), ExhibitRefusal.WRONG_STATE)
    refused(present("trial", "in_session", "observer", "o", NOTHING, exhibit()), ExhibitRefusal.NOT_PERMITTED)
    refused(present("trial", "in_session", "witness", "w", NOTHING, exhibit()), ExhibitRefusal.NOT_PERMITTED)
    refused(present("trial", "in_session", "clerk", "c", NOTHING, exhibit(hearing_id="h2")),
            ExhibitRefusal.WRONG_HEARING)
    refused(present("trial", "in_session", "clerk", "c", NOTHING, exhibit(withdrawn=True)), ExhibitRefusal.WITHDRAWN)
    refused(present("trial", "in_session", "clerk", "c", NOTHING, exhibit(), True), ExhibitRefusal.PAGE_OUT_OF_RANGE)
    refused(present("trial", "in_session", "nobody", "c", NOTHING, exhibit()), ExhibitRefusal.UNKNOWN)


@FAST
@given(st.integers(1, 500), st.integers(-10, 510))
def test_page_must_be_within_the_exhibit(page_count: int, page: int) -> None:
    result = present("mediation", "in_session", "mediator", "m", NOTHING, exhibit(page_count), page)
    if 1 <= page <= page_count:
        assert isinstance(result, Presentation) and result.page == page
    else:
        reason = refused(result, ExhibitRefusal.PAGE_OUT_OF_RANGE).reason
        assert f"1 to {page_count}" in reason


@FAST
@given(st.lists(st.one_of(st.none(), st.integers(1, 4)), max_size=30))
def test_versions_count_changes_only(pages: list[int | None]) -> None:
    current = NOTHING
    changes = 0
    for page in pages:
        before = current
        result = present("trial", "in_session", "clerk", "c", current, None if page is None else exhibit(4), page or 1)
        assert isinstance(result, Presentation)
        if (result.exhibit_id, result.page) != (before.exhibit_id, before.page):
            changes += 1
        else:
            assert result is before
        current = result
    assert current.version == changes


# ---- opinions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["plaintiff", "defendant", "counsel", "prosecutor", "detainee"])
@pytest.mark.parametrize("stance", list(Stance))
def test_the_parties_side_gives_opinions(role: str, stance: Stance) -> None:
    result = check_opinion("trial", "in_session", role, exhibit(), stance.value, "  真实性无异议 \r\n关联性有异议 ")
    assert result == CheckedOpinion(stance, "真实性无异议 \n关联性有异议")


@pytest.mark.parametrize("role", sorted(set(R) - OPINION_ROLES))
def test_others_give_no_opinions(role: Role) -> None:
    refused(check_opinion("trial", "in_session", role, exhibit(), "agree"), ExhibitRefusal.NOT_PERMITTED)


def test_opinion_refusals() -> None:
    for state in ("closed", "record_sealed"):
        refused(check_opinion("trial", state, "defendant", exhibit(), "object"), ExhibitRefusal.WRONG_STATE)
    assert check_opinion("trial", "scheduled", "defendant", exhibit(), "object") == CheckedOpinion(Stance.OBJECT, "")
    refused(check_opinion("mediation", "in_session", "prosecutor", exhibit(), "agree"), ExhibitRefusal.NOT_PERMITTED)
    refused(check_opinion("trial", "in_session", "defendant", exhibit(), "maybe"), ExhibitRefusal.INVALID_STANCE)
    refused(check_opinion("trial", "in_session", "defendant", exhibit(withdrawn=True), "agree"),
            ExhibitRefusal.WITHDRAWN)


def test_opinion_text_limit_and_cleaning() -> None:
    at_limit = "异" * MAX_OPINION_CHARS
    assert isinstance(check_opinion("trial", "in_session", "counsel", exhibit(), "object", at_limit), CheckedOpinion)
    reason = refused(check_opinion("trial", "in_session", "counsel", exhibit(), "object", at_limit + "议"),
                     ExhibitRefusal.TEXT_TOO_LONG).reason
    assert str(MAX_OPINION_CHARS) in reason
    assert isinstance(check_opinion("trial", "in_session", "counsel", exhibit(), "object", "x" * 11, max_chars=10),
                      Refused)
    cleaned = check_opinion("trial", "in_session", "counsel", exhibit(), "object", "a\u202eb\x00c\u200bd\te")
    assert cleaned == CheckedOpinion(Stance.OBJECT, "abcd\te")


# ---- viewing and withdrawing --------------------------------------------------------------------------------


def test_who_may_open_an_exhibit() -> None:
    shown = Presentation("h1", "e1", 1, 1, "c", "clerk")
    other = exhibit(exhibit_id="e2")
    for role in ("plaintiff", "defendant", "counsel", "clerk", "presiding_judge"):
        assert may_view("trial", "scheduled", role, other, NOTHING) is None
        assert may_view("trial", "closed", role, other, NOTHING) is None  # reviewing before signing
    assert may_view("trial", "in_session", "observer", exhibit(), shown) is None  # they see it on screen anyway
    refused(may_view("trial", "in_session", "observer", other, shown), ExhibitRefusal.NOT_PERMITTED)
    refused(may_view("trial", "recess", "observer", exhibit(), shown), ExhibitRefusal.NOT_PERMITTED)
    assert may_view("trial", "in_session", "witness", exhibit(), shown) is None
    refused(may_view("trial", "in_session", "witness", other, shown), ExhibitRefusal.NOT_PERMITTED)
    refused(may_view("trial", "record_sealed", "presiding_judge", exhibit(), shown), ExhibitRefusal.WRONG_STATE)
    refused(may_view("deliberation", "in_session", "plaintiff", exhibit(), shown), ExhibitRefusal.NOT_PERMITTED)


def test_who_may_withdraw_an_exhibit() -> None:
    mine = exhibit(uploaded_by="p-plaintiff")
    assert may_withdraw("trial", "lobby_open", "plaintiff", "p-plaintiff", mine) is None
    refused(may_withdraw("trial", "lobby_open", "defendant", "p-defendant", mine), ExhibitRefusal.NOT_PERMITTED)
    for role in COURT_STAFF & UPLOADERS[K.TRIAL]:
        assert may_withdraw("trial", "in_session", role, "staff-1", mine) is None
    refused(may_withdraw("trial", "closed", "plaintiff", "p-plaintiff", mine), ExhibitRefusal.WRONG_STATE)
    refused(may_withdraw("trial", "in_session", "clerk", "c", replace(mine, withdrawn=True)), ExhibitRefusal.WITHDRAWN)
