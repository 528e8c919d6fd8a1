"""Refusals of the stations service: an HTTP status, a stable code (translated in web/js/i18n.js), a sentence."""

from __future__ import annotations

from signaling.call_room import CallRefusal as CallRefusal  # moved to the shared call-room rules


class StationsRefused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def link_unknown() -> StationsRefused:
    return StationsRefused(401, "station_link_unknown", "this station link is not known; ask the court for a new one")


def link_revoked() -> StationsRefused:
    return StationsRefused(401, "station_link_revoked",
                           "this station's device link was withdrawn by the court; ask the court for a new one")


def call_not_found(call_id: str) -> StationsRefused:
    return StationsRefused(404, "call_not_found", f"no call {call_id!r} here", call_id=call_id)


def message_clip_unknown(clip_id: str) -> StationsRefused:
    return StationsRefused(409, "message_clip_unknown",
                           "this recording was not uploaded from this station for a message; record it again",
                           clip_id=clip_id)


def message_left_already() -> StationsRefused:
    return StationsRefused(409, "message_left_already", "a message was already left for this call")


def wrong_state(state: str, move: str) -> StationsRefused:
    code = "call_taken" if move == "accept" else "call_state"
    message = ("another judge accepted this call first" if move == "accept"
               else f"the call is {state}: it cannot {move.replace('_', ' ')} now")
    return StationsRefused(409, code, message, state=state)
