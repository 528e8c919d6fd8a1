"""The hearing kinds and procedure states the court rules speak about.

Glossary (terms are English in the code; the Chinese term they translate):
庭审 trial · 调解 mediation · 合议 deliberation (the panel's private discussion) · 谈话 interview ·
异步审理 asynchronous trial · 提讯 arraignment (questioning a detainee at a detention centre) ·
休庭 recess · 闭庭 closed · 笔录 transcript.

The kinds are the register's vocabulary (`docket.court.HearingKind`, re-exported here); the procedure states
are the court's: the register stores them as plain text.
"""

from __future__ import annotations

from enum import StrEnum

from docket.court import HearingKind

__all__ = ["KIND_LABELS", "LIVE_STATES", "PUBLIC_KINDS", "STATE_LABELS", "HearingKind", "ProcedureState"]


class ProcedureState(StrEnum):
    """scheduled → lobby_open → in_session ⇄ recess → closed → record_sealed."""

    SCHEDULED = "scheduled"  # booked; no room open yet
    LOBBY_OPEN = "lobby_open"  # the room is open: staff check identities and admit people; nothing on the record
    IN_SESSION = "in_session"  # 开庭: on the record
    RECESS = "recess"  # 休庭: paused; off the record
    CLOSED = "closed"  # 闭庭: over; the transcript is signed
    RECORD_SEALED = "record_sealed"  # the record is final; nothing more happens in this hearing


LIVE_STATES = frozenset({ProcedureState.LOBBY_OPEN, ProcedureState.IN_SESSION, ProcedureState.RECESS})
"""States in which the hearing's room is open; media flows only in these."""

PUBLIC_KINDS = frozenset({HearingKind.TRIAL})
"""Kinds the public may watch (公开审理); every other kind is private."""

KIND_LABELS: dict[HearingKind, tuple[str, str]] = {
    HearingKind.TRIAL: ("庭审", "Trial"),
    HearingKind.MEDIATION: ("调解", "Mediation"),
    HearingKind.DELIBERATION: ("合议", "Deliberation"),
    HearingKind.INTERVIEW: ("谈话", "Interview"),
    HearingKind.ASYNC_TRIAL: ("异步审理", "Asynchronous trial"),
    HearingKind.ARRAIGNMENT: ("提讯", "Arraignment"),
}

STATE_LABELS: dict[ProcedureState, tuple[str, str]] = {
    ProcedureState.SCHEDULED: ("已排期", "Scheduled"),
    ProcedureState.LOBBY_OPEN: ("候庭", "Lobby open"),
    ProcedureState.IN_SESSION: ("开庭", "In session"),
    ProcedureState.RECESS: ("休庭", "Recess"),
    ProcedureState.CLOSED: ("闭庭", "Closed"),
    ProcedureState.RECORD_SEALED: ("归档", "Record sealed"),
}
