"""Import litigation facts from the city's data exchange (JSON or CSV), all or nothing per file.

The format is documented in docs/integrity.md. Each row names the person by the court's person id or by
identity-document number (looked up through the register's salted hash and never stored), a fact kind, the day
it happened, a `source_ref` unique within the file's `source`, and optionally a case number, an expiry and
details. Every row is checked and every problem reported with its row number; if any row is wrong nothing is
recorded. Re-importing the same file changes nothing (idempotent on (source, source_ref)); a file that restates
an already-imported reference differently is refused whole — the exchange must send a correcting fact under a
new reference instead. A fact dated in the future is refused, as the court's own outcomes API refuses one: it
has not happened, and a code must not count it (`FUTURE_ALLOWANCE` absorbs time zones and clock skew).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from docket.court import CourtRecords, InvalidRecord, NotFound
from docket.facts import ConflictingFact, Fact, FactKind, NewFact
from docket.facts_sql import validate

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
RESERVED_SOURCES = frozenset({"court"})
"""Facts of this platform itself: an import cannot claim to be the court."""
CSV_COLUMNS = ("person_id", "id_document", "kind", "occurred_on", "source_ref", "case_number", "expires_on",
               "details")
_ROW_KEYS = frozenset(CSV_COLUMNS)
FUTURE_ALLOWANCE = timedelta(hours=14, minutes=5)
"""How far past the court's UTC clock `occurred_on` may fall: the exchange dates facts in its own time zone, which
may be up to UTC+14 (it is already "tomorrow" there), plus five minutes of skew between the two clocks. Beyond
that, the date is in the future everywhere."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based data row (CSV: the header is row 0); 0 for the file as a whole
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}" if self.row else f"{self.field}: {self.message}"


class ImportRejected(ValueError):
    """The file was refused and nothing was recorded; `errors` lists every problem found."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"the import was refused, nothing was recorded: {shown}{more}")
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class ImportRow:
    row: int
    person_id: str | None
    id_document: str | None
    kind: FactKind
    occurred_on: date
    source_ref: str
    case_number: str | None
    expires_on: date | None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    rows: int
    recorded: int  # new facts
    unchanged: int  # already recorded identically
    fact_ids: tuple[str, ...]
    person_ids: tuple[str, ...]  # whose codes need recomputing


class FactWriter(Protocol):
    async def add_facts(self, facts: Sequence[NewFact], *, audit: Any = None) -> list[Fact]: ...

    async def find_fact(self, source: str, source_ref: str) -> Fact | None: ...


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value.strip() or None


def _date(value: Any, what: str, required: bool) -> date | None:
    text = _text(value)
    if text is None:
        if required:
            raise ValueError(f"{what} is required (YYYY-MM-DD)")
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD") from None


def _row(n: int, raw: Mapping[str, Any], errors: list[RowError]) -> ImportRow | None:
    count = len(errors)

    def fail(name: str, message: str) -> None:
        errors.append(RowError(n, name, message))

    unknown = set(raw) - _ROW_KEYS
    if unknown:
        fail(sorted(unknown)[0], f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(CSV_COLUMNS)}")
    values: dict[str, Any] = {}
    for name in ("person_id", "id_document", "source_ref", "case_number"):
        try:
            values[name] = _text(raw.get(name))
        except ValueError as exc:
            fail(name, str(exc))
    if (values.get("person_id") is None) == (values.get("id_document") is None) and len(errors) == count:
        fail("person_id", "give exactly one of person_id and id_document")
    if not values.get("source_ref"):
        fail("source_ref", "source_ref is required: the exchange's unique reference for this fact")
    try:
        kind = FactKind(_text(raw.get("kind")) or "")
    except (ValueError, TypeError):
        fail("kind", f"{raw.get('kind')!r} is not one of {', '.join(k.value for k in FactKind)}")
    for name, required in (("occurred_on", True), ("expires_on", False)):
        try:
            values[name] = _date(raw.get(name), name, required)
        except ValueError as exc:
            fail(name, str(exc))
    details = raw.get("details") or {}
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            fail("details", "details must be a JSON object")
    if not isinstance(details, dict):
        fail("details", "details must be a JSON object")
        details = {}
    if len(errors) > count:
        return None
    return ImportRow(n, values["person_id"], values["id_document"], kind, values["occurred_on"], values["source_ref"],
                     values["case_number"], values["expires_on"], details)


def _check_source(source: Any, errors: list[RowError]) -> str:
    if not isinstance(source, str) or not source.strip():
        errors.append(RowError(0, "source", "the file must name its source (e.g. \"city-exchange\")"))
        return ""
    if source.strip() in RESERVED_SOURCES:
        errors.append(RowError(0, "source", f"source {source!r} is reserved for the court's own facts"))
    return source.strip()


def parse_json(data: bytes, source: str | None = None) -> tuple[str, list[ImportRow]]:
    """`{"source": "...", "facts": [{...}, ...]}`; `source` (from the request) is used if the file names none."""
    errors: list[RowError] = []
    if len(data) > MAX_BYTES:
        raise ImportRejected([RowError(0, "file", f"the file is over {MAX_BYTES} bytes; split it")])
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportRejected([RowError(0, "file", f"not UTF-8 JSON ({exc})")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("facts"), list):
        raise ImportRejected([RowError(0, "file", 'expected an object {"source": ..., "facts": [...]}')])
    src = _check_source(doc.get("source", source), errors)
    if source is not None and doc.get("source") not in (None, source):
        errors.append(RowError(0, "source", f"the file says source {doc.get('source')!r}, the request {source!r}"))
    rows = _rows([r if isinstance(r, dict) else None for r in doc["facts"]], errors)
    return src, rows


def parse_csv(data: bytes, source: str) -> tuple[str, list[ImportRow]]:
    """UTF-8 CSV (a BOM is allowed) with a header row naming columns of CSV_COLUMNS; `source` is the request's."""
    errors: list[RowError] = []
    if len(data) > MAX_BYTES:
        raise ImportRejected([RowError(0, "file", f"the file is over {MAX_BYTES} bytes; split it")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([RowError(0, "file", "the CSV is not UTF-8; save it as UTF-8")]) from None
    src = _check_source(source, errors)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in _ROW_KEYS]
    if not header or unknown or "kind" not in header:
        raise ImportRejected([RowError(0, "header", f"the header must name columns from {', '.join(CSV_COLUMNS)}"
                                                    f" (unknown: {', '.join(unknown) or 'none'})")])
    raw_rows: list[dict[str, Any] | None] = []
    for record in reader:
        if None in record:  # more cells than header columns
            raw_rows.append(None)
        else:
            raw_rows.append({k: v for k, v in record.items() if v not in (None, "")})
    return src, _rows(raw_rows, errors)


def _rows(raw_rows: Sequence[dict[str, Any] | None], errors: list[RowError]) -> list[ImportRow]:
    if not raw_rows:
        errors.append(RowError(0, "file", "the file holds no facts"))
    if len(raw_rows) > MAX_ROWS:
        raise ImportRejected([RowError(0, "file", f"the file has over {MAX_ROWS} rows; split it")])
    rows: list[ImportRow] = []
    refs: dict[str, int] = {}
    for n, raw in enumerate(raw_rows, start=1):
        if raw is None:
            errors.append(RowError(n, "row", "not an object / has more cells than the header"))
            continue
        row = _row(n, raw, errors)
        if row is None:
            continue
        if row.source_ref in refs:
            errors.append(RowError(n, "source_ref", f"{row.source_ref!r} repeats row {refs[row.source_ref]}"))
            continue
        refs[row.source_ref] = n
        rows.append(row)
    if errors:
        raise ImportRejected(errors)
    return rows


def latest_date(now: datetime) -> date:
    """The latest `occurred_on` accepted at `now`: today somewhere on Earth, give or take the clock skew."""
    return (now.astimezone(UTC) + FUTURE_ALLOWANCE).date()


async def import_facts(source: str, rows: Sequence[ImportRow], *, court: CourtRecords, facts: FactWriter,
                       audit: Any = None, now: datetime | None = None) -> ImportReport:
    """Resolve persons, check every row against the register and the clock (`now`, default the current time),
    then record all rows in one transaction."""
    errors: list[RowError] = []
    new: list[NewFact] = []
    latest = latest_date(now or datetime.now(UTC))
    for row in rows:
        if row.occurred_on > latest:
            errors.append(RowError(row.row, "occurred_on", f"{row.occurred_on} is in the future (the latest date "
                                   f"accepted now is {latest}); import a fact once it has happened"))
            continue
        person_id = row.person_id
        if person_id is not None:
            try:
                await court.get_person(person_id)
            except NotFound:
                errors.append(RowError(row.row, "person_id", f"no person {person_id!r} in the court's register"))
                continue
        else:
            assert row.id_document is not None
            try:
                found = await court.find_persons_by_id_document(row.id_document)
            except (InvalidRecord, ValueError) as exc:
                errors.append(RowError(row.row, "id_document", str(exc)))
                continue
            if len(found) != 1:
                errors.append(RowError(row.row, "id_document", "no person with this identity document in the "
                                       "court's register" if not found else "several persons match; use person_id"))
                continue
            person_id = found[0].id
        fact = NewFact(person_id, row.kind, row.occurred_on, source, row.source_ref, row.case_number,
                       dict(row.details), row.expires_on)
        try:
            validate(fact)
        except InvalidRecord as exc:
            errors.append(RowError(row.row, "row", str(exc)))
            continue
        existing = await facts.find_fact(source, row.source_ref)
        if existing is not None and not existing.same_content(fact):
            errors.append(RowError(row.row, "source_ref", f"{row.source_ref!r} was imported before with different "
                                   "content; send a correcting fact under a new source_ref"))
            continue
        new.append(fact)
    if errors:
        raise ImportRejected(errors)
    before = {f.source_ref for f in new if await facts.find_fact(source, f.source_ref) is not None}
    try:
        stored = await facts.add_facts(new, audit=audit)
    except ConflictingFact as exc:  # a concurrent import got there first
        raise ImportRejected([RowError(0, "source_ref", str(exc))]) from None
    return ImportReport(source, len(rows), len(rows) - len(before), len(before), tuple(f.id for f in stored),
                        tuple(sorted({f.person_id for f in stored})))
