"""Room tools people know from video meetings (issue 15): raise hand, chat on the record, screen sharing, mute all,
admit all, spotlight. The shell that carries them out for the courtroom (hearing.courtroom), every one checked
against the policy table (hearing.policy) like the court's other actions.

State lives in the presence records (the room bus), so a room spread over several instances sees one queue:
`hand` (when raised, seconds), `screen` (the mid of the screen's transceiver), `spotlight` (true on one member).
The media plane reads `screen` with the `share_screen` action (signaling.hub.media_permissions): a screen is
forwarded, and so recorded, only while its sharer may share. Chat messages are stored (docket/room_chat.py) and
copied into the transcript at the close (hearing.room_chat).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from docket.audit import AuditLog
from docket.court import CourtRecords, Hearing, NotFound, Participant, ParticipantStatus
from docket.room_chat import SqlRoomChat
from hearing.live_permissions import audit_event, conflict, forbidden, not_found, refuse_unless
from hearing.policy import Action
from hearing.refusals import RoomRefusal
from hearing.roles import Role
from hearing.room_chat import HISTORY_SHOWN, clean_text, entry_of
from signaling.bus import Member
from signaling.hub import SessionInfo, SignalingHub
from signaling.protocol import (
    AdmitAll,
    AdmitAllResult,
    ChatEntry,
    ChatHistory,
    ChatMessage,
    Error,
    Hands,
    MuteAll,
    Place,
    RaiseHand,
    ScreenShared,
    SendChat,
    ShareScreen,
    Spotlight,
    Spotlighted,
)

STAFF = frozenset({Role.PRESIDING_JUDGE.value, Role.JUDGE.value, Role.CLERK.value, Role.MEDIATOR.value})
Admit = Callable[[SessionInfo, Hearing, Participant, str | None], Awaitable[Error | None]]


# ---- pure ------------------------------------------------------------------------------------------------------


def hand_queue(members: Mapping[str, Member]) -> list[str]:
    """Raised hands of those in the room, first raised first (ties by id, so every instance says the same)."""
    raised = [(float(m["hand"]), pid) for pid, m in members.items()
              if m.get("hand") is not None and m.get("place", Place.ROOM.value) == Place.ROOM.value]
    return [pid for _, pid in sorted(raised)]


def screen_track_id(participant_id: str, mid: str) -> str:
    """The SFU's id of a published track (media.sfu: publisher.kind.mid): how receivers recognise the screen."""
    return f"{participant_id}.video.{mid}"


def sharer(members: Mapping[str, Member]) -> tuple[str, str] | None:
    """(participant id, mid) of whoever shares a screen in the room now."""
    for pid, m in sorted(members.items()):
        if m.get("screen") and m.get("place", Place.ROOM.value) == Place.ROOM.value:
            return pid, str(m["screen"])
    return None


def spotlit(members: Mapping[str, Member]) -> str | None:
    return next((pid for pid, m in sorted(members.items()) if m.get("spotlight")), None)


def screen_state(members: Mapping[str, Member]) -> ScreenShared:
    who = sharer(members)
    return ScreenShared() if who is None else ScreenShared(participant_id=who[0],
                                                           track_id=screen_track_id(who[0], who[1]))


def lose_on_change(member: Member, actions: list[str]) -> dict[str, Any]:
    """What a member loses when their actions change (a new procedure state): a hand they may no longer raise,
    a screen they may no longer share."""
    changes: dict[str, Any] = {}
    if member.get("hand") is not None and Action.RAISE_HAND.value not in actions:
        changes["hand"] = None
    if member.get("screen") and Action.SHARE_SCREEN.value not in actions:
        changes["screen"] = None
    return changes


# ---- the shell ---------------------------------------------------------------------------------------------------


class RoomTools:
    def __init__(self, hub: SignalingHub, court: CourtRecords, audit: AuditLog, chat: SqlRoomChat | None,
                 admit: Admit) -> None:
        self.hub = hub
        self.court = court
        self.audit = audit
        self.chat = chat
        self.admit = admit

    async def handle(self, session: SessionInfo, hearing: Hearing,
                     msg: RaiseHand | SendChat | ShareScreen | MuteAll | AdmitAll | Spotlight) -> Error | None:
        if isinstance(msg, RaiseHand):
            return await self._hand(session, hearing, msg)
        if isinstance(msg, SendChat):
            return await self._chat(session, hearing, msg)
        if isinstance(msg, ShareScreen):
            return await self._screen(session, hearing, msg)
        if isinstance(msg, MuteAll):
            return await self._mute_all(session, hearing, msg)
        if isinstance(msg, AdmitAll):
            return await self._admit_all(session, hearing, msg)
        return await self._spotlight(session, hearing, msg)

    async def welcome(self, room_id: str, participant_id: str, hearing: Hearing) -> None:
        """Someone came into the room (joined, admitted, back from a private room): the queue, the screen, the
        spotlight and the chat so far."""
        members = await self.hub.members(room_id)
        await self.hub.send_to(room_id, participant_id, Hands(queue=hand_queue(members)))
        await self.hub.send_to(room_id, participant_id, screen_state(members))
        await self.hub.send_to(room_id, participant_id, Spotlighted(participant_id=spotlit(members)))
        if self.chat is not None:
            records = await self.chat.list(hearing.id, last=HISTORY_SHOWN)
            await self.hub.send_to(room_id, participant_id, ChatHistory(entries=[entry_of(r) for r in records]))

    async def actions_changed(self, room_id: str, participant_id: str, member: Member, actions: list[str]) -> None:
        """After a procedure change: a hand or a screen the new state does not allow goes down."""
        changes = lose_on_change(member, actions)
        if not changes:
            return
        await self.hub.update_member(room_id, participant_id, **changes)
        members = await self.hub.members(room_id)
        if "hand" in changes:
            await self.hub.broadcast(room_id, Hands(queue=hand_queue(members)))
        if "screen" in changes:
            await self.hub.broadcast(room_id, screen_state(members))

    # ---- raise hand ------------------------------------------------------------------------------------------

    async def _hand(self, session: SessionInfo, hearing: Hearing, msg: RaiseHand) -> Error | None:
        target = msg.participant_id or session.participant_id
        if target != session.participant_id:
            if msg.raised:
                return forbidden(RoomRefusal.NOT_TO_YOURSELF, "only you can raise your own hand")
            if (refusal := refuse_unless(session, hearing, Action.GIVE_FLOOR)) is not None:
                return refusal
        elif msg.raised and (refusal := refuse_unless(session, hearing, Action.RAISE_HAND)) is not None:
            return refusal
        members = await self.hub.members(session.room_id)
        member = members.get(target)
        if member is None or member.get("place", Place.ROOM.value) != Place.ROOM.value:
            return not_found(RoomRefusal.NOT_IN_ROOM, "that participant is not in the room")
        if msg.raised == (member.get("hand") is not None):
            return None  # already so: a repeated click changes nothing
        await self.hub.update_member(session.room_id, target, hand=time.time() if msg.raised else None)
        if target != session.participant_id:
            await self.audit.append(audit_event(session, "participant.hand_lowered", hearing, participant=target))
        await self.hub.broadcast(session.room_id, Hands(queue=hand_queue(await self.hub.members(session.room_id))))
        return None

    # ---- chat --------------------------------------------------------------------------------------------

    async def _chat(self, session: SessionInfo, hearing: Hearing, msg: SendChat) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.CHAT)) is not None:
            return refusal
        text = clean_text(msg.text)
        if text is None:
            return conflict(RoomRefusal.CHAT_EMPTY, "the message is empty")
        if self.chat is None:
            return conflict(RoomRefusal.NO_CHAT_RECORD, "no chat record is kept here")
        me = (await self.hub.members(session.room_id)).get(session.participant_id) or {}
        record = await self.chat.append(hearing.id, session.participant_id, session.role,
                                        str(me.get("name") or ""), text, datetime.now(UTC))
        await self.hub.broadcast(session.room_id, ChatMessage(entry=entry_of(record)))
        return None

    async def private_chat(self, session: SessionInfo, msg: SendChat) -> Error | None:
        """In a private room: to its members only, kept nowhere (private rooms are never recorded)."""
        text = clean_text(msg.text)
        if text is None:
            return conflict(RoomRefusal.CHAT_EMPTY, "the message is empty")
        me = (await self.hub.members(session.room_id)).get(session.participant_id) or {}
        entry = ChatEntry(seq=0, participant_id=session.participant_id, name=str(me.get("name") or ""),
                          role=session.role, text=text, sent_at=datetime.now(UTC).isoformat(), private=True)
        await self.hub.broadcast(session.room_id, ChatMessage(entry=entry))
        return None

    # ---- screen sharing --------------------------------------------------------------------------------------

    async def _screen(self, session: SessionInfo, hearing: Hearing, msg: ShareScreen) -> Error | None:
        members = await self.hub.members(session.room_id)
        me = members.get(session.participant_id) or {}
        if not msg.sharing:
            if not me.get("screen"):
                return None
            await self.hub.update_member(session.room_id, session.participant_id, screen=None)
            await self.audit.append(audit_event(session, "screen.stopped", hearing))
        else:
            if (refusal := refuse_unless(session, hearing, Action.SHARE_SCREEN)) is not None:
                return refusal
            current = sharer(members)
            if current is not None and current[0] != session.participant_id:
                return conflict(RoomRefusal.SCREEN_IN_USE, "someone else is sharing a screen; wait until they stop")
            if me.get("screen") == msg.mid:
                return None
            await self.hub.update_member(session.room_id, session.participant_id, screen=msg.mid)
            await self.audit.append(audit_event(session, "screen.shared", hearing))
        await self.hub.broadcast(session.room_id, screen_state(await self.hub.members(session.room_id)))
        return None

    # ---- the clerk's all-at-once ----------------------------------------------------------------------------

    async def _mute_all(self, session: SessionInfo, hearing: Hearing, msg: MuteAll) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.MUTE_OTHERS)) is not None:
            return refusal
        muted = 0
        for pid, m in (await self.hub.members(session.room_id)).items():
            if pid == session.participant_id or m.get("role") in STAFF:
                continue
            if m.get("place", Place.ROOM.value) != Place.ROOM.value:
                continue
            if await self.hub.hold(session.room_id, pid, msg.kind) is not None:
                muted += 1
        await self.audit.append(audit_event(session, "participants.muted_all", hearing, kind=msg.kind.value,
                                            count=muted))
        return None

    async def _admit_all(self, session: SessionInfo, hearing: Hearing, msg: AdmitAll) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.ADMIT_DENY)) is not None:
            return refusal
        if hearing.locked:
            return conflict(RoomRefusal.ROOM_LOCKED, "the room is locked; unlock it before admitting anyone")
        admitted = unchecked = witnesses = 0
        waiting = [pid for pid, m in sorted((await self.hub.members(session.room_id)).items())
                   if m.get("place") == Place.LOBBY.value]
        for pid in waiting:
            try:
                target = await self.court.get_participant(pid)
            except NotFound:
                continue
            if target.hearing_id != hearing.id or target.status is not ParticipantStatus.WAITING:
                continue
            if target.role == Role.WITNESS:
                witnesses += 1  # witnesses are called one by one, when the court wants to hear them
                continue
            if target.verification is None and msg.verification is None:
                unchecked += 1
                continue
            error = await self.admit(session, hearing, target, msg.verification)
            if error is None:
                admitted += 1
            elif error.reason == RoomRefusal.VERIFICATION_UNKNOWN:
                return error  # the method named is wrong for everyone: say so once
            else:
                unchecked += 1
        await self.hub.send_to(session.room_id, session.participant_id,
                               AdmitAllResult(admitted=admitted, unchecked=unchecked, witnesses=witnesses))
        return None

    # ---- spotlight -----------------------------------------------------------------------------------------

    async def _spotlight(self, session: SessionInfo, hearing: Hearing, msg: Spotlight) -> Error | None:
        if (refusal := refuse_unless(session, hearing, Action.GIVE_FLOOR)) is not None:
            return refusal
        members = await self.hub.members(session.room_id)
        target = msg.participant_id
        if target is not None and (members.get(target) or {}).get("place") != Place.ROOM.value:
            return not_found(RoomRefusal.NOT_IN_ROOM, "that participant is not in the room")
        for pid, m in members.items():
            if m.get("spotlight") and pid != target:
                await self.hub.update_member(session.room_id, pid, spotlight=None)
        if target is not None and not members[target].get("spotlight"):
            await self.hub.update_member(session.room_id, target, spotlight=True)
        await self.audit.append(audit_event(session, "participant.spotlight", hearing, participant=target))
        await self.hub.broadcast(session.room_id, Spotlighted(participant_id=target))
        return None

