"""Join and resume tokens: round trips, tampering, expiry against the injected clock, and refusals."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.closecodes import CloseCode
from signaling.tokens import (
    ALGORITHM,
    ISSUER,
    JOIN_AUDIENCE,
    LEEWAY_SECONDS,
    RESUME_AUDIENCE,
    Grant,
    JoinClaims,
    ResumeClaims,
    TokenError,
    TokenService,
    new_id,
)

SECRET = "a-test-secret-that-is-long-enough-0123456789"
OTHER_SECRET = "another-secret-of-sufficient-length-9876543210"
ROOM = "room_abc"
T0 = 1_700_000_000


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(clock: Clock) -> TokenService:
    return TokenService(SECRET, clock=clock)


def issue(svc: TokenService, **kw: Any) -> tuple[str, JoinClaims]:
    args: dict[str, Any] = {"room_id": ROOM, "role": "plaintiff", "name": "Li Lei 李雷",
                            "grants": ["publish", "subscribe"], "ttl_seconds": 3600}
    args.update(kw)
    return svc.issue_join(**args)


def refused(fn: Any, *args: Any, code: CloseCode) -> TokenError:
    with pytest.raises(TokenError) as info:
        fn(*args)
    assert info.value.code == code, info.value
    assert info.value.reason and str(info.value) == info.value.reason
    return info.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def join_payload(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISSUER, "aud": JOIN_AUDIENCE, "sub": "p_1", "name": "N", "room": ROOM, "role": "judge",
        "grants": ["publish"], "jti": "t_1", "iat": T0, "nbf": T0, "exp": T0 + 600,
    }
    payload.update(over)
    return payload


def craft(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


# ---- round trips ------------------------------------------------------------------------------------------


def test_join_round_trip_keeps_every_claim(svc: TokenService) -> None:
    token, claims = issue(svc, participant_id="p_fixed", role="judge", name="Judge Wang 王",
                          grants=["moderate", "publish", "subscribe"], ttl_seconds=900)
    assert isinstance(token, str) and token.count(".") == 2
    assert claims == JoinClaims(participant_id="p_fixed", name="Judge Wang 王", room_id=ROOM, role="judge",
                                grants=frozenset({"moderate", "publish", "subscribe"}), jti=claims.jti,
                                issued_at=T0, not_before=T0, expires_at=T0 + 900)
    assert svc.verify_join(token, ROOM) == claims


def test_join_defaults(svc: TokenService) -> None:
    token, claims = issue(svc, grants=[])
    assert claims.participant_id.startswith("p_")
    assert claims.jti.startswith("t_")
    assert claims.grants == frozenset()
    assert claims.not_before == claims.issued_at == T0
    assert svc.verify_join(token, ROOM) == claims


def test_each_issue_gets_fresh_ids(svc: TokenService) -> None:
    _, a = issue(svc)
    _, b = issue(svc)
    assert a.jti != b.jti and a.participant_id != b.participant_id


def test_grants_accept_enum_members_and_are_sorted_on_the_wire(svc: TokenService) -> None:
    token, claims = issue(svc, grants=[Grant.SUBSCRIBE, Grant.PUBLISH, "subscribe"])
    assert claims.grants == {"publish", "subscribe"}
    payload = jwt.decode(token, SECRET, algorithms=[ALGORITHM], audience=JOIN_AUDIENCE,
                         options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    assert payload["grants"] == ["publish", "subscribe"]
    assert payload["iss"] == ISSUER and payload["aud"] == JOIN_AUDIENCE
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_resume_round_trip(svc: TokenService) -> None:
    token = svc.issue_resume(participant_id="p_1", room_id=ROOM, session_id="s_1", join_jti="t_1", ttl_seconds=30)
    assert svc.verify_resume(token, ROOM) == ResumeClaims(participant_id="p_1", room_id=ROOM, session_id="s_1",
                                                          join_jti="t_1", expires_at=T0 + 30)


def test_new_id_is_prefixed_and_random() -> None:
    ids = {new_id("x") for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("x_") and len(i) > 10 for i in ids)


# ---- tampering and foreign signatures ---------------------------------------------------------------------


def test_flipped_signature_char_is_invalid(svc: TokenService) -> None:
    token, _ = issue(svc)
    head, body, sig = token.split(".")
    for i in (0, len(sig) // 2, len(sig) - 2):
        flipped = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
        refused(svc.verify_join, f"{head}.{body}.{flipped}", ROOM, code=CloseCode.TOKEN_INVALID)


def test_payload_changed_to_another_role_keeps_old_signature_is_invalid(svc: TokenService) -> None:
    token, _ = issue(svc, role="observer", grants=["subscribe"])
    head, body, sig = token.split(".")
    payload = json.loads(unb64(body))
    payload["role"] = "presiding_judge"
    payload["grants"] = ["moderate", "publish", "subscribe"]
    forged = f"{head}.{b64(json.dumps(payload).encode())}.{sig}"
    refused(svc.verify_join, forged, ROOM, code=CloseCode.TOKEN_INVALID)


def test_payload_changed_to_another_room_keeps_old_signature_is_invalid(svc: TokenService) -> None:
    token, _ = issue(svc)
    head, body, sig = token.split(".")
    payload = json.loads(unb64(body))
    payload["room"] = "room_other"
    forged = f"{head}.{b64(json.dumps(payload).encode())}.{sig}"
    refused(svc.verify_join, forged, "room_other", code=CloseCode.TOKEN_INVALID)


def test_signed_with_another_secret_is_invalid(clock: Clock) -> None:
    other = TokenService(OTHER_SECRET, clock=clock)
    token, _ = issue(other)
    refused(TokenService(SECRET, clock=clock).verify_join, token, ROOM, code=CloseCode.TOKEN_INVALID)
    resume = other.issue_resume(participant_id="p", room_id=ROOM, session_id="s", join_jti="t", ttl_seconds=30)
    refused(TokenService(SECRET, clock=clock).verify_resume, resume, ROOM, code=CloseCode.RESUME_FAILED)


def test_alg_none_is_invalid(svc: TokenService) -> None:
    unsigned = jwt.encode(join_payload(), None, algorithm="none")  # type: ignore[arg-type]
    refused(svc.verify_join, unsigned, ROOM, code=CloseCode.TOKEN_INVALID)
    # hand-built too, with and without a trailing signature part
    head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(join_payload()).encode())
    refused(svc.verify_join, f"{head}.{body}.", ROOM, code=CloseCode.TOKEN_INVALID)
    refused(svc.verify_join, f"{head}.{body}", ROOM, code=CloseCode.TOKEN_INVALID)


def test_alg_switched_in_header_keeping_hs256_signature_is_invalid(svc: TokenService) -> None:
    token, _ = issue(svc)
    _, body, sig = token.split(".")
    head = b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
    refused(svc.verify_join, f"{head}.{body}.{sig}", ROOM, code=CloseCode.TOKEN_INVALID)


@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_other_hmac_algorithm_with_right_secret_is_invalid(svc: TokenService) -> None:
    token = jwt.encode(join_payload(), SECRET, algorithm="HS512")
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_INVALID)


@pytest.mark.parametrize("token", ["", "x", "a.b", "a.b.c", "...", "a.b.c.d", "eyJ.eyJ.sig", " ", "\x00", "\ud800",
                                   "eyJhbGciOiJIUzI1NiJ9.\ud800.x"])
def test_garbage_is_invalid(svc: TokenService, token: str) -> None:
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_INVALID)
    refused(svc.verify_resume, token, ROOM, code=CloseCode.RESUME_FAILED)


# ---- time -------------------------------------------------------------------------------------------------


def test_expired_join_token(svc: TokenService, clock: Clock) -> None:
    token, _ = issue(svc, ttl_seconds=60)
    clock.now = T0 + 60
    assert svc.verify_join(token, ROOM)
    clock.now = T0 + 60 + LEEWAY_SECONDS  # within the leeway: still accepted
    assert svc.verify_join(token, ROOM)
    clock.now = T0 + 60 + LEEWAY_SECONDS + 0.5
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_EXPIRED)
    clock.now = T0 + 10**6
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_EXPIRED)


def test_leeway_is_five_seconds() -> None:
    assert LEEWAY_SECONDS == 5


def test_not_before_in_the_future(svc: TokenService, clock: Clock) -> None:
    token, claims = issue(svc, not_before=T0 + 100, ttl_seconds=3600)
    assert claims.not_before == T0 + 100
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_NOT_YET_VALID)
    clock.now = T0 + 100 - LEEWAY_SECONDS - 1
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_NOT_YET_VALID)
    clock.now = T0 + 100 - LEEWAY_SECONDS  # within the leeway
    assert svc.verify_join(token, ROOM) == claims
    clock.now = T0 + 100
    assert svc.verify_join(token, ROOM) == claims


def test_expiry_is_checked_against_the_injected_clock_not_wall_time() -> None:
    # issued "in 1990", valid then, long expired by wall time
    old = TokenService(SECRET, clock=lambda: 631_152_000)
    token, _ = old.issue_join(room_id=ROOM, role="judge", name="n", grants=[], ttl_seconds=60)
    assert old.verify_join(token, ROOM)
    # issued "in 2100": not yet valid by wall time, fine by its own clock
    future = TokenService(SECRET, clock=lambda: 4_102_444_800)
    token, _ = future.issue_join(room_id=ROOM, role="judge", name="n", grants=[], ttl_seconds=60)
    assert future.verify_join(token, ROOM)


def test_resume_token_expiry_is_resume_failed(svc: TokenService, clock: Clock) -> None:
    token = svc.issue_resume(participant_id="p", room_id=ROOM, session_id="s", join_jti="t", ttl_seconds=30)
    clock.now = T0 + 30 + LEEWAY_SECONDS
    assert svc.verify_resume(token, ROOM)
    clock.now = T0 + 30 + LEEWAY_SECONDS + 1
    err = refused(svc.verify_resume, token, ROOM, code=CloseCode.RESUME_FAILED)
    assert err.code == 4007


# ---- wrong room, wrong kind of token ----------------------------------------------------------------------


def test_wrong_room(svc: TokenService) -> None:
    token, _ = issue(svc)
    err = refused(svc.verify_join, token, "room_other", code=CloseCode.WRONG_ROOM)
    assert err.code == 4004
    resume = svc.issue_resume(participant_id="p", room_id=ROOM, session_id="s", join_jti="t", ttl_seconds=30)
    refused(svc.verify_resume, resume, "room_other", code=CloseCode.WRONG_ROOM)


def test_resume_token_is_not_a_join_token(svc: TokenService) -> None:
    resume = svc.issue_resume(participant_id="p", room_id=ROOM, session_id="s", join_jti="t", ttl_seconds=30)
    refused(svc.verify_join, resume, ROOM, code=CloseCode.TOKEN_INVALID)


def test_join_token_is_not_a_resume_token(svc: TokenService) -> None:
    token, _ = issue(svc)
    refused(svc.verify_resume, token, ROOM, code=CloseCode.RESUME_FAILED)


def test_wrong_issuer_is_invalid(svc: TokenService) -> None:
    refused(svc.verify_join, craft(join_payload(iss="someone-else")), ROOM, code=CloseCode.TOKEN_INVALID)


def test_crafted_valid_token_is_accepted(svc: TokenService) -> None:
    claims = svc.verify_join(craft(join_payload()), ROOM)
    assert (claims.participant_id, claims.role, claims.grants) == ("p_1", "judge", frozenset({"publish"}))


# ---- issue-time checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("grants", [["admin"], ["publish", "record"], ["PUBLISH"], [""]])
def test_unknown_grants_at_issue(svc: TokenService, grants: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown grants"):
        issue(svc, grants=grants)


@pytest.mark.parametrize("secret", ["", "short", "x" * 15])
def test_short_secret(secret: str) -> None:
    with pytest.raises(ValueError, match="16"):
        TokenService(secret)


def test_sixteen_character_secret_is_enough() -> None:
    TokenService("x" * 16)


# ---- malformed claims under a valid signature -------------------------------------------------------------


@pytest.mark.parametrize("claim", ["sub", "name", "room", "role", "grants", "jti", "iat", "nbf", "exp", "iss", "aud"])
def test_missing_required_join_claim(svc: TokenService, claim: str) -> None:
    payload = join_payload()
    del payload[claim]
    refused(svc.verify_join, craft(payload), ROOM, code=CloseCode.TOKEN_INVALID)


@pytest.mark.parametrize("claim", ["sub", "room", "sid", "jti", "exp", "iss", "aud"])
def test_missing_required_resume_claim(svc: TokenService, claim: str) -> None:
    payload = {"iss": ISSUER, "aud": RESUME_AUDIENCE, "sub": "p", "room": ROOM, "sid": "s", "jti": "t",
               "exp": T0 + 30}
    assert svc.verify_resume(craft(payload), ROOM)
    del payload[claim]
    refused(svc.verify_resume, craft(payload), ROOM, code=CloseCode.RESUME_FAILED)


@pytest.mark.parametrize("grants", ["publish", {"publish": True}, 1, None, [1], ["publish", None], [["publish"]]])
def test_grants_not_a_list_of_strings(svc: TokenService, grants: Any) -> None:
    refused(svc.verify_join, craft(join_payload(grants=grants)), ROOM, code=CloseCode.TOKEN_INVALID)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["soon", "1.5", "123", [1], {"t": 1}, True, 10**400, float("inf"), float("nan")])
def test_non_numeric_time_claims(svc: TokenService, claim: str, value: Any) -> None:
    token = craft(join_payload(**{claim: value}))
    refused(svc.verify_join, token, ROOM, code=CloseCode.TOKEN_INVALID)


@pytest.mark.parametrize("value", ["soon", [1], float("inf"), float("nan"), 10**400])
def test_non_numeric_resume_expiry(svc: TokenService, value: Any) -> None:
    payload = {"iss": ISSUER, "aud": RESUME_AUDIENCE, "sub": "p", "room": ROOM, "sid": "s", "jti": "t", "exp": value}
    refused(svc.verify_resume, craft(payload), ROOM, code=CloseCode.RESUME_FAILED)


def test_float_time_claims_are_accepted(svc: TokenService) -> None:
    claims = svc.verify_join(craft(join_payload(iat=T0 + 0.5, nbf=T0 - 0.5, exp=T0 + 60.9)), ROOM)
    assert (claims.issued_at, claims.not_before, claims.expires_at) == (T0, T0 - 1, T0 + 60)


def test_payload_not_an_object(svc: TokenService) -> None:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    for body in (b"[1,2]", b'"x"', b"null", b"not json"):
        signing_input = f"{head}.{b64(body)}".encode()
        sig = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(signing_input, SECRET.encode())
        refused(svc.verify_join, f"{signing_input.decode()}.{b64(sig)}", ROOM, code=CloseCode.TOKEN_INVALID)


# ---- fuzzing ----------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_token_error(token: str) -> None:
    svc = TokenService(SECRET, clock=lambda: T0)
    for verify, code in ((svc.verify_join, CloseCode.TOKEN_INVALID), (svc.verify_resume, CloseCode.RESUME_FAILED)):
        with pytest.raises(TokenError) as info:
            verify(token, ROOM)
        assert info.value.code == code


jwt_part = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=80)


@settings(max_examples=300, deadline=None)
@given(jwt_part, jwt_part, jwt_part)
def test_any_three_base64url_parts_are_a_token_error(a: str, b: str, c: str) -> None:
    svc = TokenService(SECRET, clock=lambda: T0)
    with pytest.raises(TokenError):
        svc.verify_join(f"{a}.{b}.{c}", ROOM)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sub", "name", "room", "role", "grants", "jti", "iat", "nbf", "exp", "sid"]),
        json_values,
        max_size=10,
    )
)
def test_validly_signed_arbitrary_claims_never_raise_anything_else(overrides: dict[str, Any]) -> None:
    """Even a token signed with the right key but with odd claim values ends in claims or a TokenError."""
    svc = TokenService(SECRET, clock=lambda: T0)
    token = craft(join_payload(**overrides))
    try:
        claims = svc.verify_join(token, ROOM)
    except TokenError as exc:
        assert exc.code in {CloseCode.TOKEN_INVALID, CloseCode.TOKEN_EXPIRED, CloseCode.TOKEN_NOT_YET_VALID,
                            CloseCode.WRONG_ROOM}
    else:
        assert isinstance(claims, JoinClaims)
        assert all(isinstance(g, str) for g in claims.grants)
    resume = craft({**join_payload(**overrides), "aud": RESUME_AUDIENCE})
    try:
        svc.verify_resume(resume, ROOM)
    except TokenError as exc:
        assert exc.code in {CloseCode.RESUME_FAILED, CloseCode.TOKEN_NOT_YET_VALID, CloseCode.WRONG_ROOM}
