"""When a hearing is recorded: the procedure decides, the room recorder carries it out.

Trials, interviews, arraignments and asynchronous trials are recorded in full (`Hearing.recorded`): recording
starts when the session opens, pauses for a recess (a manifest entry with the reason and who called it), resumes
with the session and stops when the hearing closes. Private rooms are separate rooms and never recorded. After a
restart mid-session, the first participant back in the room resumes the recording (the manifest continues).
"""

from __future__ import annotations

import logging

from docket.court import Hearing, HearingKind
from hearing.kinds import ProcedureState
from hearing.policy import Action, allowed
from hearing.procedure_service import Applied
from hearing.roles import Role
from recordings.room_recorder import RoomRecorder

log = logging.getLogger("hearing.recording")

S = ProcedureState


def recorded_in_full(kind: HearingKind | str) -> bool:
    """Kinds nobody may pause (hearing.policy grants start_pause_recording to no role): the procedure drives them.

    In the others (mediation, deliberation) the recording runs only when someone entitled starts it.
    """
    return not any(Action.START_PAUSE_RECORDING in allowed(r, kind, s) for r in Role for s in ProcedureState)


class RecordingControl:
    def __init__(self, recorder: RoomRecorder) -> None:
        self.recorder = recorder

    def is_recording(self, hearing: Hearing) -> bool:
        return hearing.room_id is not None and self.recorder.is_recording(hearing.room_id)

    async def on_procedure(self, applied: Applied) -> None:
        """A procedure listener: follow the hearing's state."""
        hearing, actor = applied.hearing, applied.audit.actor_id
        if hearing.room_id is None:
            return
        room = hearing.room_id
        if hearing.state in (S.CLOSED, S.RECORD_SEALED):
            await self.recorder.stop(room, actor)
            return
        if not hearing.recorded or not recorded_in_full(hearing.kind):
            if hearing.state == S.RECESS:
                self.recorder.pause(room, "recess", actor)
            return
        if hearing.state == S.IN_SESSION:
            if room in self.recorder.sessions:
                self.recorder.resume(room, applied.moved.transition.value, actor)
            else:
                await self.recorder.start(room, hearing.id, actor)
        elif hearing.state == S.RECESS:
            self.recorder.pause(room, "recess", actor)

    async def set(self, hearing: Hearing, on: bool, reason: str, actor_id: str) -> None:
        """Someone entitled starts or pauses the recording (the caller checked the policy)."""
        assert hearing.room_id is not None
        if on:
            await self.recorder.start(hearing.room_id, hearing.id, actor_id)
        else:
            self.recorder.pause(hearing.room_id, reason or "paused by the court", actor_id)

    async def ensure(self, hearing: Hearing) -> None:
        """A hearing in session must be recording (e.g. after a restart of this process)."""
        if hearing.room_id is None or not hearing.recorded or hearing.state != S.IN_SESSION \
                or not recorded_in_full(hearing.kind):
            return
        if hearing.room_id not in self.recorder.sessions:
            log.info("resuming the recording of a hearing in session", extra={"hearing": hearing.id})
            await self.recorder.start(hearing.room_id, hearing.id, "system")
