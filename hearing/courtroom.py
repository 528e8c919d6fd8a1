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
from datetime import UTC, datetime, tzinfo
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
from docket.records import Records
from docket.room_chat import SqlRoomChat
from docket.transcripts import TranscriptStore
from hearing import exhibits as exhibit_rules
from hearing.exhibit_service import ExhibitService
from hearing.kinds import HearingKind, ProcedureState
from hearing.live_permissions import (
    actions_for,
    audit_event,
    conflict,
    forbidden,
    not_found,
    not_live,
    refuse_unless,
    rule_error,
    transitions_for,
)
from hearing.policy import Action, allowed
from hearing.private_rooms import PrivateRoomService
from hearing.procedure import RefusalCode, Refused
from hearing.procedure_service import Actor, Applied, ProcedureService
from hearing.recording_control import RecordingControl
from hearing.refusals import RoomRefusal
from hearing.roles import ROLE_GRANTS, Role
from hearing.room_chat import copy_into_transcript
from hearing.room_tools import RoomTools
from signaling.closecodes import CloseCode
from signaling.hub import SessionInfo, SignalingHub
from signaling.protocol import (
    ROOM_TOOL_MESSAGES,
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
    Remove,
    RoomState,
    SendChat,
    SendToLobby,
    SetRecording,
    TranscriptUpdated,
)
from signaling.tokens import JoinClaims, TokenError, TokenService

log = logging.getLogger("hearing.courtroom")

LIVE_ONLY = (LockRoom, OpenPrivateRoom, ClosePrivateRoom, SetRecording, MuteParticipant, SendToLobby,
             *ROOM_TOOL_MESSAGES)
"""Moderation that only means something in a live session: refused (`not_live`) in an asynchronous trial, whose
parties answer at different times (admitting after the identity check and removing still apply)."""

STAFF_ROLES = frozenset({Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK, Role.MEDIATOR})
"""Court staff enter the room directly; everyone else waits in the lobby until admitted."""

ADHOC_STATE = "open"  # what `room-state` says for a room that is not a hearing


def room_state(hearing: Hearing | None, *, recording: bool = False) -> RoomState:
    if hearing is None:
        return RoomState(state=ADHOC_STATE)
    return RoomState(hearing_id=hearing.id, kind=hearing.kind.value, state=hearing.state, locked=hearing.locked,
                     recording=recording, since=hearing.state_changed_at.astimezone(UTC).isoformat())


class Courtroom:
    """`signaling.hub.RoomRules` for the court. One per process; all state lives in the register and the bus."""

    def __init__(self, hub: SignalingHub, court: CourtRecords, audit: AuditLog, procedure: ProcedureService, *,
                 allow_adhoc: bool, tokens: TokenService, records: Records,
                 exhibits: ExhibitService | None = None, recording: RecordingControl | None = None,
                 chat: SqlRoomChat | None = None, transcripts: TranscriptStore | None = None,
                 tz: tzinfo = UTC) -> None:
        self.hub = hub
        self.recording = recording
        self.private = PrivateRoomService(hub, court, audit, tokens, records, on_back=self._back_in_room)
        self.tools = RoomTools(hub, court, audit, chat, self._admit_checked)
        self.chat = chat
        self.transcripts = transcripts
        self.tz = tz
        self.exhibits = exhibits
        self.court = court
        self.audit = audit
        self.procedure = procedure
        self.allow_adhoc = allow_adhoc
        self.records = records

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
                return await self.private.join(claims, private)
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
        if hearing is None and (private := await self.court.find_private_room(session.room_id)) is not None:
            await self.private.connected(session, private)
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
            await self.hub.send_to(session.room_id, session.participant_id, await self.private.listing(hearing))
        if place is Place.ROOM:
            await self.tools.welcome(session.room_id, session.participant_id, hearing)
            await self.show_presentation(hearing, session.participant_id)

    async def _back_in_room(self, main: str, participant_id: str, hearing: Hearing) -> None:
        """Back from a private room: the room tools' state and the exhibit presented now."""
        await self.tools.welcome(main, participant_id, hearing)
        await self.show_presentation(hearing, participant_id)

    async def show_presentation(self, hearing: Hearing, participant_id: str) -> None:
        """Whoever comes into the main room (joining, admitted from the lobby, back from a private room) is shown
        the exhibit presented now: `exhibit-presented` is only broadcast when it changes."""
        if self.exhibits is None or hearing.room_id is None:
            return
        shown = await self.exhibits.presentation(hearing.id)
        if not isinstance(shown, exhibit_rules.Refused) and shown.exhibit_id is not None:
            await self.hub.send_to(hearing.room_id, participant_id,
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
            return conflict(RoomRefusal.NO_ROOM_YET, "the hearing has no room yet: issue a link first")
        session = SessionInfo(hearing.room_id, actor_id, "api", role.value, ROLE_GRANTS[role])
        return await self.handle(session, msg)

    # ---- moderation ---------------------------------------------------------------------------------------

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        hearing = await self.court.find_hearing_by_room(session.room_id)
        if hearing is None:
            if await self.court.find_private_room(session.room_id) is not None:
                if isinstance(msg, SendChat):  # a private room's chat: its members only, kept nowhere
                    return await self.tools.private_chat(session, msg)
                return forbidden(RoomRefusal.MODERATE_FROM_MAIN_ROOM,
                                 "moderate from the hearing's main room, not from a private room")
            return forbidden(RoomRefusal.NOT_A_HEARING_ROOM,
                             "this room is not a hearing of this court; it has no moderation")
        me = (await self.hub.members(session.room_id)).get(session.participant_id) or {}
        if me.get("place", Place.ROOM.value) == Place.LOBBY.value:  # from a private room one still moderates
            return forbidden(RoomRefusal.MODERATOR_IN_LOBBY, "you are waiting in the lobby")
        if hearing.kind is HearingKind.ASYNC_TRIAL and isinstance(msg, LIVE_ONLY):
            return not_live(f"{type(msg).__name__} is an action of a live session; an asynchronous trial (异步审理) "
                            "is heard in stages on its own page")
        if isinstance(msg, ROOM_TOOL_MESSAGES):
            return await self.tools.handle(session, hearing, msg)
        if isinstance(msg, ChangeProcedure):
            return await self._procedure(session, hearing, msg)
        if isinstance(msg, LockRoom):
            return await self._lock(session, hearing, msg)
        if isinstance(msg, OpenPrivateRoom):
            return await self.private.open(session, hearing, msg)
        if isinstance(msg, ClosePrivateRoom):
            return await self.private.close_request(session, hearing, msg)
        if isinstance(msg, SetRecording):
            return await self._set_recording(session, hearing, msg)
        target_id = msg.participant_id
        if target_id == session.participant_id:
            return forbidden(RoomRefusal.NOT_TO_YOURSELF, "you cannot do that to yourself")
        try:
            target = await self.court.get_participant(target_id)
        except NotFound:
            target = None
        if target is None or target.hearing_id != hearing.id:
            return not_found(RoomRefusal.PARTICIPANT_UNKNOWN, f"no participant {target_id!r} in this hearing")
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
        return forbidden(RoomRefusal.UNSUPPORTED_MODERATION,
                         "unsupported moderation message")  # pragma: no cover - the union is exhausted above

    async def _admit(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Admit) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        return await self._admit_checked(session, hearing, target, msg.verification)

    async def _admit_checked(self, session: SessionInfo, hearing: Hearing, target: Participant,
                             verification: str | None) -> Error | None:
        """Admit one person (the policy already allowed the sender to): alone, or as one of `admit-all`."""
        member = (await self.hub.members(session.room_id)).get(target.id)
        if member is None or member.get("place") != Place.LOBBY.value:
            return not_found(RoomRefusal.NOT_WAITING_IN_LOBBY, "that participant is not waiting in the lobby")
        if hearing.locked:
            return conflict(RoomRefusal.ROOM_LOCKED, "the room is locked; unlock it before admitting anyone")
        method: VerificationMethod | None = None
        if verification is not None:
            try:
                method = VerificationMethod(verification)
            except ValueError:
                return rule_error(ErrorCode.BAD_MESSAGE, RoomRefusal.VERIFICATION_UNKNOWN,
                               f"unknown verification method {verification[:64]!r}; use one of "
                               f"{', '.join(m.value for m in VerificationMethod)}",
                               methods=[m.value for m in VerificationMethod])
        if method is None and target.verification is None:
            return conflict(RoomRefusal.IDENTITY_UNCHECKED,
                            "check the participant's identity first and say how (verification), then admit")
        if method is not None:
            await self.court.record_verification(
                target.id, Verification(method, session.participant_id, datetime.now(UTC)),
                audit=audit_event(session, "participant.verified", hearing, participant=target.id,
                                  method=method.value))
        await self.court.set_participant_status(
            target.id, ParticipantStatus.ADMITTED,
            audit=audit_event(session, "participant.admitted", hearing, participant=target.id))
        await self.hub.place(session.room_id, target.id, Place.ROOM)
        await self.hub.set_actions(session.room_id, target.id, actions_for(target.role, hearing, Place.ROOM),
                                   transitions_for(target.role, hearing, Place.ROOM))
        await self.tools.welcome(session.room_id, target.id, hearing)
        await self.show_presentation(hearing, target.id)
        return None

    async def _deny(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Deny) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        if target.status is ParticipantStatus.ADMITTED:
            return conflict(RoomRefusal.ALREADY_IN_ROOM, "that participant is already in the room; remove them instead")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.DENIED,
            audit=audit_event(session, "participant.denied", hearing, participant=target.id))
        await self.hub.remove(session.room_id, target.id, LeaveReason.DENIED,
                              _with_reason("the court did not admit you to this hearing", msg.reason))
        return None

    async def _send_to_lobby(self, session: SessionInfo, hearing: Hearing, target: Participant,
                             msg: SendToLobby) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.REMOVE)) is not None:
            return refusal
        if target.role in STAFF_ROLES:
            return forbidden(RoomRefusal.STAFF_NO_LOBBY, "court staff do not wait in the lobby")
        member = (await self.hub.members(session.room_id)).get(target.id)
        if member is None or member.get("place") != Place.ROOM.value:
            return not_found(RoomRefusal.NOT_IN_ROOM, "that participant is not in the room")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.WAITING,
            audit=audit_event(session, "participant.sent_to_lobby", hearing, participant=target.id))
        await self.hub.place(session.room_id, target.id, Place.LOBBY, msg.reason)
        await self.hub.set_actions(session.room_id, target.id, [])
        return None

    async def _remove(self, session: SessionInfo, hearing: Hearing, target: Participant, msg: Remove) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.REMOVE)) is not None:
            return refusal
        if target.role == Role.PRESIDING_JUDGE:
            return forbidden(RoomRefusal.PRESIDING_JUDGE_NOT_REMOVABLE, "the presiding judge cannot be removed")
        await self.court.set_participant_status(
            target.id, ParticipantStatus.REMOVED,
            audit=audit_event(session, "participant.removed", hearing, participant=target.id))
        message = _with_reason("you were removed from the hearing", msg.reason)
        await self.hub.remove(session.room_id, target.id, LeaveReason.REMOVED, message)
        await self.private.end_sessions_of(hearing, target.id, message)  # a caucus too: every session ends
        return None

    async def end_sessions_of_link(self, room_id: str, jti: str, message: str) -> int:
        """A withdrawn link ends the sessions it opened: the main room's and its holder's private rooms'."""
        ended = await self.hub.end_sessions_of_token(room_id, jti, message)
        hearing = await self.court.find_hearing_by_room(room_id)
        if hearing is None:
            return ended
        holder = next((t.participant_id for t in await self.records.tokens_for_room(room_id) if t.jti == jti), None)
        if holder is not None:
            ended += await self.private.end_sessions_of(hearing, holder, message, code=CloseCode.TOKEN_REVOKED)
        return ended

    async def _mute(self, session: SessionInfo, hearing: Hearing, target: Participant,
                    msg: MuteParticipant) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.MUTE_OTHERS)) is not None:
            return refusal
        member = await self.hub.hold(session.room_id, target.id, msg.kind)
        if member is None:
            return not_found(RoomRefusal.NOT_CONNECTED, "that participant is not connected")
        await self.audit.append(audit_event(session, "participant.muted", hearing, participant=target.id,
                                                  kind=msg.kind.value))
        return None

    async def _lock(self, session: SessionInfo, hearing: Hearing, msg: LockRoom) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        updated = await self.court.set_hearing_locked(
            hearing.id, msg.locked,
            audit=audit_event(session, "hearing.locked" if msg.locked else "hearing.unlocked", hearing))
        await self.hub.broadcast(session.room_id, self.room_state(updated), audience="everyone")
        return None

    async def _procedure(self, session: SessionInfo, hearing: Hearing, msg: ChangeProcedure) -> Error | None:
        try:
            role = Role(session.role)
        except ValueError:
            return forbidden(RoomRefusal.ROLE_NO_PROCEDURE, f"the role {session.role!r} may not change the procedure",
                             role=session.role)
        if not any(Action.CHANGE_PROCEDURE_STATE in allowed(role, hearing.kind, s) for s in ProcedureState):
            # Someone who can never move this kind of hearing hears "forbidden", not why the move would not fit.
            await self.audit.append(audit_event(session, "procedure.refused", hearing, transition=msg.transition,
                                                state=hearing.state, code="not_permitted"))
            return forbidden(RoomRefusal.ROLE_NO_PROCEDURE,
                             f"a {role.value} may not change the procedure of a {hearing.kind.value}",
                             role=role.value, kind=hearing.kind.value)
        outcome = await self.procedure.transition(hearing.id, Actor(session.participant_id, role), msg.transition)
        if isinstance(outcome, Refused):
            code = ErrorCode.FORBIDDEN if outcome.code is RefusalCode.NOT_PERMITTED else ErrorCode.CONFLICT
            return rule_error(code,
                           outcome.code.value, outcome.reason, transition=msg.transition, state=str(hearing.state))
        return None  # the service's listener (`announce`) has told the room

    async def _set_recording(self, session: SessionInfo, hearing: Hearing, msg: SetRecording) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.START_PAUSE_RECORDING)) is not None:
            return refusal
        if self.recording is None:
            return conflict(RoomRefusal.NO_RECORDER, "no media server runs here, so nothing can be recorded")
        await self.recording.set(hearing, msg.on, msg.reason, session.participant_id)
        await self.audit.append(audit_event(session, "recording.started" if msg.on else "recording.paused", hearing,
                                            reason=msg.reason or None))
        await self.hub.broadcast(session.room_id, self.room_state(hearing), audience="everyone")
        return None

    async def on_procedure(self, applied: Applied) -> None:
        """A procedure listener: tell the room; at the close, the chat goes into the transcript (hearing.room_chat)."""
        await self.announce(applied.hearing)
        hearing = applied.hearing
        if hearing.state == ProcedureState.CLOSED and self.chat is not None and self.transcripts is not None:
            version = await copy_into_transcript(self.transcripts, await self.chat.list(hearing.id), hearing.id,
                                                 self.tz)
            if version is not None and hearing.room_id is not None:
                await self.hub.broadcast(hearing.room_id, TranscriptUpdated(version=version.number,
                                                                            sha256=version.sha256))

    async def announce(self, hearing: Hearing) -> None:
        """Tell the room a hearing's new state and give everyone connected their new permissions."""
        if hearing.room_id is None:
            return
        await self.private.close_all(hearing)
        await self.hub.broadcast(hearing.room_id, self.room_state(hearing), audience="everyone")
        for pid, member in (await self.hub.members(hearing.room_id)).items():
            place = Place(member.get("place", Place.ROOM.value))
            if place is Place.PRIVATE:
                continue  # their permissions live in the private room until they come back
            role = str(member.get("role", ""))
            actions = actions_for(role, hearing, place)
            await self.hub.set_actions(hearing.room_id, pid, actions, transitions_for(role, hearing, place))
            await self.tools.actions_changed(hearing.room_id, pid, member, actions)


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
