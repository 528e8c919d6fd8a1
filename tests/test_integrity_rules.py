"""The integrity rule set (integrity.rules) is pure: checked exhaustively with hypothesis, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from docket.facts import FactKind
from integrity.rules import (
    NEGATIVE_KINDS,
    NEUTRAL_KINDS,
    POSITIVE_KINDS,
    RULESET_VERSION,
    Colour,
    NotScored,
    ReasonCode,
    better_or_equal,
    compute,
    settlement_ref,
)
from points.rules import settlement_ref as points_settlement_ref

TODAY = date(2026, 6, 1)
ADULT = date(1980, 1, 1)
CASES = ["(2025)示例执1号", "(2025)示例民初2号", "(2026)示例民初3号", None]
SETTLEMENT_KINDS = frozenset({FactKind.SETTLEMENT_REACHED, FactKind.SETTLEMENT_PERFORMED, FactKind.SETTLEMENT_VOID})


@dataclass(frozen=True)
class F:
    id: str
    kind: FactKind
    occurred_on: date
    case_number: str | None = None
    expires_on: date | None = None
    details: Mapping[str, object] = field(default_factory=dict, hash=False)
    seq: int = 0  # read by points.rules only
    person_id: str = "p"


_counter = iter(range(10**9))

# A settlement's facts name it by `details["settlement_id"]` (absent: the case's only settlement).
settlement_details = st.sampled_from([{}, {"settlement_id": "S-1"}, {"settlement_id": "S-2"}, {"settlement_id": None},
                                      {"settlement_id": ""}, {"order": "R-9"}])


def fact_of(kinds: frozenset[FactKind] | list[FactKind]) -> st.SearchStrategy[F]:
    return st.builds(
        lambda kind, days, case, exp, details: F(
            f"f{next(_counter)}", kind, TODAY - timedelta(days=days), case,
            None if exp is None else TODAY - timedelta(days=days) + timedelta(days=exp),
            details if kind in SETTLEMENT_KINDS else {}),
        st.sampled_from(sorted(kinds)), st.integers(-30, 1500), st.sampled_from(CASES),
        st.one_of(st.none(), st.integers(0, 1500)), settlement_details,
    )


any_facts = st.lists(fact_of(list(FactKind)), max_size=12)


def test_every_kind_is_classified_once() -> None:
    assert NEGATIVE_KINDS | POSITIVE_KINDS | NEUTRAL_KINDS == set(FactKind)
    assert not (NEGATIVE_KINDS & POSITIVE_KINDS)
    assert FactKind.PARTY_TO_CASE in NEUTRAL_KINDS


@settings(max_examples=400)
@given(any_facts, fact_of(NEGATIVE_KINDS))
def test_adding_a_negative_fact_never_improves(facts: list[F], extra: F) -> None:
    before, after = compute(facts, ADULT, TODAY), compute([*facts, extra], ADULT, TODAY)
    assert better_or_equal(before, after)


@settings(max_examples=400)
@given(any_facts, fact_of(POSITIVE_KINDS))
def test_adding_a_positive_fact_never_worsens(facts: list[F], extra: F) -> None:
    before, after = compute(facts, ADULT, TODAY), compute([*facts, extra], ADULT, TODAY)
    assert better_or_equal(after, before)


@settings(max_examples=200)
@given(any_facts, fact_of(NEUTRAL_KINDS))
def test_neutral_facts_change_nothing(facts: list[F], extra: F) -> None:
    before, after = compute(facts, ADULT, TODAY), compute([*facts, extra], ADULT, TODAY)
    assert (before.colour, before.score, before.reasons) == (after.colour, after.score, after.reasons)


@given(any_facts, st.dates(date(2008, 6, 2), TODAY))
def test_minors_are_never_scored(facts: list[F], birth: date) -> None:
    result = compute(facts, birth, TODAY)
    assert result.colour is None and result.score is None and result.reasons == ()
    assert result.not_scored is NotScored.MINOR
    assert TODAY < result.valid_until <= TODAY + timedelta(days=30)


def test_unknown_birth_date_is_not_guessed() -> None:
    listed = F("f1", FactKind.DEFAULTER_LISTED, TODAY, "c")
    result = compute([listed], None, TODAY)
    assert result.colour is None and result.not_scored is NotScored.BIRTH_DATE_UNKNOWN


def test_a_minor_is_re_evaluated_on_the_eighteenth_birthday() -> None:
    assert compute([], date(2008, 6, 10), TODAY).valid_until == date(2026, 6, 10)
    assert compute([], date(2008, 6, 1), TODAY).colour is Colour.GREEN  # 18 today


@settings(max_examples=300)
@given(any_facts)
def test_every_reason_is_traceable_to_a_fact_and_its_case(facts: list[F]) -> None:
    result = compute(facts, ADULT, TODAY)
    assert result.ruleset_version == RULESET_VERSION
    by_id = {f.id: f for f in facts}
    for reason in result.reasons:
        assert reason.fact_ids and all(i in by_id for i in reason.fact_ids)
        assert set(reason.case_numbers) == {by_id[i].case_number for i in reason.fact_ids} - {None}
        assert all(by_id[i].occurred_on <= TODAY for i in reason.fact_ids)
        assert reason.expires_on is None or reason.expires_on >= TODAY
    assert result.valid_until > TODAY
    # A settlement bonus is traced to its performed settlement, and no void of that same settlement counts.
    voids = {settlement_ref(f) for f in facts if f.kind is FactKind.SETTLEMENT_VOID and f.occurred_on <= TODAY}
    for reason in result.reasons:
        if reason.code is ReasonCode.SETTLEMENT_PERFORMED:
            [fact_id] = reason.fact_ids
            assert by_id[fact_id].kind is FactKind.SETTLEMENT_PERFORMED
            assert settlement_ref(by_id[fact_id]) not in voids


@settings(max_examples=400)
@given(any_facts)
def test_a_void_cancels_exactly_its_own_settlement(facts: list[F]) -> None:
    """The settlement bonuses counted are those performed (dated by today, not lapsed) whose settlement — case
    number plus settlement id — has no void dated by today; voids of other settlements, even of the same case,
    change nothing."""
    result = compute(facts, ADULT, TODAY)
    voids = {settlement_ref(f) for f in facts if f.kind is FactKind.SETTLEMENT_VOID and f.occurred_on <= TODAY}
    expected = set()
    for f in facts:
        if f.kind is FactKind.SETTLEMENT_PERFORMED and f.occurred_on <= TODAY:
            last = f.expires_on or f.occurred_on + timedelta(days=3 * 365)
            if last >= TODAY and settlement_ref(f) not in voids:
                expected.add(f.id)
    counted = {i for r in result.reasons if r.code is ReasonCode.SETTLEMENT_PERFORMED for i in r.fact_ids}
    assert counted == expected


@settings(max_examples=300)
@given(st.lists(fact_of(SETTLEMENT_KINDS), max_size=8))
def test_settlements_are_referred_to_as_the_points_exchange_does(facts: list[F]) -> None:
    """One reference scheme for both services, so a void never takes points and integrity from different
    settlements."""
    for f in facts:
        assert settlement_ref(f) == points_settlement_ref(f)


def test_two_settlements_in_one_case_one_voided_the_other_still_counts() -> None:
    case = "(2026)示例民初8号"
    first = F("s1", FactKind.SETTLEMENT_PERFORMED, date(2026, 2, 1), case, details={"settlement_id": "A"})
    second = F("s2", FactKind.SETTLEMENT_PERFORMED, date(2026, 3, 1), case, details={"settlement_id": "B"})
    void_a = F("v1", FactKind.SETTLEMENT_VOID, date(2026, 4, 1), case, details={"settlement_id": "A"})
    clean = compute([], ADULT, TODAY)
    both = compute([first, second], ADULT, TODAY)
    assert both.score == clean.score + 10  # type: ignore[operator]

    after = compute([first, second, void_a], ADULT, TODAY)
    assert after.score == clean.score + 5  # type: ignore[operator]
    assert [(r.code, r.fact_ids, r.case_numbers) for r in after.reasons] == [
        (ReasonCode.SETTLEMENT_PERFORMED, ("s2",), (case,))]
    assert after.ruleset_version == RULESET_VERSION == "2026.2"

    # A void dated before the performance still voids it: the agreement was never valid.
    early = F("v0", FactKind.SETTLEMENT_VOID, date(2026, 1, 1), case, details={"settlement_id": "B"})
    assert [r.fact_ids for r in compute([first, second, early], ADULT, TODAY).reasons] == [("s1",)]
    # A void naming no settlement id is about the case's unnamed settlement, not about A or B.
    unnamed = F("v2", FactKind.SETTLEMENT_VOID, date(2026, 4, 1), case)
    assert compute([first, second, unnamed], ADULT, TODAY).score == both.score
    # The same settlement id in another case is another settlement.
    elsewhere = F("v3", FactKind.SETTLEMENT_VOID, date(2026, 4, 1), "(2026)示例民初9号", details={"settlement_id": "A"})
    assert compute([first, second, elsewhere], ADULT, TODAY).score == both.score
    # A void dated after today does not count yet, but the code is valid only until it does.
    later = F("v4", FactKind.SETTLEMENT_VOID, date(2026, 6, 20), case, details={"settlement_id": "A"})
    pending = compute([first, second, later], ADULT, TODAY)
    assert pending.score == both.score and pending.valid_until == date(2026, 6, 20)


@settings(max_examples=300)
@given(any_facts)
def test_expiry_is_honoured(facts: list[F]) -> None:
    result = compute(facts, ADULT, TODAY)
    for reason in result.reasons:
        if reason.expires_on is not None:
            assert result.valid_until <= reason.expires_on + timedelta(days=1)
            later = compute(facts, ADULT, reason.expires_on + timedelta(days=1))
            assert all(r.fact_ids != reason.fact_ids for r in later.reasons)


def test_the_headline_rules() -> None:
    listed = F("d1", FactKind.DEFAULTER_LISTED, date(2026, 1, 5), "(2025)示例执1号")
    red = compute([listed], ADULT, TODAY)
    assert red.colour is Colour.RED and red.reasons[0].code is ReasonCode.DEFAULTER_LISTED
    assert red.reasons[0].case_numbers == ("(2025)示例执1号",) and red.reasons[0].expires_on == date(2028, 1, 5)
    delisted = F("d2", FactKind.DEFAULTER_DELISTED, date(2026, 3, 1), "(2025)示例执1号")
    assert compute([listed, delisted], ADULT, TODAY).colour is Colour.GREEN

    enforcement = F("e1", FactKind.ENFORCEMENT_OPENED, date(2026, 2, 1), "(2025)示例执2号")
    restricted = F("s1", FactKind.SPENDING_RESTRICTION, date(2026, 2, 1), "(2025)示例执2号")
    for fact in (enforcement, restricted):
        assert compute([fact], ADULT, TODAY).colour is Colour.YELLOW

    clean = compute([], ADULT, TODAY)
    good = compute([F("p1", FactKind.JUDGMENT_PERFORMED_ON_TIME, date(2026, 1, 1), "c1"),
                    F("p2", FactKind.SETTLEMENT_PERFORMED, date(2026, 2, 1), "c2")], ADULT, TODAY)
    assert clean.colour is good.colour is Colour.GREEN and good.score == clean.score + 10  # type: ignore[operator]

    # A voided settlement takes the bonus away, without a penalty.
    void = F("v1", FactKind.SETTLEMENT_VOID, date(2026, 3, 1), "c2")
    assert compute([*good_facts(), void], ADULT, TODAY).score == clean.score + 5  # type: ignore[operator]
    # A fact's own expiry wins over the default term; an expired reason no longer counts.
    short = F("d3", FactKind.DEFAULTER_LISTED, date(2025, 1, 1), "c3", expires_on=date(2026, 5, 31))
    assert compute([short], ADULT, TODAY).colour is Colour.GREEN
    # A dated fact that has not happened yet does not count, but the code is valid only until it does.
    future = F("d4", FactKind.DEFAULTER_LISTED, date(2026, 6, 10), "c4")
    assert compute([future], ADULT, TODAY).colour is Colour.GREEN
    assert compute([future], ADULT, TODAY).valid_until == date(2026, 6, 10)


def good_facts() -> list[F]:
    return [F("p1", FactKind.JUDGMENT_PERFORMED_ON_TIME, date(2026, 1, 1), "c1"),
            F("p2", FactKind.SETTLEMENT_PERFORMED, date(2026, 2, 1), "c2")]
