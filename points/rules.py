"""Earning rules: a person's litigation facts → the credits they are entitled to. Pure: no I/O, no clock.

Versioned (`RULES_VERSION`, stored on every entry posted from the rules) so a later change of weights can be told
apart from the entries it did not produce. The weights and why they are what they are are in docs/points.md.

Every credit is keyed by the fact that earns it (`Credit.fact_id`), which makes posting idempotent: the ledger holds
at most one credit entry per earning fact, and at most one reversal of it.

A settlement (调解协议) is identified by its case number plus `details["settlement_id"]` (absent → ""): a
SETTLEMENT_PERFORMED or SETTLEMENT_VOID fact refers to the SETTLEMENT_REACHED fact of the same person with the same
pair. Points are earned when the settlement is confirmed performed — reaching it earns nothing by itself — and a
settlement later found void has its credit reversed by a compensating entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from docket.facts import FactKind

RULES_VERSION = "points-rules-2026.1"


class Reason(StrEnum):
    """Why an entry was posted; shown to the person with `REASON_TEXT`."""

    SETTLEMENT_PERFORMED = "settlement_performed"  # a mediated settlement was performed
    MEDIATION_PARTICIPATION = "mediation_participation"  # took part in a mediation
    TIMELY_PERFORMANCE = "timely_performance"  # performed a judgment on time
    SETTLEMENT_VOID = "settlement_void"  # reversal: the settlement was found void
    REDEMPTION = "redemption"  # points spent on a catalogue item
    CORRECTION = "correction"  # reversal posted by staff to correct an entry


REASON_TEXT: Mapping[Reason, str] = {
    Reason.SETTLEMENT_PERFORMED: "Mediated settlement performed (调解协议履行)",
    Reason.MEDIATION_PARTICIPATION: "Took part in mediation (参与调解)",
    Reason.TIMELY_PERFORMANCE: "Judgment performed on time (按期履行)",
    Reason.SETTLEMENT_VOID: "Settlement found void: its points are taken back (调解协议无效)",
    Reason.REDEMPTION: "Redeemed for a catalogue item (兑换)",
    Reason.CORRECTION: "Correction by court staff (更正)",
}

WEIGHTS: Mapping[Reason, int] = {
    Reason.SETTLEMENT_PERFORMED: 100,
    Reason.MEDIATION_PARTICIPATION: 20,
    Reason.TIMELY_PERFORMANCE: 50,
}
"""Points per earning fact. Performing a settlement earns most: it is the outcome the exchange exists to reward."""


class FactLike(Protocol):
    """The fields of docket.facts.Fact the rules read (tests may pass any object with them)."""

    @property
    def id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def person_id(self) -> str: ...
    @property
    def kind(self) -> FactKind: ...
    @property
    def case_number(self) -> str | None: ...
    @property
    def details(self) -> Mapping[str, object]: ...


@dataclass(frozen=True, slots=True)
class Credit:
    """Points a person is entitled to for one fact; `voided_by` names the fact that takes them back, if any."""

    person_id: str
    fact_id: str
    reason: Reason
    points: int
    voided_by: str | None = None

    @property
    def key(self) -> str:
        """The credit entry's idempotency key."""
        return credit_key(self.fact_id)

    @property
    def reversal_key(self) -> str:
        return reversal_key(self.fact_id)


def credit_key(fact_id: str) -> str:
    return f"credit:{fact_id}"


def reversal_key(fact_id: str) -> str:
    return f"reverse:{fact_id}"


def settlement_ref(fact: FactLike) -> tuple[str, str]:
    """(case number, settlement id): how the facts of one settlement refer to each other."""
    sid = fact.details.get("settlement_id", "") if fact.details else ""
    return (fact.case_number or "", str(sid) if sid is not None else "")


def entitlements(person_id: str, facts: Iterable[FactLike]) -> list[Credit]:
    """The credits `person_id` is entitled to from `facts` (other people's facts are ignored), in fact order.

    - SETTLEMENT_PERFORMED earns once per settlement (the first performed fact, by seq), only when the person also
      has the SETTLEMENT_REACHED fact of that settlement; a SETTLEMENT_VOID of the settlement voids that credit.
    - MEDIATION_PARTICIPATION earns once per case (the first fact by seq; facts without a case number each earn).
    - JUDGMENT_PERFORMED_ON_TIME earns per fact; late performance earns nothing.
    """
    mine = sorted((f for f in facts if f.person_id == person_id), key=lambda f: f.seq)
    reached = {settlement_ref(f) for f in mine if f.kind == FactKind.SETTLEMENT_REACHED}
    void: dict[tuple[str, str], str] = {}
    for f in mine:
        if f.kind == FactKind.SETTLEMENT_VOID:
            void.setdefault(settlement_ref(f), f.id)
    credits: list[Credit] = []
    settled: set[tuple[str, str]] = set()
    mediated: set[str] = set()
    for f in mine:
        if f.kind == FactKind.SETTLEMENT_PERFORMED:
            ref = settlement_ref(f)
            if ref in reached and ref not in settled:
                settled.add(ref)
                credits.append(Credit(person_id, f.id, Reason.SETTLEMENT_PERFORMED,
                                      WEIGHTS[Reason.SETTLEMENT_PERFORMED], void.get(ref)))
        elif f.kind == FactKind.MEDIATION_PARTICIPATION:
            if f.case_number:
                if f.case_number in mediated:
                    continue
                mediated.add(f.case_number)
            credits.append(Credit(person_id, f.id, Reason.MEDIATION_PARTICIPATION,
                                  WEIGHTS[Reason.MEDIATION_PARTICIPATION]))
        elif f.kind == FactKind.JUDGMENT_PERFORMED_ON_TIME:
            credits.append(Credit(person_id, f.id, Reason.TIMELY_PERFORMANCE, WEIGHTS[Reason.TIMELY_PERFORMANCE]))
    return credits


# ---- planning: entitlements against what the ledger already holds ----------------------------------------


@dataclass(frozen=True, slots=True)
class PostCredit:
    credit: Credit


@dataclass(frozen=True, slots=True)
class PostReversal:
    """Take back the credit entry keyed `credit.key` (already in the ledger) because `credit.voided_by` voided it."""

    credit: Credit


Action = PostCredit | PostReversal


def plan(credits: Sequence[Credit], posted_keys: frozenset[str] | set[str]) -> list[Action]:
    """What to post so the ledger matches `credits`, given the idempotency keys already posted. Idempotent: once
    the actions are posted, planning again yields nothing.

    A voided credit that was never posted is not posted at all (nothing to take back); one already posted gets a
    reversal. A posted credit is never reversed merely because a rule changed: corrections of that kind are staff
    reversals (Reason.CORRECTION), so history is never rewritten by a deploy.
    """
    actions: list[Action] = []
    for c in credits:
        posted = c.key in posted_keys
        if c.voided_by is None:
            if not posted:
                actions.append(PostCredit(c))
        elif posted and c.reversal_key not in posted_keys:
            actions.append(PostReversal(c))
    return actions
