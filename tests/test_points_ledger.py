"""Double-entry helpers (points.ledger), pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from points.ledger import (
    REDEMPTIONS,
    REWARDS,
    InvalidEntry,
    Posting,
    balance,
    balances,
    credit,
    is_balanced,
    person_account,
    person_of,
    redemption,
    reverse,
    validate,
)


def test_accounts() -> None:
    assert person_of(person_account("p1")) == "p1" and person_of(REWARDS) is None


@pytest.mark.parametrize(("postings", "why"), [
    ([], "at least two"),
    ([Posting("person:a", 5)], "at least two"),
    ([Posting("person:a", 5), Posting(REWARDS, -4)], "sum to zero"),
    ([Posting("person:a", 0), Posting(REWARDS, 0)], "non-zero"),
    ([Posting("person:a", 5), Posting("person:a", -5)], "twice"),
    ([Posting("bank:x", 5), Posting(REWARDS, -5)], "unknown account"),
    ([Posting("person:", 5), Posting(REWARDS, -5)], "unknown account"),
    ([Posting("person:a", 1.5), Posting(REWARDS, -1.5)], "whole points"),  # type: ignore[arg-type]
    ([Posting("person:a", True), Posting(REWARDS, -1)], "whole points"),
    ([Posting("person:a", 10**13), Posting(REWARDS, -(10**13))], "at most"),
])
def test_invalid_entries_say_why(postings: list[Posting], why: str) -> None:
    with pytest.raises(InvalidEntry, match=why):
        validate(postings)


def test_credit_redemption_reversal() -> None:
    c = credit("p1", 100)
    r = redemption("p1", 30)
    assert balance([c, r], person_account("p1")) == 70
    assert balances([c, r]) == {person_account("p1"): 70, REWARDS: -100, REDEMPTIONS: 30}
    assert balance([c, r, reverse(c)], person_account("p1")) == -30  # a reversal after spending can go below zero
    assert balances([c, reverse(c)]) == {person_account("p1"): 0, REWARDS: 0}


amounts = st.integers(min_value=1, max_value=10_000)


@given(st.lists(st.tuples(st.sampled_from(["credit", "redeem", "reverse"]), st.sampled_from(["a", "b"]), amounts)))
def test_the_ledger_always_balances(ops: list[tuple[str, str, int]]) -> None:
    entries: list[tuple[Posting, ...]] = []
    for op, who, n in ops:
        if op == "credit":
            entries.append(credit(who, n))
        elif op == "redeem":
            entries.append(redemption(who, n))
        elif entries:
            entries.append(reverse(entries[-1]))
    totals = balances(entries)
    assert is_balanced(totals)
    assert all(sum(p.amount for p in e) == 0 for e in entries)


def test_points_core_uses_docket_only() -> None:
    """DESIGN.md: points/ reads docket/, never hearing/ (only the HTTP shell may borrow the staff API's helpers)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "points"
    for path in root.glob("*.py"):
        if path.name == "api.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top not in {"hearing", "app", "signaling", "media", "recordings", "integrity", "fastapi"}, (
                    f"{path.name} imports {name}")
