"""The signalling message schema: every client message parses, every server message round-trips,
every refusal carries the right ErrorCode, and no input whatsoever makes the parser raise."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from signaling.protocol import (
    CLIENT_TYPES,
    MAX_SDP_CHARS,
    MAX_TOKEN_CHARS,
    PROTOCOL_VERSION,
    ActiveSpeaker,
    AdmitAllResult,
    Answer,
    AsyncTrialUpdated,
    ChatEntry,
    ChatHistory,
    ChatMessage,
    ClientMessage,
    ConnectionState,
    Error,
    ErrorCode,
    ExhibitPresented,
    Hands,
    IceCandidate,
    Join,
    Joined,
    Leave,
    LeaveReason,
    LinkQuality,
    MediaKind,
    MediaNotice,
    MediaNoticeCode,
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
    PrivateRoomInfo,
    PrivateRoomMove,
    PrivateRooms,
    ProtocolError,
    Redirect,
    Resume,
    RoomState,
    ScreenShared,
    ServerMessage,
    SetSubscription,
    Spotlighted,
    TrackPublished,
    TrackRemoved,
    TranscriptUpdated,
    encode,
    parse_client_message,
    parse_server_message,
)

CLIENT_MODELS: tuple[type[BaseModel], ...] = typing.get_args(typing.get_args(ClientMessage)[0])
SERVER_MODELS: tuple[type[BaseModel], ...] = typing.get_args(typing.get_args(ServerMessage)[0])
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def parse(obj: Any, **kw: Any) -> ClientMessage | ProtocolError:
    return parse_client_message(json.dumps(obj), **kw)


def refused(obj: Any, code: ErrorCode, **kw: Any) -> ProtocolError:
    result = parse(obj, **kw) if not isinstance(obj, str | bytes) else parse_client_message(obj, **kw)
    assert isinstance(result, ProtocolError), result
    assert result.code == code, result
    assert result.message
    return result


def test_client_models_match_client_types() -> None:
    assert {m.model_fields["type"].default for m in CLIENT_MODELS} == CLIENT_TYPES
    assert CLIENT_TYPES == {"join", "resume", "offer", "answer", "ice-candidate", "mute", "leave", "subscription",
                            "ping", "pong", "admit", "deny", "send-to-lobby", "remove", "mute-participant", "lock",
                            "procedure", "open-private-room", "close-private-room", "recording",
                            "hand", "chat", "screen-share", "mute-all", "admit-all", "spotlight"}


# ---- every client message type parses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "join", "token": "abc.def.ghi"}, Join(token="abc.def.ghi")),
        ({"type": "join", "v": 1, "token": "t"}, Join(token="t")),
        ({"type": "resume", "resume_token": "r.t.x"}, Resume(resume_token="r.t.x")),
        ({"type": "resume", "v": 1, "resume_token": "r"}, Resume(resume_token="r")),
        ({"type": "offer", "sdp": SDP}, Offer(sdp=SDP)),
        ({"type": "answer", "sdp": SDP}, Answer(sdp=SDP)),
        ({"type": "offer", "sdp": "x" * MAX_SDP_CHARS}, Offer(sdp="x" * MAX_SDP_CHARS)),
        (
            {"type": "ice-candidate", "candidate": "candidate:1 1 UDP 2122252543 192.0.2.1 54400 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0},
            IceCandidate(candidate="candidate:1 1 UDP 2122252543 192.0.2.1 54400 typ host", sdp_mid="0",
                         sdp_mline_index=0),
        ),
        ({"type": "ice-candidate", "candidate": None}, IceCandidate(candidate=None)),
        ({"type": "ice-candidate", "candidate": None, "sdpMid": None, "sdpMLineIndex": None}, IceCandidate()),
        ({"type": "ice-candidate"}, IceCandidate()),
        ({"type": "mute", "kind": "audio", "muted": True}, Mute(kind=MediaKind.AUDIO, muted=True)),
        ({"type": "mute", "kind": "video", "muted": False}, Mute(kind=MediaKind.VIDEO, muted=False)),
        ({"type": "leave"}, Leave()),
        ({"type": "subscription", "paused": True}, SetSubscription(paused=True)),
        ({"type": "subscription", "publisher_id": "p_1", "kind": "video", "paused": False},
         SetSubscription(publisher_id="p_1", kind=MediaKind.VIDEO, paused=False)),
        ({"type": "ping"}, Ping()),
        ({"type": "ping", "id": 42}, Ping(id=42)),
        ({"type": "ping", "id": 2**53}, Ping(id=2**53)),
        ({"type": "pong", "id": 7}, Pong(id=7)),
        ({"type": "pong"}, Pong()),
    ],
)
def test_valid_client_messages_parse(obj: dict[str, Any], expected: BaseModel) -> None:
    result = parse(obj)
    assert not isinstance(result, ProtocolError), result
    assert type(result) is type(expected)
    assert result == expected


def test_every_client_type_is_covered_by_valid_examples() -> None:
    examples = {
        "join": {"token": "t"}, "resume": {"resume_token": "r"}, "offer": {"sdp": SDP}, "answer": {"sdp": SDP},
        "ice-candidate": {"candidate": None}, "mute": {"kind": "audio", "muted": True}, "leave": {},
        "subscription": {"paused": True}, "ping": {}, "pong": {},
        "admit": {"participant_id": "p_1", "verification": "id_card_at_station"}, "deny": {"participant_id": "p_1"},
        "send-to-lobby": {"participant_id": "p_1"}, "remove": {"participant_id": "p_1", "reason": "disorder"},
        "mute-participant": {"participant_id": "p_1", "kind": "video"}, "lock": {"locked": True},
        "procedure": {"transition": "start_session"},
        "open-private-room": {"participant_ids": ["p_1"], "label": "原告方"},
        "close-private-room": {"id": "0af3"},
        "recording": {"on": False, "reason": "parties asked to speak off the record"},
        "hand": {"raised": True}, "chat": {"text": "请看第三页"}, "screen-share": {"sharing": True, "mid": "2"},
        "mute-all": {}, "admit-all": {"verification": "id_card_on_video"}, "spotlight": {"participant_id": "p_1"},
    }
    assert set(examples) == CLIENT_TYPES
    for kind, fields in examples.items():
        result = parse({"type": kind, **fields})
        assert isinstance(result, CLIENT_MODELS), (kind, result)
        assert result.type == kind  # type: ignore[union-attr]


def test_ice_candidate_uses_browser_field_names() -> None:
    result = parse({"type": "ice-candidate", "candidate": "candidate:x", "sdpMid": "audio", "sdpMLineIndex": 3})
    assert isinstance(result, IceCandidate)
    assert (result.candidate, result.sdp_mid, result.sdp_mline_index) == ("candidate:x", "audio", 3)
    # and the same names on the way out
    wire = json.loads(encode(result))
    assert wire == {"type": "ice-candidate", "candidate": "candidate:x", "sdpMid": "audio", "sdpMLineIndex": 3}


def test_ice_candidate_end_of_candidates_is_null() -> None:
    result = parse({"type": "ice-candidate", "candidate": None, "sdpMid": "0", "sdpMLineIndex": 0})
    assert isinstance(result, IceCandidate)
    assert result.candidate is None


def test_bytes_and_str_both_accepted() -> None:
    assert parse_client_message(b'{"type":"ping","id":1}') == Ping(id=1)
    assert parse_client_message('{"type":"ping","id":1}') == Ping(id=1)
    assert parse_client_message('{"type":"join","token":"\u5ba1\u5224"}') == Join(token="审判")


def test_parsed_messages_are_frozen() -> None:
    msg = parse({"type": "ping", "id": 1})
    assert isinstance(msg, Ping)
    with pytest.raises(ValidationError):
        msg.id = 2  # type: ignore[misc]


# ---- server messages round-trip through encode() ----------------------------------------------------------

ALICE = Participant(id="p_alice", name="Alice 张", role="plaintiff", grants=["publish", "subscribe"])
BOB = Participant(id="p_bob", name="Bob", role="observer", grants=["subscribe"], audio_muted=True,
                  video_muted=True, connection=ConnectionState.RECONNECTING)

SERVER_EXAMPLES: list[BaseModel] = [
    Joined(room_id="room_1", participant=ALICE, participants=[ALICE, BOB], resume_token="r.t.x",
           resume_grace_seconds=30.0, ice_servers=[{"urls": ["stun:stun.example.org:3478"]}], resumed=True),
    Joined(room_id="room_1", participant=ALICE, participants=[], resume_token="r", resume_grace_seconds=0.5),
    Redirect(url="wss://node-2.court.example/ws/room_1"),
    ParticipantJoined(participant=BOB),
    *[ParticipantLeft(participant_id="p_bob", reason=r) for r in LeaveReason],
    *[ParticipantConnection(participant_id="p_bob", connection=c) for c in ConnectionState],
    MuteState(participant_id="p_alice", audio_muted=True, video_muted=False),
    TrackPublished(participant_id="p_alice", track_id="trk_1", kind=MediaKind.VIDEO, mid="1"),
    TrackPublished(participant_id="p_alice", track_id="trk_2", kind=MediaKind.AUDIO),
    TrackRemoved(participant_id="p_alice", track_id="trk_1"),
    ActiveSpeaker(participant_id="p_alice"),
    ActiveSpeaker(participant_id=None),
    LinkQuality(video_paused=True, estimate_kbps=60),
    LinkQuality(video_paused=False),
    Offer(sdp=SDP),
    Answer(sdp=SDP),
    IceCandidate(candidate="candidate:1 1 udp 1 192.0.2.1 9 typ host", sdp_mid="0", sdp_mline_index=0),
    IceCandidate(candidate=None),
    Ping(id=1),
    Pong(id=None),
    RoomState(hearing_id="h_1", kind="trial", state="in_session", locked=True, recording=True),
    RoomState(state="open"),
    Permissions(place=Place.LOBBY, actions=[]),
    Permissions(place=Place.ROOM, actions=["publish_audio", "subscribe"], transitions=["recess"]),
    Placed(place=Place.ROOM, participants=[BOB]),
    Placed(place=Place.LOBBY, reason="wait until you are called"),
    ExhibitPresented(exhibit_id="e_1", page=3, name="合同.pdf", media_type="application/pdf", page_count=9),
    ExhibitPresented(),
    TranscriptUpdated(version=4, sha256="a" * 64),
    AsyncTrialUpdated(event="async_trial.stage_opened", stage_id="s1"),
    PrivateRoomMove(action="enter", room_id="private-abc", label="原告方", token="t.o.k"),
    PrivateRoomMove(action="leave", room_id="private-abc"),
    PrivateRooms(rooms=[PrivateRoomInfo(id="0af3", label="原告方", members=["p_1", "p_2"])]),
    PrivateRooms(rooms=[]),
    Hands(queue=["p_2", "p_1"]),
    ChatMessage(entry=ChatEntry(seq=1, participant_id="p_1", name="李律师", role="counsel", text="请看第三页",
                                sent_at="2026-12-07T02:03:04+00:00")),
    ChatHistory(entries=[]),
    ScreenShared(participant_id="p_1", track_id="p_1.video.2"),
    ScreenShared(),
    Spotlighted(participant_id="p_1"),
    AdmitAllResult(admitted=2, unchecked=1, witnesses=1),
    *[Error(code=c, message=f"because {c.value}") for c in ErrorCode],
    *[MediaNotice(code=c, params={"offered": "VP8", "room": "H264"}) for c in MediaNoticeCode],
]


def test_server_examples_cover_every_server_model() -> None:
    assert {type(m) for m in SERVER_EXAMPLES} == set(SERVER_MODELS)


@pytest.mark.parametrize("msg", SERVER_EXAMPLES, ids=lambda m: m.type)  # type: ignore[attr-defined]
def test_encode_round_trips(msg: BaseModel) -> None:
    wire = encode(msg)
    assert isinstance(wire, str)
    back = parse_server_message(wire)
    assert type(back) is type(msg)
    assert back == msg
    assert parse_server_message(wire.encode()) == msg
    assert json.loads(wire)["type"] == msg.type  # type: ignore[attr-defined]


def test_client_messages_shared_with_server_round_trip_both_ways() -> None:
    for msg in (Offer(sdp=SDP), Answer(sdp=SDP), IceCandidate(candidate="c", sdp_mid="0", sdp_mline_index=1),
                Ping(id=3), Pong(id=3)):
        assert parse_client_message(encode(msg)) == msg
        assert parse_server_message(encode(msg)) == msg


def test_protocol_error_becomes_error_message() -> None:
    err = refused("{", ErrorCode.BAD_JSON)
    out = err.to_error()
    assert isinstance(out, Error)
    assert (out.code, out.message) == (err.code, err.message)
    assert parse_server_message(encode(out)) == out


# ---- refusals: each ErrorCode path -------------------------------------------------------------------------


def test_too_large_counts_bytes() -> None:
    raw = json.dumps({"type": "join", "token": "x" * 100})
    err = refused(raw, ErrorCode.TOO_LARGE, max_bytes=len(raw) - 1)
    assert str(len(raw)) in err.message and str(len(raw) - 1) in err.message
    assert isinstance(parse_client_message(raw, max_bytes=len(raw)), Join)  # exactly at the limit is fine


def test_too_large_counts_utf8_bytes_not_characters() -> None:
    token = "审" * 100  # 3 bytes each in UTF-8
    raw = json.dumps({"type": "join", "token": token}, ensure_ascii=False)
    n_bytes = len(raw.encode("utf-8"))
    assert n_bytes > len(raw)
    err = refused(raw, ErrorCode.TOO_LARGE, max_bytes=len(raw))  # fits in characters, not in bytes
    assert str(n_bytes) in err.message
    assert isinstance(parse_client_message(raw, max_bytes=n_bytes), Join)
    refused(raw.encode("utf-8"), ErrorCode.TOO_LARGE, max_bytes=len(raw))


def test_default_limit_is_64_kib() -> None:
    refused(" " * 65537, ErrorCode.TOO_LARGE)
    refused(b"{" + b" " * 65536, ErrorCode.TOO_LARGE)


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "{", "}", "{'type': 'ping'}", '{"type": "ping",}', "ping", "NaNa", b"\xff\xfe\x00", b"\x80",
     '{"type": "ping"} trailing', "[1, 2", '"unterminated'],
)
def test_bad_json(raw: str | bytes) -> None:
    refused(raw, ErrorCode.BAD_JSON)


@pytest.mark.parametrize("value", [[], [{"type": "ping"}], "ping", 1, 1.5, True, None])
def test_non_object_json_is_bad_message(value: Any) -> None:
    err = refused(json.dumps(value), ErrorCode.BAD_MESSAGE)
    assert "object" in err.message


@pytest.mark.parametrize("obj", [{}, {"sdp": "x"}, {"type": None}, {"type": 1}, {"type": ["join"]},
                                 {"type": {"join": 1}}, {"type": True}])
def test_missing_or_non_string_type(obj: dict[str, Any]) -> None:
    err = refused(obj, ErrorCode.BAD_MESSAGE)
    assert "type" in err.message


@pytest.mark.parametrize("kind", ["joined", "participant-joined", "error", "track-published", "JOIN", "",
                                  "ice_candidate", "x" * 10_000])
def test_unknown_type(kind: str) -> None:
    err = refused({"type": kind, "token": "t"}, ErrorCode.UNKNOWN_TYPE)
    assert len(err.message) < 200  # the echoed type is truncated


@pytest.mark.parametrize("kind", ["join", "resume"])
@pytest.mark.parametrize("v", [0, 2, -1, 999, "1", None, [1], {"v": 1}, 1.5])
def test_unsupported_version(kind: str, v: Any) -> None:
    field = "token" if kind == "join" else "resume_token"
    err = refused({"type": kind, "v": v, field: "t"}, ErrorCode.UNSUPPORTED_VERSION)
    assert f"v{PROTOCOL_VERSION}" in err.message


def test_version_only_checked_for_join_and_resume() -> None:
    # other messages have no `v` field: it is an extra field, not a version problem
    refused({"type": "ping", "v": 2}, ErrorCode.BAD_MESSAGE)


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "join"},
        {"type": "join", "token": ""},
        {"type": "join", "token": 123},
        {"type": "join", "token": None},
        {"type": "join", "token": "x" * (MAX_TOKEN_CHARS + 1)},
        {"type": "join", "token": "t", "room": "r"},
        {"type": "join", "token": "t", "resume_token": "r"},
        {"type": "resume"},
        {"type": "resume", "token": "t"},
        {"type": "resume", "resume_token": ["r"]},
        {"type": "offer"},
        {"type": "offer", "sdp": None},
        {"type": "offer", "sdp": 1},
        {"type": "offer", "sdp": "x" * (MAX_SDP_CHARS + 1)},
        {"type": "answer", "sdp": "x" * (MAX_SDP_CHARS + 1)},
        {"type": "answer", "sdp": SDP, "extra": 1},
        {"type": "ice-candidate", "candidate": 1},
        {"type": "ice-candidate", "candidate": "c", "sdpMLineIndex": -1},
        {"type": "ice-candidate", "candidate": "c", "sdpMLineIndex": "0x"},
        {"type": "ice-candidate", "candidate": "c", "sdpMLineIndex": 1.5},
        {"type": "ice-candidate", "candidate": "c", "sdpMLineIndex": 1025},
        {"type": "ice-candidate", "candidate": "c", "sdpMid": 0},
        {"type": "ice-candidate", "candidate": "c", "usernameFragment": "abc"},
        {"type": "ice-candidate", "candidate": "x" * 1025},
        {"type": "mute"},
        {"type": "mute", "kind": "screen", "muted": True},
        {"type": "mute", "kind": "audio"},
        {"type": "mute", "kind": "audio", "muted": "perhaps"},
        {"type": "mute", "kind": None, "muted": True},
        {"type": "leave", "reason": "bye"},
        {"type": "ping", "id": -1},
        {"type": "ping", "id": 2**53 + 1},
        {"type": "ping", "id": "one"},
        {"type": "ping", "id": 1.5},
        {"type": "pong", "id": [1]},
        {"type": "pong", "at": 1},
        {"type": "close-private-room"},  # name the room by id or room_id: one of the two
        {"type": "close-private-room", "id": "a", "room_id": "private-b"},
    ],
)
def test_bad_message(obj: dict[str, Any]) -> None:
    err = refused(obj, ErrorCode.BAD_MESSAGE)
    assert err.message.startswith(f"invalid {obj['type']}")
    assert len(err.message) <= 300


def test_bad_message_names_the_field() -> None:
    assert "sdp" in refused({"type": "offer", "sdp": 1}, ErrorCode.BAD_MESSAGE).message
    assert "extra" in refused({"type": "leave", "extra": 1}, ErrorCode.BAD_MESSAGE).message
    assert "sdpMLineIndex" in refused({"type": "ice-candidate", "sdpMLineIndex": -1}, ErrorCode.BAD_MESSAGE).message


def test_over_long_sdp_message_does_not_echo_the_sdp() -> None:
    err = refused({"type": "offer", "sdp": "Z" * (MAX_SDP_CHARS + 1)}, ErrorCode.BAD_MESSAGE)
    assert "ZZZZZZZZZZ" not in err.message


@pytest.mark.parametrize("raw", ["[" * 50_000, "{\"a\":" * 13_000, "[" * 5_000 + "]" * 5_000,
                                 '{"type":"join","token":"t","x":' + "[" * 30_000 + "]" * 30_000 + "}"])
def test_deep_nesting_is_refused(raw: str) -> None:
    assert len(raw.encode()) <= 65536
    result = parse_client_message(raw)
    assert isinstance(result, ProtocolError)
    assert result.code in (ErrorCode.BAD_JSON, ErrorCode.BAD_MESSAGE)


@pytest.mark.parametrize("depth", [10, 500, 900, 950, 980, 990, 995, 999, 1000, 1100])
def test_nesting_near_the_recursion_limit_never_raises(depth: int) -> None:
    nested_list = "[" * depth + "]" * depth
    nested_obj = '{"a":' * depth + "1" + "}" * depth
    for inner in (nested_list, nested_obj):
        for raw in (
            '{"type":"join","v":' + inner + ',"token":"t"}',
            '{"type":"join","token":' + inner + "}",
            '{"type":"mute","kind":' + inner + ',"muted":true}',
            '{"type":' + inner + "}",
            '{"type":"ping","x":' + inner + "}",
        ):
            result = parse_client_message(raw)
            assert isinstance(result, ProtocolError), raw[:40]


def test_huge_integers_are_refused_not_raised() -> None:
    result = parse_client_message('{"type":"ping","id":' + "9" * 5000 + "}")
    assert isinstance(result, ProtocolError)
    result = parse_client_message('{"type":"ping","id":1e400}')
    assert isinstance(result, ProtocolError)


def test_lone_surrogates_do_not_raise() -> None:
    for raw in ('{"type":"join","token":"\\ud800"}', '{"type":"\\udfff"}', "\ud800", '{"type":"ping"}\udc80'):
        result = parse_client_message(raw)
        assert isinstance(result, ProtocolError | Join)


# ---- fuzzing: parsing never raises ------------------------------------------------------------------------


def check_never_raises(raw: str | bytes, max_bytes: int = 65536) -> None:
    result = parse_client_message(raw, max_bytes)
    assert isinstance(result, (ProtocolError, *CLIENT_MODELS)), result
    if isinstance(result, ProtocolError):
        assert isinstance(result.code, ErrorCode)
        assert isinstance(result.message, str) and result.message
        result.to_error()  # always convertible to a wire error
    else:
        assert result.type in CLIENT_TYPES  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_fuzz_bytes(raw: bytes) -> None:
    check_never_raises(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2048))
def test_fuzz_text(raw: str) -> None:
    check_never_raises(raw)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(min_value=0, max_value=300))
def test_fuzz_small_limits(raw: bytes, limit: int) -> None:
    result = parse_client_message(raw, limit)
    if len(raw) > limit:
        assert isinstance(result, ProtocolError) and result.code == ErrorCode.TOO_LARGE
    else:
        check_never_raises(raw, limit)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
# Field names the models use (and near misses), so random dicts often hit real validation paths.
FIELD_NAMES = ["v", "token", "resume_token", "sdp", "candidate", "sdpMid", "sdpMLineIndex", "sdp_mid",
               "sdp_mline_index", "kind", "muted", "id", "type", "extra"]
field_values = (
    json_values
    | st.sampled_from(["audio", "video", "0", "candidate:1", "x" * (MAX_SDP_CHARS + 1), 1, 0, -1, 2**53, 2**64])
)


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # Python's json accepts NaN/Infinity, so the parser sees them too


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fuzz_json_values(value: Any) -> None:
    check_never_raises(dumps(value))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(CLIENT_TYPES)),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), field_values, max_size=5),
)
def test_fuzz_dicts_with_real_types(kind: str, fields: dict[str, Any]) -> None:
    obj = {**fields, "type": kind}
    raw = dumps(obj)
    result = parse_client_message(raw, max_bytes=10**6)
    assert isinstance(result, (ProtocolError, *CLIENT_MODELS)), result
    if not isinstance(result, ProtocolError):
        assert result.type == kind  # type: ignore[union-attr]
        # a valid message survives a trip through the wire form
        assert parse_client_message(encode(result), max_bytes=10**6) == result


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CLIENT_TYPES)), json_values)
def test_fuzz_real_type_with_arbitrary_value_in_every_field(kind: str, value: Any) -> None:
    for name in FIELD_NAMES:
        if name == "type":
            continue
        check_never_raises(dumps({"type": kind, name: value}))


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=60_000), st.sampled_from(["[", "{\"a\":", "[{\"b\":"]))
def test_fuzz_deep_nesting_within_limit(depth: int, opener: str) -> None:
    raw = opener * depth
    raw = raw[:65536]
    result = parse_client_message(raw)
    assert isinstance(result, ProtocolError)
    assert result.code in (ErrorCode.BAD_JSON, ErrorCode.BAD_MESSAGE)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_fuzz_json_values_as_type(value: Any) -> None:
    check_never_raises(dumps({"type": value}))


def test_redirect_accepts_only_websocket_urls() -> None:
    with pytest.raises(ValidationError):
        Redirect(url="https://evil.example/ws/room_1")


def test_every_close_code_is_documented_with_its_meaning() -> None:
    from signaling.closecodes import MEANINGS, CloseCode
    from signaling.protocol_doc import DOC

    doc = DOC.read_text(encoding="utf-8")
    assert set(MEANINGS) == set(CloseCode)
    for code in CloseCode:
        meaning, action = MEANINGS[code]
        assert meaning and action
        assert f"| {int(code)} | {meaning} | {action} |" in doc, f"{code!r} is not in {DOC.name}"
    assert "| 4013 | removed" in doc
