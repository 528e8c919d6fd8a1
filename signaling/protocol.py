"""The signalling protocol, defined once: every message is a pydantic model in a union discriminated on `type`.

`docs/protocol.md` embeds the JSON Schema generated from these models (`python -m signaling.protocol_doc`);
a test fails when the two drift. Parsing never raises: any input yields a message or a `ProtocolError`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_SDP_CHARS = 60_000
MAX_TOKEN_CHARS = 8_192


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ErrorCode(StrEnum):
    """Codes in `error` messages; clients switch on these, people read `message`."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    UNSUPPORTED_VERSION = "unsupported_version"
    RATE_LIMITED = "rate_limited"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"  # the participant or exhibit named is not in this room
    CONFLICT = "conflict"  # the request does not fit the room's current state (e.g. start a session twice)
    TOKEN_REFUSED = "token_refused"
    MEDIA_UNAVAILABLE = "media_unavailable"
    INTERNAL = "internal"


class MediaKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class ConnectionState(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


class LeaveReason(StrEnum):
    LEFT = "left"
    TIMEOUT = "timeout"
    REPLACED = "replaced"
    REMOVED = "removed"
    DENIED = "denied"  # turned away from the lobby
    LOBBY = "lobby"  # sent back to the lobby: gone from the room, may come back when admitted again


class Place(StrEnum):
    """Where a participant is: waiting in the lobby (no media, sees nobody), in the room, or away in a private room."""

    LOBBY = "lobby"
    ROOM = "room"
    PRIVATE = "private"  # in one of the hearing's private rooms (a caucus): no media in the main room meanwhile


class Participant(_Msg):
    """A participant as others see it: a pseudonymous id, the display name, role and state."""

    id: str = Field(max_length=128)
    name: str = Field(max_length=200)
    role: str = Field(max_length=64)
    grants: list[str] = Field(default_factory=list)
    audio_muted: bool = False
    video_muted: bool = False
    connection: ConnectionState = ConnectionState.CONNECTED
    place: Place = Place.ROOM


# ---- both directions -------------------------------------------------------------------------------------


class Offer(_Msg):
    """SDP offer. From the server (renegotiation) or from a client."""

    type: Literal["offer"] = "offer"
    sdp: str = Field(max_length=MAX_SDP_CHARS)


class Answer(_Msg):
    type: Literal["answer"] = "answer"
    sdp: str = Field(max_length=MAX_SDP_CHARS)


class IceCandidate(_Msg):
    """Trickle ICE; field names follow the browser's RTCIceCandidateInit. `candidate` null = end of candidates."""

    type: Literal["ice-candidate"] = "ice-candidate"
    candidate: str | None = Field(default=None, max_length=1024)
    sdp_mid: str | None = Field(default=None, alias="sdpMid", max_length=64)
    sdp_mline_index: int | None = Field(default=None, alias="sdpMLineIndex", ge=0, le=1024)


class Ping(_Msg):
    type: Literal["ping"] = "ping"
    id: int | None = Field(default=None, ge=0, le=2**53)


class Pong(_Msg):
    type: Literal["pong"] = "pong"
    id: int | None = Field(default=None, ge=0, le=2**53)


# ---- client to server ------------------------------------------------------------------------------------


class Join(_Msg):
    """First message on a new connection. The token is a signed join token, never put in a URL query."""

    type: Literal["join"] = "join"
    v: int = PROTOCOL_VERSION
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class Resume(_Msg):
    """First message on a replacement connection within the grace window; keeps the participant's place."""

    type: Literal["resume"] = "resume"
    v: int = PROTOCOL_VERSION
    resume_token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class Mute(_Msg):
    type: Literal["mute"] = "mute"
    kind: MediaKind
    muted: bool


class Leave(_Msg):
    type: Literal["leave"] = "leave"


class SetSubscription(_Msg):
    """Pause or resume receiving a publisher's video (audio-only mode for weak links): the server stops sending.

    `publisher_id` null applies to every publisher in the room, now and later.
    """

    type: Literal["subscription"] = "subscription"
    publisher_id: str | None = Field(default=None, max_length=128)
    kind: MediaKind = MediaKind.VIDEO
    paused: bool


# Moderation: the room's rules (handed in by the court layer) decide who may send these; the UI only mirrors them.
ParticipantRef = Annotated[str, Field(min_length=1, max_length=128)]
Reason = Annotated[str, Field(max_length=500)]


class Admit(_Msg):
    """Let a participant in from the lobby, recording how their identity was checked (e.g. id_card_at_station)."""

    type: Literal["admit"] = "admit"
    participant_id: ParticipantRef
    verification: str | None = Field(default=None, max_length=64)


class Deny(_Msg):
    """Turn a participant away from the lobby; their link stops working."""

    type: Literal["deny"] = "deny"
    participant_id: ParticipantRef
    reason: Reason = ""


class SendToLobby(_Msg):
    type: Literal["send-to-lobby"] = "send-to-lobby"
    participant_id: ParticipantRef
    reason: Reason = ""


class Remove(_Msg):
    """Remove a participant from the hearing; their link stops working."""

    type: Literal["remove"] = "remove"
    participant_id: ParticipantRef
    reason: Reason = ""


class MuteParticipant(_Msg):
    """Mute someone else: the server stops forwarding their audio/video until they unmute themselves."""

    type: Literal["mute-participant"] = "mute-participant"
    participant_id: ParticipantRef
    kind: MediaKind = MediaKind.AUDIO


class LockRoom(_Msg):
    """A locked room admits nobody new from the lobby and refuses new joins of people not yet admitted."""

    type: Literal["lock"] = "lock"
    locked: bool


class ChangeProcedure(_Msg):
    """Ask for a procedure transition (open_lobby, start_session, recess, resume, close, seal)."""

    type: Literal["procedure"] = "procedure"
    transition: str = Field(min_length=1, max_length=32)


class OpenPrivateRoom(_Msg):
    """Open a private room (caucus: mediator + one side; counsel + client) and move these participants into it.

    The opener joins it too where the rules let them enter. Private rooms are never recorded.
    """

    type: Literal["open-private-room"] = "open-private-room"
    participant_ids: list[ParticipantRef] = Field(min_length=1, max_length=16)
    label: str = Field(default="", max_length=100)


class ClosePrivateRoom(_Msg):
    """Close a private room: everyone in it returns to the main room."""

    type: Literal["close-private-room"] = "close-private-room"
    room_id: str = Field(min_length=1, max_length=64)


class SetRecording(_Msg):
    """Start or pause the recording where the court's rules let someone choose (a mediation, a deliberation);
    trials and the other kinds recorded in full follow the procedure and cannot be paused."""

    type: Literal["recording"] = "recording"
    on: bool
    reason: str = Field(default="", max_length=200)


ModerationMessage = (Admit | Deny | SendToLobby | Remove | MuteParticipant | LockRoom | ChangeProcedure
                     | OpenPrivateRoom | ClosePrivateRoom | SetRecording)
MODERATION_MESSAGES = (Admit, Deny, SendToLobby, Remove, MuteParticipant, LockRoom, ChangeProcedure,
                       OpenPrivateRoom, ClosePrivateRoom, SetRecording)


# ---- server to client ------------------------------------------------------------------------------------


class RoomState(_Msg):
    """The room's procedure state, sent at join and on every change (to everyone, the lobby included)."""

    type: Literal["room-state"] = "room-state"
    hearing_id: str | None = None
    kind: str | None = None
    state: str
    locked: bool = False
    recording: bool = False
    private: bool = False  # a private room of the hearing (never recorded); `label` names it
    label: str = ""


class Permissions(_Msg):
    """What you may do now (actions of the court's policy, e.g. publish_audio, admit_deny); the UI mirrors it.

    The server enforces the same set: media you may not send is not forwarded, and a refused action gets an error.
    """

    type: Literal["permissions"] = "permissions"
    place: Place
    actions: list[str]
    transitions: list[str] = Field(default_factory=list)


class ExhibitPresented(_Msg):
    """The exhibit (and page) everyone sees now; `exhibit_id` null = nothing presented. Fetch it over HTTP."""

    type: Literal["exhibit-presented"] = "exhibit-presented"
    exhibit_id: str | None = None
    page: int = 1
    name: str = ""
    media_type: str = ""
    page_count: int = 1


class TranscriptUpdated(_Msg):
    """The clerk saved a new transcript version (笔录); fetch it over HTTP if you show it."""

    type: Literal["transcript-updated"] = "transcript-updated"
    version: int
    sha256: str


class PrivateRoomMove(_Msg):
    """Go into a private room (`enter`: connect to `room_id` with `token`, keep this connection) or come back
    from it (`leave`: close that connection; you are back in the main room)."""

    type: Literal["private-room"] = "private-room"
    action: Literal["enter", "leave"]
    room_id: str
    label: str = ""
    token: str | None = None


class PrivateRoomInfo(_Msg):
    room_id: str
    label: str
    members: list[str]


class PrivateRooms(_Msg):
    """For court staff: the hearing's open private rooms (sent at join and whenever one opens or closes)."""

    type: Literal["private-rooms"] = "private-rooms"
    rooms: list[PrivateRoomInfo]


class Placed(_Msg):
    """You were moved: admitted into the room, or sent back to the lobby (with the reason, if any)."""

    type: Literal["placed"] = "placed"
    place: Place
    reason: str = ""
    participants: list[Participant] = Field(default_factory=list)  # who is in the room, when placed there


class Joined(_Msg):
    """Admission: who you are, who is here, and how to resume if the connection drops."""

    type: Literal["joined"] = "joined"
    v: int = PROTOCOL_VERSION
    room_id: str
    participant: Participant
    participants: list[Participant]
    resume_token: str
    resume_grace_seconds: float
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)
    resumed: bool = False


class ParticipantJoined(_Msg):
    """Someone joined. May repeat a participant already listed in `joined`: treat as an upsert."""

    type: Literal["participant-joined"] = "participant-joined"
    participant: Participant


class ParticipantLeft(_Msg):
    type: Literal["participant-left"] = "participant-left"
    participant_id: str
    reason: LeaveReason


class ParticipantConnection(_Msg):
    """A participant's link dropped (reconnecting) or came back (connected) within the grace window."""

    type: Literal["participant-connection"] = "participant-connection"
    participant_id: str
    connection: ConnectionState


class MuteState(_Msg):
    type: Literal["mute-state"] = "mute-state"
    participant_id: str
    audio_muted: bool
    video_muted: bool


class TrackPublished(_Msg):
    """A participant's track is being sent to you on transceiver `mid` (sent before the offer that adds it)."""

    type: Literal["track-published"] = "track-published"
    participant_id: str
    track_id: str = Field(max_length=128)
    kind: MediaKind
    mid: str | None = None


class TrackRemoved(_Msg):
    type: Literal["track-removed"] = "track-removed"
    participant_id: str
    track_id: str = Field(max_length=128)


class ActiveSpeaker(_Msg):
    """The dominant speaker changed (from RFC 6464 audio levels, no decoding); null = nobody speaking."""

    type: Literal["active-speaker"] = "active-speaker"
    participant_id: str | None


class Error(_Msg):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str


_CLIENT_MODELS = (Join, Resume, Offer, Answer, IceCandidate, Mute, Leave, SetSubscription, Ping, Pong,
                  *MODERATION_MESSAGES)
ClientMessage = Annotated[
    Join | Resume | Offer | Answer | IceCandidate | Mute | Leave | SetSubscription | Ping | Pong
    | Admit | Deny | SendToLobby | Remove | MuteParticipant | LockRoom | ChangeProcedure | OpenPrivateRoom
    | ClosePrivateRoom | SetRecording,
    Field(discriminator="type"),
]
ServerMessage = Annotated[
    Joined
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantConnection
    | MuteState
    | TrackPublished
    | TrackRemoved
    | ActiveSpeaker
    | RoomState
    | Permissions
    | Placed
    | ExhibitPresented
    | TranscriptUpdated
    | PrivateRoomMove
    | PrivateRooms
    | Offer
    | Answer
    | IceCandidate
    | Ping
    | Pong
    | Error,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
SERVER_ADAPTER: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
CLIENT_TYPES = frozenset(t.model_fields["type"].default for t in _CLIENT_MODELS)


class ProtocolError(_Msg):
    """Why a message was refused; becomes an `error` message to the sender."""

    code: ErrorCode
    message: str

    def to_error(self) -> Error:
        return Error(code=self.code, message=self.message)


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"][1:] or err["loc"]) or "message"
    return f"{where}: {err['msg']}"


def parse_client_message(raw: str | bytes, max_bytes: int = 65536) -> ClientMessage | ProtocolError:
    """Decode one client frame. Never raises: every failure is a ProtocolError with a clear message."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > max_bytes:
        return ProtocolError(code=ErrorCode.TOO_LARGE, message=f"message of {size} bytes exceeds {max_bytes}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return ProtocolError(code=ErrorCode.BAD_JSON, message=f"not valid JSON: {str(exc)[:120]}")
    if not isinstance(data, dict):
        return ProtocolError(code=ErrorCode.BAD_MESSAGE, message="a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        return ProtocolError(code=ErrorCode.BAD_MESSAGE, message="missing string field 'type'")
    if kind not in CLIENT_TYPES:
        return ProtocolError(code=ErrorCode.UNKNOWN_TYPE, message=f"unknown message type {kind[:64]!r}")
    version = data.get("v", PROTOCOL_VERSION)
    if kind in ("join", "resume") and version != PROTOCOL_VERSION:
        return ProtocolError(
            code=ErrorCode.UNSUPPORTED_VERSION,
            message=f"protocol version {str(version)[:16]} is not supported; this server speaks v{PROTOCOL_VERSION}",
        )
    try:
        return CLIENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return ProtocolError(code=ErrorCode.BAD_MESSAGE, message=f"invalid {kind}: {_first_problem(exc)}"[:300])
    except (RecursionError, ValueError, TypeError) as exc:  # pathological input pydantic itself rejects
        return ProtocolError(code=ErrorCode.BAD_MESSAGE, message=f"invalid {kind}: {type(exc).__name__}")


def encode(msg: BaseModel) -> str:
    """Wire form of a server message: aliases (browser field names), no nulls that carry no meaning."""
    return msg.model_dump_json(by_alias=True)


def parse_server_message(raw: str | bytes) -> Any:
    """Used by tests and Python clients to read what the server sent."""
    return SERVER_ADAPTER.validate_json(raw)
