"""Which rules govern a signalling room: a call room has its own (signaling.call_room: connect-a-judge calls of
stations/, a petition's video call of petitions/calls.py), every other room is a hearing's (hearing.courtroom). The
hub takes one `RoomRules` and one join policy; these two small dispatchers choose by the room id's prefix, so neither
hearing/, stations/ nor petitions/ knows of the others."""

from __future__ import annotations

from collections.abc import Callable

from signaling.hub import JoinPolicy, RoomRules, SessionInfo
from signaling.protocol import Error, ModerationMessage, Place
from signaling.tokens import JoinClaims

RoomTest = Callable[[str], bool]


class RoomRulesByRoom:
    def __init__(self, hearings: RoomRules, *routes: tuple[RoomTest, RoomRules]) -> None:
        self.hearings = hearings
        self.routes = list(routes)

    def route(self, test: RoomTest, rules: RoomRules) -> None:
        """Rooms passing `test` follow `rules` (replacing an earlier route of the same test)."""
        self.routes = [(t, r) for t, r in self.routes if t is not test] + [(test, rules)]

    def _for(self, room_id: str) -> RoomRules:
        return next((rules for test, rules in self.routes if test(room_id)), self.hearings)

    async def on_join(self, claims: JoinClaims) -> Place:
        return await self._for(claims.room_id).on_join(claims)

    async def on_connected(self, session: SessionInfo, place: Place, resumed: bool) -> None:
        await self._for(session.room_id).on_connected(session, place, resumed)

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        return await self._for(session.room_id).handle(session, msg)


class JoinPolicyByRoom:
    def __init__(self, hearings: JoinPolicy, *routes: tuple[RoomTest, JoinPolicy]) -> None:
        self.hearings = hearings
        self.routes = list(routes)

    def route(self, test: RoomTest, policy: JoinPolicy) -> None:
        self.routes = [(t, p) for t, p in self.routes if t is not test] + [(test, policy)]

    def __call__(self, claims: JoinClaims) -> str | None:
        policy = next((p for test, p in self.routes if test(claims.room_id)), self.hearings)
        return policy(claims)
