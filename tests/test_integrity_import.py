"""Importing facts from the city's data exchange: row-by-row validation, all or nothing, idempotent re-import."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from docket.court import NewPerson
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.facts import FactKind
from docket.facts_sql import SqlFactRecords
from integrity.imports import ImportRejected, import_facts, latest_date, parse_csv, parse_json

ADULT_ID = "110105198001030016"  # a well-formed resident ID (valid check digit), born 1980-01-03


@pytest.fixture
async def court(tmp_path: Path) -> AsyncIterator[SqlCourtRecords]:
    db = await open_court_records(f"sqlite+aiosqlite:///{tmp_path / 'court.db'}", id_hash_iterations=1_000)
    try:
        yield db
    finally:
        await db.close()


def _json(source: str | None, rows: list[dict[str, object]]) -> bytes:
    doc: dict[str, object] = {"facts": rows}
    if source is not None:
        doc["source"] = source
    return json.dumps(doc, ensure_ascii=False).encode()


async def test_valid_json_and_csv_are_recorded_and_re_import_is_idempotent(court: SqlCourtRecords) -> None:
    facts = SqlFactRecords(court.engine, court.url)
    person = await court.create_person(NewPerson("张三", id_document=ADULT_ID))
    data = _json("city-exchange", [
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "X-1",
         "case_number": "(2026)示例执1号"},
        {"id_document": ADULT_ID, "kind": "spending_restriction", "occurred_on": "2026-02-02", "source_ref": "X-2",
         "expires_on": "2027-02-02", "details": {"order": "R-9"}},
    ])
    source, rows = parse_json(data)
    report = await import_facts(source, rows, court=court, facts=facts)
    assert (report.recorded, report.unchanged, report.person_ids) == (2, 0, (person.id,))
    stored = await facts.facts_of(person.id)
    assert [(f.kind, f.source, f.source_ref) for f in stored] == [
        (FactKind.ENFORCEMENT_OPENED, "city-exchange", "X-1"), (FactKind.SPENDING_RESTRICTION, "city-exchange", "X-2")]
    assert stored[1].expires_on == date(2027, 2, 2) and stored[1].details == {"order": "R-9"}

    again = await import_facts(*parse_json(data), court=court, facts=facts)
    assert (again.recorded, again.unchanged) == (0, 2)
    assert len(await facts.facts_of(person.id)) == 2

    csv_data = ("\ufeffperson_id,kind,occurred_on,source_ref,case_number\n"
                f"{person.id},enforcement_closed,2026-04-01,X-3,(2026)示例执1号\n").encode()
    report = await import_facts(*parse_csv(csv_data, "city-exchange"), court=court, facts=facts)
    assert report.recorded == 1 and len(await facts.facts_of(person.id)) == 3


async def test_malformed_rows_are_all_reported_and_nothing_is_recorded(court: SqlCourtRecords) -> None:
    facts = SqlFactRecords(court.engine, court.url)
    person = await court.create_person(NewPerson("张三"))
    data = _json("city-exchange", [
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "ok"},
        {"person_id": person.id, "kind": "praise", "occurred_on": "2026-02-01", "source_ref": "a"},
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "1/2/2026", "source_ref": "b"},
        {"kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "c"},
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01"},
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "ok"},
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "d",
         "colour": "red"},
        "not an object",
    ])
    with pytest.raises(ImportRejected) as info:
        parse_json(data)
    by_row = {e.row: e.field for e in info.value.errors}
    assert by_row == {2: "kind", 3: "occurred_on", 4: "person_id", 5: "source_ref", 6: "source_ref", 7: "colour",
                      8: "row"}
    assert "nothing was recorded" in str(info.value)

    for bad, why in ((b"{", "file"), (_json(None, []), "source"), (_json("court", []), "source"),
                     (b'{"facts": 3, "source": "x"}', "file")):
        with pytest.raises(ImportRejected) as info:
            parse_json(bad)
        assert info.value.errors[0].field == why
    with pytest.raises(ImportRejected) as info:
        parse_csv(b"person,kind\nx,y\n", "city-exchange")
    assert info.value.errors[0].field == "header"
    with pytest.raises(ImportRejected) as info:
        parse_csv(f"person_id,kind,occurred_on,source_ref\n{person.id},defaulter_listed,2026-13-01,r1,extra\n"
                  .encode(), "city-exchange")
    assert info.value.errors[0].row == 1

    # Rows that parse but name no registered person: refused at import, nothing recorded.
    rows = _json("city-exchange", [
        {"person_id": person.id, "kind": "defaulter_listed", "occurred_on": "2026-02-01", "source_ref": "p1"},
        {"person_id": "nobody", "kind": "defaulter_listed", "occurred_on": "2026-02-01", "source_ref": "p2"},
        {"id_document": ADULT_ID, "kind": "defaulter_listed", "occurred_on": "2026-02-01", "source_ref": "p3"},
    ])
    with pytest.raises(ImportRejected) as info:
        await import_facts(*parse_json(rows), court=court, facts=facts)
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "person_id"), (3, "id_document")]
    assert await facts.facts_after(0) == []


async def test_a_conflicting_re_import_is_refused_whole(court: SqlCourtRecords) -> None:
    facts = SqlFactRecords(court.engine, court.url)
    person = await court.create_person(NewPerson("张三"))
    first = _json("city-exchange", [
        {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": "2026-02-01", "source_ref": "X-1"}])
    await import_facts(*parse_json(first), court=court, facts=facts)
    changed = _json("city-exchange", [
        {"person_id": person.id, "kind": "enforcement_closed", "occurred_on": "2026-03-01", "source_ref": "X-2"},
        {"person_id": person.id, "kind": "defaulter_listed", "occurred_on": "2026-02-01", "source_ref": "X-1"}])
    with pytest.raises(ImportRejected) as info:
        await import_facts(*parse_json(changed), court=court, facts=facts)
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "source_ref")]
    assert "correcting fact" in info.value.errors[0].message
    assert [f.source_ref for f in await facts.facts_of(person.id)] == ["X-1"]


async def test_facts_dated_in_the_future_are_refused_row_by_row(court: SqlCourtRecords) -> None:
    facts = SqlFactRecords(court.engine, court.url)
    person = await court.create_person(NewPerson("张三"))
    now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai; already 2026-06-01 23:00 at UTC+14

    def row(ref: str, occurred_on: str) -> dict[str, object]:
        return {"person_id": person.id, "kind": "enforcement_opened", "occurred_on": occurred_on, "source_ref": ref}

    future = _json("city-exchange", [row("F-1", "2026-06-01"), row("F-2", "2026-06-02"), row("F-3", "2027-01-01")])
    with pytest.raises(ImportRejected) as info:
        await import_facts(*parse_json(future), court=court, facts=facts, now=now)
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "occurred_on"), (3, "occurred_on")]
    assert "2026-06-02 is in the future" in info.value.errors[0].message
    assert "row 2: occurred_on: 2026-06-02 is in the future" in str(info.value)
    assert await facts.facts_after(0) == []  # all or nothing

    # Today in the furthest time zone (UTC+14) is not the future: the exchange may date facts in its own zone.
    later = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # 2026-06-02 01:00 at UTC+14
    report = await import_facts(*parse_json(_json("city-exchange", [row("F-2", "2026-06-02")])), court=court,
                                facts=facts, now=later)
    assert report.recorded == 1
    # CSV rows are checked the same way.
    csv_future = (f"person_id,kind,occurred_on,source_ref\n{person.id},defaulter_listed,2026-06-03,F-4\n").encode()
    with pytest.raises(ImportRejected) as info:
        await import_facts(*parse_csv(csv_future, "city-exchange"), court=court, facts=facts, now=later)
    assert [(e.row, e.field) for e in info.value.errors] == [(1, "occurred_on")]
    assert latest_date(later) == date(2026, 6, 2)
