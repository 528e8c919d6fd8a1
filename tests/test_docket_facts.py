"""The litigation facts register (`FactRecords`) on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import pytest

from docket.audit import AuditEvent
from docket.court import InvalidRecord, NewPerson, NotFound
from docket.court_sql import SqlCourtRecords
from docket.facts import ConflictingFact, FactKind, FactRecords, NewFact
from docket.facts_sql import SqlFactRecords, on_facts_appended


@pytest.fixture
def facts(court: SqlCourtRecords) -> SqlFactRecords:
    return SqlFactRecords(court.engine, court.url)


def _fact(person_id: str, ref: str = "j-1", **kw: object) -> NewFact:
    values: dict[str, object] = dict(
        person_id=person_id, kind=FactKind.JUDGMENT_PERFORMED_ON_TIME, occurred_on=date(2026, 3, 1),
        source="court", source_ref=ref, case_number="(2026)示例民初1号", details={"amount_cents": 1200},
    )
    values.update(kw)
    return NewFact(**values)  # type: ignore[arg-type]


async def test_satisfies_the_protocol_and_records_a_fact(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    assert isinstance(facts, FactRecords)
    person = await court.create_person(NewPerson("张三"))
    stored = await facts.add_fact(_fact(person.id, expires_on=date(2028, 3, 1)))
    assert stored.kind is FactKind.JUDGMENT_PERFORMED_ON_TIME and stored.seq == 1
    assert stored.details == {"amount_cents": 1200} and stored.expires_on == date(2028, 3, 1)
    assert stored.recorded_at.tzinfo is not None
    assert await facts.facts_of(person.id) == [stored]


async def test_identical_fact_is_idempotent_and_audited_once(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    person = await court.create_person(NewPerson("张三"))
    event = AuditEvent("staff-1", "clerk", "fact.recorded", f"person:{person.id}", {"source_ref": "j-1"})
    first = await facts.add_fact(_fact(person.id), audit=event)
    again = await facts.add_fact(_fact(person.id), audit=event)
    assert again == first
    assert len(await facts.facts_of(person.id)) == 1
    entries = await court.audit.entries()
    assert [e.action for e in entries] == ["fact.recorded"]
    assert await court.audit.verify() is None


async def test_conflicting_fact_is_refused_and_nothing_changes(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    person = await court.create_person(NewPerson("张三"))
    first = await facts.add_fact(_fact(person.id))
    for changed in (_fact(person.id, kind=FactKind.JUDGMENT_PERFORMED_LATE), _fact(person.id, details={}),
                    _fact(person.id, occurred_on=date(2026, 3, 2)), _fact(person.id, case_number=None)):
        with pytest.raises(ConflictingFact) as info:
            await facts.add_fact(changed)
        assert info.value.existing_id == first.id and "new source_ref" in str(info.value)
    assert await facts.facts_of(person.id) == [first]
    # The same reference from another source is another fact.
    other = await facts.add_fact(_fact(person.id, source="city-exchange"))
    assert other.id != first.id


async def test_unknown_person_and_bad_values_are_refused(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    with pytest.raises(NotFound) as info:
        await facts.add_fact(_fact("nobody"))
    assert info.value.what == "person"
    person = await court.create_person(NewPerson("张三"))
    bad = [
        _fact(person.id, kind="praise"), _fact(person.id, source=""), _fact(person.id, source_ref="x" * 129),
        _fact(person.id, occurred_on=datetime(2026, 3, 1, 9)), _fact(person.id, expires_on=date(2025, 1, 1)),
        _fact(person.id, details={"name": "张三"}), _fact(person.id, details={"when": date(2026, 1, 1)}),
    ]
    for fact in bad:
        with pytest.raises(InvalidRecord):
            await facts.add_fact(fact)
    assert await facts.facts_after(0) == []


async def test_ordering_by_occurrence_and_following_by_seq(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    a = await court.create_person(NewPerson("甲"))
    b = await court.create_person(NewPerson("乙"))
    f1 = await facts.add_fact(_fact(a.id, "r1", occurred_on=date(2026, 5, 1)))
    f2 = await facts.add_fact(_fact(b.id, "r2", occurred_on=date(2026, 1, 1)))
    f3 = await facts.add_fact(_fact(a.id, "r3", occurred_on=date(2026, 1, 1)))
    f4 = await facts.add_fact(_fact(a.id, "r4", occurred_on=date(2026, 1, 1)))
    assert [f.seq for f in (f1, f2, f3, f4)] == [1, 2, 3, 4]
    assert [f.id for f in await facts.facts_of(a.id)] == [f3.id, f4.id, f1.id]
    assert [f.id for f in await facts.facts_after(0)] == [f1.id, f2.id, f3.id, f4.id]
    assert [f.id for f in await facts.facts_after(1, limit=2)] == [f2.id, f3.id]
    assert await facts.facts_after(4) == []


async def test_concurrent_writers_get_gap_free_seqs(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    person = await court.create_person(NewPerson("张三"))
    stored = await asyncio.gather(*(facts.add_fact(_fact(person.id, f"c{i}")) for i in range(12)))
    assert sorted(f.seq for f in stored) == list(range(1, 13))
    # The same fact sent concurrently is recorded once.
    same = await asyncio.gather(*(facts.add_fact(_fact(person.id, "dup")) for _ in range(4)))
    assert len({f.id for f in same}) == 1



async def test_listeners_hear_of_appends_on_their_engine(court: SqlCourtRecords, facts: SqlFactRecords) -> None:
    """Every writer on the engine wakes followers (each builds its own register instance), once per commit that
    appended something, and a listener's failure does not fail the writer."""
    person = await court.create_person(NewPerson("张三"))
    heard: list[int] = []

    def broken(seq: int) -> None:
        raise RuntimeError("a buggy listener")

    stop_broken = facts.on_appended(broken)
    stop = on_facts_appended(court.engine, heard.append)
    first = await SqlFactRecords(court.engine, court.url).add_fact(_fact(person.id, "l1"))  # another writer
    assert heard == [1] and await facts.facts_after(0) == [first]
    await facts.add_facts([_fact(person.id, "l2"), _fact(person.id, "l3"), _fact(person.id, "l1")])
    assert heard == [1, 3]  # one call per commit, with its highest new seq
    await facts.add_fact(_fact(person.id, "l2"))  # idempotent: nothing appended, nobody woken
    with pytest.raises(InvalidRecord):
        await facts.add_fact(_fact(person.id, "bad", kind="nonsense"))
    assert heard == [1, 3]
    stop()
    stop_broken()
    stop()  # unsubscribing twice is harmless
    await facts.add_fact(_fact(person.id, "l4"))
    assert heard == [1, 3]
