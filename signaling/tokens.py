"""Join and resume tokens: signed JWTs (HS256) bound to one room, one participant and one role.

A join token is what a person's link carries; a resume token is handed out at `joined` so a dropped
connection can take back its place without the join token. Verification failures carry the WebSocket
close code and a short reason the client shows to the person.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from signaling.closecodes import CloseCode

ISSUER = "hearing-cloud"
JOIN_AUDIENCE = "hearing-join"
RESUME_AUDIENCE = "hearing-resume"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 5


class Grant(StrEnum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    MODERATE = "moderate"


class TokenError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class JoinClaims:
    participant_id: str
    name: str
    room_id: str
    role: str
    grants: frozenset[str]
    jti: str
    issued_at: int
    not_before: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class ResumeClaims:
    participant_id: str
    room_id: str
    session_id: str
    join_jti: str
    expires_at: int


def _finite(t: float) -> bool:
    try:
        return math.isfinite(t)
    except OverflowError:  # an int too large for a float
        return False


def new_id(prefix: str) -> str:
    """Random, unguessable ids; never derived from personal data."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class TokenService:
    """Issues and verifies tokens with one secret. `clock` is injectable so expiry is testable."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("token secret must be at least 16 characters")
        self._secret = secret
        self._clock = clock

    def issue_join(
        self,
        *,
        room_id: str,
        role: str,
        name: str,
        grants: Iterable[str],
        ttl_seconds: int,
        participant_id: str | None = None,
        not_before: int | None = None,
    ) -> tuple[str, JoinClaims]:
        now = int(self._clock())
        unknown = set(grants) - {g.value for g in Grant}
        if unknown:
            raise ValueError(f"unknown grants {sorted(unknown)}; use {[g.value for g in Grant]}")
        claims = JoinClaims(
            participant_id=participant_id or new_id("p"),
            name=name,
            room_id=room_id,
            role=role,
            grants=frozenset(grants),
            jti=new_id("t"),
            issued_at=now,
            not_before=now if not_before is None else not_before,
            expires_at=now + ttl_seconds,
        )
        payload = {
            "iss": ISSUER,
            "aud": JOIN_AUDIENCE,
            "sub": claims.participant_id,
            "name": name,
            "room": room_id,
            "role": role,
            "grants": sorted(claims.grants),
            "jti": claims.jti,
            "iat": claims.issued_at,
            "nbf": claims.not_before,
            "exp": claims.expires_at,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def verify_join(self, token: str, room_id: str) -> JoinClaims:
        p = self._decode(token, JOIN_AUDIENCE, ["sub", "name", "room", "role", "grants", "jti", "iat", "nbf", "exp"])
        if not isinstance(p["grants"], list) or not all(isinstance(g, str) for g in p["grants"]):
            raise TokenError(CloseCode.TOKEN_INVALID, "token is malformed")
        if p["room"] != room_id:
            raise TokenError(CloseCode.WRONG_ROOM, "this link is for a different hearing room")
        return JoinClaims(
            participant_id=str(p["sub"]),
            name=str(p["name"]),
            room_id=str(p["room"]),
            role=str(p["role"]),
            grants=frozenset(p["grants"]),
            jti=str(p["jti"]),
            issued_at=int(p["iat"]),
            not_before=int(p["nbf"]),
            expires_at=int(p["exp"]),
        )

    def issue_resume(self, *, participant_id: str, room_id: str, session_id: str, join_jti: str,
                     ttl_seconds: int) -> str:
        payload = {
            "iss": ISSUER,
            "aud": RESUME_AUDIENCE,
            "sub": participant_id,
            "room": room_id,
            "sid": session_id,
            "jti": join_jti,
            "exp": int(self._clock()) + ttl_seconds,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify_resume(self, token: str, room_id: str) -> ResumeClaims:
        p = self._decode(token, RESUME_AUDIENCE, ["sub", "room", "sid", "jti", "exp"], resume=True)
        if p["room"] != room_id:
            raise TokenError(CloseCode.WRONG_ROOM, "this session belongs to a different hearing room")
        return ResumeClaims(
            participant_id=str(p["sub"]),
            room_id=str(p["room"]),
            session_id=str(p["sid"]),
            join_jti=str(p["jti"]),
            expires_at=int(p["exp"]),
        )

    def _decode(self, token: str, audience: str, required: list[str], resume: bool = False) -> dict[str, Any]:
        bad = CloseCode.RESUME_FAILED if resume else CloseCode.TOKEN_INVALID
        try:
            # Time claims are checked below against the injectable clock, not PyJWT's own time.time().
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                options={"require": required, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except (jwt.InvalidTokenError, UnicodeError):  # UnicodeError: a lone surrogate cannot be UTF-8 encoded
            raise TokenError(bad, "the link is invalid or has been altered") from None
        now = self._clock()
        # NumericDate claims must be finite JSON numbers, else int()/float() below would raise past TokenError.
        times = {c: payload[c] for c in ("exp", "nbf", "iat") if c in payload}
        if not all(isinstance(t, int | float) and not isinstance(t, bool) and _finite(t) for t in times.values()):
            raise TokenError(bad, "the link is invalid or has been altered")
        exp = float(payload["exp"])
        nbf = float(payload.get("nbf", 0))
        if now > exp + LEEWAY_SECONDS:
            if resume:
                raise TokenError(CloseCode.RESUME_FAILED, "the session can no longer be resumed; join again")
            raise TokenError(CloseCode.TOKEN_EXPIRED, "the link has expired; ask the court for a new one")
        if now + LEEWAY_SECONDS < nbf:
            raise TokenError(CloseCode.TOKEN_NOT_YET_VALID, "the link is not valid yet; try again at the set time")
        return payload
