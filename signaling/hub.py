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
from typing import Any, Protocol

from pydantic import BaseModel

from signaling.bus import Event, Member, RoomBus, Subscription, SubscriptionClosed
from signaling.closecodes import CloseCode
from signaling.metrics import SignalingMetrics
from signaling.protocol import (
    Answer,
    ConnectionState,
    Error,
    ErrorCode,
    IceCandidate,
    Join,
    Joined,
    Leave,
    LeaveReason,
    MediaKind,
    Mute,
    MuteState,
    Offer,
    Participant,
    ParticipantConnection,
    ParticipantJoined,
    ParticipantLeft,
    Ping,
    Pong,
    ProtocolError,
    Resume,
    SetSubscription,
    parse_client_message,
)
from signaling.ratelimit import TokenBucket
from signaling.tokens import JoinClaims, TokenError, TokenService, new_id

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


@dataclass(frozen=True, slots=True)
class SessionInfo:
    room_id: str
    participant_id: str
    session_id: str
    role: str
    grants: frozenset[str]


MediaMessage = Offer | Answer | IceCandidate | SetSubscription


class MediaSignals(Protocol):
    """The media plane's side of signalling: offer/answer/ICE and subscription control.

    A dropped WebSocket does not end a participant's media (it may resume within the grace window);
    `participant_left` is called once the place is really gone (leave, grace expiry, removal).
    """

    async def handle(self, session: SessionInfo, msg: MediaMessage) -> None: ...

    async def participant_left(self, room_id: str, participant_id: str) -> None: ...


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


def _wire(msg: BaseModel) -> dict[str, Any]:
    return msg.model_dump(mode="json", by_alias=True)


class _Client:
    """One local connection: an outbox drained by its own writer, so a slow peer never stalls the room."""

    def __init__(self, conn: Connection, conn_id: str, limit: int, metrics: SignalingMetrics) -> None:
        self.conn = conn
        self.conn_id = conn_id
        self.participant_id = ""
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.tokens = tokens
        self.config = config
        self.join_policy = join_policy
        self.is_revoked = is_revoked
        self.metrics = metrics or SignalingMetrics()
        self.media = media
        self._clock = clock
        self._rooms: dict[str, _LocalRoom] = {}
        self._grace: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._closing = False
        self._empty = asyncio.Event()
        self._empty.set()

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

    async def broadcast(self, room_id: str, msg: BaseModel, exclude: str | None = None) -> None:
        await self.bus.publish(room_id, {"kind": "msg", "exclude": exclude, "msg": _wire(msg)})

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

    async def _admit_join(self, msg: Join, room_id: str, conn_id: str) -> tuple[Member, bool, str | None, str]:
        claims = self.tokens.verify_join(msg.token, room_id)
        if await self.is_revoked(claims.jti):
            raise TokenError(CloseCode.TOKEN_REVOKED, "this link has been withdrawn by the court")
        refusal = self.join_policy(claims)
        if refusal is not None:
            raise TokenError(CloseCode.FORBIDDEN, refusal)
        existing = (await self.bus.members(room_id)).get(claims.participant_id)
        member: Member = {
            **_wire(Participant(id=claims.participant_id, name=claims.name, role=claims.role,
                                grants=sorted(claims.grants))),
            "sid": new_id("s"),
            "conn": conn_id,
            "jti": claims.jti,
        }
        replaced = existing.get("conn") if existing else None
        return member, False, replaced, claims.jti

    async def _admit_resume(self, msg: Resume, room_id: str, conn_id: str) -> tuple[Member, bool, str | None, str]:
        rc = self.tokens.verify_resume(msg.resume_token, room_id)
        existing = (await self.bus.members(room_id)).get(rc.participant_id)
        if existing is None or existing.get("sid") != rc.session_id:
            raise TokenError(CloseCode.RESUME_FAILED, "the session has ended; join again with your link")
        if await self.is_revoked(rc.join_jti):
            raise TokenError(CloseCode.TOKEN_REVOKED, "this link has been withdrawn by the court")
        member = {**existing, "conn": conn_id, "connection": ConnectionState.CONNECTED.value}
        member.pop("away_since", None)
        return member, True, existing.get("conn"), rc.join_jti

    # ---- a session ----------------------------------------------------------------------------------------

    async def _run_session(self, conn: Connection, conn_id: str, room_id: str, member: Member,
                           resumed: bool, replaced_conn: str | None, jti: str) -> None:
        pid = member["id"]
        client = _Client(conn, conn_id, self.config.outbox_limit, self.metrics)
        client.participant_id = pid
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
            if resumed:
                await self.broadcast(room_id, ParticipantConnection(participant_id=pid,
                                                                    connection=ConnectionState.CONNECTED), pid)
            else:
                await self.broadcast(room_id, ParticipantJoined(participant=_participant(member)), pid)
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
                participants=[_participant(m) for k, m in sorted(members.items()) if k != pid],
                resume_token=resume_token,
                resume_grace_seconds=self.config.resume_grace,
                ice_servers=self.config.ice_servers,
                resumed=resumed,
            )
            client.start(json.dumps(_wire(joined), ensure_ascii=False))
            left = await self._message_loop(client, session, member)
        finally:
            room.clients.pop(conn_id, None)
            await self._release_room(room)
        await self._after_session(client, room_id, member, left)

    async def _message_loop(self, client: _Client, session: SessionInfo, member: Member) -> bool:
        """Returns True when the participant left on purpose, False when the link dropped."""
        bucket = TokenBucket(self.config.rate_per_second, self.config.rate_burst)
        strikes = 0
        closed_wait = asyncio.create_task(client.closed.wait())
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
                strikes = 0
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

    async def _dispatch(self, client: _Client, session: SessionInfo, member: Member, msg: object) -> None:
        if isinstance(msg, Ping):
            client.send_now(Pong(id=msg.id))
        elif isinstance(msg, Pong):
            return
        elif isinstance(msg, Mute):
            key = "audio_muted" if msg.kind == MediaKind.AUDIO else "video_muted"
            member[key] = msg.muted
            await self.bus.set_member(session.room_id, session.participant_id, member)
            await self.broadcast(session.room_id, MuteState(participant_id=session.participant_id,
                                                            audio_muted=member["audio_muted"],
                                                            video_muted=member["video_muted"]))
        elif isinstance(msg, Offer | Answer | IceCandidate | SetSubscription):
            if self.media is None:
                self._error(client, ErrorCode.MEDIA_UNAVAILABLE, "no media server is attached to this instance")
            else:
                await self.media.handle(session, msg)
        elif isinstance(msg, Join | Resume):
            self._error(client, ErrorCode.ALREADY_JOINED, "already joined; send leave first to rejoin")

    async def _after_session(self, client: _Client, room_id: str, member: Member, left: bool) -> None:
        pid = member["id"]
        current = (await self.bus.members(room_id)).get(pid)
        if current is None or current.get("conn") != client.conn_id:
            return  # replaced or resumed elsewhere: the place belongs to the newer connection
        if left:
            await self.bus.remove_member(room_id, pid)
            await self.broadcast(room_id, ParticipantLeft(participant_id=pid, reason=LeaveReason.LEFT))
            log.info("participant left", extra={"room": room_id, "participant": pid})
            await self._media_left(room_id, pid)
            return
        if client.kicked is not None and client.kicked[0] == CloseCode.REPLACED:
            return
        away = {**member, "connection": ConnectionState.RECONNECTING.value, "away_since": time.time()}
        await self.bus.set_member(room_id, pid, away)
        await self.broadcast(room_id, ParticipantConnection(participant_id=pid,
                                                            connection=ConnectionState.RECONNECTING), pid)
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
                await self.broadcast(room_id, ParticipantLeft(participant_id=pid, reason=LeaveReason.TIMEOUT))
                log.info("grace expired; place released", extra={"room": room_id, "participant": pid})
                await self._media_left(room_id, pid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("grace expiry failed", extra={"room": room_id, "participant": pid})
        finally:
            if self._grace.get((room_id, pid)) is asyncio.current_task():
                del self._grace[(room_id, pid)]

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
        if kind != "msg":
            return
        text = json.dumps(event["msg"], ensure_ascii=False)
        to, exclude = event.get("to"), event.get("exclude")
        for client in list(room.clients.values()):
            if (to is not None and client.participant_id != to) or client.participant_id == exclude:
                continue
            client.deliver(text)

    # ---- helpers ------------------------------------------------------------------------------------------

    def _error(self, client: _Client, code: ErrorCode, message: str) -> None:
        self.metrics.errors.labels(code.value).inc()
        client.send_now(Error(code=code, message=message))

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


def _participant(member: Member) -> Participant:
    fields = {k: member[k] for k in Participant.model_fields if k in member}
    return Participant(**fields)
