"""The live rules of a hearing's room: who waits in the lobby, who may do what now, and the judge's controls.

Signalling knows no court rules; it calls this object (its `RoomRules`) at every join and for every moderation
message, and this object acts through the hub's operations (place, remove, hold, set_actions, broadcast).
The decisions come from the pure cores (hearing.policy, hearing.procedure); this is the shell that reads the
register, applies them, writes the outcome with its audit entry, and tells the room.

- Everyone but court staff (presiding judge, judges, clerk, mediator) starts in the lobby: they see nobody and
  send no media. Staff verify identity (the method is recorded) and admit, or deny. Witnesses wait there until
  called (admitted) and may be sent back after testifying.
- A denied or removed participant's link stops working (their status is kept in the register).
- A participant's actions follow (role, kind, procedure state); at every procedure change every participant
  gets their new permissions and the media plane enforces them (what may not be sent is not forwarded).
- Rooms not bound to a hearing are "ad hoc" rooms (tests, trials of the platform): no lobby and no
  moderation; they are refused when `allow_adhoc` is off (production).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from docket.audit import AuditEvent, AuditLog
from docket.court import (
    CourtRecords,
    Hearing,
    NotFound,
    Participant,
    ParticipantStatus,
    Verification,
    VerificationMethod,
)
from hearing import exhibits as exhibit_rules
from hearing.exhibit_service import ExhibitService
from hearing.kinds import ProcedureState
from hearing.policy import Action, allowed
from hearing.procedure import RefusalCode, Refused, available
from hearing.procedure_service import Actor, ProcedureService
from hearing.roles import Role
from signaling.closecodes import CloseCode
from signaling.hub import SessionInfo, SignalingHub
from signaling.protocol import (
    Admit,
    ChangeProcedure,
    Deny,
    Error,
    ErrorCode,
    ExhibitPresented,
    LeaveReason,
    LockRoom,
    ModerationMessage,
    MuteParticipant,
    Place,
    Remove,
    RoomState,
    SendToLobby,
)
from signaling.tokens import JoinClaims, TokenError

log = logging.getLogger("hearing.courtroom")

STAFF_ROLES = frozenset({Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK, Role.MEDIATOR})
"""Court staff enter the room directly; everyone else waits in the lobby until admitted."""

ADHOC_STATE = "open"  # what `room-state` says for a room that is not a hearing


def _forbidden(message: str) -> Error:
    return Error(code=ErrorCode.FORBIDDEN, message=message)


def _conflict(message: str) -> Error:
    return Error(code=ErrorCode.CONFLICT, message=message)


def _not_found(message: str) -> Error:
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


def room_state(hearing: Hearing | None) -> RoomState:
    if hearing is None:
        return RoomState(state=ADHOC_STATE)
    return RoomState(hearing_id=hearing.id, kind=hearing.kind.value, state=hearing.state, locked=hearing.locked,
                     recording=hearing.recorded and hearing.state == ProcedureState.IN_SESSION)


class Courtroom:
    """`signaling.hub.RoomRules` for the court. One per process; all state lives in the register and the bus."""

    def __init__(self, hub: SignalingHub, court: CourtRecords, audit: AuditLog, procedure: ProcedureService, *,
                 allow_adhoc: bool, exhibits: ExhibitService | None = None) -> None:
        self.hub = hub
        self.exhibits = exhibits
        self.court = court
        self.audit = audit
        self.procedure = procedure
        self.allow_adhoc = allow_adhoc

    # ---- joining ------------------------------------------------------------------------------------------

    async def on_join(self, claims: JoinClaims) -> Place:
        hearing = await self.court.find_hearing_by_room(claims.room_id)
        if hearing is None:
            if self.allow_adhoc:
                return Place.ROOM
            raise TokenError(CloseCode.FORBIDDEN, "this room is not a hearing of this court")
        participant = await self._participant_of(claims, hearing)
        if participant.status is ParticipantStatus.DENIED:
            raise TokenError(CloseCode.FORBIDDEN, "the court did not admit you to this hearing; contact the court")
        if participant.status is ParticipantStatus.REMOVED:
            raise TokenError(CloseCode.FORBIDDEN, "you were removed from this hearing; contact the court")
        if hearing.state == ProcedureState.RECORD_SEALED:
            raise TokenError(CloseCode.FORBIDDEN, "this hearing is over and its record is sealed")
        staff = claims.role in STAFF_ROLES
        if hearing.locked and not staff and participant.status is not ParticipantStatus.ADMITTED:
            raise TokenError(CloseCode.FORBIDDEN, "the hearing room is locked; wait for the court to unlock it")
        if staff and participant.status is ParticipantStatus.WAITING:  # court staff are present once they join
            await self.court.set_participant_status(participant.id, ParticipantStatus.ADMITTED, audit=AuditEvent(
                participant.id, participant.role, "participant.admitted", f"hearing:{hearing.id}",
                {"participant": participant.id, "as": "court staff"}))
        return Place.ROOM if staff or participant.status is ParticipantStatus.ADMITTED else Place.LOBBY

    async def _participant_of(self, claims: JoinClaims, hearing: Hearing) -> Participant:
        """The register's participant behind a link: it must be this hearing's, in this role, with this link."""
        try:
            participant = await self.court.get_participant(claims.participant_id)
        except NotFound:
            participant = None
        if participant is None or participant.hearing_id != hearing.id or participant.role != claims.role:
            raise TokenError(CloseCode.FORBIDDEN, "this link does not belong to a participant of this hearing")
        if not any(allowed(participant.role, hearing.kind, s) for s in ProcedureState):
            raise TokenError(CloseCode.FORBIDDEN, f"a {participant.role} takes no part in a {hearing.kind.value}")
        if participant.token_jti != claims.jti:
            raise TokenError(CloseCode.TOKEN_REVOKED,
                             "this link was replaced by a newer one; use the latest link the court sent you")
        return participant

    async def on_connected(self, session: SessionInfo, place: Place, resumed: bool) -> None:
        hearing = await self.court.find_hearing_by_room(session.room_id)
        await self.hub.send_to(session.room_id, session.participant_id, room_state(hearing))
        if hearing is None:
            await self.hub.set_actions(session.room_id, session.participant_id, None)
            return
        await self.hub.set_actions(session.room_id, session.participant_id,
                                   actions_for(session.role, hearing, place),
                                   transitions_for(session.role, hearing, place))
        if place is Place.ROOM and self.exhibits is not None:
            shown = await self.exhibits.presentation(hearing.id)
            if not isinstance(shown, exhibit_rules.Refused) and shown.exhibit_id is not None:
                await self.hub.send_to(session.room_id, session.participant_id,
                                       await presented(self.exhibits, hearing.id, shown.exhibit_id, shown.page))

    # ---- moderation ---------------------------------------------------------------------------------------

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        hearing = await self.court.find_hearing_by_room(session.room_id)
        if hearing is None:
            return _forbidden("this room is not a hearing of this court; it has no moderation")
        me = (await self.hub.members(session.room_id)).get(session.participant_id) or {}
        if me.get("place", Place.ROOM.value) != Place.ROOM.value:
            return _forbidden("you are waiting in the lobby")
        if isinstance(msg, ChangeProcedure):
            return await self._procedure(session, hearing, msg)
        if isinstance(msg, LockRoom):
            return await self._lock(session, hearing, msg)
        target_id = msg.participant_id
        if target_id == session.participant_id:
            return _forbidden("you cannot do that to yourself")
        try:
            target = await self.court.get_participant(target_id)
        except NotFound:
            target = None
        if target is None or target.hearing_id != hearing.id:
            return _not_found(f"no participant {target_id!r} in this hearing")
        if isinstance(msg, Admit):
            return await self._admit(session, hearing, target, msg)
        if isinstance(msg, Deny):
            return await self._deny(session, hearing, target, msg)
        if isinstance(msg, SendToLobby):
            return await self._send_to_lobby(session, hearing, target, msg)
        if isinstance(msg, Remove):
            return await self._remove(session, hearing, target, msg)
        if isinstance(msg, MuteParticipant):
            return await self._mute(session, hearing, target, msg)
        return _forbidden("unsupported moderation message")  # pragma: no cover - the union is exhausted above

    def _refuse_unless(self, session: SessionInfo, hearing: Hearing, action: Action) -> Error | None:
        if action.value in allowed(session.role, hearing.kind, hearing.state):
            return None
        return _forbidden(f"a {session.role} may not {action.value.replace('_', ' ')} in a {hearing.kind.value} "
                          f"that is {hearing.state.replace('_', ' ')}")

    def _event(self, session: SessionInfo, action: str, hearing: Hearing, **details: Any) -> AuditEvent:
        return AuditEvent(session.participant_id, session.role, action, f"hearing:{hearing.id}",
                          {k: v for k, v in details.items() if v is not None})

    async def _admit(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Admit) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        member = (await self.hub.members(session.room_id)).get(target.id)
        if member is None or member.get("place") != Place.LOBBY.value:
            return _not_found("that participant is not waiting in the lobby")
        if hearing.locked:
            return _conflict("the room is locked; unlock it before admitting anyone")
        method: VerificationMethod | None = None
        if msg.verification is not None:
            try:
                method = VerificationMethod(msg.verification)
            except ValueError:
                return Error(code=ErrorCode.BAD_MESSAGE, message=(
                    f"unknown verification method {msg.verification[:64]!r}; use one of "
                    f"{', '.join(m.value for m in VerificationMethod)}"))
        if method is None and target.verification is None:
            return _conflict("check the participant's identity first and say how (verification), then admit")
        if method is not None:
            await self.court.record_verification(
                target.id, Verification(method, session.participant_id, datetime.now(UTC)),
                audit=self._event(session, "participant.verified", hearing, participant=target.id,
                                  method=method.value))
        await self.court.set_participant_status(
            target.id, ParticipantStatus.ADMITTED,
            audit=self._event(session, "participant.admitted", hearing, participant=target.id))
        await self.hub.place(session.room_id, target.id, Place.ROOM)
        await self.hub.set_actions(session.room_id, target.id, actions_for(target.role, hearing, Place.ROOM),
                                   transitions_for(target.role, hearing, Place.ROOM))
        return None

    async def _deny(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Deny) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        if target.status is ParticipantStatus.ADMITTED:
            return _conflict("that participant is already in the room; remove them instead")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.DENIED,
            audit=self._event(session, "participant.denied", hearing, participant=target.id))
        await self.hub.remove(session.room_id, target.id, LeaveReason.DENIED,
                              _with_reason("the court did not admit you to this hearing", msg.reason))
        return None

    async def _send_to_lobby(self, session: SessionInfo, hearing: Hearing, target: Participant,
                             msg: SendToLobby) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.REMOVE)) is not None:
            return refusal
        if target.role in STAFF_ROLES:
            return _forbidden("court staff do not wait in the lobby")
        member = (await self.hub.members(session.room_id)).get(target.id)
        if member is None or member.get("place") != Place.ROOM.value:
            return _not_found("that participant is not in the room")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.WAITING,
            audit=self._event(session, "participant.sent_to_lobby", hearing, participant=target.id))
        await self.hub.place(session.room_id, target.id, Place.LOBBY, msg.reason)
        await self.hub.set_actions(session.room_id, target.id, [])
        return None

    async def _remove(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Remove) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.REMOVE)) is not None:
            return refusal
        if target.role == Role.PRESIDING_JUDGE:
            return _forbidden("the presiding judge cannot be removed")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.REMOVED,
            audit=self._event(session, "participant.removed", hearing, participant=target.id))
        await self.hub.remove(session.room_id, target.id, LeaveReason.REMOVED,
                              _with_reason("you were removed from the hearing", msg.reason))
        return None

    async def _mute(self, session: SessionInfo, hearing: Hearing, target: Participant,
                    msg: MuteParticipant) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.MUTE_OTHERS)) is not None:
            return refusal
        member = await self.hub.hold(session.room_id, target.id, msg.kind)
        if member is None:
            return _not_found("that participant is not connected")
        await self.audit.append(self._event(session, "participant.muted", hearing, participant=target.id,
                                                  kind=msg.kind.value))
        return None

    async def _lock(self, session: SessionInfo, hearing: Hearing, msg: LockRoom) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        updated = await self.court.set_hearing_locked(
            hearing.id, msg.locked,
            audit=self._event(session, "hearing.locked" if msg.locked else "hearing.unlocked", hearing))
        await self.hub.broadcast(session.room_id, room_state(updated), audience="everyone")
        return None

    async def _procedure(self, session: SessionInfo, hearing: Hearing, msg: ChangeProcedure) -> Error | None:
        try:
            role = Role(session.role)
        except ValueError:
            return _forbidden(f"the role {session.role!r} may not change the procedure")
        if not any(Action.CHANGE_PROCEDURE_STATE in allowed(role, hearing.kind, s) for s in ProcedureState):
            # Someone who can never move this kind of hearing hears "forbidden", not why the move would not fit.
            await self.audit.append(self._event(session, "procedure.refused", hearing, transition=msg.transition,
                                                state=hearing.state, code="not_permitted"))
            return _forbidden(f"a {role.value} may not change the procedure of a {hearing.kind.value}")
        outcome = await self.procedure.transition(hearing.id, Actor(session.participant_id, role), msg.transition)
        if isinstance(outcome, Refused):
            code = ErrorCode.FORBIDDEN if outcome.code is RefusalCode.NOT_PERMITTED else ErrorCode.CONFLICT
            return Error(code=code, message=outcome.reason)
        return None  # the service's listener (`announce`) has told the room

    async def announce(self, hearing: Hearing) -> None:
        """Tell the room a hearing's new state and give everyone connected their new permissions."""
        if hearing.room_id is None:
            return
        await self.hub.broadcast(hearing.room_id, room_state(hearing), audience="everyone")
        for pid, member in (await self.hub.members(hearing.room_id)).items():
            place = Place(member.get("place", Place.ROOM.value))
            role = str(member.get("role", ""))
            await self.hub.set_actions(hearing.room_id, pid, actions_for(role, hearing, place),
                                       transitions_for(role, hearing, place))


async def presented(exhibits: ExhibitService, hearing_id: str, exhibit_id: str | None,
                    page: int | None) -> ExhibitPresented:
    """The `exhibit-presented` announcement for what is on screen now (also sent to whoever comes in later)."""
    if exhibit_id is None:
        return ExhibitPresented()
    listed = await exhibits.list(hearing_id)
    exhibit = next((e for e in listed if e.id == exhibit_id), None) if isinstance(listed, list) else None
    if exhibit is None:
        return ExhibitPresented()
    return ExhibitPresented(exhibit_id=exhibit.id, page=page or 1, name=exhibit.display_name,
                            media_type=exhibit.media_type, page_count=exhibit.page_count)


def _with_reason(text: str, reason: str) -> str:
    return f"{text}: {reason}" if reason else text
