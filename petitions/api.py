"""HTTP API of video petitions (接诉即办) under /api/petitions (OpenAPI at /docs).

Callers and their credentials:
- a citizen filing: a *filing session* token (`X-Petition-Filing`, from POST /filing-sessions) that also owns the
  clips they upload through the shared clip upload (/api/clips/petition/...), so a petition can only attach clips
  recorded in its own filing session;
- a citizen following their petition: a *petition access* token (`X-Petition-Access`), returned at filing, by
  POST /lookup (petition number + status code) or on a link a clerk or station operator issues; the page keeps it
  in the URL fragment or sessionStorage, never in a URL the server sees;
- court staff: the staff session of the staff API (clerks triage, reclassify, close and issue links; the assigned
  handler contacts and replies; supervisors — presiding judges and admins — read the board and close).
Both citizen tokens are JWTs (HS256, a key derived from the platform secret) with their own audiences, so neither
opens anything else. Only this module touches hearing/ (the staff session and the error envelope).
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from docket.audit import AuditEvent
from docket.notifications import SqlInbox, staff_recipient
from docket.staff import StaffRole
from hearing.api.deps import ERROR_RESPONSES, ApiError, StaffDeps, route_class, translate
from hearing.staff_auth import StaffAuth, StaffPrincipal
from petitions import codes
from petitions.calls import CALLABLE, PetitionCalls
from petitions.photos import MAX_PHOTOS, Photo
from petitions.rates import Fraction, Rates
from petitions.rules import (
    CATEGORY_CLASS,
    WORKING_DAYS,
    Actor,
    Category,
    ContactChannel,
    HandlerKind,
    Light,
    Outcome,
    PetitionClass,
    Rating,
    Refused,
    Status,
    reopen_ends_at,
)
from petitions.service import (
    MAX_CLIPS,
    SUPERVISOR_ROLES,
    BoardFilter,
    Filing,
    PetitionRecord,
    PetitionRefused,
    PetitionService,
)
from recordings.clips import ClipActor, ClipService

FILING_AUDIENCE = "petitions:filing"
ACCESS_AUDIENCE = "petitions:citizen"
FILING_TTL = timedelta(hours=24)
ACCESS_TTL = timedelta(days=30)
KEY_DERIVATION = b"petitions-citizen-token:"
_REFUSAL_STATUS = {"wrong_state": 409, "reopen_used": 409, "reopen_expired": 409, "unchanged": 409,
                   "not_allowed": 403, "clip_used": 409}


class CitizenTokens:
    """Filing-session and petition-access tokens (see the module docstring)."""

    def __init__(self, key: bytes, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if len(key) < 32:
            raise ValueError("the petition token key needs at least 32 bytes")
        self._key = key
        self.clock = clock

    @classmethod
    def from_secret(cls, secret: str, **kwargs: Any) -> CitizenTokens:
        return cls(hashlib.sha256(KEY_DERIVATION + secret.encode()).digest(), **kwargs)

    @property
    def code_key(self) -> bytes:
        """The key of the status-code hashes: derived from the same secret, never used for tokens."""
        return hashlib.sha256(b"petitions-status-code:" + self._key).digest()

    def issue(self, audience: str, subject: str, ttl: timedelta) -> tuple[str, datetime]:
        now = self.clock()
        expires = now + ttl
        return jwt.encode({"sub": subject, "aud": audience, "iat": int(now.timestamp()),
                           "exp": int(expires.timestamp())}, self._key, algorithm="HS256"), expires

    def subject(self, token: str, audience: str) -> str:
        if not token:
            raise ApiError(401, "petition_token_missing", "open the petition with its link, or with its number "
                                                          "and status code")
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=audience,
                                options={"require": ["sub", "aud", "exp"], "verify_exp": False})
        except jwt.PyJWTError:
            raise ApiError(401, "petition_token_invalid", "this petition link is not valid; open the petition with "
                                                          "its number and status code") from None
        if int(claims["exp"]) <= self.clock().timestamp():
            raise ApiError(401, "petition_token_expired", "this petition link has expired; open the petition with "
                                                          "its number and status code")
        return str(claims["sub"])


@dataclass
class PetitionsContext:
    service: PetitionService
    tokens: CitizenTokens
    auth: StaffAuth
    base_url: str
    clips: ClipService | None = None
    inbox: SqlInbox | None = None
    calls: PetitionCalls | None = None  # the handler's recorded video call (petitions/calls.py)


def _refused(exc: Exception) -> ApiError | None:
    if isinstance(exc, PetitionRefused):
        return ApiError(exc.status, exc.code, str(exc), **exc.params)
    if isinstance(exc, Refused):
        return ApiError(_REFUSAL_STATUS.get(exc.code, 422), exc.code, str(exc))
    return translate(exc)


_Route = route_class(_refused)


# ---- schemas ----------------------------------------------------------------------------------------------


class FilingIn(BaseModel):
    court: str = Field("main", max_length=32)
    category: Category
    description: str = Field("", max_length=4000)
    contact_name: str = Field(min_length=1, max_length=100)
    contact_phone: str = Field(min_length=3, max_length=32)
    clip_ids: list[str] = Field(default_factory=list, max_length=MAX_CLIPS)
    station_id: str | None = Field(None, max_length=64)
    source_call_id: str | None = Field(None, max_length=64, description="a connect-a-judge call this comes from")


_FILING_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": FilingIn.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        **{k: {"type": "string"} for k in ("court", "category", "description", "contact_name", "contact_phone",
                                           "station_id", "source_call_id")},
        "clip_ids": {"type": "array", "items": {"type": "string"}},
        "photos": {"type": "array", "items": {"type": "string", "format": "binary"},
                   "description": f"JPEG, PNG or WebP (read from the bytes), at most {MAX_PHOTOS}"}}}}}}}


class CallEndIn(BaseModel):
    note: str = Field("", max_length=4000)


class LookupIn(BaseModel):
    number: str = Field(max_length=32, description="e.g. 2026-000123")
    code: str = Field(max_length=32, description="the status code given at filing, e.g. ABCDE-FGHJKM")


class RatingIn(BaseModel):
    rating: Rating


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class TriageIn(BaseModel):
    handler_id: str = Field(max_length=64)
    handler_kind: HandlerKind
    handler_unit: str | None = Field(None, max_length=100, description="the department's name (kind department)")


class ClassIn(BaseModel):
    klass: PetitionClass
    reason: str = Field(min_length=1, max_length=500)


class ContactIn(BaseModel):
    channel: ContactChannel
    note: str = Field(min_length=1, max_length=4000)


class ReplyIn(BaseModel):
    outcome: Outcome
    resolution: str = Field(min_length=1, max_length=4000)
    reply_text: str | None = Field(None, max_length=4000)
    reply_clip_id: str | None = Field(None, max_length=64)


# ---- views ------------------------------------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _citizen_view(r: PetitionRecord, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    """What the citizen sees: their petition, its progress and the reply; no staff ids, no internal notes."""
    p = r.rules
    ends = reopen_ends_at(p)
    return {
        "number": r.number, "court": r.court, "category": p.category.value, "klass": p.klass.value,
        "working_days": WORKING_DAYS[p.klass], "status": p.status.value, "filed_at": p.filed_at.isoformat(),
        "due_at": p.due_at.isoformat(), "due_on": r.due_on.isoformat(), "description": r.description,
        "handler_name": names.get(p.handler_id or "") if p.handler_id else None, "handler_unit": r.handler_unit,
        "replied_at": _iso(p.replied_at), "outcome": p.outcome.value if p.outcome else None,
        "resolution": p.resolution, "reply_text": r.reply_text, "rating": p.rating.value if p.rating else None,
        "may_rate": p.status is Status.REPLIED, "may_reopen": ends is not None and now < ends
        and p.status in (Status.REPLIED, Status.RATED, Status.CLOSED), "reopen_until": _iso(ends),
        "cycle": r.cycle,
        "attachments": [{"id": a.id, "role": a.role, "kind": a.kind, "media_type": a.media_type, "size": a.size}
                        for a in r.attachments],
        "history": [{"kind": e.kind, "at": e.at.isoformat(), "status": e.status}
                    for e in r.events if e.kind not in ("reminded", "escalated")],
    }


def _row_view(r: PetitionRecord, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    p = r.rules
    return {
        "id": r.id, "number": r.number, "court": r.court, "category": p.category.value, "klass": p.klass.value,
        "status": p.status.value, "light": r.light(now).value, "filed_at": p.filed_at.isoformat(),
        "due_at": p.due_at.isoformat(), "due_on": r.due_on.isoformat(), "handler_id": p.handler_id,
        "handler_name": names.get(p.handler_id or ""), "handler_kind": p.handler_kind.value if p.handler_kind else None,
        "handler_unit": r.handler_unit, "first_contact_at": _iso(p.first_contact_at),
        "replied_at": _iso(p.replied_at), "rating": p.rating.value if p.rating else None, "cycle": r.cycle,
    }


def _staff_view(r: PetitionRecord, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    p = r.rules
    return {
        **_row_view(r, now, names), "description": r.description, "contact_name": r.contact_name,
        "contact_phone": r.contact_phone, "filed_by": "citizen" if r.filed_by == "citizen" else "staff",
        "station_id": r.station_id, "source_call_id": r.source_call_id,
        "outcome": p.outcome.value if p.outcome else None,
        "resolution": p.resolution, "reply_text": r.reply_text, "reply_clip_id": r.reply_clip_id,
        "attachments": [{"id": a.id, "role": a.role, "kind": a.kind, "media_type": a.media_type, "size": a.size,
                         "sha256": a.sha256, "clip_id": a.clip_id, "added_at": a.added_at.isoformat()}
                        for a in r.attachments],
        "events": [{"position": e.position, "kind": e.kind, "at": e.at.isoformat(), "actor_role": e.actor_role,
                    "actor_name": names.get(e.actor_id), "status": e.status, "details": e.details}
                   for e in r.events],
    }


def _fraction(f: Fraction) -> dict[str, Any]:
    return {"numerator": f.numerator, "denominator": f.denominator,
            "rate": None if f.rate is None else round(f.rate, 4)}


def _rates(r: Rates) -> dict[str, Any]:
    return {"petitions": r.petitions, "response": _fraction(r.response), "resolution": _fraction(r.resolution),
            "satisfaction": _fraction(r.satisfaction)}


CSV_COLUMNS = {
    "zh": ["编号", "法院", "类别", "办理时限", "状态", "灯色", "承办人", "受理时间", "截止日期", "首次联系", "答复时间",
           "评价"],
    "en": ["number", "court", "category", "class", "status", "light", "handler", "filed at", "due on",
           "first contact", "replied at", "rating"],
}
LABELS_ZH: dict[str, str] = {
    "safety": "人身安全紧急求助", "urgent_enforcement": "执行紧急事项", "case_progress": "案件进度",
    "filing": "立案", "enforcement": "执行", "litigation_service": "诉讼服务", "conduct": "干警作风",
    "dispute": "矛盾纠纷", "suggestion": "意见建议",
    "urgent": "紧急（1个工作日）", "personal": "切身利益（3个工作日）", "complex": "复杂（5个工作日）",
    "filed": "待分派", "assigned": "已分派", "contacted": "已联系", "replied": "已答复", "rated": "已评价",
    "closed": "已办结", "green": "绿灯", "blue": "蓝灯", "red": "红灯", "grey": "办理中",
    "satisfied": "满意", "basically": "基本满意", "not_satisfied": "不满意",
}


def _local(at: datetime | None, service: PetitionService) -> str:
    return at.astimezone(service.config.tz).strftime("%Y-%m-%d %H:%M") if at else ""


# ---- the router ---------------------------------------------------------------------------------------------


MAX_JSON_BYTES = 64 << 10
"""A filing as JSON: 4000 characters of text and a few fields; anything longer is refused before it is read."""


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 once it passes `limit` bytes (by its Content-Length, or while it streams in)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, "request_too_large", f"the request is over {limit >> 10} KiB")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError(413, "request_too_large", f"the request is over {limit >> 10} KiB")
    return bytes(data)


async def _filing_request(request: Request, max_photo: int) -> tuple[FilingIn, list[Photo]]:
    """The filing from JSON, or from a multipart form with photos under `photos` (each read to max + 1 bytes)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        try:
            return FilingIn.model_validate_json(await _body(request, MAX_JSON_BYTES)), []
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    limit = MAX_PHOTOS * max_photo + (1 << 20)
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise ApiError(411, "length_required", "send the form with a Content-Length header")
    if int(length) > limit:
        raise ApiError(413, "photo_too_large", f"the form is over {limit >> 20} MiB; attach at most {MAX_PHOTOS} "
                                               f"photos of {max_photo >> 20} MiB each")
    try:
        async with request.form(max_files=MAX_PHOTOS, max_fields=40) as form:
            fields: dict[str, Any] = {k: form.get(k) for k in ("court", "category", "description", "contact_name",
                                                              "contact_phone", "station_id", "source_call_id")
                                      if form.get(k) not in (None, "")}
            fields["clip_ids"] = [c for c in form.getlist("clip_ids") if isinstance(c, str) and c]
            photos = []
            for item in form.getlist("photos"):
                if not isinstance(item, UploadFile):
                    raise ApiError(422, "invalid_request", "`photos` must hold files")
                photos.append(Photo(item.filename or "", await item.read(max_photo + 1)))
    except HTTPException as exc:
        raise ApiError(422, "invalid_request", f"the form could not be read: {exc.detail}") from None
    try:
        return FilingIn.model_validate(fields), photos
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def petitions_router(ctx: PetitionsContext) -> APIRouter:
    router = APIRouter(prefix="/api/petitions", tags=["petitions"], route_class=_Route, responses=ERROR_RESPONSES)
    staff = StaffDeps(ctx.auth)
    service = ctx.service
    tokens = ctx.tokens

    async def citizen(x_petition_access: str = Header("", description="The petition access token")) -> str:
        return tokens.subject(x_petition_access, ACCESS_AUDIENCE)

    async def optional_staff(request: Request) -> StaffPrincipal | None:
        if not (request.headers.get("authorization") or request.cookies.get("hearing_staff_session")):
            return None
        auth = request.headers.get("authorization", "")
        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=auth[7:]) if auth[:7].lower() == "bearer " \
            else None
        return await staff.current(creds, request.cookies.get("hearing_staff_session"))

    def is_clerk(p: StaffPrincipal) -> bool:
        return StaffRole.CLERK in p.roles

    def is_supervisor(p: StaffPrincipal) -> bool:
        return bool(p.roles & SUPERVISOR_ROLES)

    async def board_reader(principal: StaffPrincipal = Depends(staff.current)) -> StaffPrincipal:
        if not (is_clerk(principal) or is_supervisor(principal)):
            raise ApiError(403, "forbidden", "the petition board is for clerks and supervisors")
        return principal

    async def clerk(principal: StaffPrincipal = Depends(staff.current)) -> StaffPrincipal:
        if not is_clerk(principal):
            raise ApiError(403, "forbidden", "only a clerk triages petitions and issues their links")
        return principal

    async def names_for(records: list[PetitionRecord]) -> dict[str, str]:
        ids = {r.rules.handler_id for r in records if r.rules.handler_id}
        ids |= {e.actor_id for r in records for e in r.events}
        return await service.staff_names(sorted(i for i in ids if i))

    async def staff_record(petition_id: str, principal: StaffPrincipal) -> PetitionRecord:
        record = await service.get(petition_id)
        if not (is_clerk(principal) or is_supervisor(principal) or record.rules.handler_id == principal.id):
            raise PetitionRefused("petition_not_found", "no such petition", 404)
        return record

    async def staff_answer(record: PetitionRecord) -> dict[str, Any]:
        calls = await ctx.calls.calls_of(record.id) if ctx.calls is not None else []
        return _staff_view(record, service.clock(), await names_for([record])) | {
            "calls": [c.as_json() for c in calls],
            "may_call": ctx.calls is not None and ctx.calls.rules is not None and record.rules.status in CALLABLE}

    async def citizen_answer(record: PetitionRecord) -> dict[str, Any]:
        live = await ctx.calls.live_call(record.id) if ctx.calls is not None else None
        return _citizen_view(record, service.clock(), await names_for([record])) | {
            "call_waiting": live is not None}

    def calls() -> PetitionCalls:
        if ctx.calls is None:
            raise PetitionRefused("petition_call_unavailable", "video calls are not available here", 503)
        return ctx.calls

    # ---- public ---------------------------------------------------------------------------------------

    @router.get("/meta")
    async def meta() -> dict[str, Any]:
        """Courts, categories with their class and working days, and the reopen window: what the forms offer."""
        return {"courts": [{"code": c, "name": n} for c, n in service.config.courts.items()],
                "categories": [{"code": c.value, "klass": CATEGORY_CLASS[c].value,
                                "working_days": WORKING_DAYS[CATEGORY_CLASS[c]]} for c in Category],
                "reopen_days": service.config.reopen_days, "max_clips": MAX_CLIPS, "max_photos": MAX_PHOTOS}

    @router.post("/filing-sessions", status_code=201)
    async def filing_session() -> dict[str, Any]:
        """A filing session: the token that uploads this citizen's clips and then files the petition (24 h)."""
        token, expires = tokens.issue(FILING_AUDIENCE, secrets.token_hex(16), FILING_TTL)
        return {"token": token, "expires_at": expires.isoformat()}

    @router.post("", status_code=201, openapi_extra={  # the form's cap, enforced before reading (app/body_limits.py)
        **_FILING_BODY, "x-max-body-bytes": MAX_PHOTOS * service.config.max_photo_bytes + (1 << 20)})
    async def file(request: Request, x_petition_filing: str = Header("", description="The filing session token"),
                   ) -> dict[str, Any]:
        """File a petition (JSON, or multipart with photos). Clips are uploaded first through
        /api/clips/petition/uploads with the same filing token and named here by id. Answers the petition number,
        the status code (shown once: only its hash is kept) and an access token for the status page."""
        # The citizen's page sends its filing session (whose clips it attaches); at a station PC the operator may
        # be logged in too (the cookie comes along): then the operator files, still with the session's clips. A
        # script of the court's files with its staff session and clips of its own account.
        principal: StaffPrincipal | None
        try:
            principal = await optional_staff(request)
        except ApiError:
            if not x_petition_filing:
                raise
            principal = None  # a stale operator cookie does not stop the citizen's filing
        session_id = None
        if x_petition_filing:
            session_id = tokens.subject(x_petition_filing, FILING_AUDIENCE)
            owner = f"petition-filing:{session_id}"
        elif principal is not None:
            owner = f"staff:{principal.id}"
        else:
            tokens.subject("", FILING_AUDIENCE)  # 401 petition_token_missing
        actor_id, actor_role = (principal.id, "staff") if principal is not None else ("citizen", "citizen")
        body, photos = await _filing_request(request, service.config.max_photo_bytes)
        record, code = await service.file(Filing(
            body.court, body.category, body.description, body.contact_name, body.contact_phone, body.clip_ids,
            photos, body.station_id, body.source_call_id, clip_owner=owner, filing_session=session_id),
            actor_id=actor_id, actor_role=actor_role)
        access, expires = tokens.issue(ACCESS_AUDIENCE, record.id, ACCESS_TTL)
        return {"number": record.number, "status_code": codes.display_code(code), "access": access,
                "access_expires_at": expires.isoformat(), "petition": await citizen_answer(record)}

    @router.post("/lookup")
    async def lookup(body: LookupIn) -> dict[str, Any]:
        """The petition for its number and status code (one answer, 404 `petition_not_found`, for either wrong)."""
        petition_id = await service.find_for_citizen(body.number, body.code)
        access, expires = tokens.issue(ACCESS_AUDIENCE, petition_id, ACCESS_TTL)
        return {"access": access, "access_expires_at": expires.isoformat(),
                "petition": await citizen_answer(await service.get(petition_id))}

    @router.get("/mine")
    async def mine(petition_id: str = Depends(citizen)) -> dict[str, Any]:
        return await citizen_answer(await service.get(petition_id))

    @router.post("/mine/rating")
    async def rate(body: RatingIn, petition_id: str = Depends(citizen)) -> dict[str, Any]:
        return await citizen_answer(await service.rate(petition_id, body.rating))

    @router.post("/mine/reopen")
    async def reopen(body: ReasonIn, petition_id: str = Depends(citizen)) -> dict[str, Any]:
        return await citizen_answer(await service.reopen(petition_id, body.reason))

    @router.post("/mine/call")
    async def join_call(petition_id: str = Depends(citizen)) -> dict[str, Any]:
        """The citizen's link into the video call their petition's handler started (409 `petition_call_none`)."""
        call, link = await calls().join_citizen(petition_id)
        return {"call": call.as_json(), "link": link}

    async def attachment_url(record: PetitionRecord, attachment_id: str, actor_id: str, actor_role: str
                             ) -> dict[str, Any]:
        found = next((a for a in record.attachments if a.id == attachment_id), None)
        if found is None:
            raise PetitionRefused("attachment_not_found", "no such attachment on this petition", 404)
        if found.clip_id is not None and ctx.clips is not None:
            url = await ctx.clips.url(found.clip_id)
        elif service.objects is not None:
            url = await service.objects.presigned_get(found.object_key, timedelta(minutes=10))
        else:
            raise PetitionRefused("storage_unavailable", "the media store is not configured", 503)
        await service.audit(AuditEvent(actor_id, actor_role, "petition.attachment_viewed", f"petition:{record.id}",
                                       {"attachment_id": found.id, "sha256": found.sha256}))
        return {"url": url, "media_type": found.media_type, "kind": found.kind, "sha256": found.sha256}

    @router.get("/mine/attachments/{attachment_id}")
    async def my_attachment(attachment_id: str, petition_id: str = Depends(citizen)) -> dict[str, Any]:
        return await attachment_url(await service.get(petition_id), attachment_id, f"citizen:{petition_id}",
                                    "citizen")

    # ---- staff ----------------------------------------------------------------------------------------

    @router.get("/queue")
    async def queue(principal: StaffPrincipal = Depends(staff.current)) -> list[dict[str, Any]]:
        """The caller's own petitions (as handler), earliest deadline first; clerks also get those to triage."""
        mine = await service.list(BoardFilter(handler_id=principal.id))
        if is_clerk(principal):
            mine = await service.list(BoardFilter(status=Status.FILED)) + mine
        now = service.clock()
        names = await names_for(mine)
        return [_row_view(r, now, names) for r in mine]

    def board_filter(court: str | None = Query(None), category: Category | None = Query(None),
                     handler_id: str | None = Query(None), due_from: date | None = Query(None),
                     due_to: date | None = Query(None), status: Status | None = Query(None),
                     light: Light | None = Query(None)) -> BoardFilter:
        return BoardFilter(court or None, category, handler_id or None, due_from, due_to, status, light)

    @router.get("/board")
    async def board(flt: BoardFilter = Depends(board_filter),
                    principal: StaffPrincipal = Depends(board_reader)) -> dict[str, Any]:
        """Petitions with their traffic light, filtered (court, category, handler, due date range, status,
        light), earliest deadline first; with the count per light."""
        rows = await service.list(flt)
        now = service.clock()
        names = await names_for(rows)
        lights = {lit.value: 0 for lit in Light}
        for r in rows:
            lights[r.light(now).value] += 1
        return {"petitions": [_row_view(r, now, names) for r in rows], "lights": lights}

    @router.get("/board/rates")
    async def board_rates(flt: BoardFilter = Depends(board_filter),
                          principal: StaffPrincipal = Depends(board_reader)) -> dict[str, Any]:
        """Response, resolution and satisfaction rates per month of filing, and per month and handler
        (definitions: docs/petitions.md)."""
        months, split = await service.rates(flt)
        names = await service.staff_names([h for (_, h) in split if h])
        return {"months": [{"month": m, **_rates(r)} for m, r in months.items()],
                "handlers": [{"month": m, "handler_id": h, "handler_name": names.get(h or ""), **_rates(r)}
                             for (m, h), r in split.items()]}

    @router.get("/board.csv", response_class=Response)
    async def board_csv(flt: BoardFilter = Depends(board_filter), lang: str = Query("zh", pattern="^(zh|en)$"),
                        principal: StaffPrincipal = Depends(board_reader)) -> Response:
        """The board as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese), no contact details."""
        rows = await service.list(flt)
        now = service.clock()
        names = await names_for(rows)

        def label(code: str | None) -> str:
            return "" if code is None else (LABELS_ZH.get(code, code) if lang == "zh" else code)

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS[lang])
        for r in rows:
            p = r.rules
            writer.writerow([r.number, service.config.courts.get(r.court, r.court), label(p.category.value),
                             label(p.klass.value), label(p.status.value), label(r.light(now).value),
                             names.get(p.handler_id or "", ""), _local(p.filed_at, service), r.due_on.isoformat(),
                             _local(p.first_contact_at, service), _local(p.replied_at, service),
                             label(p.rating.value if p.rating else None)])
        return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="petitions.csv"'})

    @router.get("/inbox")
    async def inbox(principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        """The caller's unread petition notifications from the shared inbox (assigned, reminder, 催办, reopened):
        codes and parameters, translated by the page."""
        if ctx.inbox is None:
            return {"notifications": []}
        items = await ctx.inbox.list(staff_recipient(principal.id), unread_only=True)
        return {"notifications": [n.as_json() for n in items if n.code.startswith("petition.")]}

    @router.post("/inbox/read")
    async def inbox_read(principal: StaffPrincipal = Depends(staff.current)) -> dict[str, int]:
        if ctx.inbox is None:
            return {"read": 0}
        items = await ctx.inbox.list(staff_recipient(principal.id), unread_only=True, limit=200)
        ids = [n.id for n in items if n.code.startswith("petition.")]
        return {"read": await ctx.inbox.mark_read(staff_recipient(principal.id), ids)}

    @router.get("/handlers")
    async def handlers(principal: StaffPrincipal = Depends(clerk)) -> list[dict[str, Any]]:
        """Staff accounts a petition can be assigned to."""
        return [{"id": i, "name": n, "roles": roles} for i, n, roles in await service.handlers()]

    @router.get("/{petition_id}")
    async def get_one(petition_id: str, principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        return await staff_answer(await staff_record(petition_id, principal))

    @router.post("/{petition_id}/triage")
    async def triage(petition_id: str, body: TriageIn, principal: StaffPrincipal = Depends(clerk)) -> dict[str, Any]:
        return await staff_answer(await service.triage(petition_id, actor_id=principal.id, handler_id=body.handler_id,
                                                       handler_kind=body.handler_kind, handler_unit=body.handler_unit))

    @router.post("/{petition_id}/class")
    async def reclassify(petition_id: str, body: ClassIn, principal: StaffPrincipal = Depends(clerk)
                         ) -> dict[str, Any]:
        """Change the class with a reason: the deadline is recomputed from the filing."""
        return await staff_answer(await service.reclassify(petition_id, actor_id=principal.id, klass=body.klass,
                                                           reason=body.reason))

    @router.post("/{petition_id}/contacts")
    async def contact(petition_id: str, body: ContactIn, principal: StaffPrincipal = Depends(staff.current)
                      ) -> dict[str, Any]:
        """The handler's contact log: each contact with the citizen (the first one is the response)."""
        return await staff_answer(await service.contact(petition_id, actor_id=principal.id, channel=body.channel,
                                                        note=body.note))

    @router.post("/{petition_id}/reply")
    async def reply(petition_id: str, body: ReplyIn, principal: StaffPrincipal = Depends(staff.current)
                    ) -> dict[str, Any]:
        """The resolution and the reply to the citizen (text, or a clip the handler uploaded through
        /api/clips/petition/uploads with their staff session)."""
        return await staff_answer(await service.reply(
            petition_id, actor_id=principal.id, outcome=body.outcome, resolution=body.resolution,
            reply_text=body.reply_text, reply_clip_id=body.reply_clip_id, clip_owner=f"staff:{principal.id}"))

    @router.post("/{petition_id}/calls", status_code=201)
    async def start_call(petition_id: str, principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        """Start (or rejoin) the recorded video call with the citizen: the handler's link into the call room; the
        citizen is told (inbox and SMS) and joins from their petition page."""
        call, link = await calls().start(petition_id, principal.id, principal.display_name)
        return {"call": call.as_json(), "link": link}

    @router.post("/{petition_id}/calls/{call_id}/end")
    async def end_call(petition_id: str, call_id: str, body: CallEndIn,
                       principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        """End the call: the recording closes and is attached to the petition's history (a joined call is a contact)."""
        call = await calls().end(petition_id, call_id, principal.id, body.note)
        return {"call": call.as_json(), "petition": await staff_answer(await service.get(petition_id))}

    @router.get("/{petition_id}/calls/{call_id}/recording")
    async def call_recording(petition_id: str, call_id: str,
                             principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        """The call's recording verified against the store (every segment's hash and the chain); audited."""
        await staff_record(petition_id, principal)
        return await calls().recording(petition_id, call_id, principal.id)

    @router.post("/{petition_id}/close")
    async def close(petition_id: str, principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        if is_clerk(principal):
            actor = Actor.CLERK
        elif is_supervisor(principal):
            actor = Actor.SUPERVISOR
        else:
            raise ApiError(403, "forbidden", "a clerk or a supervisor closes petitions")
        return await staff_answer(await service.close(petition_id, actor_id=principal.id, actor=actor))

    @router.post("/{petition_id}/link", status_code=201)
    async def link(petition_id: str, principal: StaffPrincipal = Depends(clerk)) -> dict[str, Any]:
        """A status link for the citizen (e.g. printed at a station), audited; 30 days."""
        record = await service.get(petition_id)
        token, expires = tokens.issue(ACCESS_AUDIENCE, record.id, ACCESS_TTL)
        await service.audit(AuditEvent(principal.id, "staff", "petition.link_issued", f"petition:{record.id}",
                                       {"expires_at": expires.isoformat()}))
        return {"url": f"{ctx.base_url}/petitions#access={token}", "expires_at": expires.isoformat()}

    @router.get("/{petition_id}/attachments/{attachment_id}")
    async def staff_attachment(petition_id: str, attachment_id: str,
                               principal: StaffPrincipal = Depends(staff.current)) -> dict[str, Any]:
        """A short-lived URL to play a clip or see a photo; every view audited (`petition.attachment_viewed`)."""
        return await attachment_url(await staff_record(petition_id, principal), attachment_id, principal.id, "staff")

    return router


def clip_authorizer(tokens: CitizenTokens, auth: StaffAuth) -> Callable[[Request], Awaitable[ClipActor]]:
    """Who may upload clips for petitions (purpose `petition` of /api/clips): a citizen in a filing session (the
    clip is owned by that session) or court staff (a handler's reply clip, an operator filing for a citizen)."""
    staff = StaffDeps(auth)

    async def authorize(request: Request) -> ClipActor:
        filing = request.headers.get("x-petition-filing", "")
        if filing:
            draft = tokens.subject(filing, FILING_AUDIENCE)
            return ClipActor(f"petition-filing:{draft}", "citizen", "citizen")
        auth_header = request.headers.get("authorization", "")
        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=auth_header[7:]) \
            if auth_header[:7].lower() == "bearer " else None
        principal = await staff.current(creds, request.cookies.get("hearing_staff_session"))
        return ClipActor(f"staff:{principal.id}", principal.id, "staff")

    return authorize
