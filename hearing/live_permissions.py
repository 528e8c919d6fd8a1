"""What a participant of a live hearing may do now, and the refusals the room's rules answer with. Pure.

Shared by the courtroom (hearing.courtroom) and its private rooms (hearing.private_rooms).
"""

from __future__ import annotations

from typing import Any

from docket.audit import AuditEvent
from docket.court import Hearing
from hearing.policy import Action, allowed
from hearing.procedure import available
from hearing.refusals import RoomRefusal
from signaling.hub import SessionInfo
from signaling.protocol import Error, ErrorCode, ErrorParam, Place


def rule_error(code: ErrorCode, reason: str, message: str, **params: ErrorParam) -> Error:
    """An `error` naming the rule (`reason`, translated by clients with `params`); `message` is for logs."""
    return Error(code=code, reason=reason, params=params, message=message)


def forbidden(reason: str, message: str, **params: ErrorParam) -> Error:
    return rule_error(ErrorCode.FORBIDDEN, reason, message, **params)


def conflict(reason: str, message: str, **params: ErrorParam) -> Error:
    return rule_error(ErrorCode.CONFLICT, reason, message, **params)


def not_found(reason: str, message: str, **params: ErrorParam) -> Error:
    return rule_error(ErrorCode.NOT_FOUND, reason, message, **params)


def not_live(message: str) -> Error:
    """A live-session action in an asynchronous trial (异步审理), which is heard in stages on its own page."""
    return Error(code=ErrorCode.NOT_LIVE, message=message)


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
    return forbidden(RoomRefusal.ACTION_NOT_ALLOWED,
                     f"a {session.role} may not {action.value.replace('_', ' ')} in a {hearing.kind.value} "
                     f"that is {hearing.state.replace('_', ' ')}",
                     role=session.role, action=action.value, kind=hearing.kind.value, state=str(hearing.state))


def audit_event(session: SessionInfo, action: str, hearing: Hearing, **details: Any) -> AuditEvent:
    """An audit entry by the session's participant about the hearing; ids and codes only, None values dropped."""
    return AuditEvent(session.participant_id, session.role, action, f"hearing:{hearing.id}",
                      {k: v for k, v in details.items() if v is not None})
