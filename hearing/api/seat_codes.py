"""Short codes (短码) over HTTP: `POST /api/seat-codes/resolve` {code} → the seat's current join link.

No login: the code is the key. A wrong code counts against the caller's address (hearing.seat_codes.GuessLimiter:
10 per 10 minutes, then 429 with Retry-After); a malformed one is answered without counting. A withdrawn or
expired link's code answers 410 with its own code, so the page says what to do before any camera check.
The link returned holds the token: `Cache-Control: no-store`, never logged.
"""

from __future__ import annotations

import io
import math
import time
from datetime import UTC, datetime

import jwt
import qrcode
import qrcode.image.svg
from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from docket.seat_codes_sql import SqlSeatCodes
from hearing.api.deps import ERROR_RESPONSES, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.seat_codes import (
    CODE_LENGTH,
    LinkState,
    SeatCodeRefusal,
    display,
    lookup_key,
    new_code,
    normalise,
    seal,
    unseal,
)
from signaling.closecodes import CloseCode
from signaling.tokens import TokenError


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64, description=f"The short code as typed ({CODE_LENGTH} letters; case, spaces "
                                                 "and dashes ignored)")


class ResolveOut(BaseModel):
    url: str = Field(description="The seat's join link (the token after '#'): open it at once, never store it")


class LinkStatusOut(BaseModel):
    state: str = Field(description="valid")
    expires_at: datetime


_LINK_STATES = {CloseCode.TOKEN_EXPIRED: (410, LinkState.EXPIRED), CloseCode.TOKEN_NOT_YET_VALID:
                (409, LinkState.NOT_YET_VALID)}


class SeatCode(BaseModel):
    code: str = Field(description="The short code, grouped (ABCDE-FGHJK): print it on the summons")
    code_url: str = Field(description="Opens the code page with the code filled in (what the QR code holds)")
    qr_svg: str = Field(description="The QR code of code_url, as SVG")


def qr_svg(text: str) -> str:
    buf = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2).save(buf)
    return buf.getvalue().decode()


async def issue_seat_code(ctx: ApiContext, jti: str, url: str) -> SeatCode | None:
    """A fresh code for a link just issued (shown once: only its hash is kept), or None without a code store."""
    if ctx.seat_codes is None:
        return None
    return await store_seat_code(ctx.seat_codes, ctx.seat_code_key, ctx.base_url, jti, url)


async def store_seat_code(store: SqlSeatCodes, key: bytes, base_url: str, jti: str, url: str) -> SeatCode:
    """Make and store the code of the link `url` (token id `jti`); the staff API and the demo use it."""
    code = new_code()
    token = url.split("#token=", 1)[1]
    await store.store(lookup_key(key, code), jti, seal(code, token), datetime.now(UTC))
    code_url = f"{base_url}/c#{display(code)}"
    return SeatCode(code=display(code), code_url=code_url, qr_svg=qr_svg(code_url))


def _state(status: int, state: LinkState, message: str) -> ApiError:
    return ApiError(status, state.value, message)


def _refused(status: int, reason: SeatCodeRefusal, message: str, **extra: object) -> ApiError:
    return ApiError(status, reason.value, message, **extra)


def seat_codes_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["short codes"], responses=ERROR_RESPONSES)

    @router.post("/seat-codes/resolve", response_model=ResolveOut,
                 responses={410: {"description": "The link of this code was withdrawn or has expired"},
                            429: {"description": "Too many wrong codes from this address"}})
    async def resolve(body: ResolveIn, request: Request, response: Response) -> ResolveOut:
        """The join link a short code stands for, while that link is current."""
        store: SqlSeatCodes | None = ctx.seat_codes
        if store is None:
            raise ApiError(503, "unavailable", "short codes are not configured on this server")
        address = request.client.host if request.client else "unknown"
        now = time.monotonic()
        if (wait := ctx.seat_guesses.blocked(address, now)) is not None:
            seconds = max(1, math.ceil(wait))
            raise ApiError(429, SeatCodeRefusal.RATE_LIMITED.value, f"too many wrong codes; wait {seconds} s",
                           headers={"Retry-After": str(seconds)}, retry_after=seconds, minutes=math.ceil(seconds / 60))
        code = normalise(body.code)
        if code is None:
            raise _refused(422, SeatCodeRefusal.MALFORMED, f"a code is {CODE_LENGTH} letters such as ABCDE-FGHJK",
                           length=CODE_LENGTH)
        found = await store.find(lookup_key(ctx.seat_code_key, code))
        if found is None:
            ctx.seat_guesses.missed(address, now)
            raise _refused(404, SeatCodeRefusal.UNKNOWN, "no such code; check it, or ask the court")
        if found.revoked_at is not None:
            raise _refused(410, SeatCodeRefusal.WITHDRAWN, "this code's link was withdrawn by the court; use the "
                                                          "newest summons or ask the court")
        if found.expires_at <= datetime.now(UTC):
            raise _refused(410, SeatCodeRefusal.EXPIRED, "this code's link has expired; ask the court for a new one")
        try:
            token = unseal(code, found.sealed_token)
        except InvalidTag:  # a lookup collision or an altered row: not this code's seat
            ctx.seat_guesses.missed(address, now)
            raise _refused(404, SeatCodeRefusal.UNKNOWN, "no such code; check it, or ask the court") from None
        response.headers["Cache-Control"] = "no-store"
        return ResolveOut(url=f"{ctx.base_url}/join#token={token}")

    @router.get("/links/status", response_model=LinkStatusOut, tags=["join links"],
                responses={410: {"description": "The link was withdrawn or has expired"}})
    async def link_status(authorization: str = Header("", description="Bearer <join token>")) -> LinkStatusOut:
        """Whether a join link still opens its seat: the join page asks before its camera check, so a withdrawn
        or expired link says what to do first (the join itself checks again)."""
        token = authorization.removeprefix("Bearer ").strip()
        try:
            room = str(jwt.decode(token, options={"verify_signature": False}).get("room", ""))
            claims = ctx.tokens.verify_join(token, room)  # the signature and the times, for the room it names
        except jwt.PyJWTError:
            raise _state(401, LinkState.INVALID, "this is not a join link of this court") from None
        except TokenError as exc:
            status, state = _LINK_STATES.get(exc.code, (401, LinkState.INVALID))
            raise _state(status, state, exc.reason) from None
        if await ctx.records.is_revoked(claims.jti):
            raise _state(410, LinkState.WITHDRAWN, "this link was withdrawn by the court; use the newest one")
        return LinkStatusOut(state="valid", expires_at=datetime.fromtimestamp(claims.expires_at, UTC))

    return router
