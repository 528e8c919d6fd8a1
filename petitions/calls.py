"""The handler's video call with the citizen (回访/视频接谈): a recorded call room of the SFU, started from the staff
petitions page; the citizen joins from their petition page (and is told by SMS); the recording is attached to the
petition's record.

It is a call room like connect-a-judge's (the shared rules in signaling.call_room): no lobby, the handler moderates,
everyone sees the recording light. Unlike a station call the recording starts with the call and cannot be switched
off — the call is part of the petition's evidence — and it ends when the handler ends it. Its manifest chain is named
by the call's id (`hearing verify-recording <call id>`), and the petition's history holds `call_started` and
`call_ended` events pointing at it; a call the citizen joined counts as the handler's contact (channel video).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from docket.audit import AuditEvent, append_in
from docket.notifications import notify_in
from docket.tables_petitions import petition_calls
from petitions import rules
from petitions.rules import Actor, Contact, ContactChannel
from petitions.service import PetitionRecord, PetitionRefused, PetitionService, citizen_of, citizen_params
from recordings.manifest import verify_store
from signaling.call_room import CallRecorder, CallRoomRules, LiveCall, grants_policy
from signaling.hub import SessionInfo, SignalingHub
from signaling.tokens import TokenService

ROOM_PREFIX = "petition-call-"
HANDLER_ROLE = "handler"  # 承办人: the petition's assigned handler (judge, mediator or department contact)
PETITIONER_ROLE = "petitioner"  # 诉求人: the citizen
GRANTS: dict[str, frozenset[str]] = {
    HANDLER_ROLE: frozenset({"publish", "subscribe", "moderate"}),
    PETITIONER_ROLE: frozenset({"publish", "subscribe"}),
}
join_policy = grants_policy(GRANTS, "a petition's call")
CALLABLE = rules.FROM_STATES[Contact]
"""A call is a contact with the citizen: possible while the handler may contact them (assigned or contacted)."""
CALL_INVITED = "petition.call_invited"  # to the citizen (inbox and SMS): the handler waits in a video call
LIVE = "live"
ROOM_KIND = "petition_call"  # `room-state.kind` of the call room
ENDED = "ended"


def is_petition_call_room(room_id: str) -> bool:
    return room_id.startswith(ROOM_PREFIX)


def handler_participant(staff_id: str) -> str:
    return f"handler_{staff_id}"


def petitioner_participant(call_id: str) -> str:
    return f"petitioner_{call_id}"


@dataclass(frozen=True, slots=True)
class PetitionCall:
    id: str
    petition_id: str
    room_id: str
    handler_id: str
    state: str
    started_at: datetime
    citizen_joined_at: datetime | None
    ended_at: datetime | None
    recorded: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "started_at": self.started_at.isoformat(),
                "citizen_joined_at": _iso(self.citizen_joined_at), "ended_at": _iso(self.ended_at),
                "recorded": self.recorded}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _call(r: Any) -> PetitionCall:
    return PetitionCall(r.id, r.petition_id, r.room_id, r.handler_id, r.state, r.started_at, r.citizen_joined_at,
                        r.ended_at, bool(r.recorded))


class PetitionCalls:
    def __init__(self, service: PetitionService, tokens: TokenService, hub: SignalingHub | None,
                 recorder: CallRecorder | None, base_url: str, *, link_ttl_seconds: int = 2 * 3600) -> None:
        self.service = service
        self.tokens = tokens
        self.hub = hub
        self.recorder = recorder
        self.base_url = base_url
        self.link_ttl_seconds = link_ttl_seconds
        self.rules: CallRoomRules | None = None
        if hub is not None:
            self.rules = CallRoomRules(hub, find=self._find, moderators=frozenset({HANDLER_ROLE}),
                                       is_recording=self.is_recording, connected=self._connected,
                                       always_recorded=True, kind=ROOM_KIND)

    def is_recording(self, room_id: str) -> bool:
        return self.recorder is not None and self.recorder.is_recording(room_id)

    # ---- reading ------------------------------------------------------------------------------------------

    async def _find(self, room_id: str) -> LiveCall | None:
        async with self.service._tx("finding a petition call by its room") as conn:
            row = (await conn.execute(select(petition_calls).where(petition_calls.c.room_id == room_id))).first()
        # the room shows "in the call" (the clients' label of a live call) while live
        return None if row is None else LiveCall(row.id, "in_call" if row.state == LIVE else row.state,
                                                 row.state == LIVE)

    async def calls_of(self, petition_id: str) -> list[PetitionCall]:
        async with self.service._tx("listing a petition's calls") as conn:
            rows = await conn.execute(select(petition_calls).where(petition_calls.c.petition_id == petition_id)
                                      .order_by(petition_calls.c.started_at, petition_calls.c.id))
            return [_call(r) for r in rows]

    async def live_call(self, petition_id: str) -> PetitionCall | None:
        return next((c for c in await self.calls_of(petition_id) if c.state == LIVE), None)

    async def _get(self, conn: AsyncConnection, petition_id: str, call_id: str, *, lock: bool = False) -> PetitionCall:
        query = select(petition_calls).where(petition_calls.c.id == call_id,
                                             petition_calls.c.petition_id == petition_id)
        row = (await conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            raise PetitionRefused("petition_call_unknown", "this petition has no such call", 404)
        return _call(row)

    # ---- links --------------------------------------------------------------------------------------------

    def _link(self, call: PetitionCall, role: str, name: str, participant_id: str) -> str:
        token, _ = self.tokens.issue_join(room_id=call.room_id, role=role, name=name, grants=sorted(GRANTS[role]),
                                          ttl_seconds=self.link_ttl_seconds, participant_id=participant_id)
        return f"{self.base_url}/join#token={token}"

    # ---- moves --------------------------------------------------------------------------------------------

    async def start(self, petition_id: str, staff_id: str, display_name: str) -> tuple[PetitionCall, str]:
        """Start (or rejoin) the petition's call: the handler's link. The recording starts with the call; the citizen
        is notified (inbox and SMS). Only the assigned handler, while the petition is in its contact phase."""
        if self.hub is None or self.recorder is None:
            raise PetitionRefused("petition_call_unavailable", "video calls need the media server and its recorder, "
                                  "which do not run on this instance", 503)
        now = self.service.clock()
        async with self.service._tx("starting a petition call", write=True) as conn:
            record = await self.service._read(conn, petition_id, lock=True)
            self._check_handler(record, staff_id)
            live = next((c for c in await self._of(conn, petition_id) if c.state == LIVE), None)
            if live is None:
                call_id = secrets.token_hex(16)
                await conn.execute(petition_calls.insert().values(
                    id=call_id, petition_id=petition_id, room_id=ROOM_PREFIX + call_id, handler_id=staff_id,
                    state=LIVE, started_at=now, citizen_joined_at=None, ended_at=None, recorded=False))
                await self.service._event(conn, petition_id, "call_started", Actor.HANDLER.value, staff_id,
                                          record.rules, now, {"call_id": call_id}, audit={"call_id": call_id})
                await notify_in(conn, citizen_of(record), CALL_INVITED, citizen_params(record),
                                subject=f"petition:{petition_id}", idempotency_key=f"petition-call:{call_id}",
                                now=now, sms=True)
                live = await self._get(conn, petition_id, call_id)
        self.service.wake_jobs()  # the invitation's SMS job
        if not self.recorder.is_recording(live.room_id):
            await self.recorder.start(live.room_id, live.id, handler_participant(staff_id))
            async with self.service._tx("noting a petition call's recording", write=True) as conn:
                await conn.execute(update(petition_calls).where(petition_calls.c.id == live.id).values(recorded=True))
                await append_in(conn, AuditEvent(staff_id, "staff", "petition.call_recording",
                                                 f"petition:{petition_id}", {"call_id": live.id, "on": True}),
                                at=self.service.clock())
            live = (await self._by_id(petition_id, live.id))
            if self.rules is not None:
                await self.rules.announce(live.room_id)
        return live, self._link(live, HANDLER_ROLE, display_name, handler_participant(staff_id))

    def _check_handler(self, record: PetitionRecord, staff_id: str) -> None:
        if record.rules.handler_id != staff_id:
            raise PetitionRefused("not_your_petition", "only the handler this petition is assigned to may do this",
                                  403)
        if record.rules.status not in CALLABLE:
            raise PetitionRefused("petition_call_state", "a video call is possible while the petition is assigned "
                                  "and not yet answered", 409, state=record.rules.status.value)

    async def _of(self, conn: AsyncConnection, petition_id: str) -> list[PetitionCall]:
        rows = await conn.execute(select(petition_calls).where(petition_calls.c.petition_id == petition_id))
        return [_call(r) for r in rows]

    async def _by_id(self, petition_id: str, call_id: str) -> PetitionCall:
        async with self.service._tx("reading a petition call") as conn:
            return await self._get(conn, petition_id, call_id)

    async def join_citizen(self, petition_id: str) -> tuple[PetitionCall, str]:
        """The citizen's link into the petition's live call (their petition access token got them here)."""
        call = await self.live_call(petition_id)
        if call is None:
            raise PetitionRefused("petition_call_none", "no video call is waiting for you now", 409)
        record = await self.service.get(petition_id)
        await self.service.audit(AuditEvent(f"citizen:{petition_id}", "citizen", "petition.call_link",
                                            f"petition:{petition_id}", {"call_id": call.id}))
        return call, self._link(call, PETITIONER_ROLE, record.contact_name, petitioner_participant(call.id))

    async def _connected(self, live: LiveCall, session: SessionInfo) -> None:
        """Note when the citizen first came into the call (the end counts a joined call as a contact)."""
        if session.role != PETITIONER_ROLE:
            return
        async with self.service._tx("noting the citizen joined a call", write=True) as conn:
            result = await conn.execute(update(petition_calls).where(
                petition_calls.c.id == live.id, petition_calls.c.citizen_joined_at.is_(None)).values(
                citizen_joined_at=self.service.clock()))
            if result.rowcount:
                row = (await conn.execute(select(petition_calls.c.petition_id).where(
                    petition_calls.c.id == live.id))).one()
                await append_in(conn, AuditEvent(session.participant_id, "citizen", "petition.call_joined",
                                                 f"petition:{row.petition_id}", {"call_id": live.id}),
                                at=self.service.clock())

    async def end(self, petition_id: str, call_id: str, staff_id: str, note: str = "") -> PetitionCall:
        """End the call: stop the recorder (its stop entry closes the chain), everyone leaves, the petition's history
        records the call and its recording; a call the citizen joined is the handler's contact (channel video)."""
        async with self.service._tx("reading a petition call") as conn:
            call = await self._get(conn, petition_id, call_id)
        if call.handler_id != staff_id:
            raise PetitionRefused("not_your_petition", "only the handler who started this call may end it", 403)
        if call.state != LIVE:
            raise PetitionRefused("petition_call_over", "this call has already ended", 409)
        if self.recorder is not None and self.recorder.is_recording(call.room_id):
            await self.recorder.stop(call.room_id, handler_participant(staff_id))
        now = self.service.clock()
        async with self.service._tx("ending a petition call", write=True) as conn:
            call = await self._get(conn, petition_id, call_id, lock=True)
            if call.state != LIVE:
                raise PetitionRefused("petition_call_over", "this call has already ended", 409)
            await conn.execute(update(petition_calls).where(petition_calls.c.id == call_id).values(
                state=ENDED, ended_at=now))
            record = await self.service._read(conn, petition_id, lock=True)
            details = {"call_id": call_id, "recorded": call.recorded, "recording": call_id if call.recorded else None,
                       "citizen_joined": call.citizen_joined_at is not None,
                       "seconds": round((now - call.started_at).total_seconds())}
            await self.service._event(conn, petition_id, "call_ended", Actor.HANDLER.value, staff_id, record.rules,
                                      now, details, audit=details)
            if call.citizen_joined_at is not None and record.rules.status in CALLABLE:
                await self.service._move(petition_id, Contact(ContactChannel.VIDEO, note.strip() or "视频通话"),
                                         Actor.HANDLER, staff_id, conn=conn,
                                         details={"channel": ContactChannel.VIDEO.value, "note": note.strip(),
                                                  "call_id": call_id},
                                         audit={"channel": ContactChannel.VIDEO.value, "call_id": call_id})
            call = await self._get(conn, petition_id, call_id)
        if self.rules is not None:
            await self.rules.end(call.room_id, "the handler ended the call")
        self.service.wake_jobs()
        return call

    async def recording(self, petition_id: str, call_id: str, actor_id: str) -> dict[str, Any]:
        """The call's recording as stored: its manifest chain verified against the object store (hashes of every
        segment), audited as a view. `verified` false names the first break."""
        call = await self._by_id(petition_id, call_id)
        if not call.recorded:
            raise PetitionRefused("petition_call_unrecorded", "this call has no recording", 404)
        if self.service.objects is None:
            raise PetitionRefused("storage_unavailable", "the recording store is not reachable now; try later", 503)
        entries, broken = await verify_store(self.service.objects, call.id)
        await self.service.audit(AuditEvent(actor_id, "staff", "petition.call_recording_viewed",
                                            f"petition:{petition_id}", {"call_id": call.id}))
        segments = [e for e in entries if e.type == "segment"]
        return {"call_id": call.id, "verified": broken is None and bool(entries),
                "broken": None if broken is None else {"seq": broken.seq, "reason": broken.reason.value},
                "entries": len(entries), "segments": len(segments),
                "tracks": sorted({str(e.data.get("kind", "")) for e in segments}),
                "complete": bool(entries) and entries[-1].type == "stop"}
