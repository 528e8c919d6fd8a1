"""When a hearing is recorded: the procedure decides, the room recorder carries it out.

Trials, interviews, arraignments and asynchronous trials are recorded in full (`Hearing.recorded`): recording
starts when the session opens, pauses for a recess (a manifest entry with the reason and who called it), resumes
with the session and stops when the hearing closes. Private rooms are separate rooms and never recorded. After a
restart mid-session, the first participant back in the room resumes the recording (the manifest continues).
"""

from __future__ import annotations

import logging

from docket.court import Hearing
from hearing.kinds import ProcedureState
from hearing.procedure_service import Applied
from recordings.room_recorder import RoomRecorder

log = logging.getLogger("hearing.recording")

S = ProcedureState


class RecordingControl:
    def __init__(self, recorder: RoomRecorder) -> None:
        self.recorder = recorder

    def is_recording(self, hearing: Hearing) -> bool:
        return hearing.room_id is not None and self.recorder.is_recording(hearing.room_id)

    async def on_procedure(self, applied: Applied) -> None:
        """A procedure listener: follow the hearing's state."""
        hearing, actor = applied.hearing, applied.audit.actor_id
        if hearing.room_id is None or not hearing.recorded:
            return
        room = hearing.room_id
        if hearing.state == S.IN_SESSION:
            if room in self.recorder.sessions:
                self.recorder.resume(room, applied.moved.transition.value, actor)
            else:
                await self.recorder.start(room, hearing.id, actor)
        elif hearing.state == S.RECESS:
            self.recorder.pause(room, "recess", actor)
        elif hearing.state in (S.CLOSED, S.RECORD_SEALED):
            await self.recorder.stop(room, actor)

    async def ensure(self, hearing: Hearing) -> None:
        """A hearing in session must be recording (e.g. after a restart of this process)."""
        if hearing.room_id is None or not hearing.recorded or hearing.state != S.IN_SESSION:
            return
        if hearing.room_id not in self.recorder.sessions:
            log.info("resuming the recording of a hearing in session", extra={"hearing": hearing.id})
            await self.recorder.start(hearing.room_id, hearing.id, "system")
