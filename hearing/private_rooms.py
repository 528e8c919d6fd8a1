"""A hearing's private rooms: caucus (背靠背调解: mediator + one side; counsel + client) and the panel's retiring room.

A private room is a signalling room of its own, registered with its members (docket: private_rooms). The moderator
opens it; each member gets a link bound to that room, handed over signalling, and keeps the main connection
(placed `private` there: no media in the main room meanwhile). Closing it — by its opener, or by the hearing leaving
session/recess — brings everyone back with their main-room permissions. Private rooms are never recorded: the
recorder only ever follows hearings' main rooms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from docket.audit import AuditEvent, AuditLog
from docket.court import CourtRecords, Hearing, NotFound, Participant, ParticipantStatus, PrivateRoom
from docket.records import IssuedToken, Records
from docket.room_ids import new_private_room_id
from hearing.kinds import ProcedureState
from hearing.live_permissions import (
    actions_for,
    audit_event,
    conflict,
    forbidden,
    not_found,
    refuse_unless,
    rule_error,
    transitions_for,
)
from hearing.policy import Action, allowed
from hearing.refusals import RoomRefusal
from hearing.roles import ROLE_GRANTS, Role
from signaling.closecodes import CloseCode
from signaling.hub import SessionInfo, SignalingHub
from signaling.protocol import (
    ClosePrivateRoom,
    Error,
    ErrorCode,
    LeaveReason,
    OpenPrivateRoom,
    Place,
    PrivateRoomInfo,
    PrivateRoomMove,
    PrivateRooms,
    RoomState,
)
from signaling.tokens import JoinClaims, TokenError, TokenService

PRIVATE_STATES = frozenset({ProcedureState.IN_SESSION, ProcedureState.RECESS})
"""Private rooms exist only while the hearing runs; any other state closes them."""
PRIVATE_ACTIONS = ["chat", "publish_audio", "publish_video", "subscribe"]
PRIVATE_TOKEN_TTL = 4 * 3600


PARTY_SIDE_ROLES = frozenset({Role.PLAINTIFF.value, Role.DEFENDANT.value})


def sides_of(participants: list[Participant], party_sides: dict[str, str]) -> set[str]:
    """The sides of a case these participants belong to: a party by role, anyone else by the case's party list.

    Why: a caucus (背靠背) is the mediator with one side; putting both sides in one "private" room would let one
    side hear what the other told the mediator in confidence. Counsel and others who are not parties to the case
    have no recorded side and do not count.
    """
    sides = set()
    for p in participants:
        side = p.role if p.role in PARTY_SIDE_ROLES else party_sides.get(p.person_id)
        if side is not None:
            sides.add(side)
    return sides


class PrivateRoomService:
    def __init__(self, hub: SignalingHub, court: CourtRecords, audit: AuditLog, tokens: TokenService,
                 records: Records, on_back: Callable[[str, str, Hearing], Awaitable[None]] | None = None) -> None:
        self.hub = hub
        self.on_back = on_back  # someone is back in the main room: show them what is presented there
        self.court = court
        self.audit = audit
        self.tokens = tokens
        self.records = records

    async def connected(self, session: SessionInfo, private: PrivateRoom) -> None:
        """Someone came into the private room: its state (never recorded) and what they may do there."""
        parent = await self.court.get_hearing(private.hearing_id)
        await self.hub.send_to(session.room_id, session.participant_id, RoomState(
            hearing_id=parent.id, kind=parent.kind.value, state=parent.state, private=True, label=private.label))
        await self.hub.set_actions(session.room_id, session.participant_id, PRIVATE_ACTIONS)

    async def close_all(self, hearing: Hearing) -> None:
        """The hearing left session/recess: every private room closes, everyone comes back."""
        if hearing.state not in PRIVATE_STATES:
            for private in await self.court.list_private_rooms(hearing.id):
                await self.close(private, "system", "system")

    async def end_sessions_of(self, hearing: Hearing, participant_id: str, message: str,
                              code: CloseCode = CloseCode.REMOVED) -> int:
        """Someone removed from the hearing, or whose link was withdrawn, leaves every private room too.

        Why: a caucus is a room of its own with its own link; ending only the main-room session would leave them
        in the caucus, hearing it and sending media. Their caucus links are revoked (no coming back with them) and
        the session closed through the room bus, so it ends on whichever instance holds it. Returns how many ended.
        """
        ended = 0
        for private in await self.court.list_private_rooms(hearing.id):
            if participant_id not in private.members:
                continue
            for token in await self.records.tokens_for_room(private.room_id):
                if token.participant_id == participant_id and token.revoked_at is None:
                    await self.records.revoke_token(token.jti, "participant's place in the hearing ended")
            if await self.hub.remove(private.room_id, participant_id, LeaveReason.REMOVED, message, code=code):
                ended += 1
        return ended

    async def join(self, claims: JoinClaims, private: PrivateRoom) -> Place:
        """Only its registered, admitted members, while the hearing's stage lets them enter."""
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

    async def open(self, session: SessionInfo, hearing: Hearing, msg: OpenPrivateRoom) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.OPEN_PRIVATE_ROOM)) is not None:
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
                return not_found(RoomRefusal.PARTICIPANT_UNKNOWN, f"no participant {pid!r} in this hearing")
            if target.hearing_id != hearing.id:
                return not_found(RoomRefusal.PARTICIPANT_UNKNOWN, f"no participant {pid!r} in this hearing")
            if Action.ENTER_PRIVATE_ROOM not in allowed(target.role, hearing.kind, hearing.state):
                return forbidden(RoomRefusal.ROLE_NO_PRIVATE_ROOM, f"a {target.role} may not enter a private room now",
                                 role=target.role)
            if (members.get(pid) or {}).get("place") != Place.ROOM.value:
                return conflict(RoomRefusal.PRIVATE_MEMBERS_IN_ROOM,
                                "everyone moved to a private room must be in the hearing room now")
            if pid in busy:
                return conflict(RoomRefusal.ALREADY_IN_PRIVATE_ROOM, "that participant is already in a private room")
            chosen.append(target)
        if not chosen:
            return rule_error(ErrorCode.BAD_MESSAGE, RoomRefusal.PRIVATE_NEEDS_MEMBER,
                           "name at least one participant besides yourself")
        case = await self.court.get_case(hearing.case_id)
        if len(sides := sides_of(chosen, {p.person_id: p.side.value for p in case.parties})) > 1:
            named = " and the ".join(sorted(sides))
            return forbidden(RoomRefusal.PRIVATE_ONE_SIDE,
                             f"a private room holds one side only; these participants are on the "
                             f"{named} sides: open one room per side", sides=sorted(sides))
        ids = [p.id for p in chosen]
        if Action.ENTER_PRIVATE_ROOM in allowed(session.role, hearing.kind, hearing.state):
            ids.append(session.participant_id)  # a mediator sits in the caucus they open
        room_id = new_private_room_id()  # server-made, in the prefix no hearing or ad-hoc room may use
        label = msg.label or "private room"
        private = await self.court.open_private_room(
            hearing.id, room_id, label, ids, session.participant_id,
            audit=audit_event(session, "private_room.opened", hearing, room=room_id, members=sorted(ids)))
        await self.records.create_room(room_id, label, "private")
        for pid in private.members:
            await self._move_into(private, pid, members.get(pid) or {})
        await self.hub.broadcast(session.room_id, await self.listing(hearing), audience="staff")
        return None

    async def listing(self, hearing: Hearing) -> PrivateRooms:
        """For staff: the hearing's open private rooms, by id: a room's signalling id goes only to its members."""
        return PrivateRooms(rooms=[PrivateRoomInfo(id=r.id, label=r.label, members=list(r.members))
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

    async def close_request(self, session: SessionInfo, hearing: Hearing, msg: ClosePrivateRoom) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.OPEN_PRIVATE_ROOM)) is not None:
            return refusal
        private = next((r for r in await self.court.list_private_rooms(hearing.id)
                        if (msg.id is not None and r.id == msg.id) or (msg.room_id is not None
                                                                      and r.room_id == msg.room_id)), None)
        if private is None or private.hearing_id != hearing.id or not private.is_open:
            return not_found(RoomRefusal.PRIVATE_ROOM_UNKNOWN, "no such open private room in this hearing")
        await self.close(private, session.participant_id, session.role)
        return None

    async def close(self, private: PrivateRoom, actor_id: str, actor_role: str) -> None:
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
                if self.on_back is not None:
                    await self.on_back(main, pid, hearing)
        await self.hub.broadcast(main, await self.listing(hearing), audience="staff")

