"""The call queue's rules (pure): which moves a call may make, when a wait runs out, where a call stands.

The SQL shell (stations.store_sql) applies every move as a conditional UPDATE on the state this module names as
the source, so two instances (or two judges) racing for one call cannot both succeed; this module only says what
is allowed. Time is passed in, never read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from stations.vocab import CallState

S = CallState


class Move(StrEnum):
    ACCEPT = "accept"
    END = "end"
    JUDGE_DROPPED = "judge_dropped"
    REQUEUE = "requeue"
    GIVE_UP = "give_up"  # nobody picked up in time
    ABANDON = "abandon"  # the caller's station went quiet for longer than the grace window
    CANCEL = "cancel"
    CALLBACK = "callback"
    LEAVE_MESSAGE = "leave_message"


MOVES: dict[Move, tuple[frozenset[CallState], CallState]] = {
    Move.ACCEPT: (frozenset({S.WAITING}), S.IN_CALL),
    Move.END: (frozenset({S.IN_CALL, S.INTERRUPTED}), S.ENDED),
    Move.JUDGE_DROPPED: (frozenset({S.IN_CALL}), S.INTERRUPTED),
    Move.REQUEUE: (frozenset({S.INTERRUPTED, S.UNANSWERED}), S.WAITING),
    Move.GIVE_UP: (frozenset({S.WAITING}), S.UNANSWERED),
    Move.ABANDON: (frozenset({S.WAITING}), S.ABANDONED),
    Move.CANCEL: (frozenset({S.WAITING, S.INTERRUPTED, S.UNANSWERED}), S.CANCELLED),
    Move.CALLBACK: (frozenset({S.UNANSWERED}), S.CALLBACK_REQUESTED),
    Move.LEAVE_MESSAGE: (frozenset({S.UNANSWERED}), S.MESSAGE_PENDING),
}
"""move → (states it may start from, state it leads to)."""

TERMINAL = frozenset({S.ENDED, S.CALLBACK_REQUESTED, S.MESSAGE_PENDING, S.ABANDONED, S.CANCELLED})


def target(state: CallState, move: Move) -> CallState | None:
    """Where `move` takes a call in `state`, or None if it may not make that move now."""
    sources, to = MOVES[move]
    return to if state in sources else None


class Presence(StrEnum):
    PRESENT = "present"
    RECONNECTING = "reconnecting"  # quiet, but within the grace window: keeps its place in the queue
    GONE = "gone"


FRESH = timedelta(seconds=10)
"""A station polls every few seconds; quiet for longer than this, it counts as dropped."""


def presence(last_seen: datetime, now: datetime, grace: timedelta) -> Presence:
    quiet = now - last_seen
    if quiet <= FRESH:
        return Presence.PRESENT
    return Presence.RECONNECTING if quiet <= FRESH + grace else Presence.GONE


def due_move(state: CallState, queued_at: datetime, last_seen: datetime, now: datetime, *,
             pickup_timeout: timedelta, grace: timedelta) -> Move | None:
    """The move time forces on a waiting call: abandon it (its station is gone) or give up (no pickup in time)."""
    if state is not S.WAITING:
        return None
    if presence(last_seen, now, grace) is Presence.GONE:
        return Move.ABANDON
    if now - queued_at >= pickup_timeout:
        return Move.GIVE_UP
    return None


@dataclass(frozen=True, slots=True)
class Waiting:
    id: str
    queued_at: datetime


def order(calls: Iterable[Waiting]) -> list[Waiting]:
    """First come, first served; the id breaks ties so every instance shows the same order."""
    return sorted(calls, key=lambda c: (c.queued_at, c.id))


def position(calls: Sequence[Waiting], call_id: str) -> int | None:
    """1-based place of a call among the waiting ones of its court, or None if it is not waiting."""
    for i, c in enumerate(order(calls), start=1):
        if c.id == call_id:
            return i
    return None


def waited(queued_at: datetime, now: datetime) -> float:
    return max(0.0, (now - queued_at).total_seconds())
