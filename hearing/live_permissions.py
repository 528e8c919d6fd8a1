"""What a participant of a live hearing may do now, and the refusals the room's rules answer with. Pure.

Shared by the courtroom (hearing.courtroom) and its private rooms (hearing.private_rooms).
"""

from __future__ import annotations

from typing import Any

from docket.audit import AuditEvent
from docket.court import Hearing
from hearing.policy import Action, allowed
from hearing.procedure import available
from signaling.hub import SessionInfo
from signaling.protocol import Error, ErrorCode, Place


def forbidden(message: str) -> Error:
    return Error(code=ErrorCode.FORBIDDEN, message=message)


def conflict(message: str) -> Error:
    return Error(code=ErrorCode.CONFLICT, message=message)


def not_found(message: str) -> Error:
    return Error(code=ErrorCode.NOT_FOUND, message=message)


def actions_for(role: str, hearing: Hearing, place: Place) -> list[str]:
    """A participant's actions now: the policy's for their role in this kind and state; nothing from the lobby."""
    if place is not Place.ROOM:
        return []
    return sorted(a.value for a in allowed(role, hearing.kind, hearing.state))


def transitions_for(role: str, hearing: Hearing, place: Place) -> list[str]:
    if place is not Place.ROOM:
        return []
    try:
        return sorted(t.value for t in available(hearing.kind, hearing.state, role))
    except ValueError:
        return []


def refuse_unless(session: SessionInfo, hearing: Hearing, action: Action) -> Error | None:
    """None if the session's role may take `action` in this hearing now, else the refusal naming why not."""
    if action.value in allowed(session.role, hearing.kind, hearing.state):
        return None
    return forbidden(f"a {session.role} may not {action.value.replace('_', ' ')} in a {hearing.kind.value} "
                     f"that is {hearing.state.replace('_', ' ')}")


def audit_event(session: SessionInfo, action: str, hearing: Hearing, **details: Any) -> AuditEvent:
    """An audit entry by the session's participant about the hearing; ids and codes only, None values dropped."""
    return AuditEvent(session.participant_id, session.role, action, f"hearing:{hearing.id}",
                      {k: v for k, v in details.items() if v is not None})
