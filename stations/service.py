"""The connect-a-judge service: the shell joining the pure rules (queue, roster, hours) to the SQL register,
join tokens (signaling.tokens), presence in the call room (the hub) and the recorder (recordings.room_recorder).

Waiting is polled, not pushed: the station page and the duty page ask every few seconds. A poll is one indexed
read, any instance answers it from the database (so several instances need no Redis channel for the queue), and a
station's polls double as its heartbeat — the caller keeps their place while quiet for up to the resume grace
window. Time-driven moves (no pickup in time, a station gone) are applied lazily by whoever reads the call next,
through the same conditional UPDATE as every other move, so applying one twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from docket.court import VerificationMethod
from recordings.clips import ClipRefused, ClipService
from signaling.call_room import CallRecorder as Recorder
from signaling.hub import SignalingHub
from signaling.tokens import TokenService
from stations import errors
from stations.call_rules import CallRules, judge_participant, room_of
from stations.hours import is_open
from stations.queue import Move, Waiting, due_move, position, presence, waited
from stations.roster import courts_of, next_shift_start, on_duty
from stations.sharing_sql import SqlSharing
from stations.stats import call_stats
from stations.store_sql import Call, SqlStations
from stations.vocab import CallRole, CallState, Category, DutyStatus, OutcomeKind

SYSTEM = ("system", "system")
CLIP_PURPOSE = "station"  # the stations' recorded messages in the one clip upload (/api/clips/station/...)
STATION_ROLE = "station"


@dataclass(frozen=True, slots=True)
class StationActor:
    """Who speaks for a station: its device link (a shared PC) or an operator's own login."""

    station_id: str | None  # None for a person calling with their own call link
    actor_id: str  # the link id or the operator's staff id
    actor_role: str  # station_link | station_operator | call_link
    person_id: str | None = None  # the call link's person
    person_name: str = ""
    court_code: str | None = None  # the call link's court

    @property
    def audit(self) -> tuple[str, str]:
        return (self.actor_id, self.actor_role)

    @property
    def clip_owner(self) -> str:
        """Whom a recorded message's clip belongs to while it uploads (recordings/clips.py): the station, or the
        person calling with their own link — so another station cannot attach or read it."""
        return f"station:{self.station_id}" if self.station_id is not None else f"person:{self.person_id}"


@dataclass
class StationsConfig:
    tz: ZoneInfo
    pickup_timeout: timedelta
    grace: timedelta
    base_url: str
    link_ttl_seconds: int = 4 * 3600


class StationsService:
    def __init__(self, store: SqlStations, tokens: TokenService, hub: SignalingHub | None, config: StationsConfig,
                 recorder: Recorder | None = None, clips: ClipService | None = None) -> None:
        self.store = store
        self.clips = clips
        self.tokens = tokens
        self.hub = hub
        self.config = config
        self.recorder = recorder
        self.sharing = SqlSharing(store.engine, store.url)  # shared courts (共享法庭)
        self.rules: CallRules | None = None
        if hub is not None:
            self.rules = CallRules(hub, store, is_recording=self.is_recording, switch_recording=self.switch_recording)

    def is_recording(self, room_id: str) -> bool:
        return self.recorder is not None and self.recorder.is_recording(room_id)

    # ---- links into the call room --------------------------------------------------------------------------

    def _link(self, call: Call, role: CallRole, name: str, participant_id: str) -> str:
        grants = ["publish", "subscribe"] + (["moderate"] if role in (CallRole.JUDGE, CallRole.MEDIATOR) else [])
        token, _ = self.tokens.issue_join(room_id=room_of(call.id), role=role.value, name=name, grants=grants,
                                          ttl_seconds=self.config.link_ttl_seconds, participant_id=participant_id)
        return f"{self.config.base_url}/join#token={token}"

    # ---- requests from a station ----------------------------------------------------------------------------

    async def request_call(self, actor: StationActor, *, caller_name: str, verification_method: str, category: str,
                           summary: str, now: datetime) -> dict[str, Any]:
        if actor.station_id is None:
            return await self._request_from_person(actor, category=category, summary=summary, now=now)
        self._validate(category, verification_method, caller_name)
        station = await self.store.get_station(actor.station_id)
        if not station.court_code:
            raise errors.StationsRefused(409, "station_no_court", "this station is not attached to a court yet")
        if not is_open(station.opening_hours, now, self.config.tz):
            # Nothing is stored: a request nobody may take would only wait to be abandoned; the page keeps the form.
            raise errors.StationsRefused(409, "station_closed", "the station is closed now; see its opening hours",
                                         opening_hours=station.opening_hours)
        shifts = await self.store.shifts(around=now, court_code=station.court_code)
        statuses = await self.store.statuses()
        nobody = not on_duty(shifts, statuses, station.court_code, now)
        call = await self.store.create_call(
            court_code=station.court_code, station_id=station.id, requested_by=actor.actor_id,
            actor_role=actor.actor_role, caller_name=caller_name, verification_method=verification_method,
            category=category, summary=summary[:500], state=CallState.UNANSWERED if nobody else CallState.WAITING,
            reason="nobody_on_duty" if nobody else None, now=now)
        return await self._station_view(call, now, shifts=shifts)

    async def _request_from_person(self, actor: StationActor, *, category: str, summary: str,
                                   now: datetime) -> dict[str, Any]:
        """A person with the court's call link: the court knows who they are (the link is theirs), no station hours."""
        assert actor.court_code is not None and actor.person_id is not None
        method = VerificationMethod.KNOWN_TO_COURT.value
        self._validate(category, method, actor.person_name)
        shifts = await self.store.shifts(around=now, court_code=actor.court_code)
        nobody = not on_duty(shifts, await self.store.statuses(), actor.court_code, now)
        call = await self.store.create_call(
            court_code=actor.court_code, station_id=None, person_id=actor.person_id, requested_by=actor.actor_id,
            actor_role=actor.actor_role, caller_name=actor.person_name, verification_method=method,
            category=category, summary=summary[:500], state=CallState.UNANSWERED if nobody else CallState.WAITING,
            reason="nobody_on_duty" if nobody else None, now=now)
        return await self._station_view(call, now, shifts=shifts)

    def _validate(self, category: str, method: str, name: str) -> None:
        if category not in Category._value2member_map_:
            raise errors.StationsRefused(422, "unknown_category", f"unknown topic {category!r}",
                                         choices=[c.value for c in Category])
        if method not in VerificationMethod._value2member_map_ or not name.strip():
            raise errors.StationsRefused(422, "identity_missing", "check the person's identity first and say how",
                                         choices=[m.value for m in VerificationMethod])

    async def _own(self, actor: StationActor, call_id: str) -> Call:
        call = await self.store.get_call(call_id)
        mine = (call.station_id == actor.station_id if actor.station_id is not None
                else call.station_id is None and call.person_id == actor.person_id)
        if not mine:
            raise errors.call_not_found(call_id)
        return call

    async def _settle(self, call: Call, now: datetime) -> Call:
        """Apply what time (or a dropped judge) forces on the call before anyone looks at it."""
        move = due_move(call.state, call.queued_at, call.last_seen_at, now,
                        pickup_timeout=self.config.pickup_timeout, grace=self.config.grace)
        if move is None and call.state is CallState.IN_CALL and call.judge_joined_at is not None \
                and self.hub is not None and call.room_id and call.accepted_by:
            members = await self.hub.members(call.room_id)
            if judge_participant(call.accepted_by) not in members:
                move = Move.JUDGE_DROPPED
        if move is None:
            return call
        reason = {Move.GIVE_UP: "no_pickup", Move.ABANDON: "caller_gone", Move.JUDGE_DROPPED: "judge_dropped"}[move]
        try:
            return await self.store.move(call.id, move, actor=SYSTEM, now=now, details={"reason": reason},
                                         reason=reason)
        except errors.StationsRefused:
            return await self.store.get_call(call.id)  # another reader applied it (or something else) first

    async def station_call(self, actor: StationActor, call_id: str, now: datetime) -> dict[str, Any]:
        call = await self._own(actor, call_id)
        if call.state is CallState.WAITING:
            await self.store.touch(call.id, now)
            call = await self.store.get_call(call.id)
        call = await self._settle(call, now)
        return await self._station_view(call, now)

    async def _station_view(self, call: Call, now: datetime,
                            shifts: list[Any] | None = None) -> dict[str, Any]:
        out = _call_out(call, now)
        if call.state is CallState.WAITING:
            queue = await self.store.waiting({call.court_code})
            out["position"] = position([Waiting(c.id, c.queued_at) for c in queue], call.id)
        if call.state is CallState.UNANSWERED:
            shifts = shifts if shifts is not None else await self.store.shifts(around=now, court_code=call.court_code)
            slot = next_shift_start(shifts, call.court_code, now)
            out["callback_slot"] = slot.isoformat() if slot else None
        if call.state is CallState.IN_CALL and call.room_id and self.hub is not None and call.accepted_by:
            members = await self.hub.members(call.room_id)
            judge = members.get(judge_participant(call.accepted_by))
            out["judge_connection"] = None if judge is None else judge.get("connection", "connected")
        return out

    async def join_call(self, actor: StationActor, call_id: str, now: datetime) -> str:
        """The station seat's link into the call room (the person, helped by the operator)."""
        call = await self._own(actor, call_id)
        if call.state is not CallState.IN_CALL:
            raise errors.wrong_state(call.state.value, "join")
        await self.store.audit("call.station_joined", f"call:{call.id}", actor=actor.audit, details={})
        return self._link(call, CallRole.CALLER, call.caller_name, f"caller_{call.id}")

    async def station_move(self, actor: StationActor, call_id: str, move: Move, now: datetime,
                           callback: bool = False) -> dict[str, Any]:
        call = await self._own(actor, call_id)
        values: dict[str, Any] = {}
        if move is Move.REQUEUE:
            values = {"queued_at": now, "last_seen_at": now, "requeues": call.requeues + 1, "accepted_by": None,
                      "accepted_at": None, "judge_joined_at": None, "reason": None}
        elif move is Move.CALLBACK:
            slot = next_shift_start(await self.store.shifts(around=now, court_code=call.court_code),
                                    call.court_code, now)
            if slot is None:
                raise errors.StationsRefused(409, "no_callback_slot", "no duty shift is planned yet to call back in")
            values = {"callback_at": slot}
        elif move in (Move.CANCEL, Move.LEAVE_MESSAGE):
            values = {"ended_at": now}
        call = await self.store.move(call.id, move, actor=actor.audit, now=now, **values)
        return await self._station_view(call, now)

    async def leave_message(self, actor: StationActor, call_id: str, clip_id: str, now: datetime) -> dict[str, Any]:
        """Attach the recorded video message (uploaded through /api/clips/station/) to the call that asked for one
        (state `message_pending`). The clip must have been verified and stored for this station (its owner)."""
        call = await self._own(actor, call_id)
        if self.clips is None:
            raise errors.StationsRefused(503, "clips_unavailable", "recorded messages are not available here")
        try:
            clip = await self.clips.clip(clip_id)
        except ClipRefused:
            raise errors.message_clip_unknown(clip_id) from None
        if clip.purpose != CLIP_PURPOSE or clip.owner != actor.clip_owner:
            raise errors.message_clip_unknown(clip_id)
        call = await self.store.leave_message(call.id, clip.id, actor=actor.audit, now=now, details={
            "clip_id": clip.id, "sha256": clip.sha256, "duration_ms": clip.duration_ms})
        return await self._station_view(call, now)

    async def _court_call(self, staff_id: str, call_id: str, now: datetime) -> Call:
        """A call of a court the judge is on duty for now (others' messages do not exist for them)."""
        courts = courts_of(await self.store.shifts(around=now, staff_id=staff_id), staff_id, now)
        call = await self.store.get_call(call_id)
        if call.court_code not in courts or call.message_clip_id is None:
            raise errors.call_not_found(call_id)
        return call

    async def message_clip(self, staff_id: str, call_id: str, now: datetime) -> dict[str, Any]:
        """A short-lived address to play a call's recorded message, for a judge on duty of its court."""
        call = await self._court_call(staff_id, call_id, now)
        assert self.clips is not None and call.message_clip_id is not None
        clip = await self.clips.clip(call.message_clip_id)
        return {"clip": clip.as_json(), "url": await self.clips.url(clip.id)}

    async def mark_heard(self, staff_id: str, call_id: str, now: datetime) -> dict[str, Any]:
        call = await self._court_call(staff_id, call_id, now)
        call = await self.store.mark_heard(call.id, staff_id, now=now)
        return _call_out(call, now)

    async def history(self, actor: StationActor, now: datetime) -> list[dict[str, Any]]:
        return [_call_out(c, now) for c in await self.store.calls_of_station(actor.station_id,
                                                                            person_id=actor.person_id)]

    # ---- judges --------------------------------------------------------------------------------------------

    async def duty(self, staff_id: str, now: datetime) -> dict[str, Any]:
        shifts = await self.store.shifts(around=now, staff_id=staff_id)
        courts = courts_of(shifts, staff_id, now)
        statuses = await self.store.statuses()
        queue = []
        names: dict[str, str] = {}
        for call in await self.store.waiting(courts) if courts else []:
            call = await self._settle(call, now)
            if call.state is not CallState.WAITING:
                continue
            if call.station_id is not None and call.station_id not in names:
                names[call.station_id] = (await self.store.get_station(call.station_id)).name
            item = _call_out(call, now)
            item |= {"station_name": names.get(call.station_id or ""), "caller_name": call.caller_name,
                     "caller_presence": presence(call.last_seen_at, now, self.config.grace).value}
            queue.append(item)
        mine = [_call_out(c, now) | {"caller_name": c.caller_name} for c in await self.store.calls_of_judge(staff_id)]
        messages = []
        for call in await self.store.messages(courts) if courts else []:
            if call.station_id is not None and call.station_id not in names:
                names[call.station_id] = (await self.store.get_station(call.station_id)).name
            messages.append(_call_out(call, now) | {"station_name": names.get(call.station_id or ""),
                                                    "caller_name": call.caller_name})
        return {"on_duty": bool(courts), "courts": sorted(courts),
                "status": statuses.get(staff_id, DutyStatus.AVAILABLE).value,
                "shifts": [{"court_code": s.court_code, "duty_role": s.duty_role, "starts_at": s.starts_at.isoformat(),
                            "ends_at": s.ends_at.isoformat()} for s in shifts],
                "queue": queue, "calls": mine, "messages": messages}

    async def set_status(self, staff_id: str, status: DutyStatus, now: datetime) -> None:
        await self.store.set_status(staff_id, status, actor=(staff_id, "staff"), now=now)

    async def accept(self, staff_id: str, display_name: str, call_id: str, now: datetime) -> dict[str, Any]:
        call = await self.store.get_call(call_id)
        shifts = [s for s in await self.store.shifts(around=now, staff_id=staff_id)
                  if s.court_code == call.court_code and s.covers(now)]
        if not shifts:
            raise errors.StationsRefused(403, "not_on_duty", "you are not on duty for this call's court now")
        if (await self.store.statuses()).get(staff_id) is DutyStatus.AWAY:
            raise errors.StationsRefused(409, "duty_away", "you marked yourself away; mark yourself available first")
        call = await self._settle(call, now)
        call = await self.store.move(call.id, Move.ACCEPT, actor=(staff_id, "staff"), now=now,
                                     details={"court": call.court_code}, judge_status=DutyStatus.BUSY,
                                     accepted_at=now, accepted_by=staff_id, room_id=room_of(call.id))
        role = CallRole.MEDIATOR if shifts[0].duty_role == "mediator" else CallRole.JUDGE
        return _call_out(call, now) | {"link": self._link(call, role, display_name, judge_participant(staff_id)),
                                       "caller_name": call.caller_name}

    async def _mine(self, staff_id: str, call_id: str) -> Call:
        call = await self.store.get_call(call_id)
        if call.accepted_by != staff_id:
            raise errors.StationsRefused(403, "not_your_call", "only the judge who accepted this call may do that")
        return call

    async def rejoin(self, staff_id: str, display_name: str, call_id: str) -> str:
        call = await self._mine(staff_id, call_id)
        if call.state is not CallState.IN_CALL:
            raise errors.wrong_state(call.state.value, "join")
        return self._link(call, CallRole.JUDGE, display_name, judge_participant(staff_id))

    async def invite(self, staff_id: str, call_id: str, role: str, name: str, now: datetime) -> str:
        """A second judge or an interpreter for the call; the accepting judge only."""
        call = await self._mine(staff_id, call_id)
        if role not in (CallRole.JUDGE.value, CallRole.INTERPRETER.value):
            raise errors.StationsRefused(422, "invite_role", "invite a second judge or an interpreter")
        if call.state is not CallState.IN_CALL:
            raise errors.wrong_state(call.state.value, "invite")
        pid = f"{role}_{len(name)}_{int(now.timestamp() * 1000)}"
        await self.store.audit("call.invited", f"call:{call.id}", actor=(staff_id, "staff"),
                               details={"role": role, "participant_id": pid})
        return self._link(call, CallRole(role), name, pid)

    async def switch_recording(self, call: Call, actor_id: str, on: bool) -> Call:
        if self.recorder is None or call.room_id is None:
            raise errors.StationsRefused(503, "recorder_unavailable", "no recorder runs on this instance")
        if on and not self.recorder.is_recording(call.room_id):
            await self.recorder.start(call.room_id, call.id, actor_id)
        elif not on and self.recorder.is_recording(call.room_id):
            await self.recorder.stop(call.room_id, actor_id)
        call = await self.store.annotate(call.id, "call.recording", actor=(actor_id, "staff"),
                                         now=_now(), details={"on": on}, recorded=call.recorded or on)
        if self.rules is not None and call.room_id is not None:
            await self.rules.announce(call.room_id)
        return call

    async def set_recording(self, staff_id: str, call_id: str, on: bool) -> dict[str, Any]:
        call = await self._mine(staff_id, call_id)
        if call.state is not CallState.IN_CALL:
            raise errors.wrong_state(call.state.value, "record")
        call = await self.switch_recording(call, staff_id, on)
        return _call_out(call, _now()) | {"recording": self.is_recording(call.room_id or "")}

    async def write_note(self, staff_id: str, call_id: str, note: str, now: datetime) -> dict[str, Any]:
        call = await self._mine(staff_id, call_id)
        call = await self.store.annotate(call.id, "call.note", actor=(staff_id, "staff"), now=now,
                                         details={"length": len(note)}, note=note.strip()[:4000])
        return _call_out(call, now)

    async def link_outcome(self, staff_id: str, call_id: str, kind: str, ref: str, now: datetime) -> dict[str, Any]:
        if kind not in OutcomeKind._value2member_map_:
            raise errors.StationsRefused(422, "outcome_kind",
                                         "a call turns into a mediation, a petition or a case filing")
        call = await self._mine(staff_id, call_id)
        call = await self.store.annotate(call.id, "call.outcome", actor=(staff_id, "staff"), now=now,
                                         details={"kind": kind, "ref": ref}, outcome_kind=kind, outcome_ref=ref)
        return _call_out(call, now)

    async def end(self, staff_id: str, call_id: str, now: datetime, note: str | None = None) -> dict[str, Any]:
        call = await self._mine(staff_id, call_id)
        values: dict[str, Any] = {"ended_at": now}
        if note:
            values["note"] = note.strip()[:4000]
        call = await self.store.move(call.id, Move.END, actor=(staff_id, "staff"), now=now,
                                     judge_status=DutyStatus.AVAILABLE, **values)
        if call.room_id and self.recorder is not None and self.recorder.is_recording(call.room_id):
            await self.recorder.stop(call.room_id, staff_id)
        if call.room_id and self.rules is not None:
            await self.rules.end(call.room_id, "the judge ended the call")
        return _call_out(call, now)

    async def stats(self, now: datetime, since: datetime | None = None,
                    until: datetime | None = None) -> dict[str, Any]:
        out = call_stats(await self.store.facts(), now, since, until)
        names = {st.id: st.name for st in await self.store.list_stations()}
        for station_id, figures in out["by_station"].items():  # type: ignore[attr-defined]
            figures["name"] = names.get(station_id, "")  # pages show names, never ids
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _call_out(call: Call, now: datetime) -> dict[str, Any]:
    """What the pages see of a call: codes and times, no personal data (added where a judge needs it)."""
    return {
        "id": call.id, "state": call.state.value, "reason": call.reason, "category": call.category,
        "summary": call.summary, "court_code": call.court_code, "station_id": call.station_id,
        "verification_method": call.verification_method, "requested_at": call.requested_at.isoformat(),
        "waited_seconds": round(waited(call.queued_at, call.accepted_at or now), 1)
        if call.state in (CallState.WAITING, CallState.IN_CALL, CallState.ENDED) else None,
        "accepted_at": call.accepted_at.isoformat() if call.accepted_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "requeues": call.requeues, "recorded": call.recorded, "note": call.note,
        "callback_at": call.callback_at.isoformat() if call.callback_at else None,
        "outcome_kind": call.outcome_kind, "outcome_ref": call.outcome_ref,
        "message_left": call.message_clip_id is not None,
        "message_heard_at": call.message_heard_at.isoformat() if call.message_heard_at else None,
    }
