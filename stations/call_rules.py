"""The rules of a connect-a-judge call room: the shared call-room rules (signaling.call_room) over stations' calls.

Only the judge (or mediator) who accepted the call — or a second judge they invited — moderates: starting or
stopping the recording and removing someone. Joining needs a join token for the room's call while the call is live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from signaling.call_room import CALL_KIND, CallRoomRules, LiveCall, grants_policy
from signaling.hub import SessionInfo, SignalingHub
from stations.store_sql import Call, SqlStations
from stations.vocab import CallRole, CallState

__all__ = ["CALL_KIND", "GRANTS", "LIVE", "MODERATORS", "CallRules", "is_call_room", "join_policy",
           "judge_participant", "room_of"]

ROOM_PREFIX = "call-"
LIVE = frozenset({CallState.IN_CALL, CallState.INTERRUPTED})
MODERATORS = frozenset({CallRole.JUDGE.value, CallRole.MEDIATOR.value})
GRANTS: dict[str, frozenset[str]] = {
    CallRole.JUDGE.value: frozenset({"publish", "subscribe", "moderate"}),
    CallRole.MEDIATOR.value: frozenset({"publish", "subscribe", "moderate"}),
    CallRole.INTERPRETER.value: frozenset({"publish", "subscribe"}),
    CallRole.STATION_OPERATOR.value: frozenset({"publish", "subscribe"}),
    CallRole.CALLER.value: frozenset({"publish", "subscribe"}),
}
join_policy = grants_policy(GRANTS)
"""None to admit to a call room, else why not (the hub's JoinPolicy for call rooms)."""


def is_call_room(room_id: str) -> bool:
    return room_id.startswith(ROOM_PREFIX)


def room_of(call_id: str) -> str:
    return ROOM_PREFIX + call_id


def judge_participant(staff_id: str) -> str:
    """The accepting judge's participant id in the room (stable, so presence tells whether they are there)."""
    return f"judge_{staff_id}"


RecordingSwitch = Callable[[Call, str, bool], Awaitable[Call]]
"""(call, actor participant id, on) → the call afterwards: the service starts/stops the recorder and audits."""


class CallRules(CallRoomRules):
    def __init__(self, hub: SignalingHub, store: SqlStations, *, is_recording: Callable[[str], bool],
                 switch_recording: RecordingSwitch | None = None) -> None:
        self.store = store

        async def find(room_id: str) -> LiveCall | None:
            call = await store.find_by_room(room_id)
            return None if call is None else LiveCall(call.id, call.state.value, call.state in LIVE)

        async def connected(live: LiveCall, session: SessionInfo) -> None:
            call = await store.get_call(live.id)
            if call.accepted_by is not None and session.participant_id == judge_participant(call.accepted_by):
                await store.judge_joined(call.id, datetime.now(UTC))

        async def switch(call_id: str, actor: str, on: bool) -> None:
            assert switch_recording is not None
            await switch_recording(await store.get_call(call_id), actor, on)

        super().__init__(hub, find=find, moderators=MODERATORS, is_recording=is_recording,
                         switch_recording=switch if switch_recording is not None else None, connected=connected)
