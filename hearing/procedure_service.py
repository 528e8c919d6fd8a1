"""Apply a procedure transition to a stored hearing, with its audit entry, atomically. The thin shell.

The decision is `hearing.procedure.attempt` (pure); this module reads the hearing, asks it, and writes the new
state and the audit entry in ONE transaction (`CourtRecords.set_hearing_state(..., audit=...)`), so there is
never a state change without its entry nor an entry for a change that did not happen. The write is a
compare-and-set on the state read: if another actor moved the hearing in between, the decision is made again
on the fresh state (a second "start session" then becomes a readable refusal, not a second transition).

Refusals for lack of authority are audited too (who tried to do what they may not); refusals for a move
that does not fit the current state (a double click) are only returned.

The caller vouches for the actor's role (taken from a verified join token or a staff session); that the
actor takes part in this hearing in that role is the caller's check (the staff API / signalling, issue 5).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from docket.audit import AuditEntry, AuditEvent, AuditLog
from docket.court import CourtRecords, Hearing, StaleState
from hearing.procedure import Moved, RefusalCode, Refused, Transition, attempt
from hearing.roles import Role


@dataclass(frozen=True, slots=True)
class Actor:
    id: str  # a person or staff id, never a name
    role: Role


@dataclass(frozen=True, slots=True)
class Applied:
    hearing: Hearing  # as stored after the transition
    moved: Moved
    audit: AuditEntry


log = logging.getLogger("hearing.procedure")

Listener = Callable[["Applied"], Awaitable[None]]
Guard = Callable[[Hearing, Actor, Moved], Awaitable[Refused | None]]
"""A further court rule a move must pass after the pure decision (an asynchronous trial's consents, for one)."""


@dataclass
class ProcedureService:
    """`listeners` hear of every applied transition (the courtroom tells the room), whoever asked and how."""

    _records: CourtRecords
    _audit: AuditLog
    attempts: int = 3
    listeners: list[Listener] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)

    async def transition(self, hearing_id: str, actor: Actor, transition: Transition | str) -> Applied | Refused:
        """Move the hearing if the actor may; NotFound if there is no such hearing."""
        for _ in range(self.attempts):
            hearing = await self._records.get_hearing(hearing_id)
            outcome = attempt(hearing.kind, hearing.state, actor.role, transition)
            subject = f"hearing:{hearing_id}"
            if isinstance(outcome, Refused):
                if outcome.code is RefusalCode.NOT_PERMITTED:
                    await self._audit.append(AuditEvent(
                        actor.id, str(actor.role), "procedure.refused", subject,
                        {"transition": str(transition), "state": hearing.state, "kind": hearing.kind.value,
                         "code": outcome.code.value},
                    ))
                return outcome
            for guard in self.guards:
                if (refusal := await guard(hearing, actor, outcome)) is not None:
                    await self._audit.append(AuditEvent(
                        actor.id, str(actor.role), "procedure.refused", subject,
                        {"transition": str(transition), "state": hearing.state, "kind": hearing.kind.value,
                         "code": refusal.code.value},
                    ))
                    return refusal
            event = AuditEvent(
                actor.id, str(actor.role), "procedure.transition", subject,
                {"transition": outcome.transition.value, "from": outcome.source.value, "to": outcome.target.value,
                 "kind": hearing.kind.value},
            )
            try:
                stored, entry = await self._records.set_hearing_state(
                    hearing_id, outcome.source.value, outcome.target.value, audit=event
                )
            except StaleState:
                continue  # someone else moved it first: decide again on the state they left
            assert entry is not None  # we passed an audit event
            applied = Applied(stored, outcome, entry)
            for listener in self.listeners:
                try:
                    await listener(applied)
                except Exception:  # the transition stands; a client that missed the news gets it on reconnect
                    log.exception("a procedure listener failed", extra={"hearing": hearing_id})
            return applied
        raise StaleState(hearing_id, "a stable state", "changing too often to apply the transition")
