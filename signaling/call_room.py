"""The rules of a call room, shared by every kind of call (signaling.hub.RoomRules): connect-a-judge calls
(stations/) and a petition's video call with its citizen (petitions/calls.py).

A call room is not a hearing: nobody waits in a lobby (whoever holds a link for the call was checked by the court
that issued it), everyone in it may speak and be seen, and only its moderators (the judge or handler of the call)
start or stop the recording — everyone sees the light through `room-state` — or remove someone. Joining needs a
join token for the room while the call is live. What differs per kind of call — how a room's call is found, who
moderates, what recording means and what happens when someone connects — is handed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from signaling.closecodes import CloseCode
from signaling.hub import JoinPolicy, SessionInfo, SignalingHub
from signaling.protocol import Error, ErrorCode, LeaveReason, ModerationMessage, Place, Remove, RoomState, SetRecording
from signaling.tokens import JoinClaims, TokenError

CALL_KIND = "call"  # a connect-a-judge call; petitions' video calls are "petition_call"


class CallRefusal(StrEnum):
    """Why a call's room refuses a signalling request (`error.reason`, translated by clients)."""

    JUDGE_ONLY = "call_judge_only"
    CALL_OVER = "call_over"
    NO_RECORDER = "call_no_recorder"
    END_INSTEAD = "call_end_instead"
    NOT_IN_CALL = "call_not_in_call"
    NOT_APPLICABLE = "call_not_applicable"
    RECORDING_FIXED = "call_recording_fixed"  # this kind of call is always recorded


@dataclass(frozen=True, slots=True)
class LiveCall:
    """What the room's rules need to know of the call behind a room."""

    id: str
    state: str  # shown in `room-state` (a code the client translates)
    live: bool  # joining is allowed only while live


def grants_policy(grants: Mapping[str, frozenset[str]], what: str = "a call") -> JoinPolicy:
    """The hub's join policy for call rooms: a role of the call, holding no grant beyond its role's."""

    def policy(claims: JoinClaims) -> str | None:
        allowed = grants.get(claims.role)
        if allowed is None:
            return f"role {claims.role!r} has no place in {what}"
        if claims.grants - allowed:
            return f"the role {claims.role} may not be granted {', '.join(sorted(claims.grants - allowed))}"
        return None

    return policy


class CallRecorder(Protocol):
    """What a call needs of the room recorder (recordings.room_recorder.RoomRecorder): a recording is named by the
    call's id (its manifest chain), started and stopped by the call's moderator."""

    def is_recording(self, room_id: str) -> bool: ...

    async def start(self, room_id: str, hearing_id: str, actor_id: str) -> None: ...

    async def stop(self, room_id: str, actor_id: str) -> None: ...


FindCall = Callable[[str], Awaitable[LiveCall | None]]
"""room id → its call (None: no such call)."""
SwitchRecording = Callable[[str, str, bool], Awaitable[None]]
"""(call id, actor participant id, on): start/stop the recorder, audit, and announce."""
Connected = Callable[[LiveCall, SessionInfo], Awaitable[None]]
"""Someone connected to the call's room (the kind notes who joined when)."""


class CallRoomRules:
    def __init__(self, hub: SignalingHub, *, find: FindCall, moderators: frozenset[str],
                 is_recording: Callable[[str], bool], switch_recording: SwitchRecording | None = None,
                 connected: Connected | None = None, always_recorded: bool = False, kind: str = CALL_KIND) -> None:
        self.hub = hub
        self.find = find
        self.moderators = moderators
        self.is_recording = is_recording
        self.switch_recording = switch_recording
        self.connected = connected
        self.always_recorded = always_recorded  # the recording runs from start to end: nobody switches it
        self.kind = kind  # `room-state.kind`: clients show the banner of a call (no hearing panels) for call kinds

    def state_of(self, call: LiveCall, room_id: str) -> RoomState:
        return RoomState(hearing_id=None, kind=self.kind, state=call.state, recording=self.is_recording(room_id))

    async def on_join(self, claims: JoinClaims) -> Place:
        call = await self.find(claims.room_id)
        if call is None or not call.live:
            raise TokenError(CloseCode.FORBIDDEN, "this call is over; ask the court for a new one")
        return Place.ROOM

    async def on_connected(self, session: SessionInfo, place: Place, resumed: bool) -> None:
        call = await self.find(session.room_id)
        if call is None:
            return
        if self.connected is not None:
            await self.connected(call, session)
        await self.hub.send_to(session.room_id, session.participant_id, self.state_of(call, session.room_id))
        await self.hub.set_actions(session.room_id, session.participant_id, None)

    async def announce(self, room_id: str) -> None:
        """Tell everyone in the room its state (the recording light) after a change."""
        call = await self.find(room_id)
        if call is not None:
            await self.hub.broadcast(room_id, self.state_of(call, room_id))

    async def end(self, room_id: str, message: str) -> None:
        """Everyone leaves the room (the call ended)."""
        for pid in list(await self.hub.members(room_id)):
            await self.hub.remove(room_id, pid, LeaveReason.REMOVED, message)

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        if session.role not in self.moderators or "moderate" not in session.grants:
            return Error(code=ErrorCode.FORBIDDEN, reason=CallRefusal.JUDGE_ONLY,
                         message="only the judge of this call may do that")
        call = await self.find(session.room_id)
        if call is None or not call.live:
            return Error(code=ErrorCode.CONFLICT, reason=CallRefusal.CALL_OVER, message="this call is over")
        if isinstance(msg, SetRecording):
            if self.always_recorded:
                return Error(code=ErrorCode.CONFLICT, reason=CallRefusal.RECORDING_FIXED,
                             message="this call is recorded from start to end")
            if self.switch_recording is None:
                return Error(code=ErrorCode.MEDIA_UNAVAILABLE, reason=CallRefusal.NO_RECORDER,
                             message="no recorder runs on this instance")
            await self.switch_recording(call.id, session.participant_id, msg.on)
            return None
        if isinstance(msg, Remove):
            if msg.participant_id == session.participant_id:
                return Error(code=ErrorCode.CONFLICT, reason=CallRefusal.END_INSTEAD,
                             message="end the call instead of removing yourself")
            if not await self.hub.remove(session.room_id, msg.participant_id, LeaveReason.REMOVED,
                                         "the judge removed you from the call"):
                return Error(code=ErrorCode.NOT_FOUND, reason=CallRefusal.NOT_IN_CALL,
                             message="that participant is not in the call")
            return None
        return Error(code=ErrorCode.FORBIDDEN, reason=CallRefusal.NOT_APPLICABLE,
                     message="a call has no lobby or procedure; that does not apply")
