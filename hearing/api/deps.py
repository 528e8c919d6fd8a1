"""What every staff API route shares: the adapters (`ApiContext`), authentication, permission checks, errors.

Authentication: `Authorization: Bearer <session token>` (scripts, other services) or the HttpOnly, SameSite=Strict
session cookie set at login (the staff web pages; SameSite=Strict keeps other sites' pages from sending it, which
is the CSRF defence). Anonymous callers get 401, callers without a permission 403 naming it.

Errors are JSON `{"error": code, "message": sentence, ...}` — `ApiRoute` turns the register's, the link issuer's
and FastAPI's validation exceptions into that shape with the right status, so no bad input becomes a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fastapi import Depends, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from docket.audit import AuditLog
from docket.court import (
    CourtRecords,
    DuplicateCaseNumber,
    DuplicateParticipant,
    Hearing,
    InvalidRecord,
    NotFound,
    StaleState,
)
from docket.facts import ConflictingFact, FactRecords
from docket.recording_rules import RecordingRuleViolation
from docket.records import Records, RecordsError, RoomNotFound
from docket.room_ids import RoomIdTaken
from docket.seat_codes_sql import SqlSeatCodes
from docket.staff import DuplicateUsername, StaffNotFound
from hearing.join_links import LinkRefused, RoomAssigner
from hearing.login_throttle import LoginThrottle
from hearing.procedure_service import ProcedureService
from hearing.roles import Role
from hearing.seat_codes import GuessLimiter
from hearing.staff_auth import Permission, SessionInvalid, StaffAuth, StaffPrincipal
from signaling.protocol import Error, ModerationMessage, RoomState
from signaling.tokens import TokenService

log = logging.getLogger("hearing.api")


class LobbyActions(Protocol):
    """What the staff API needs from the live courtroom (hearing.courtroom.Courtroom)."""

    async def waiting(self, hearing: Hearing) -> list[dict[str, Any]]: ...

    async def act(self, hearing: Hearing, actor_id: str, role: Role, msg: ModerationMessage) -> Error | None: ...

    def room_state(self, hearing: Hearing | None) -> RoomState: ...

SESSION_COOKIE = "hearing_staff_session"
AUDIT_ROLE = "staff"


@dataclass
class ApiContext:
    """The adapters the staff API works with; app/ builds it from its services."""

    court: CourtRecords
    records: Records
    audit: AuditLog
    procedure: ProcedureService
    tokens: TokenService
    auth: StaffAuth
    rooms: RoomAssigner
    base_url: str
    lobby: LobbyActions | None = None  # the live courtroom (absent in API-only tests)
    facts: FactRecords | None = None  # the litigation facts register (outcomes of cases)
    # Ends a live session opened with a link that was just withdrawn: (room id, token id) → sessions ended.
    end_sessions: Callable[[str, str], Awaitable[int]] | None = None
    # Connect-a-judge call statistics for /api/stats, handed in by app/ (since, until) → figures.
    call_stats: Callable[[datetime | None, datetime | None], Awaitable[dict[str, Any]]] | None = None
    # Short codes for join links (hearing/seat_codes.py): the store, the HMAC key of the lookups, wrong guesses.
    seat_codes: SqlSeatCodes | None = None
    seat_code_key: bytes = b""
    seat_guesses: GuessLimiter = field(default_factory=GuessLimiter)
    # Staff logins slowed per client address (hearing.login_throttle); None: not throttled (API-only tests).
    login_throttle: LoginThrottle | None = None

    @property
    def secure_cookies(self) -> bool:
        """Mark the session cookie Secure when the platform is reached over HTTPS."""
        return self.base_url.startswith("https://")


# ---- errors ---------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: HTTP status, a stable code, a sentence saying what went wrong and what to do."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message, **self.extra}, status_code=self.status,
                            headers=self.headers)


def _validation_error(exc: RequestValidationError) -> ApiError:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
        problems.append({"field": ".".join(loc) or "request", "message": str(err.get("msg", "invalid value"))})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]) or "the request is not valid"
    return ApiError(422, "invalid_request", summary, problems=problems)


_LINK_STATUS = {"role_not_admitted": 422, "bad_ttl": 422, "hearing_over": 409, "conflict": 409}


def translate(exc: Exception) -> ApiError | None:
    """The API answer for an exception from below, or None to let it propagate (a bug: 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", f"{exc}; check the id", what=exc.what, id=exc.key)
    if isinstance(exc, StaffNotFound | RoomNotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, DuplicateCaseNumber | DuplicateParticipant | DuplicateUsername):
        return ApiError(409, "duplicate", str(exc))
    if isinstance(exc, StaleState):
        return ApiError(409, "stale_state", f"{exc}: someone else changed it first; reload and decide again")
    if isinstance(exc, LinkRefused):
        return ApiError(_LINK_STATUS.get(exc.code, 422), exc.code, exc.message)
    if isinstance(exc, RoomIdTaken):
        return ApiError(409, exc.code, str(exc))
    if isinstance(exc, RecordingRuleViolation):
        return ApiError(422, exc.code, str(exc), kind=exc.kind.value, recorded=exc.recorded)
    if isinstance(exc, InvalidRecord):
        return ApiError(422, "invalid_request", str(exc))
    if isinstance(exc, ConflictingFact):
        return ApiError(409, "conflicting_fact", str(exc))
    if isinstance(exc, RecordsError):
        log.error("records database error in the staff API: %s", exc)
        return ApiError(503, "database_unavailable", "the court's database did not answer; try again shortly")
    return None


def route_class(translator: Callable[[Exception], ApiError | None]) -> type[APIRoute]:
    """A route class whose exceptions become JSON errors through `translator` (None: a bug, let it be a 500).

    The staff API uses `translate`; services with refusals of their own (points, integrity) pass a translator that
    handles those first and falls back to `translate`.
    """

    class Route(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    error = translator(exc)
                    if error is None:
                        raise
                    return error.response()

            return route

    return Route


ApiRoute = route_class(translate)
"""Routes of the staff API: exceptions become JSON errors (see `translate`)."""


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in, or the session expired or ended: log in again"},
    403: {"description": "Logged in, but the account lacks the permission named in `missing_permission`"},
    422: {"description": "The request is not valid; `message` and `problems` say what to change"},
}


# ---- authentication and permissions ---------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="The session token from POST /api/login")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="The HttpOnly session cookie set by POST /api/login (staff web pages)")

NOT_LOGGED_IN = "log in first: POST /api/login, then send 'Authorization: Bearer <token>' (or use the session cookie)"


class StaffDeps:
    """FastAPI dependencies bound to one `StaffAuth`: `current` (the caller) and `require(permission)`."""

    def __init__(self, auth: StaffAuth) -> None:
        self.auth = auth

        async def current_staff(
            credentials: HTTPAuthorizationCredentials | None = Security(_bearer),
            cookie_token: str | None = Security(_cookie),
        ) -> StaffPrincipal:
            token = credentials.credentials if credentials is not None else cookie_token
            if not token:
                raise ApiError(401, "not_authenticated", NOT_LOGGED_IN, headers={"WWW-Authenticate": "Bearer"})
            try:
                return await auth.resolve(token)
            except SessionInvalid as exc:
                raise ApiError(401, "session_invalid", exc.message, headers={"WWW-Authenticate": "Bearer"}) from None

        self.current = current_staff

    def require(self, permission: Permission) -> Callable[..., Awaitable[StaffPrincipal]]:
        current = self.current

        async def with_permission(principal: StaffPrincipal = Depends(current)) -> StaffPrincipal:
            check(principal, permission)
            return principal

        return with_permission


def check(principal: StaffPrincipal, permission: Permission) -> None:
    """403 naming the missing permission (and the caller's roles) unless the principal holds it."""
    if not principal.may(permission):
        roles = ", ".join(sorted(r.value for r in principal.roles)) or "none"
        raise ApiError(403, "forbidden",
                       f"this needs the permission {permission.value}, which your staff roles ({roles}) do not grant; "
                       "ask an administrator", missing_permission=permission.value)
