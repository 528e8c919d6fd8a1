"""The points service: keeps the ledger in step with the earning rules, and answers history and totals.

Reconciling a person reads all their facts, asks the pure rules what they are entitled to (points.rules), and posts
what the ledger lacks: credits keyed `credit:<fact id>` and reversals keyed `reverse:<fact id>`. Because every post
is idempotent on its key, reconciling twice, concurrently, or after a crash half-way posts nothing twice.
`follow_facts` does this for everyone with new facts since the last run (the facts register's `seq` cursor).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from docket.facts import FactRecords
from points import ledger, rules
from points.rules import REASON_TEXT, RULES_VERSION, PostCredit, Reason
from points.store import Entry, NewEntry, PointsStore, Totals

log = logging.getLogger("points.service")

CURSOR = "facts"


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One entry as the person sees it: how many points, why, and the balance after it."""

    entry_id: str
    at: datetime
    reason: str
    reason_text: str
    points: int
    balance_after: int
    reference: str | None  # the fact id (credits, reversals) or item id (redemptions)
    reversal_of: str | None


@dataclass(frozen=True, slots=True)
class Reconciled:
    credited: int  # entries posted now
    reversed: int


def describe(reason: str) -> str:
    try:
        return REASON_TEXT[Reason(reason)]
    except ValueError:
        return reason


class PointsService:
    def __init__(self, facts: FactRecords, store: PointsStore) -> None:
        self.facts = facts
        self.store = store

    async def reconcile(self, person_id: str) -> Reconciled:
        """Post the person's missing credits and reversals (NotFound for an unknown person)."""
        entries = await self.store.entries_of(person_id)
        by_key: dict[str, Entry] = {e.idempotency_key: e for e in entries}
        credits = rules.entitlements(person_id, await self.facts.facts_of(person_id))
        credited = reversed_ = 0
        for action in rules.plan(credits, set(by_key)):
            c = action.credit
            if isinstance(action, PostCredit):
                entry = NewEntry(c.reason.value, ledger.credit(person_id, c.points), c.key, reference=c.fact_id,
                                 rules_version=RULES_VERSION)
                _, new = await self.store.post(entry)
                credited += new
            else:
                original = by_key[c.key]
                entry = NewEntry(Reason.SETTLEMENT_VOID.value, ledger.reverse(original.postings), c.reversal_key,
                                 reference=c.voided_by, reversal_of=original.id, rules_version=RULES_VERSION)
                _, new = await self.store.post(entry)
                reversed_ += new
        if credited or reversed_:
            log.info("points reconciled for person %s: %d credits, %d reversals", person_id, credited, reversed_)
        return Reconciled(credited, reversed_)

    async def follow_facts(self, batch: int = 1000) -> int:
        """Reconcile everyone with facts newer than the stored cursor; returns the number of facts read.

        The cursor moves only after the batch's people are reconciled, so a crash re-reads a batch (harmless)
        rather than skipping one."""
        read = 0
        while True:
            after = await self.store.get_cursor(CURSOR)
            facts = await self.facts.facts_after(after, batch)
            if not facts:
                return read
            for person_id in dict.fromkeys(f.person_id for f in facts):
                await self.reconcile(person_id)
            await self.store.set_cursor(CURSOR, max(f.seq for f in facts))
            read += len(facts)
            if len(facts) < batch:
                return read

    async def balance(self, person_id: str) -> int:
        return await self.store.balance(person_id)

    async def history(self, person_id: str) -> list[HistoryLine]:
        """Every entry of the person, oldest first, each with its reason and the running balance."""
        account = ledger.person_account(person_id)
        lines: list[HistoryLine] = []
        running = 0
        for e in await self.store.entries_of(person_id):
            amount = e.amount_for(account)
            running += amount
            lines.append(HistoryLine(e.id, e.created_at, e.reason, describe(e.reason), amount, running, e.reference,
                                     e.reversal_of))
        return lines

    async def totals(self) -> Totals:
        return await self.store.totals()
