"""The signalling protocol, defined once: every message is a pydantic model in a union discriminated on `type`.

`docs/protocol.md` embeds the JSON Schema generated from these models (`python -m signaling.protocol_doc`);
a test fails when the two drift. Parsing never raises: any input yields a message or a `ProtocolError`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

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
    NOT_LIVE = "not_live"  # a live-session action in a room whose hearing is not held live (heard in stages)
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
    """Close a private room: everyone in it returns to the main room. Name it by `id` (as `private-rooms` lists it)
    or, from inside it, by the `room_id` its members were given; one of the two."""

    type: Literal["close-private-room"] = "close-private-room"
    id: str | None = Field(None, min_length=1, max_length=64)
    room_id: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_name(self) -> ClosePrivateRoom:
        if (self.id is None) == (self.room_id is None):
            raise ValueError("name the private room by id or by room_id, one of the two")
        return self


class SetRecording(_Msg):
    """Start or pause the recording where the court's rules let someone choose (a mediation, a deliberation);
    trials and the other kinds recorded in full follow the procedure and cannot be paused."""

    type: Literal["recording"] = "recording"
    on: bool
    reason: str = Field(default="", max_length=200)


MAX_CHAT_CHARS = 1000


class RaiseHand(_Msg):
    """Raise (or lower) your hand (举手); with `participant_id`, the chair or clerk lowers someone else's."""

    type: Literal["hand"] = "hand"
    raised: bool
    participant_id: ParticipantRef | None = None


class SendChat(_Msg):
    """A chat message to the room. In a hearing's room it goes on the record (the transcript's chat section);
    in a private room it reaches that room's members only and is kept nowhere."""

    type: Literal["chat"] = "chat"
    text: str = Field(max_length=MAX_CHAT_CHARS)


class ShareScreen(_Msg):
    """Start (with the `mid` of the transceiver sending the screen, sent before the offer that adds it) or stop
    sharing a screen. The SFU forwards (and the recorder records) that track like a camera while the rules allow."""

    type: Literal["screen-share"] = "screen-share"
    sharing: bool
    mid: str | None = Field(default=None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _mid_when_sharing(self) -> ShareScreen:
        if self.sharing and self.mid is None:
            raise ValueError("name the mid of the screen's transceiver when starting to share")
        return self


class MuteAll(_Msg):
    """Mute everyone in the room but court staff (each as `mute-participant` would)."""

    type: Literal["mute-all"] = "mute-all"
    kind: MediaKind = MediaKind.AUDIO


class AdmitAll(_Msg):
    """Admit everyone waiting in the lobby whose identity is checked (or is checked now, by `verification`).
    Witnesses wait to be called one by one and stay; the sender gets an `admit-all-result`."""

    type: Literal["admit-all"] = "admit-all"
    verification: str | None = Field(default=None, max_length=64)


class Spotlight(_Msg):
    """Put one participant in everyone's main view (`participant_id` null ends the spotlight)."""

    type: Literal["spotlight"] = "spotlight"
    participant_id: ParticipantRef | None = None


ModerationMessage = (Admit | Deny | SendToLobby | Remove | MuteParticipant | LockRoom | ChangeProcedure
                     | OpenPrivateRoom | ClosePrivateRoom | SetRecording | RaiseHand | SendChat | ShareScreen
                     | MuteAll | AdmitAll | Spotlight)
ROOM_TOOL_MESSAGES = (RaiseHand, SendChat, ShareScreen, MuteAll, AdmitAll, Spotlight)
"""Room tools (as in any video meeting): like moderation, the room's rules decide and carry them out."""
MODERATION_MESSAGES = (Admit, Deny, SendToLobby, Remove, MuteParticipant, LockRoom, ChangeProcedure,
                       OpenPrivateRoom, ClosePrivateRoom, SetRecording, *ROOM_TOOL_MESSAGES)


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
    since: str | None = None  # when the hearing entered this state (ISO 8601, UTC): the room's elapsed-time clock


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


class AsyncTrialUpdated(_Msg):
    """Something changed in a hearing heard in stages (a stage opened or closed, a question posted, an answer filed,
    a deadline extended, a consent given): refetch your own view over HTTP. Carries no content, so what each person
    may see stays the HTTP view's decision."""

    type: Literal["async-trial-updated"] = "async-trial-updated"
    event: str = Field(max_length=64, description="what happened, e.g. async_trial.stage_opened")
    stage_id: str | None = Field(default=None, max_length=64)


class PrivateRoomMove(_Msg):
    """Go into a private room (`enter`: connect to `room_id` with `token`, keep this connection) or come back
    from it (`leave`: close that connection; you are back in the main room)."""

    type: Literal["private-room"] = "private-room"
    action: Literal["enter", "leave"]
    room_id: str
    label: str = ""
    token: str | None = None


class PrivateRoomInfo(_Msg):
    """An open private room as staff see it: its id (to close it), never its signalling room id, which only its
    members are given (in their `private-room` move)."""

    id: str
    label: str
    members: list[str]


class PrivateRooms(_Msg):
    """For court staff: the hearing's open private rooms (sent at join and whenever one opens or closes)."""

    type: Literal["private-rooms"] = "private-rooms"
    rooms: list[PrivateRoomInfo]


class Hands(_Msg):
    """Raised hands, first raised first: sent to the room at every change and to whoever comes in."""

    type: Literal["hands"] = "hands"
    queue: list[str]


class ChatEntry(_Msg):
    """One chat message as the room sees it; `seq` numbers the hearing's record (0 in a private room: not kept)."""

    seq: int = Field(ge=0)
    participant_id: str
    name: str
    role: str
    text: str
    sent_at: str  # ISO 8601, UTC
    private: bool = False


class ChatMessage(_Msg):
    type: Literal["chat-message"] = "chat-message"
    entry: ChatEntry


class ChatHistory(_Msg):
    """The room's chat so far (the last entries), sent when you come into the room."""

    type: Literal["chat-history"] = "chat-history"
    entries: list[ChatEntry]


class ScreenShared(_Msg):
    """Who shares a screen now: `track_id` (as in `track-published`) is that screen; null = nobody shares."""

    type: Literal["screen-shared"] = "screen-shared"
    participant_id: str | None = None
    track_id: str | None = None


class Spotlighted(_Msg):
    """The participant the chair put in everyone's main view; null = none (each person's own pin applies)."""

    type: Literal["spotlighted"] = "spotlighted"
    participant_id: str | None = None


class AdmitAllResult(_Msg):
    """What `admit-all` did: how many came in, and how many stay (identity not checked; witnesses wait)."""

    type: Literal["admit-all-result"] = "admit-all-result"
    admitted: int
    unchecked: int
    witnesses: int


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


class Redirect(_Msg):
    """This room's media lives on another node: close, then connect to `url` (the room's WebSocket on that
    node) and send the same `join` or `resume` again. Sent before admission, followed by close code 4015."""

    type: Literal["redirect"] = "redirect"
    url: str = Field(pattern=r"^wss?://")


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


class LinkQuality(_Msg):
    """The SFU paused (or resumed) video to you because your link cannot carry it with audio (audio first)."""

    type: Literal["link-quality"] = "link-quality"
    video_paused: bool
    estimate_kbps: int | None = None


class HubRefusal(StrEnum):
    """Reasons of the hub's own `forbidden` refusals (the room's rules name theirs in their own enums)."""

    WAITING_IN_LOBBY = "waiting_in_lobby"  # media before the court let you in
    NO_MODERATION = "no_moderation"  # a moderation message in a room without rules


ErrorParam = str | int | float | bool | list[str] | None


class Error(_Msg):
    """A refusal: `code` says what kind, `reason` (when set) which rule, `params` its values. Clients translate
    `reason` (else `code`) with `params`; `message` is an English sentence for logs and developers only."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    reason: str | None = None
    params: dict[str, ErrorParam] = Field(default_factory=dict)


class MediaNoticeCode(StrEnum):
    # The offer's video has no codec the room uses (a VP8-only browser in an H264 room): video rejected, audio kept.
    NO_COMMON_VIDEO_CODEC = "no_common_video_codec"


class MediaNotice(_Msg):
    """Media works, but not all of it, and why: a code the client translates, with its parameters."""

    type: Literal["media-notice"] = "media-notice"
    code: MediaNoticeCode
    params: dict[str, str] = Field(default_factory=dict)


_CLIENT_MODELS = (Join, Resume, Offer, Answer, IceCandidate, Mute, Leave, SetSubscription, Ping, Pong,
                  *MODERATION_MESSAGES)
ClientMessage = Annotated[
    Join | Resume | Offer | Answer | IceCandidate | Mute | Leave | SetSubscription | Ping | Pong
    | Admit | Deny | SendToLobby | Remove | MuteParticipant | LockRoom | ChangeProcedure | OpenPrivateRoom
    | ClosePrivateRoom | SetRecording | RaiseHand | SendChat | ShareScreen | MuteAll | AdmitAll | Spotlight,
    Field(discriminator="type"),
]
ServerMessage = Annotated[
    Joined
    | Redirect
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantConnection
    | MuteState
    | TrackPublished
    | TrackRemoved
    | ActiveSpeaker
    | LinkQuality
    | RoomState
    | Permissions
    | Placed
    | ExhibitPresented
    | TranscriptUpdated
    | AsyncTrialUpdated
    | PrivateRoomMove
    | PrivateRooms
    | Hands
    | ChatMessage
    | ChatHistory
    | ScreenShared
    | Spotlighted
    | AdmitAllResult
    | Offer
    | Answer
    | IceCandidate
    | Ping
    | Pong
    | Error
    | MediaNotice,
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
