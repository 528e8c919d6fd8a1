"""The integrity code rule set (个人诚信码): litigation facts in, colour + score + reasons out. Pure: no I/O, no clock.

Versioned (`RULESET_VERSION`): every result and every signed token names the version that produced it, so a code
can be explained later even after the rules change. docs/integrity.md states the same rules for people; a change
here must change the version and that document together.

Shape of the rules, chosen so they can be checked mechanically (tests/test_integrity_rules.py):
- Each fact kind is negative, positive or neutral. A negative fact can only add a penalty or a colour-forcing
  reason; a positive fact can only add a bonus or end a negative reason. So adding a negative fact never improves
  the result and adding a positive one never worsens it (score and colour are monotone).
- Every reason names the fact ids and case numbers behind it and the day it stops counting.
- A settlement is identified as in points/ (points.rules.settlement_ref): case number plus
  `details["settlement_id"]`, a missing id counting as "". A void settlement cancels the bonus of that settlement
  only, never of another settlement in the same case.
- Minors, and people whose birth date the court does not know, are not scored (colour None): the court does
  not guess a person's age.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol

from docket.court import AGE_OF_MAJORITY
from docket.facts import FactKind

RULESET_VERSION = "2026.2"
"""2026.1 → 2026.2: a `settlement_void` cancels only the settlement it names (case number + settlement id), not
every performed settlement of its case."""

BASE_SCORE = 70
MIN_SCORE, MAX_SCORE = 0, 100
BONUS_CAP = 30
"""Good conduct raises the score by at most this much: it cannot buy off an active negative reason."""
RED_BELOW = 40
YELLOW_BELOW = 60
CODE_VALIDITY = timedelta(days=30)
"""A code is valid at most this long even if no reason expires sooner; then it is recomputed."""


class Colour(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


COLOUR_RANK = {Colour.RED: 0, Colour.YELLOW: 1, Colour.GREEN: 2}
"""Higher is better; used to compare colours (monotonicity)."""


class ReasonCode(StrEnum):
    DEFAULTER_LISTED = "defaulter_listed"  # 失信被执行人: forces red
    ENFORCEMENT_OPEN = "enforcement_open"  # 强制执行 not yet closed: forces at least yellow
    SPENDING_RESTRICTED = "spending_restricted"  # 限制高消费 in force: forces at least yellow
    JUDGMENT_PERFORMED_LATE = "judgment_performed_late"
    JUDGMENT_PERFORMED_ON_TIME = "judgment_performed_on_time"
    SETTLEMENT_PERFORMED = "settlement_performed"  # an honoured mediation settlement (调解协议)


class NotScored(StrEnum):
    MINOR = "minor"
    BIRTH_DATE_UNKNOWN = "birth_date_unknown"


@dataclass(frozen=True, slots=True)
class Rule:
    """How one fact kind counts: `points` (negative: penalty), how long, and which colour it forces at worst."""

    reason: ReasonCode
    points: int
    term: timedelta | None  # None: until a lifting fact ends it (or the fact's own expires_on)
    forces: Colour | None = None
    lifted_by: FactKind | None = None


RULES: dict[FactKind, Rule] = {
    FactKind.DEFAULTER_LISTED: Rule(ReasonCode.DEFAULTER_LISTED, -40, timedelta(days=2 * 365), Colour.RED,
                                    FactKind.DEFAULTER_DELISTED),
    FactKind.ENFORCEMENT_OPENED: Rule(ReasonCode.ENFORCEMENT_OPEN, -20, None, Colour.YELLOW,
                                      FactKind.ENFORCEMENT_CLOSED),
    FactKind.SPENDING_RESTRICTION: Rule(ReasonCode.SPENDING_RESTRICTED, -15, None, Colour.YELLOW,
                                        FactKind.SPENDING_RESTRICTION_LIFTED),
    FactKind.JUDGMENT_PERFORMED_LATE: Rule(ReasonCode.JUDGMENT_PERFORMED_LATE, -5, timedelta(days=365)),
    FactKind.JUDGMENT_PERFORMED_ON_TIME: Rule(ReasonCode.JUDGMENT_PERFORMED_ON_TIME, 5, timedelta(days=3 * 365)),
    FactKind.SETTLEMENT_PERFORMED: Rule(ReasonCode.SETTLEMENT_PERFORMED, 5, timedelta(days=3 * 365)),
}
"""Kinds not listed are neutral: being a party to a case, reaching a settlement or taking part in mediation
does not by itself say anything about a person's integrity."""

LIFTING = {rule.lifted_by: kind for kind, rule in RULES.items() if rule.lifted_by is not None}
CANCELLING = {FactKind.SETTLEMENT_VOID: FactKind.SETTLEMENT_PERFORMED}
"""A voided settlement cancels the bonus of the same settlement's performance (`settlement_ref`), whatever the two
are dated: a void agreement was never honoured. No penalty: the fault may lie with the other side."""

NEGATIVE_KINDS = frozenset(k for k, r in RULES.items() if r.points < 0) | frozenset(CANCELLING)
POSITIVE_KINDS = frozenset(k for k, r in RULES.items() if r.points > 0) | frozenset(LIFTING)
NEUTRAL_KINDS = frozenset(FactKind) - NEGATIVE_KINDS - POSITIVE_KINDS


class FactLike(Protocol):
    """What the rules read of a fact (docket.facts.Fact has it)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> FactKind: ...
    @property
    def occurred_on(self) -> date: ...
    @property
    def case_number(self) -> str | None: ...
    @property
    def expires_on(self) -> date | None: ...
    @property
    def details(self) -> Mapping[str, object]: ...


def settlement_ref(fact: FactLike) -> tuple[str, str]:
    """(case number, settlement id): which settlement a settlement fact is about — the scheme of docs/points.md
    (points.rules.settlement_ref; integrity/ may not import points/, a test checks the two agree)."""
    sid = fact.details.get("settlement_id", "") if fact.details else ""
    return (fact.case_number or "", str(sid) if sid is not None else "")


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    points: int
    case_numbers: tuple[str, ...]
    fact_ids: tuple[str, ...]
    expires_on: date | None  # the last day it counts; None: until a lifting fact is recorded
    forces: Colour | None = None


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    colour: Colour | None  # None: not scored (see `not_scored`)
    score: int | None
    reasons: tuple[Reason, ...]
    valid_until: date  # recompute on or after this day at the latest
    ruleset_version: str = RULESET_VERSION
    not_scored: NotScored | None = None


def _age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _lifted(fact: FactLike, lifts: Iterable[FactLike]) -> bool:
    """A later (or same-day) lifting fact of the same case ends a negative reason (delisting, closing, lifting)."""
    return any(lift.case_number == fact.case_number and lift.occurred_on >= fact.occurred_on for lift in lifts)


def _cancelled(fact: FactLike, cancels: Iterable[FactLike]) -> bool:
    """A cancelling fact about the same settlement (not merely the same case) takes the bonus away."""
    ref = settlement_ref(fact)
    return any(settlement_ref(cancel) == ref for cancel in cancels)


def compute(facts: Sequence[FactLike], person_birth_date: date | None, today: date) -> IntegrityResult:
    """The code for a person with these facts on `today`. Facts dated after `today` do not count yet."""
    horizon = today + CODE_VALIDITY
    if person_birth_date is None or _age_on(person_birth_date, today) < AGE_OF_MAJORITY:
        why = NotScored.BIRTH_DATE_UNKNOWN if person_birth_date is None else NotScored.MINOR
        valid_until = horizon
        if person_birth_date is not None:  # re-evaluate on the 18th birthday
            try:
                adult = person_birth_date.replace(year=person_birth_date.year + AGE_OF_MAJORITY)
            except ValueError:  # born 29 February
                adult = date(person_birth_date.year + AGE_OF_MAJORITY, 3, 1)
            valid_until = min(horizon, adult)
        return IntegrityResult(None, None, (), valid_until, RULESET_VERSION, why)

    past = [f for f in facts if f.occurred_on <= today]
    by_kind: dict[FactKind, list[FactLike]] = {}
    for f in past:
        by_kind.setdefault(FactKind(f.kind), []).append(f)

    reasons: list[Reason] = []
    for fact in sorted(past, key=lambda f: (f.occurred_on, f.id)):
        rule = RULES.get(FactKind(fact.kind))
        if rule is None:
            continue
        expires = fact.expires_on
        if expires is None and rule.term is not None:
            expires = fact.occurred_on + rule.term
        if expires is not None and expires < today:
            continue
        if rule.lifted_by is not None and _lifted(fact, by_kind.get(rule.lifted_by, ())):
            continue
        cancelled_by = [k for k, target in CANCELLING.items() if target == fact.kind]
        if any(_cancelled(fact, by_kind.get(k, ())) for k in cancelled_by):
            continue
        cases = (fact.case_number,) if fact.case_number else ()
        reasons.append(Reason(rule.reason, rule.points, cases, (fact.id,), expires, rule.forces))

    bonus = min(BONUS_CAP, sum(r.points for r in reasons if r.points > 0))
    penalty = sum(-r.points for r in reasons if r.points < 0)
    score = max(MIN_SCORE, min(MAX_SCORE, BASE_SCORE + bonus - penalty))
    colour = Colour.GREEN
    if score < RED_BELOW or any(r.forces is Colour.RED for r in reasons):
        colour = Colour.RED
    elif score < YELLOW_BELOW or any(r.forces is Colour.YELLOW for r in reasons):
        colour = Colour.YELLOW

    # Valid until the first day something changes: a reason lapses, or a dated fact starts to count.
    changes = [r.expires_on + timedelta(days=1) for r in reasons if r.expires_on is not None]
    changes += [f.occurred_on for f in facts if f.occurred_on > today]
    valid_until = min([horizon, *changes])
    return IntegrityResult(colour, score, tuple(reasons), valid_until, RULESET_VERSION, None)


def better_or_equal(a: IntegrityResult, b: IntegrityResult) -> bool:
    """Whether result `a` is at least as good as `b` in both score and colour (both scored)."""
    assert a.colour is not None and b.colour is not None and a.score is not None and b.score is not None
    return a.score >= b.score and COLOUR_RANK[a.colour] >= COLOUR_RANK[b.colour]
