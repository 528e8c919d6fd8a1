"""Double-entry ledger helpers, pure: account names, entry validation, reversals and balance derivation.

Every entry is a set of postings (account, amount) that sums to zero, so points are never created or destroyed,
only moved: a credit moves points from the court's rewards account to the person, a redemption from the person to
the court's redemptions account. Balances are never stored; they are the sum of an account's postings. Entries are
append-only: a mistake is corrected by a reversal entry (the same postings negated, pointing at the original).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

PERSON_PREFIX = "person:"
REWARDS = "court:rewards"
"""Where earned points come from: its balance is minus everything ever credited (net of reversals)."""
REDEMPTIONS = "court:redemptions"
"""Where spent points go: its balance is everything ever redeemed."""
SYSTEM_ACCOUNTS = (REWARDS, REDEMPTIONS)
ACCOUNT_LENGTH = 80
MAX_AMOUNT = 10**12
"""Bound on one posting, far above any real entry: keeps arithmetic and the BIGINT columns safe."""


class InvalidEntry(ValueError):
    """An entry that would break double entry; the message says which rule."""


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: int  # positive: the account gains points; negative: it gives them


def person_account(person_id: str) -> str:
    return PERSON_PREFIX + person_id


def person_of(account: str) -> str | None:
    """The person id of a person account, None for system accounts."""
    return account[len(PERSON_PREFIX):] if account.startswith(PERSON_PREFIX) else None


def validate(postings: Sequence[Posting]) -> tuple[Posting, ...]:
    """The postings, checked: at least two, each on a distinct known-form account with a non-zero integer amount,
    summing to zero. InvalidEntry otherwise."""
    if len(postings) < 2:
        raise InvalidEntry("an entry needs at least two postings (one account gives, another receives)")
    seen: set[str] = set()
    for p in postings:
        if not p.account or len(p.account) > ACCOUNT_LENGTH:
            raise InvalidEntry(f"account name must be 1 to {ACCOUNT_LENGTH} characters")
        if p.account not in SYSTEM_ACCOUNTS and person_of(p.account) in (None, ""):
            raise InvalidEntry(f"unknown account {p.account!r}: use person:<person id> or one of "
                               f"{', '.join(SYSTEM_ACCOUNTS)}")
        if p.account in seen:
            raise InvalidEntry(f"account {p.account!r} appears twice in one entry; merge its postings")
        seen.add(p.account)
        if isinstance(p.amount, bool) or not isinstance(p.amount, int):
            raise InvalidEntry(f"posting amounts are whole points, got {p.amount!r}")
        if p.amount == 0 or abs(p.amount) > MAX_AMOUNT:
            raise InvalidEntry(f"posting amounts must be non-zero and at most {MAX_AMOUNT} points")
    total = sum(p.amount for p in postings)
    if total != 0:
        raise InvalidEntry(f"an entry's postings must sum to zero, these sum to {total}")
    return tuple(postings)


def credit(person_id: str, points: int) -> tuple[Posting, ...]:
    """The rewards account pays `points` to the person."""
    return validate([Posting(person_account(person_id), points), Posting(REWARDS, -points)])


def redemption(person_id: str, points: int) -> tuple[Posting, ...]:
    """The person pays `points` to the redemptions account."""
    return validate([Posting(person_account(person_id), -points), Posting(REDEMPTIONS, points)])


def reverse(postings: Iterable[Posting]) -> tuple[Posting, ...]:
    """The compensating postings: every amount negated, so original + reversal nets to nothing."""
    return validate([Posting(p.account, -p.amount) for p in postings])


def balances(entries: Iterable[Iterable[Posting]]) -> dict[str, int]:
    """Every account's balance: the sum of its postings across `entries`."""
    out: dict[str, int] = {}
    for postings in entries:
        for p in postings:
            out[p.account] = out.get(p.account, 0) + p.amount
    return out


def balance(entries: Iterable[Iterable[Posting]], account: str) -> int:
    return balances(entries).get(account, 0)


def is_balanced(totals: Mapping[str, int]) -> bool:
    """The ledger-wide invariant: all balances together sum to zero."""
    return sum(totals.values()) == 0
