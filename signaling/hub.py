"""The signalling hub: admits connections, keeps each participant's place, fans room events out via the bus.

One hub per server process. Every room event goes through the bus (in-process or Redis) and comes back
to each process's local connections, so a room spread over several instances behaves like one room.
A dropped connection keeps its place for the grace window; `resume` with the resume token takes it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from signaling.bus import Event, Member, RoomBus, Subscription, SubscriptionClosed
from signaling.closecodes import CloseCode
from signaling.metrics import SignalingMetrics
from signaling.placement import Route
from signaling.protocol import (
    MODERATION_MESSAGES,
    Answer,
    ConnectionState,
    Error,
    ErrorCode,
    HubRefusal,
    IceCandidate,
    Join,
    Joined,
    Leave,
    LeaveReason,
    MediaKind,
    ModerationMessage,
    Mute,
    MuteState,
    Offer,
    Participant,
    ParticipantConnection,
    ParticipantJoined,
    ParticipantLeft,
    Permissions,
    Ping,
    Place,
    Placed,
    Pong,
    ProtocolError,
    Redirect,
    Resume,
    SetSubscription,
    parse_client_message,
)
from signaling.ratelimit import TokenBucket
from signaling.tokens import JoinClaims, TokenError, TokenService, new_id
from signaling.turn_credentials import TurnRest, ice_servers_for

log = logging.getLogger("hearing.signaling")

JoinPolicy = Callable[[JoinClaims], str | None]
"""Court rules decide admission: returns None to admit or a reason to refuse (handed in by hearing/)."""
RevocationCheck = Callable[[str], Awaitable[bool]]


class ConnectionClosed(Exception):
    """The peer went away."""


class Connection(Protocol):
    """What the hub needs from a WebSocket; the FastAPI edge adapts Starlette's to this."""

    async def receive(self) -> str | bytes: ...

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class RoomRouter(Protocol):
    """Where a room's media lives (signaling/node_registry.py over Redis)."""

    async def route(self, room_id: str) -> Route: ...

    async def release(self, room_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionInfo:
    room_id: str
    participant_id: str
    session_id: str
    role: str
    grants: frozenset[str]


MediaMessage = Offer | Answer | IceCandidate | SetSubscription

# Who receives a broadcast: everyone in the room (the lobby does not see the room), court staff only (those
# holding the "moderate" grant: they see who waits), the room without staff, or everyone connected.
Audience = Literal["room", "staff", "parties", "everyone"]


@dataclass(frozen=True, slots=True)
class MediaPermissions:
    """What a participant's media may do now, set by the room's rules (procedure state, a moderator's mute).

    The media plane enforces it (withheld media is not forwarded), so a client that ignores the rules is
    simply not heard or seen.
    """

    send_audio: bool = True
    send_video: bool = True
    receive: bool = True
    # The publisher's announced screen (`screen-share`): that video m-line is gated by `send_screen`, not the camera's.
    screen_mid: str | None = None
    send_screen: bool = True


NO_MEDIA = MediaPermissions(False, False, False)


def media_permissions(member: Member) -> MediaPermissions:
    """From a presence record: its place, the actions the rules allow (None = no restriction) and held media."""
    if member.get("place", Place.ROOM.value) != Place.ROOM.value:
        return NO_MEDIA
    actions = member.get("actions")
    held = member.get("held") or ()

    def ok(action: str) -> bool:
        return actions is None or action in actions

    screen = member.get("screen")
    return MediaPermissions(ok("publish_audio") and "audio" not in held,
                            ok("publish_video") and "video" not in held, ok("subscribe"),
                            screen_mid=str(screen) if screen else None, send_screen=bool(screen) and ok("share_screen"))


class MediaSignals(Protocol):
    """The media plane's side of signalling: offer/answer/ICE and subscription control.

    A dropped WebSocket does not end a participant's media (it may resume within the grace window);
    `participant_left` is called once the place is really gone (leave, grace expiry, removal).
    """

    async def handle(self, session: SessionInfo, msg: MediaMessage) -> None: ...

    async def participant_left(self, room_id: str, participant_id: str) -> None: ...

    def set_permissions(self, room_id: str, participant_id: str, permissions: MediaPermissions) -> None: ...


class RoomRules(Protocol):
    """The court's rules for a room, handed in by hearing/ (signalling knows no court rules).

    The rules decide where a newcomer goes (lobby or room), what each participant may do (`set_actions`),
    and carry out moderation requests through the hub's operations (`place`, `remove`, `hold`, ...).
    """

    async def on_join(self, claims: JoinClaims) -> Place:
        """Where the participant starts; raise TokenError to refuse (denied, removed, a locked room...)."""
        ...

    async def on_connected(self, session: SessionInfo, place: Place, resumed: bool) -> None:
        """The participant is connected: tell them the room's state and their permissions."""
        ...

    async def handle(self, session: SessionInfo, msg: ModerationMessage) -> Error | None:
        """A moderation request: None when carried out, else the error for the sender."""
        ...


@dataclass(slots=True)
class SignalingConfig:
    max_message_bytes: int = 65536
    rate_per_second: float = 20.0
    rate_burst: int = 60
    idle_timeout: float = 60.0
    join_timeout: float = 10.0
    resume_grace: float = 30.0
    resume_token_ttl: int = 12 * 3600
    outbox_limit: int = 512
    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    # TURN with time-limited credentials: each participant gets its own, expiring with its join link.
    turn: TurnRest | None = None


def _wire(msg: BaseModel) -> dict[str, Any]:
    return msg.model_dump(mode="json", by_alias=True)


class _Client:
    """One local connection: an outbox drained by its own writer, so a slow peer never stalls the room."""

    def __init__(self, conn: Connection, conn_id: str, limit: int, metrics: SignalingMetrics) -> None:
        self.conn = conn
        self.conn_id = conn_id
        self.participant_id = ""
        self.place = Place.ROOM.value
        self.staff = False
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(limit)
        self.ready = False
        self.early: list[str] = []
        self.kicked: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self._metrics = metrics
        self._writer: asyncio.Task[None] | None = None

    def start(self, first: str) -> None:
        """Send `joined` first, then anything that arrived for the room while admission was in progress."""
        self.ready = True
        self.outbox.put_nowait(first)
        for text in self.early:
            self.deliver(text)
        self.early.clear()
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.conn_id}")

    def deliver(self, text: str) -> None:
        if not self.ready:
            self.early.append(text)
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.kick(CloseCode.TOO_SLOW, "connection too slow to keep up; reconnecting")

    def send_now(self, msg: BaseModel) -> None:
        self.deliver(json.dumps(_wire(msg), ensure_ascii=False))

    def kick(self, code: int, reason: str) -> None:
        if self.kicked is None:
            self.kicked = (code, reason)
            self.closed.set()

    async def _write(self) -> None:
        try:
            while True:
                text = await self.outbox.get()
                if text is None:
                    return
                await self.conn.send(text)
                self._metrics.messages.labels("out", _type_of(text)).inc()
        except (ConnectionClosed, OSError, RuntimeError):
            self.closed.set()

    async def discard(self) -> None:
        """The connection is over: end the writer now (a dropped peer's writer would wait on its outbox forever,
        and be reported as "Task was destroyed but it is pending" when collected)."""
        writer, self._writer = self._writer, None
        if writer is None or writer.done():
            return
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer

    async def flush_and_stop(self, grace: float = 2.0) -> None:
        if self._writer is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), grace)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()
        except Exception:  # the writer already recorded the failure by setting `closed`
            pass


def _type_of(text: str) -> str:
    # Cheap label for metrics without re-parsing: messages start with {"type":"..."
    start = text.find('"type":"')
    if start < 0:
        return "unknown"
    end = text.find('"', start + 8)
    return text[start + 8 : end][:32]


class _LocalRoom:
    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self.clients: dict[str, _Client] = {}
        self.sub: Subscription | None = None
        self.pump: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.users = 0


class SignalingHub:
    def __init__(
        self,
        bus: RoomBus,
        tokens: TokenService,
        config: SignalingConfig,
        *,
        join_policy: JoinPolicy,
        is_revoked: RevocationCheck,
        metrics: SignalingMetrics | None = None,
        media: MediaSignals | None = None,
        rules: RoomRules | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.tokens = tokens
        self.config = config
        self.join_policy = join_policy
        self.is_revoked = is_revoked
        self.metrics = metrics or SignalingMetrics()
        self.media = media
        self.rules = rules
        self._clock = clock
        self._rooms: dict[str, _LocalRoom] = {}
        self._grace: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._empty = asyncio.Event()
        self._empty.set()
        self.bus.on_members_lost(self._members_lost)  # a dead instance's participants: no ghosts
        self.router: RoomRouter | None = None  # several media nodes: where each room's media lives
        # Members are tagged with the instance holding their connection (whoever writes the record later, e.g.
        # the judge's instance admitting them), so they are reaped when that instance dies.
        self.node_id: str = str(getattr(bus, "instance_id", "local"))

    async def _members_lost(self, room_id: str, participant_id: str, member: Member) -> None:
        """The bus removed a member whose server instance died: everyone else is told they left."""
        await self.broadcast(room_id, ParticipantLeft(participant_id=participant_id, reason=LeaveReason.TIMEOUT),
                             participant_id, audience=_audience_of(member))
        await self.bus.publish(room_id, {"kind": "release", "id": participant_id})
        log.info("participant's server instance died; place released",
                 extra={"room": room_id, "participant": participant_id})

    # ---- public -------------------------------------------------------------------------------------------

    async def serve(self, conn: Connection, room_id: str) -> None:
        """Run one connection from its first message to its end. Never raises on client input."""
        conn_id = new_id("c")
        self.metrics.connections.inc()
        try:
            await self._serve(conn, conn_id, room_id)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("signalling connection failed", extra={"room": room_id, "conn": conn_id})
            await self._close(conn, CloseCode.INTERNAL_ERROR, "server error; reconnecting")
        finally:
            self.metrics.connections.dec()

    async def send_to(self, room_id: str, participant_id: str, msg: BaseModel) -> None:
        """Direct a message to one participant wherever it is connected (used by the media plane)."""
        await self.bus.publish(room_id, {"kind": "msg", "to": participant_id, "msg": _wire(msg)})

    async def broadcast(self, room_id: str, msg: BaseModel, exclude: str | None = None,
                        audience: Audience = "room") -> None:
        await self.bus.publish(room_id, {"kind": "msg", "exclude": exclude, "audience": audience, "msg": _wire(msg)})

    async def members(self, room_id: str) -> dict[str, Member]:
        return await self.bus.members(room_id)

    # ---- operations for the room's rules ------------------------------------------------------------------

    async def update_member(self, room_id: str, participant_id: str, **changes: Any) -> Member | None:
        """Change a presence record and tell every instance (which re-applies media permissions); None if gone."""
        current = (await self.bus.members(room_id)).get(participant_id)
        if current is None:
            return None
        updated = {**current, **changes}
        await self.bus.set_member(room_id, participant_id, updated)
        await self.bus.publish(room_id, {"kind": "member", "id": participant_id, "member": updated})
        return updated

    async def set_actions(self, room_id: str, participant_id: str, actions: list[str] | None,
                          transitions: list[str] | None = None) -> Member | None:
        """What the participant may do now (None = no restriction); sends them `permissions`."""
        member = await self.update_member(room_id, participant_id,
                                          actions=None if actions is None else sorted(actions))
        if member is not None:
            shown = actions if actions is not None else [a for a in ("publish_audio", "publish_video", "subscribe")
                                                         if _grant_for(a) in member.get("grants", ())]
            await self.send_to(room_id, participant_id, Permissions(
                place=Place(member.get("place", Place.ROOM.value)), actions=sorted(shown),
                transitions=sorted(transitions or [])))
        return member

    async def place(self, room_id: str, participant_id: str, place: Place, reason: str = "") -> Member | None:
        """Move a participant between the lobby and the room; leaving the room ends their media."""
        member = await self.update_member(room_id, participant_id, place=place.value)
        if member is None:
            return None
        staff = "moderate" in member.get("grants", ())
        others = [] if place is not Place.ROOM else [
            _participant(m) for k, m in sorted((await self.bus.members(room_id)).items())
            if k != participant_id and _visible(m, to_staff=staff, to_lobby=False)]
        await self.send_to(room_id, participant_id, Placed(place=place, reason=reason, participants=others))
        shown = ParticipantJoined(participant=_participant(member))
        if place is Place.ROOM:
            await self.broadcast(room_id, shown, participant_id, audience="room")
        elif place is Place.PRIVATE:  # still one of the room, away for now: everyone sees where they are
            await self.broadcast(room_id, shown, participant_id, audience="room")
            await self.bus.publish(room_id, {"kind": "release", "id": participant_id})
        else:
            await self.broadcast(room_id, ParticipantLeft(participant_id=participant_id, reason=LeaveReason.LOBBY),
                                 participant_id, audience="parties")
            await self.broadcast(room_id, shown, participant_id, audience="staff")
            await self.bus.publish(room_id, {"kind": "release", "id": participant_id})
        return member

    async def end_sessions_of_token(self, room_id: str, jti: str, message: str) -> int:
        """A withdrawn link also ends the session it opened (not just future joins); returns how many ended."""
        ended = 0
        for pid, member in (await self.bus.members(room_id)).items():
            if member.get("jti") == jti and await self.remove(room_id, pid, LeaveReason.REMOVED, message,
                                                              code=CloseCode.TOKEN_REVOKED):
                ended += 1
        return ended

    async def hold(self, room_id: str, participant_id: str, kind: MediaKind) -> Member | None:
        """A moderator's mute: the media is withheld until the participant unmutes themselves."""
        current = (await self.bus.members(room_id)).get(participant_id)
        if current is None:
            return None
        held = sorted(set(current.get("held") or ()) | {kind.value})
        key = "audio_muted" if kind == MediaKind.AUDIO else "video_muted"
        member = await self.update_member(room_id, participant_id, held=held, **{key: True})
        if member is not None:
            await self.broadcast(room_id, MuteState(participant_id=participant_id, audio_muted=member["audio_muted"],
                                                    video_muted=member["video_muted"]),
                                 audience=_audience_of(member))
        return member

    async def remove(self, room_id: str, participant_id: str, reason: LeaveReason, message: str,
                     code: CloseCode = CloseCode.REMOVED) -> bool:
        """End a participant's place (removed, denied; a private room closed): close their connection, free media."""
        current = (await self.bus.members(room_id)).get(participant_id)
        if current is None:
            return False
        await self.bus.remove_member(room_id, participant_id)
        await self.bus.publish(room_id, {"kind": "kick", "conn": current.get("conn"), "code": int(code),
                                         "reason": message})
        await self.broadcast(room_id, ParticipantLeft(participant_id=participant_id, reason=reason),
                             audience=_audience_of(current))
        await self.bus.publish(room_id, {"kind": "release", "id": participant_id})
        log.info("participant removed", extra={"room": room_id, "participant": participant_id})
        return True

    async def close(self) -> None:
        """Shutdown: tell every local client to come back (1001), keep their places for the grace window."""
        self._closing = True
        for room in list(self._rooms.values()):
            for client in list(room.clients.values()):
                client.kick(CloseCode.GOING_AWAY, "server restarting; reconnecting")
        for task in list(self._grace.values()):
            task.cancel()
        if self._rooms:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), 5)
        for room in list(self._rooms.values()):
            await self._release_room(room, force=True)

    def local_rooms(self) -> int:
        return len(self._rooms)

    async def wait_idle(self) -> None:
        """Return once no room has a participant on this instance (a draining node waits for this)."""
        await self._empty.wait()

    # ---- admission ----------------------------------------------------------------------------------------

    async def _serve(self, conn: Connection, conn_id: str, room_id: str) -> None:
        if self._closing:
            await self._close(conn, CloseCode.GOING_AWAY, "server restarting; try again")
            return
        try:
            first = await asyncio.wait_for(conn.receive(), self.config.join_timeout)
        except TimeoutError:
            await self._refuse(conn, CloseCode.PROTOCOL, ErrorCode.BAD_MESSAGE, "no join message received in time")
            return
        msg = parse_client_message(first, self.config.max_message_bytes)
        if isinstance(msg, ProtocolError):
            code = CloseCode.UNSUPPORTED_VERSION if msg.code == ErrorCode.UNSUPPORTED_VERSION else CloseCode.PROTOCOL
            await self._refuse(conn, code, msg.code, msg.message)
            return
        if not isinstance(msg, Join | Resume):
            await self._refuse(conn, CloseCode.PROTOCOL, ErrorCode.NOT_JOINED,
                               "the first message must be join or resume")
            return
        self.metrics.messages.labels("in", msg.type).inc()
        if self.router is not None and (url := await self._moved_to(msg, room_id)):
            with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
                await conn.send(json.dumps(_wire(Redirect(url=url))))
            await self._close(conn, CloseCode.MOVED, "this room is served by another node")
            return
        try:
            admitted = await (self._admit_join(msg, room_id, conn_id) if isinstance(msg, Join)
                              else self._admit_resume(msg, room_id, conn_id))
        except TokenError as exc:
            self.metrics.joins.labels(f"refused_{exc.code}").inc()
            log.info("join refused", extra={"room": room_id, "conn": conn_id, "close_code": int(exc.code)})
            await self._refuse(conn, exc.code, ErrorCode.TOKEN_REFUSED, exc.reason)
            return
        member, resumed, replaced_conn, jti = admitted
        await self._run_session(conn, conn_id, room_id, member, resumed, replaced_conn, jti)

    async def _moved_to(self, msg: Join | Resume, room_id: str) -> str | None:
        """The owner node's URL when the room's media lives elsewhere; None to serve here. Only a valid token
        learns where a room lives; a bad one is refused by admission as usual."""
        assert self.router is not None
        try:
            if isinstance(msg, Join):
                self.tokens.verify_join(msg.token, room_id)
            else:
                self.tokens.verify_resume(msg.resume_token, room_id)
        except TokenError:
            return None
        decision = await self.router.route(room_id)
        return decision.url if decision.action == "redirect" else None

    async def _admit_join(self, msg: Join, room_id: str, conn_id: str) -> tuple[Member, bool, str | None, str]:
        claims = self.tokens.verify_join(msg.token, room_id)
        if await self.is_revoked(claims.jti):
            raise TokenError(CloseCode.TOKEN_REVOKED, "this link has been withdrawn by the court")
        refusal = self.join_policy(claims)
        if refusal is not None:
            raise TokenError(CloseCode.FORBIDDEN, refusal)
        place = Place.ROOM if self.rules is None else await self.rules.on_join(claims)
        existing = (await self.bus.members(room_id)).get(claims.participant_id)
        member: Member = {
            **_wire(Participant(id=claims.participant_id, name=claims.name, role=claims.role,
                                grants=sorted(claims.grants), place=place)),
            "sid": new_id("s"),
            "conn": conn_id,
            "jti": claims.jti,
            "link_exp": claims.expires_at,  # the TURN credential expires with the link
            "node": self.node_id,
        }
        replaced = existing.get("conn") if existing else None
        return member, False, replaced, claims.jti

    async def _admit_resume(self, msg: Resume, room_id: str, conn_id: str) -> tuple[Member, bool, str | None, str]:
        rc = self.tokens.verify_resume(msg.resume_token, room_id)
        existing = (await self.bus.members(room_id)).get(rc.participant_id)
        if existing is None:
            # Its server instance died (others were told it left): its place, admission included, is kept for
            # the grace window, and this resume on a live instance takes it back as a fresh arrival.
            lost = await self.bus.take_lost(room_id, rc.participant_id)
            if lost is not None and lost.get("sid") == rc.session_id:
                if await self.is_revoked(rc.join_jti):
                    raise TokenError(CloseCode.TOKEN_REVOKED, "this link has been withdrawn by the court")
                member = {**lost, "conn": conn_id, "connection": ConnectionState.CONNECTED.value,
                          "node": self.node_id}
                member.pop("away_since", None)
                return member, False, None, rc.join_jti
        if existing is None or existing.get("sid") != rc.session_id:
            raise TokenError(CloseCode.RESUME_FAILED, "the session has ended; join again with your link")
        if await self.is_revoked(rc.join_jti):
            raise TokenError(CloseCode.TOKEN_REVOKED, "this link has been withdrawn by the court")
        member = {**existing, "conn": conn_id, "connection": ConnectionState.CONNECTED.value,
                  "node": self.node_id}
        member.pop("away_since", None)
        return member, True, existing.get("conn"), rc.join_jti

    # ---- a session ----------------------------------------------------------------------------------------

    async def _run_session(self, conn: Connection, conn_id: str, room_id: str, member: Member,
                           resumed: bool, replaced_conn: str | None, jti: str) -> None:
        pid = member["id"]
        client = _Client(conn, conn_id, self.config.outbox_limit, self.metrics)
        client.participant_id = pid
        client.place = member.get("place", Place.ROOM.value)
        client.staff = "moderate" in member.get("grants", ())
        room = await self._join_room(room_id)
        room.clients[conn_id] = client
        grace = self._grace.pop((room_id, pid), None)
        if grace is not None:
            grace.cancel()
        try:
            await self.bus.set_member(room_id, pid, member)
            if replaced_conn and replaced_conn != conn_id:
                reason = "you joined again from another window or device"
                await self.bus.publish(room_id, {"kind": "kick", "conn": replaced_conn,
                                                 "code": int(CloseCode.REPLACED), "reason": reason})
            audience = _audience_of(member)
            if resumed:
                await self.broadcast(room_id, ParticipantConnection(participant_id=pid,
                                                                    connection=ConnectionState.CONNECTED), pid,
                                     audience=audience)
            else:
                await self.broadcast(room_id, ParticipantJoined(participant=_participant(member)), pid,
                                     audience=audience)
            members = await self.bus.members(room_id)
            self.metrics.joins.labels("resumed" if resumed else "joined").inc()
            log.info("participant admitted",
                     extra={"room": room_id, "participant": pid, "conn": conn_id, "resumed": resumed})
            session = SessionInfo(room_id, pid, member["sid"], member["role"], frozenset(member["grants"]))
            resume_token = self.tokens.issue_resume(participant_id=pid, room_id=room_id, session_id=member["sid"],
                                                    join_jti=jti, ttl_seconds=self.config.resume_token_ttl)
            joined = Joined(
                room_id=room_id,
                participant=_participant(member),
                participants=[_participant(m) for k, m in sorted(members.items())
                              if k != pid and _visible(m, to_staff=client.staff, to_lobby=client.place != "room")],
                resume_token=resume_token,
                resume_grace_seconds=self.config.resume_grace,
                ice_servers=ice_servers_for(self.config.ice_servers, self.config.turn, pid, member.get("link_exp")),
                resumed=resumed,
            )
            client.start(json.dumps(_wire(joined), ensure_ascii=False))
            self._apply_media(room_id, pid, member)
            if self.rules is not None:
                await self.rules.on_connected(session, Place(client.place), resumed)
            left = await self._message_loop(client, session, member)
        finally:
            room.clients.pop(conn_id, None)
            await client.discard()
            await self._release_room(room)
        await self._after_session(client, room_id, member, left)

    async def _message_loop(self, client: _Client, session: SessionInfo, member: Member) -> bool:
        """Returns True when the participant left on purpose, False when the link dropped."""
        bucket = TokenBucket(self.config.rate_per_second, self.config.rate_burst)
        strikes = 0
        closed_wait = asyncio.create_task(client.closed.wait())
        recv: asyncio.Task[str | bytes] | None = None
        try:
            while True:
                recv = asyncio.create_task(client.conn.receive())
                done, _ = await asyncio.wait({recv, closed_wait}, timeout=self.config.idle_timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    recv.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                        await recv
                    if client.kicked is None and not done:
                        client.kick(CloseCode.IDLE_TIMEOUT, f"no message for {self.config.idle_timeout:g} s")
                    if client.kicked is None:  # writer failed: the socket is gone
                        return False
                    code, reason = client.kicked
                    await client.flush_and_stop()
                    await self._close(client.conn, code, reason)
                    return False
                try:
                    raw = recv.result()
                except ConnectionClosed:
                    return False
                if not bucket.allow(self._clock()):
                    strikes += 1
                    if strikes > self.config.rate_burst:
                        client.kick(CloseCode.RATE_LIMITED, "too many messages; slow down and reconnect")
                        continue
                    self._error(client, ErrorCode.RATE_LIMITED, "too many messages; this one was dropped")
                    continue
                # An allowed message pays one strike back (not all): a flood the server drains slower than the
                # refill rate (a busy loop) still adds up to the close, instead of being forgiven at every refill.
                strikes = max(0, strikes - 1)
                msg = parse_client_message(raw, self.config.max_message_bytes)
                if isinstance(msg, ProtocolError):
                    self._error(client, msg.code, msg.message)
                    continue
                self.metrics.messages.labels("in", msg.type).inc()
                if isinstance(msg, Leave):
                    await self._close_after_flush(client, CloseCode.NORMAL, "left the hearing")
                    return True
                await self._dispatch(client, session, member, msg)
        finally:
            closed_wait.cancel()
            if recv is not None and not recv.done():  # cancelled from outside (shutdown): leave nothing pending
                recv.cancel()

    async def _dispatch(self, client: _Client, session: SessionInfo, member: Member, msg: object) -> None:
        if isinstance(msg, Ping):
            client.send_now(Pong(id=msg.id))
        elif isinstance(msg, Pong):
            return
        elif isinstance(msg, Mute):
            current = (await self.bus.members(session.room_id)).get(session.participant_id) or member
            key = "audio_muted" if msg.kind == MediaKind.AUDIO else "video_muted"
            changes: dict[str, Any] = {key: msg.muted}
            if not msg.muted:  # unmuting yourself lifts a moderator's hold on that medium
                changes["held"] = sorted(set(current.get("held") or ()) - {msg.kind.value})
            updated = await self.update_member(session.room_id, session.participant_id, **changes) or current
            await self.broadcast(session.room_id, MuteState(participant_id=session.participant_id,
                                                            audio_muted=updated["audio_muted"],
                                                            video_muted=updated["video_muted"]),
                                 audience=_audience_of(updated))
        elif isinstance(msg, Offer | Answer | IceCandidate | SetSubscription):
            if client.place != Place.ROOM.value:
                self._error(client, ErrorCode.FORBIDDEN,
                            "you are waiting in the lobby; your camera and microphone connect once the court "
                            "lets you in", reason=HubRefusal.WAITING_IN_LOBBY)
            elif self.media is None:
                self._error(client, ErrorCode.MEDIA_UNAVAILABLE, "no media server is attached to this instance")
            else:
                try:
                    await self.media.handle(session, msg)
                except Exception:  # the sender's own bad input must never end its session with 1011
                    log.exception("media message failed", extra={"room": session.room_id, "type": msg.type})
                    self._error(client, ErrorCode.INTERNAL, f"the server could not handle this {msg.type}")
        elif isinstance(msg, MODERATION_MESSAGES):
            if self.rules is None:
                self._error(client, ErrorCode.FORBIDDEN, "this room has no moderation", reason=HubRefusal.NO_MODERATION)
                return
            try:
                error = await self.rules.handle(session, msg)
            except Exception:
                log.exception("moderation request failed", extra={"room": session.room_id, "type": msg.type})
                error = Error(code=ErrorCode.INTERNAL, message=f"the server could not carry out this {msg.type}")
            if error is not None:
                self.metrics.errors.labels(error.code.value).inc()
                client.send_now(error)  # with the rules' reason and params
        elif isinstance(msg, Join | Resume):
            self._error(client, ErrorCode.ALREADY_JOINED, "already joined; send leave first to rejoin")

    async def _after_session(self, client: _Client, room_id: str, member: Member, left: bool) -> None:
        pid = member["id"]
        current = (await self.bus.members(room_id)).get(pid)
        if current is None or current.get("conn") != client.conn_id:
            return  # replaced or resumed elsewhere: the place belongs to the newer connection
        if left:
            await self.bus.remove_member(room_id, pid)
            await self.broadcast(room_id, ParticipantLeft(participant_id=pid, reason=LeaveReason.LEFT),
                                 audience=_audience_of(current))
            log.info("participant left", extra={"room": room_id, "participant": pid})
            await self._media_left(room_id, pid)
            return
        if client.kicked is not None and client.kicked[0] == CloseCode.REPLACED:
            return
        away = {**current, "connection": ConnectionState.RECONNECTING.value, "away_since": time.time()}
        await self.bus.set_member(room_id, pid, away)
        await self.broadcast(room_id, ParticipantConnection(participant_id=pid,
                                                            connection=ConnectionState.RECONNECTING), pid,
                             audience=_audience_of(away))
        log.info("participant dropped; holding place", extra={"room": room_id, "participant": pid})
        if not self._closing:
            task = asyncio.create_task(self._expire(room_id, pid, client.conn_id), name=f"grace-{pid}")
            self._grace[(room_id, pid)] = task

    async def _expire(self, room_id: str, pid: str, conn_id: str) -> None:
        try:
            await asyncio.sleep(self.config.resume_grace)
            current = (await self.bus.members(room_id)).get(pid)
            if current and current.get("conn") == conn_id and current.get("connection") == "reconnecting":
                await self.bus.remove_member(room_id, pid)
                await self.broadcast(room_id, ParticipantLeft(participant_id=pid, reason=LeaveReason.TIMEOUT),
                                     audience=_audience_of(current))
                log.info("grace expired; place released", extra={"room": room_id, "participant": pid})
                await self._media_left(room_id, pid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("grace expiry failed", extra={"room": room_id, "participant": pid})
        finally:
            if self._grace.get((room_id, pid)) is asyncio.current_task():
                del self._grace[(room_id, pid)]

    def _apply_media(self, room_id: str, pid: str, member: Member) -> None:
        if self.media is not None:
            try:
                self.media.set_permissions(room_id, pid, media_permissions(member))
            except Exception:
                log.exception("applying media permissions failed", extra={"room": room_id, "participant": pid})

    def _spawn_media_left(self, room_id: str, pid: str) -> None:
        task = asyncio.create_task(self._media_left(room_id, pid), name=f"media-left-{pid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_failure)

    async def _media_left(self, room_id: str, pid: str) -> None:
        if self.media is None:
            return
        try:
            await self.media.participant_left(room_id, pid)
        except Exception:
            log.exception("media cleanup failed", extra={"room": room_id, "participant": pid})

    # ---- rooms and fan-out --------------------------------------------------------------------------------

    async def _join_room(self, room_id: str) -> _LocalRoom:
        room = self._rooms.get(room_id)
        if room is None:
            room = _LocalRoom(room_id)
            self._rooms[room_id] = room
            self._empty.clear()
            self.metrics.rooms.set(len(self._rooms))
            room.users += 1
            try:
                room.sub = await self.bus.subscribe(room_id)
            except BaseException:
                room.users -= 1
                self._rooms.pop(room_id, None)
                if not self._rooms:
                    self._empty.set()
                raise
            room.pump = asyncio.create_task(self._pump(room), name=f"room-pump-{room_id}")
            room.ready.set()
            return room
        room.users += 1
        await room.ready.wait()
        return room

    async def _release_room(self, room: _LocalRoom, force: bool = False) -> None:
        room.users -= 1
        if (room.users > 0 or room.clients) and not force:
            return
        if self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]
            if self.router is not None:  # nobody here any more: the room may be placed afresh
                task = asyncio.create_task(self.router.release(room.room_id), name=f"release-{room.room_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(_log_task_failure)
        if not self._rooms:
            self._empty.set()
        self.metrics.rooms.set(len(self._rooms))
        if room.pump is not None:
            room.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await room.pump
        if room.sub is not None:
            await room.sub.close()

    async def _pump(self, room: _LocalRoom) -> None:
        assert room.sub is not None
        while True:
            try:
                event: Event = await room.sub.get()
            except SubscriptionClosed:
                return
            try:
                self._fan_out(room, event)
            except Exception:
                log.exception("bad room event skipped", extra={"room": room.room_id})

    def _fan_out(self, room: _LocalRoom, event: Event) -> None:
        kind = event.get("kind")
        if kind == "kick":
            client = room.clients.get(str(event.get("conn")))
            if client is not None:
                client.kick(int(event.get("code", CloseCode.REMOVED)), str(event.get("reason", "removed")))
            return
        if kind == "member":
            self._member_changed(room, str(event.get("id")), event.get("member") or {})
            return
        if kind == "release":
            self._spawn_media_left(room.room_id, str(event.get("id")))
            return
        if kind != "msg":
            return
        text = json.dumps(event["msg"], ensure_ascii=False)
        to, exclude, audience = event.get("to"), event.get("exclude"), event.get("audience") or "room"
        for client in list(room.clients.values()):
            if to is not None:
                if client.participant_id == to:
                    client.deliver(text)
                continue
            if client.participant_id == exclude or not _hears(client, audience):
                continue
            client.deliver(text)

    def _member_changed(self, room: _LocalRoom, pid: str, member: Member) -> None:
        local = [c for c in room.clients.values() if c.participant_id == pid]
        if not local:
            return
        for client in local:
            client.place = member.get("place", Place.ROOM.value)
        self._apply_media(room.room_id, pid, member)

    # ---- helpers ------------------------------------------------------------------------------------------

    def _error(self, client: _Client, code: ErrorCode, message: str, reason: str | None = None) -> None:
        self.metrics.errors.labels(code.value).inc()
        client.send_now(Error(code=code, message=message, reason=reason))

    async def _refuse(self, conn: Connection, close: CloseCode, code: ErrorCode, message: str) -> None:
        self.metrics.errors.labels(code.value).inc()
        with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
            await conn.send(json.dumps(_wire(Error(code=code, message=message)), ensure_ascii=False))
        await self._close(conn, close, message)

    async def _close_after_flush(self, client: _Client, code: CloseCode, reason: str) -> None:
        await client.flush_and_stop()
        await self._close(client.conn, code, reason)

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        self.metrics.closes.labels(str(int(code))).inc()
        # Close reasons are limited to 123 bytes of UTF-8.
        data = reason.encode()[:123]
        with contextlib.suppress(ConnectionClosed, OSError, RuntimeError):
            await conn.close(int(code), data.decode(errors="ignore"))


def _log_task_failure(task: asyncio.Task[None]) -> None:
    """A background task's failure is logged once, by us, not as "Task exception was never retrieved"."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background signalling task %s failed", task.get_name(), exc_info=exc)


def _grant_for(action: str) -> str:
    return "subscribe" if action == "subscribe" else "publish"


def _audience_of(member: Member | None) -> Audience:
    """Presence news about someone waiting in the lobby is for staff only; about the room, for the room."""
    return "staff" if member and member.get("place", Place.ROOM.value) != Place.ROOM.value else "room"


def _hears(client: _Client, audience: str) -> bool:
    if audience == "everyone":
        return True
    if audience == "staff":
        return client.staff
    in_room = client.place == Place.ROOM.value
    return in_room and not client.staff if audience == "parties" else in_room


def _visible(member: Member, *, to_staff: bool, to_lobby: bool) -> bool:
    """Who a newcomer sees in `joined`: staff see the lobby too; someone in the lobby sees nobody."""
    if to_lobby and not to_staff:
        return False
    return to_staff or member.get("place", Place.ROOM.value) != Place.LOBBY.value


def _participant(member: Member) -> Participant:
    fields = {k: member[k] for k in Participant.model_fields if k in member}
    return Participant(**fields)
