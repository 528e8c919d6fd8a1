"""The earning rules (points.rules), pure: checked against generated fact histories with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from docket.facts import Fact, FactKind
from points.rules import (
    WEIGHTS,
    PostCredit,
    PostReversal,
    Reason,
    credit_key,
    entitlements,
    plan,
    reversal_key,
)

P = "person-1"
AT = datetime(2026, 6, 1, tzinfo=UTC)


def fact(seq: int, kind: FactKind, case: str | None = "(2026)民初1号", sid: str | None = None,
         person: str = P) -> Fact:
    return Fact(person_id=person, kind=kind, occurred_on=date(2026, 1, 1), source="court", source_ref=f"r{seq}",
                case_number=case, details={"settlement_id": sid} if sid is not None else {}, expires_on=None,
                id=f"f{seq}", seq=seq, recorded_at=AT)


def test_settlement_earns_only_when_performed() -> None:
    reached = fact(1, FactKind.SETTLEMENT_REACHED, sid="s1")
    assert entitlements(P, [reached]) == []
    performed = fact(2, FactKind.SETTLEMENT_PERFORMED, sid="s1")
    [c] = entitlements(P, [reached, performed])
    assert (c.fact_id, c.reason, c.points, c.voided_by) == ("f2", Reason.SETTLEMENT_PERFORMED,
                                                           WEIGHTS[Reason.SETTLEMENT_PERFORMED], None)
    # Performed without a settlement reached (another settlement id, another case) earns nothing.
    assert entitlements(P, [reached, fact(3, FactKind.SETTLEMENT_PERFORMED, sid="s2")]) == []
    assert entitlements(P, [reached, fact(3, FactKind.SETTLEMENT_PERFORMED, case="other", sid="s1")]) == []
    # A second performed fact of the same settlement does not earn twice.
    assert len(entitlements(P, [reached, performed, fact(4, FactKind.SETTLEMENT_PERFORMED, sid="s1")])) == 1


def test_void_settlement_reverses_its_credit() -> None:
    facts = [fact(1, FactKind.SETTLEMENT_REACHED), fact(2, FactKind.SETTLEMENT_PERFORMED)]
    [c] = entitlements(P, facts)
    assert plan([c], set()) == [PostCredit(c)]
    assert plan([c], {credit_key("f2")}) == []
    [v] = entitlements(P, [*facts, fact(3, FactKind.SETTLEMENT_VOID)])
    assert v.voided_by == "f3"
    assert plan([v], {credit_key("f2")}) == [PostReversal(v)]  # credited before: reversed
    assert plan([v], {credit_key("f2"), reversal_key("f2")}) == []  # reversed once only
    assert plan([v], set()) == []  # never credited: nothing to post at all


def test_participation_once_per_case_and_timely_performance() -> None:
    facts = [fact(1, FactKind.MEDIATION_PARTICIPATION), fact(2, FactKind.MEDIATION_PARTICIPATION),
             fact(3, FactKind.MEDIATION_PARTICIPATION, case="(2026)民初2号"),
             fact(4, FactKind.JUDGMENT_PERFORMED_ON_TIME), fact(5, FactKind.JUDGMENT_PERFORMED_LATE),
             fact(6, FactKind.PARTY_TO_CASE), fact(7, FactKind.MEDIATION_PARTICIPATION, person="someone-else")]
    got = [(c.fact_id, c.reason) for c in entitlements(P, facts)]
    assert got == [("f1", Reason.MEDIATION_PARTICIPATION), ("f3", Reason.MEDIATION_PARTICIPATION),
                   ("f4", Reason.TIMELY_PERFORMANCE)]


KINDS = st.sampled_from(list(FactKind))
histories = st.lists(st.tuples(KINDS, st.sampled_from(["c1", "c2", None]), st.sampled_from(["s1", "s2", None]),
                               st.sampled_from([P, "other"])), max_size=25)


def _facts(spec: list[tuple[FactKind, str | None, str | None, str]]) -> list[Fact]:
    return [fact(i + 1, k, c, s, p) for i, (k, c, s, p) in enumerate(spec)]


def _ref(f: Fact) -> tuple[str, str]:
    return (f.case_number or "", str(f.details.get("settlement_id", "")))


@settings(max_examples=300, deadline=None)
@given(histories)
def test_properties_over_any_history(spec: list[tuple[FactKind, str | None, str | None, str]]) -> None:
    facts = _facts(spec)
    by_id = {f.id: f for f in facts}
    credits = entitlements(P, facts)
    assert len({c.fact_id for c in credits}) == len(credits)  # one credit per earning fact
    for c in credits:
        f = by_id[c.fact_id]
        assert f.person_id == P and c.points == WEIGHTS[c.reason] > 0
        if c.reason == Reason.SETTLEMENT_PERFORMED:
            assert f.kind == FactKind.SETTLEMENT_PERFORMED  # only after performed ...
            assert any(g.kind == FactKind.SETTLEMENT_REACHED and g.person_id == P and _ref(g) == _ref(f)
                       for g in facts)  # ... of a settlement this person reached
            voids = [g for g in facts if g.kind == FactKind.SETTLEMENT_VOID and g.person_id == P
                     and _ref(g) == _ref(f)]
            assert c.voided_by == (voids[0].id if voids else None)
        elif c.reason == Reason.MEDIATION_PARTICIPATION:
            assert f.kind == FactKind.MEDIATION_PARTICIPATION
        else:
            assert c.reason == Reason.TIMELY_PERFORMANCE and f.kind == FactKind.JUDGMENT_PERFORMED_ON_TIME
        assert c.voided_by is None or c.reason == Reason.SETTLEMENT_PERFORMED
    # Order does not matter: the rules read seq, not list position.
    assert entitlements(P, list(reversed(facts))) == credits


@settings(max_examples=300, deadline=None)
@given(histories, histories)
def test_planning_converges_and_void_nets_to_zero(first: list, later: list) -> None:  # type: ignore[type-arg]
    """Reconcile after some facts, then after more: the ledger ends with the points of unvoided credits only,
    each credit posted once and reversed at most once, whatever arrived when."""
    posted: dict[str, int] = {}

    def run(facts: list[Fact]) -> None:
        for action in plan(entitlements(P, facts), set(posted)):
            c = action.credit
            if isinstance(action, PostCredit):
                assert c.key not in posted
                posted[c.key] = c.points
            else:
                assert c.key in posted and c.reversal_key not in posted
                posted[c.reversal_key] = -c.points
        assert plan(entitlements(P, facts), set(posted)) == []  # idempotent

    facts = _facts(first)
    run(facts)
    facts = _facts(first + later)
    run(facts)
    final = entitlements(P, facts)
    assert sum(posted.values()) == sum(c.points for c in final if c.voided_by is None)
    assert sum(posted.values()) >= 0
