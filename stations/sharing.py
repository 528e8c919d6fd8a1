"""Shared courts (共享法庭), the pure rules: a court lends a courtroom (its fixed courtroom station) or a judge to
another court for a scheduled hearing; the borrower asks, the owner approves or declines, and a resource is never
approved twice for overlapping times."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum


class ResourceKind(StrEnum):
    COURTROOM = "courtroom"
    JUDGE = "judge"


class BookingState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    CANCEL = "cancel"


DECISIONS: dict[Decision, tuple[frozenset[BookingState], BookingState]] = {
    Decision.APPROVE: (frozenset({BookingState.REQUESTED}), BookingState.APPROVED),
    Decision.DECLINE: (frozenset({BookingState.REQUESTED}), BookingState.DECLINED),
    Decision.CANCEL: (frozenset({BookingState.REQUESTED, BookingState.APPROVED}), BookingState.CANCELLED),
}
"""decision → (states it may be taken in, the state after). Approve/decline are the owner's, cancel the borrower's."""


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    """Half-open intervals [start, end): back-to-back bookings do not overlap."""
    return a[0] < b[1] and b[0] < a[1]


def conflicting(approved: Iterable[tuple[datetime, datetime]], wanted: tuple[datetime, datetime]) -> bool:
    return any(overlaps(existing, wanted) for existing in approved)


def who_decides(decision: Decision, *, owner_court: str, borrower_court: str) -> str:
    """The court whose admin may take this decision."""
    return borrower_court if decision is Decision.CANCEL else owner_court
