"""The transcript (笔录) as a PDF: the hearing's particulars, the text, and a signature page. No I/O.

Chinese must render without shipping a font file, so everything is set in reportlab's built-in CID font
STSong-Light (the PDF names the font; readers supply it), except the SHA-256, set in Courier so it is easy to
compare by eye. Each page's footer repeats the case number, the version and the start of its hash, so a page
cannot silently be swapped for one of another version. The same inputs give the same bytes (`invariant=1`:
no creation time or random document id), so an exported file can itself be hashed and compared.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from docket.transcripts import ReverificationMethod, TranscriptVersion
from hearing.kinds import KIND_LABELS, STATE_LABELS, HearingKind, ProcedureState
from hearing.roles import ROLE_LABELS, Role

FONT = "STSong-Light"
MONO = "Courier"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

METHOD_LABELS: dict[ReverificationMethod, tuple[str, str]] = {
    ReverificationMethod.ID_DOCUMENT: ("身份证号核验", "ID number re-entered and matched"),
    ReverificationMethod.STAFF_CONFIRMED: ("书记员视频确认", "confirmed on video by the clerk"),
    ReverificationMethod.NONE: ("签署确认", "confirmation only"),
}


@dataclass(frozen=True, slots=True)
class SignerLine:
    """One person on the signature page; `signed_at` None = not yet signed."""

    name: str
    role: str
    signed_at: datetime | None = None
    method: ReverificationMethod | None = None
    confirmed_by_name: str | None = None


@dataclass(frozen=True, slots=True)
class TranscriptDocument:
    case_number: str
    cause: str  # 案由
    kind: HearingKind
    state: str
    scheduled_start: datetime
    scheduled_end: datetime
    version: TranscriptVersion
    signed: Sequence[SignerLine] = ()
    pending: Sequence[SignerLine] = ()
    complete: bool = False
    tz: tzinfo = field(default=UTC)  # the court's local time zone, for every time shown


# ---- formatting -----------------------------------------------------------------------------------------


def _label(pair: tuple[str, str]) -> str:
    return f"{pair[0]} {pair[1]}"


def role_label(role: str) -> str:
    try:
        return _label(ROLE_LABELS[Role(role)])
    except ValueError:
        return role


def _state_label(state: str) -> str:
    try:
        return _label(STATE_LABELS[ProcedureState(state)])
    except ValueError:
        return state


def _offset(at: datetime) -> str:
    delta = at.utcoffset()
    if not delta:
        return "UTC"
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_time(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} ({_offset(local)})"


def _clean(line: str) -> tuple[int, str]:
    """One line as (leading spaces, Paragraph markup): escaped, tabs expanded, control characters dropped.

    Leading spaces become an indent, not characters: the CID font has no no-break space to keep them with.
    """
    line = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") and c != "\t" else c for c in line)
    line = line.replace("\t", "    ")
    body = line.lstrip(" ")
    return len(line) - len(body), escape(body)


# ---- layout ---------------------------------------------------------------------------------------------

_BASE = ParagraphStyle("base", fontName=FONT, fontSize=11, leading=17, wordWrap="CJK")
_TITLE = ParagraphStyle("title", parent=_BASE, fontSize=18, leading=26, alignment=1, spaceAfter=6 * mm)
_HEAD = ParagraphStyle("head", parent=_BASE, fontSize=13, leading=20, spaceBefore=4 * mm, spaceAfter=3 * mm)
_CELL = ParagraphStyle("cell", parent=_BASE, fontSize=10, leading=14)
_HASH = ParagraphStyle("hash", parent=_BASE, fontName=MONO, fontSize=9, leading=13)
_HASH_CELL = ParagraphStyle("hash_cell", parent=_HASH, fontSize=8)
_NOTE = ParagraphStyle("note", parent=_BASE, fontSize=10, leading=15)

_GRID = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
])


def _cells(rows: Sequence[Sequence[str]], style: ParagraphStyle = _CELL) -> list[list[Paragraph]]:
    return [[Paragraph(escape(c), style) for c in row] for row in rows]


def _particulars(doc: TranscriptDocument, width: float) -> Table:
    v = doc.version
    rows = [
        ["案号 Case number", doc.case_number],
        ["案由 Cause", doc.cause],
        ["类型 Hearing kind", _label(KIND_LABELS[doc.kind])],
        ["排期 Scheduled", f"{local_time(doc.scheduled_start, doc.tz)} – {local_time(doc.scheduled_end, doc.tz)}"],
        ["状态 State", _state_label(doc.state)],
        ["笔录版本 Version", f"第 {v.number} 版 version {v.number}, saved {local_time(v.saved_at, doc.tz)}"],
    ]
    cells = _cells(rows)
    cells.append([Paragraph("SHA-256", _CELL), Paragraph(v.sha256, _HASH_CELL)])
    table = Table(cells, colWidths=[0.24 * width, 0.76 * width])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _body(text: str) -> list[Any]:
    flow: list[Any] = []
    indents: dict[int, ParagraphStyle] = {0: _BASE}
    space = pdfmetrics.stringWidth(" ", FONT, _BASE.fontSize)
    for line in text.split("\n"):
        if not line.strip():
            flow.append(Spacer(1, _BASE.leading / 2))
            continue
        indent, markup = _clean(line)
        indent = min(indent, 40)
        if indent not in indents:
            indents[indent] = ParagraphStyle(f"indent{indent}", parent=_BASE, firstLineIndent=indent * space)
        flow.append(Paragraph(markup, indents[indent]))
    return flow


def _signature_page(doc: TranscriptDocument, width: float) -> list[Any]:
    v = doc.version
    flow: list[Any] = [
        Paragraph("签名页 Signature page", _TITLE),
        Paragraph(escape(f"以下签名人已阅读并确认笔录第 {v.number} 版；每一签名均绑定该版本文本的 SHA-256 摘要。 "
                         f"The signatories below read and confirmed version {v.number} of this transcript; each "
                         "signature is bound to the SHA-256 digest of that version's text:"), _NOTE),
        Spacer(1, 2 * mm),
        Paragraph(v.sha256, _HASH),
        Spacer(1, 4 * mm),
    ]
    columns = [0.22 * width, 0.2 * width, 0.27 * width, 0.31 * width]
    if doc.signed:
        rows = [["签名人 Signatory", "身份 Role", "签署时间 Signed at", "身份核验 Identity re-check"]]
        for s in doc.signed:
            method = _label(METHOD_LABELS[s.method]) if s.method is not None else ""
            if s.method is ReverificationMethod.STAFF_CONFIRMED and s.confirmed_by_name:
                method += f" ({s.confirmed_by_name})"
            when = local_time(s.signed_at, doc.tz) if s.signed_at is not None else ""
            rows.append([s.name, role_label(s.role), when, method])
        table = Table(_cells(rows), colWidths=columns, repeatRows=1)
        table.setStyle(_GRID)
        flow.append(table)
    else:
        flow.append(Paragraph("尚无签名。 No one has signed yet.", _NOTE))
    if doc.pending:
        rows = [["尚未签署 Not yet signed", "身份 Role"]] + [[p.name, role_label(p.role)] for p in doc.pending]
        table = Table(_cells(rows), colWidths=[columns[0] + columns[1], columns[2] + columns[3]], repeatRows=1)
        table.setStyle(_GRID)
        flow += [Spacer(1, 5 * mm), table]
    status = ("签署完成：所有应签署人均已签名。 Complete: every participant who must sign has signed."
              if doc.complete else
              "签署未完成。 Incomplete: not every participant who must sign has signed this version.")
    flow += [Spacer(1, 5 * mm), KeepTogether(Paragraph(escape(status), _NOTE))]
    return flow


class _NumberedCanvas(Canvas):
    """Holds pages back until the end so each footer can say "page i of n"."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab names it so
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(FONT, 8)
            self.setFillColor(colors.grey)
            width, _ = self._pagesize
            self.drawString(20 * mm, 10 * mm, self._footer)
            self.drawRightString(width - 20 * mm, 10 * mm, f"第 {number} 页 / 共 {total} 页  Page {number} of {total}")
            super().showPage()
        super().save()


def render_pdf(doc: TranscriptDocument) -> bytes:
    """The transcript PDF: particulars and text, then the signature page."""
    buffer = io.BytesIO()
    v = doc.version
    template = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
        title=f"{doc.case_number} 笔录 transcript v{v.number}", author="", subject=f"SHA-256 {v.sha256}",
        creator="hearing-cloud", invariant=1,
    )
    width = template.width
    kind_zh, kind_en = KIND_LABELS[doc.kind]
    flow: list[Any] = [
        Paragraph(escape(f"{kind_zh}笔录 {kind_en} transcript"), _TITLE),
        _particulars(doc, width),
        Paragraph("笔录 Transcript", _HEAD),
        *_body(v.text),
        PageBreak(),
        *_signature_page(doc, width),
    ]
    footer = f"{doc.case_number} | 笔录第 {v.number} 版 version {v.number} | SHA-256 {v.sha256[:16]}…"
    template.build(flow, canvasmaker=partial(_NumberedCanvas, footer=footer))
    return buffer.getvalue()
