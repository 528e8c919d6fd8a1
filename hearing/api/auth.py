"""Staff login, logout and "who am I": POST /api/login, POST /api/logout, GET /api/me."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hearing.api.deps import ERROR_RESPONSES, SESSION_COOKIE, ApiContext, ApiError, ApiRoute, StaffDeps
from hearing.staff_auth import LoginRefused, StaffPrincipal


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024, repr=False)


class Me(BaseModel):
    id: str
    username: str
    display_name: str
    person_id: str | None
    roles: list[str]
    permissions: list[str]
    session_expires_at: datetime


class LoginResponse(BaseModel):
    token: str = Field(description="The session token: send it as 'Authorization: Bearer <token>'. Shown once.")
    expires_at: datetime
    staff: Me


def me_of(principal: StaffPrincipal) -> Me:
    return Me(id=principal.id, username=principal.username, display_name=principal.display_name,
              person_id=principal.person_id, roles=sorted(r.value for r in principal.roles),
              permissions=sorted(p.value for p in principal.permissions),
              session_expires_at=principal.session_expires_at)


_LOGIN_STATUS = {"bad_credentials": 401, "locked": 423, "disabled": 403}


def auth_router(ctx: ApiContext, deps: StaffDeps) -> APIRouter:
    router = APIRouter(route_class=ApiRoute, tags=["staff login"])

    @router.post("/login", response_model=LoginResponse,
                 responses={401: {"description": "Wrong username or password"},
                            403: {"description": "The account is disabled"},
                            423: {"description": "Locked after too many wrong passwords; `locked_until` says until"},
                            429: {"description": "Too many attempts from this address; `retry_after` seconds"},
                            422: ERROR_RESPONSES[422]})
    async def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        """Log in with username and password: returns a session token and also sets it as an HttpOnly cookie.
        Attempts are throttled per client address (429 `login_throttled` with `retry_after` seconds); no account
        is ever locked by others' guesses."""
        if ctx.login_throttle is not None:
            address = request.client.host if request.client else ""
            throttled = ctx.login_throttle.attempt(address, body.username, time.monotonic())
            if throttled is not None:
                raise ApiError(429, "login_throttled", f"too many login attempts from your address; try again in "
                               f"{throttled.retry_after} s", retry_after=throttled.retry_after,
                               headers={"Retry-After": str(throttled.retry_after)})
        try:
            token, principal = await ctx.auth.login(body.username, body.password)
        except LoginRefused as exc:
            extra = {"locked_until": exc.locked_until.isoformat()} if exc.locked_until else {}
            raise ApiError(_LOGIN_STATUS.get(exc.code, 401), exc.code, exc.message, **extra) from None
        max_age = max(0, int((principal.session_expires_at - ctx.auth.clock()).total_seconds()))
        response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                            secure=ctx.secure_cookies, path="/")
        response.headers["Cache-Control"] = "no-store"
        return LoginResponse(token=token, expires_at=principal.session_expires_at, staff=me_of(principal))

    @router.post("/logout", responses={401: ERROR_RESPONSES[401]})
    async def logout(response: Response, principal: StaffPrincipal = Depends(deps.current)) -> dict[str, str]:
        """End this session (the token stops working at once) and clear the cookie."""
        await ctx.auth.logout(principal)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=ctx.secure_cookies)
        return {"status": "logged out"}

    @router.get("/me", response_model=Me, responses={401: ERROR_RESPONSES[401]})
    async def me(principal: StaffPrincipal = Depends(deps.current)) -> Me:
        """The logged-in staff member: roles, permissions and when the session ends."""
        return me_of(principal)

    return router
