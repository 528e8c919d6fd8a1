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
- Private rooms (a caucus: mediator + one side, counsel + client; the panel's retiring room) are rooms of their own,
  registered with their members; the moderator moves members there (they keep their main-room connection, placed
  "private", with no media there) and back when the room closes, or when the hearing leaves session/recess.
  Private rooms are never recorded.
- Rooms not bound to a hearing are "ad hoc" rooms (tests, trials of the platform): no lobby and no
  moderation; they are refused when `allow_adhoc` is off (production).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from docket.audit import AuditEvent, AuditLog
from docket.court import (
    CourtRecords,
    Hearing,
    NotFound,
    Participant,
    ParticipantStatus,
    PrivateRoom,
    Verification,
    VerificationMethod,
)
from docket.records import IssuedToken, Records
from hearing import exhibits as exhibit_rules
from hearing.exhibit_service import ExhibitService
from hearing.kinds import ProcedureState
from hearing.policy import Action, allowed
from hearing.procedure import RefusalCode, Refused, available
from hearing.procedure_service import Actor, Applied, ProcedureService
from hearing.recording_control import RecordingControl
from hearing.roles import ROLE_GRANTS, Role
from signaling.closecodes import CloseCode
from signaling.hub import SessionInfo, SignalingHub
from signaling.protocol import (
    Admit,
    ChangeProcedure,
    ClosePrivateRoom,
    Deny,
    Error,
    ErrorCode,
    ExhibitPresented,
    LeaveReason,
    LockRoom,
    ModerationMessage,
    MuteParticipant,
    OpenPrivateRoom,
    Place,
    PrivateRoomInfo,
    PrivateRoomMove,
    PrivateRooms,
    Remove,
    RoomState,
    SendToLobby,
    SetRecording,
)
from signaling.tokens import JoinClaims, TokenError, TokenService

log = logging.getLogger("hearing.courtroom")

STAFF_ROLES = frozenset({Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK, Role.MEDIATOR})
"""Court staff enter the room directly; everyone else waits in the lobby until admitted."""

ADHOC_STATE = "open"  # what `room-state` says for a room that is not a hearing
PRIVATE_STATES = frozenset({ProcedureState.IN_SESSION, ProcedureState.RECESS})
"""Private rooms exist only while the hearing runs; any other state closes them."""
PRIVATE_ACTIONS = ["publish_audio", "publish_video", "subscribe"]
PRIVATE_TOKEN_TTL = 4 * 3600


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


def room_state(hearing: Hearing | None, *, recording: bool = False) -> RoomState:
    if hearing is None:
        return RoomState(state=ADHOC_STATE)
    return RoomState(hearing_id=hearing.id, kind=hearing.kind.value, state=hearing.state, locked=hearing.locked,
                     recording=recording)


class Courtroom:
    """`signaling.hub.RoomRules` for the court. One per process; all state lives in the register and the bus."""

    def __init__(self, hub: SignalingHub, court: CourtRecords, audit: AuditLog, procedure: ProcedureService, *,
                 allow_adhoc: bool, tokens: TokenService, records: Records,
                 exhibits: ExhibitService | None = None, recording: RecordingControl | None = None) -> None:
        self.hub = hub
        self.recording = recording
        self.tokens = tokens
        self.records = records
        self.exhibits = exhibits
        self.court = court
        self.audit = audit
        self.procedure = procedure
        self.allow_adhoc = allow_adhoc

    def room_state(self, hearing: Hearing | None) -> RoomState:
        """What everyone is told, the recording light included: it shows what the recorder is actually doing."""
        recording = hearing is not None and self.recording is not None and self.recording.is_recording(hearing)
        return room_state(hearing, recording=recording)

    # ---- joining ------------------------------------------------------------------------------------------

    async def on_join(self, claims: JoinClaims) -> Place:
        hearing = await self.court.find_hearing_by_room(claims.room_id)
        if hearing is None:
            private = await self.court.find_private_room(claims.room_id)
            if private is not None:
                return await self._join_private(claims, private)
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

    async def _join_private(self, claims: JoinClaims, private: PrivateRoom) -> Place:
        if not private.is_open:
            raise TokenError(CloseCode.FORBIDDEN, "this private room has been closed; return to the hearing")
        if claims.participant_id not in private.members:
            raise TokenError(CloseCode.FORBIDDEN, "this private room is not open to you")
        hearing = await self.court.get_hearing(private.hearing_id)
        participant = await self.court.get_participant(claims.participant_id)
        if participant.status is not ParticipantStatus.ADMITTED or participant.role != claims.role:
            raise TokenError(CloseCode.FORBIDDEN, "this private room is not open to you")
        if Action.ENTER_PRIVATE_ROOM not in allowed(participant.role, hearing.kind, hearing.state):
            raise TokenError(CloseCode.FORBIDDEN, "private rooms cannot be entered at this stage of the hearing")
        return Place.ROOM

    async def on_connected(self, session: SessionInfo, place: Place, resumed: bool) -> None:
        hearing = await self.court.find_hearing_by_room(session.room_id)
        if hearing is None and (private := await self.court.find_private_room(session.room_id)) is not None:
            parent = await self.court.get_hearing(private.hearing_id)
            await self.hub.send_to(session.room_id, session.participant_id, RoomState(
                hearing_id=parent.id, kind=parent.kind.value, state=parent.state, private=True, label=private.label))
            await self.hub.set_actions(session.room_id, session.participant_id, PRIVATE_ACTIONS)
            return
        if hearing is not None and self.recording is not None:
            await self.recording.ensure(hearing)
        await self.hub.send_to(session.room_id, session.participant_id, self.room_state(hearing))
        if hearing is None:
            await self.hub.set_actions(session.room_id, session.participant_id, None)
            return
        await self.hub.set_actions(session.room_id, session.participant_id,
                                   actions_for(session.role, hearing, place),
                                   transitions_for(session.role, hearing, place))
        if "moderate" in session.grants:
            await self.hub.send_to(session.room_id, session.participant_id, await self._private_rooms(hearing))
        if place is Place.ROOM and self.exhibits is not None:
            shown = await self.exhibits.presentation(hearing.id)
            if not isinstance(shown, exhibit_rules.Refused) and shown.exhibit_id is not None:
                await self.hub.send_to(session.room_id, session.participant_id,
                                       await presented(self.exhibits, hearing.id, shown.exhibit_id, shown.page))

    # ---- the staff API's door -----------------------------------------------------------------------------

    async def waiting(self, hearing: Hearing) -> list[dict[str, Any]]:
        """Who is connected and waiting in the hearing's lobby now (presence records)."""
        if hearing.room_id is None:
            return []
        return [m for m in (await self.hub.members(hearing.room_id)).values() if m.get("place") == Place.LOBBY.value]

    async def act(self, hearing: Hearing, actor_id: str, role: Role, msg: ModerationMessage) -> Error | None:
        """A moderation request from the staff API, checked exactly as if it came over signalling."""
        if hearing.room_id is None:
            return _conflict("the hearing has no room yet: issue a link first")
        session = SessionInfo(hearing.room_id, actor_id, "api", role.value, ROLE_GRANTS[role])
        return await self.handle(session, msg)

    # ---- moderation ---------------------------------------------------------------------------------------

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        hearing = await self.court.find_hearing_by_room(session.room_id)
        if hearing is None:
            if await self.court.find_private_room(session.room_id) is not None:
                return _forbidden("moderate from the hearing's main room, not from a private room")
            return _forbidden("this room is not a hearing of this court; it has no moderation")
        me = (await self.hub.members(session.room_id)).get(session.participant_id) or {}
        if me.get("place", Place.ROOM.value) == Place.LOBBY.value:  # from a private room one still moderates
            return _forbidden("you are waiting in the lobby")
        if isinstance(msg, ChangeProcedure):
            return await self._procedure(session, hearing, msg)
        if isinstance(msg, LockRoom):
            return await self._lock(session, hearing, msg)
        if isinstance(msg, OpenPrivateRoom):
            return await self._open_private(session, hearing, msg)
        if isinstance(msg, ClosePrivateRoom):
            return await self._close_private(session, hearing, msg)
        if isinstance(msg, SetRecording):
            return await self._set_recording(session, hearing, msg)
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
        await self.hub.broadcast(session.room_id, self.room_state(updated), audience="everyone")
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

    async def _set_recording(self, session: SessionInfo, hearing: Hearing, msg: SetRecording) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.START_PAUSE_RECORDING)) is not None:
            return refusal
        if self.recording is None:
            return _conflict("no media server runs here, so nothing can be recorded")
        await self.recording.set(hearing, msg.on, msg.reason, session.participant_id)
        await self.audit.append(self._event(session, "recording.started" if msg.on else "recording.paused", hearing,
                                            reason=msg.reason or None))
        await self.hub.broadcast(session.room_id, self.room_state(hearing), audience="everyone")
        return None

    # ---- private rooms ------------------------------------------------------------------------------------

    async def _open_private(self, session: SessionInfo, hearing: Hearing, msg: OpenPrivateRoom) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.OPEN_PRIVATE_ROOM)) is not None:
            return refusal
        members = await self.hub.members(session.room_id)
        busy = {pid for room in await self.court.list_private_rooms(hearing.id) for pid in room.members}
        chosen: list[Participant] = []
        for pid in dict.fromkeys(msg.participant_ids):
            if pid == session.participant_id:
                continue
            try:
                target = await self.court.get_participant(pid)
            except NotFound:
                return _not_found(f"no participant {pid!r} in this hearing")
            if target.hearing_id != hearing.id:
                return _not_found(f"no participant {pid!r} in this hearing")
            if Action.ENTER_PRIVATE_ROOM not in allowed(target.role, hearing.kind, hearing.state):
                return _forbidden(f"a {target.role} may not enter a private room now")
            if (members.get(pid) or {}).get("place") != Place.ROOM.value:
                return _conflict("everyone moved to a private room must be in the hearing room now")
            if pid in busy:
                return _conflict("that participant is already in a private room")
            chosen.append(target)
        if not chosen:
            return Error(code=ErrorCode.BAD_MESSAGE, message="name at least one participant besides yourself")
        ids = [p.id for p in chosen]
        if Action.ENTER_PRIVATE_ROOM in allowed(session.role, hearing.kind, hearing.state):
            ids.append(session.participant_id)  # a mediator sits in the caucus they open
        room_id = f"private-{secrets.token_hex(8)}"
        label = msg.label or "private room"
        private = await self.court.open_private_room(
            hearing.id, room_id, label, ids, session.participant_id,
            audit=self._event(session, "private_room.opened", hearing, room=room_id, members=sorted(ids)))
        await self.records.create_room(room_id, label, "private")
        for pid in private.members:
            await self._move_into(private, pid, members.get(pid) or {})
        await self.hub.broadcast(session.room_id, await self._private_rooms(hearing), audience="staff")
        return None

    async def _private_rooms(self, hearing: Hearing) -> PrivateRooms:
        return PrivateRooms(rooms=[PrivateRoomInfo(room_id=r.room_id, label=r.label, members=list(r.members))
                                   for r in await self.court.list_private_rooms(hearing.id)])

    async def _move_into(self, private: PrivateRoom, pid: str, member: dict[str, Any]) -> None:
        role = Role(str(member.get("role")))
        token, claims = self.tokens.issue_join(room_id=private.room_id, role=role.value, name=str(member.get("name")),
                                               grants=ROLE_GRANTS[role], ttl_seconds=PRIVATE_TOKEN_TTL,
                                               participant_id=pid)
        await self.records.record_token(IssuedToken(
            jti=claims.jti, room_id=private.room_id, participant_id=pid, role=role.value,
            issued_at=datetime.fromtimestamp(claims.issued_at, UTC),
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC)))
        main = await self._main_room(private)
        await self.hub.place(main, pid, Place.PRIVATE, private.label)
        await self.hub.set_actions(main, pid, [])
        await self.hub.send_to(main, pid, PrivateRoomMove(action="enter", room_id=private.room_id,
                                                          label=private.label, token=token))

    async def _main_room(self, private: PrivateRoom) -> str:
        hearing = await self.court.get_hearing(private.hearing_id)
        return hearing.room_id or ""

    async def _close_private(self, session: SessionInfo, hearing: Hearing, msg: ClosePrivateRoom) -> Error | None:
        if (refusal := self._refuse_unless(session, hearing, Action.OPEN_PRIVATE_ROOM)) is not None:
            return refusal
        private = await self.court.find_private_room(msg.room_id)
        if private is None or private.hearing_id != hearing.id or not private.is_open:
            return _not_found("no such open private room in this hearing")
        await self.close_private(private, session.participant_id, session.role)
        return None

    async def close_private(self, private: PrivateRoom, actor_id: str, actor_role: str) -> None:
        """Close a private room and bring its members back into the main room."""
        hearing = await self.court.get_hearing(private.hearing_id)
        await self.court.close_private_room(private.id, actor_id, audit=AuditEvent(
            actor_id, actor_role, "private_room.closed", f"hearing:{hearing.id}", {"room": private.room_id}))
        for token in await self.records.tokens_for_room(private.room_id):
            if token.revoked_at is None:
                await self.records.revoke_token(token.jti, "private room closed")
        main = hearing.room_id or ""
        for pid in private.members:
            await self.hub.send_to(main, pid, PrivateRoomMove(action="leave", room_id=private.room_id,
                                                              label=private.label))
            await self.hub.remove(private.room_id, pid, LeaveReason.LEFT, "the private room was closed",
                                  code=CloseCode.NORMAL)
            member = await self.hub.place(main, pid, Place.ROOM)
            if member is not None:
                role = str(member.get("role", ""))
                await self.hub.set_actions(main, pid, actions_for(role, hearing, Place.ROOM),
                                           transitions_for(role, hearing, Place.ROOM))
        await self.hub.broadcast(main, await self._private_rooms(hearing), audience="staff")

    async def on_procedure(self, applied: Applied) -> None:
        """A procedure listener: tell the room."""
        await self.announce(applied.hearing)

    async def announce(self, hearing: Hearing) -> None:
        """Tell the room a hearing's new state and give everyone connected their new permissions."""
        if hearing.room_id is None:
            return
        if hearing.state not in PRIVATE_STATES:
            for private in await self.court.list_private_rooms(hearing.id):
                await self.close_private(private, "system", "system")
        await self.hub.broadcast(hearing.room_id, self.room_state(hearing), audience="everyone")
        for pid, member in (await self.hub.members(hearing.room_id)).items():
            place = Place(member.get("place", Place.ROOM.value))
            if place is Place.PRIVATE:
                continue  # their permissions live in the private room until they come back
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
