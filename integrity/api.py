"""HTTP API of the integrity code under /api/integrity (OpenAPI at /docs).

Three kinds of caller, three credentials:
- a person: an access token a clerk issued (`X-Integrity-Access` header; the page keeps it in the URL fragment,
  which browsers never send to the server, so it stays out of logs);
- an agency: its API key (`X-Agency-Key`), checked for the scope each query names;
- court staff: the staff session of the staff API (clerks import facts, issue and revoke links, create, disable,
  re-enable agencies and replace their scopes; judges decide appeals and open their evidence files).
Only this module touches hearing/ (for the staff session and the JSON error shape); the service below does not.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from docket.audit import AuditEvent
from docket.court import CourtRecords, InvalidRecord
from docket.facts import ConflictingFact
from hearing.api.deps import ApiError, StaffDeps, route_class, translate
from hearing.staff_auth import JUDICIAL, Permission, StaffAuth, StaffPrincipal
from integrity.evidence import MAX_EVIDENCE_FILES, MIB, EvidenceFile, EvidenceUpload, size_label
from integrity.imports import ImportRejected, import_facts, parse_csv, parse_json
from integrity.service import Agency, CodeView, IntegrityRefused, IntegrityService, RateLimited
from integrity.signing import TokenInvalid, verify


@dataclass
class IntegrityContext:
    service: IntegrityService
    court: CourtRecords
    auth: StaffAuth
    base_url: str


def _refused(exc: Exception) -> ApiError | None:
    if isinstance(exc, RateLimited):
        return ApiError(exc.status, exc.code, str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after)))})
    if isinstance(exc, IntegrityRefused):
        return ApiError(exc.status, exc.code, str(exc))
    if isinstance(exc, ImportRejected):
        return ApiError(422, "import_rejected", str(exc),
                        errors=[{"row": e.row, "field": e.field, "message": e.message} for e in exc.errors])
    if isinstance(exc, ConflictingFact):
        return ApiError(409, "conflicting_fact", str(exc))
    if isinstance(exc, TokenInvalid):
        return ApiError(422, f"code_{exc.reason}", str(exc))
    return translate(exc)


_Route = route_class(_refused)
"""The staff API's error handling, plus this service's refusals."""


class ReasonOut(BaseModel):
    code: str
    points: int
    case_numbers: list[str]
    fact_ids: list[str]
    expires_on: str | None


class CodeOut(BaseModel):
    colour: str | None = Field(description="green | yellow | red; null when the person is not scored (a minor)")
    score: int | None
    not_scored: str | None
    reasons: list[ReasonOut]
    valid_until: datetime
    ruleset_version: str
    verification_code: str = Field(description="Ed25519-signed token; verify offline with the court's public key")
    qr_svg: str


class AppealIn(BaseModel):
    kind: Literal["appeal", "repair"]
    text: str = Field(min_length=1, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=20)
    fact_ids: list[str] = Field(default_factory=list, max_length=100)


_APPEAL_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": AppealIn.model_json_schema()},
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["kind", "text"], "properties": {
            "kind": {"type": "string", "enum": ["appeal", "repair"]},
            "text": {"type": "string", "maxLength": 4000},
            "fact_ids": {"type": "array", "items": {"type": "string"}},
            "evidence": {"type": "array", "items": {"type": "string"}, "description": "short notes"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": f"PDF, PNG or JPEG (read from the bytes), at most {MAX_EVIDENCE_FILES}"}}}},
}}}
"""Both forms of POST /me/appeals, for /docs: the route reads the body itself to accept either."""


class QueryIn(BaseModel):
    person_id: str | None = None
    id_document: str | None = Field(None, description="Instead of person_id: the identity-document number")
    scope: str
    purpose: str = Field("", description="Why the agency checks this person (required, recorded and shown to them)")


class QueryOut(BaseModel):
    colour: str
    valid_until: datetime
    verification_code: str


class DecisionIn(BaseModel):
    grant: bool
    decision: str = Field(min_length=1, max_length=4000)


class AgencyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str]


class ScopesIn(BaseModel):
    scopes: list[str] = Field(description="The agency's whole new set of scopes (replaces the old one)")


class AccessIn(BaseModel):
    person_id: str


class VerifyIn(BaseModel):
    token: str


MAX_IMPORT_BYTES = 64 * MIB
"""A fact import file from the data exchange (staff only, authorized before it is read)."""


def qr_svg(text: str) -> str:
    buf = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return buf.getvalue().decode()


def _file_out(f: EvidenceFile) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "media_type": f.media_type, "size": f.size, "sha256": f.sha256,
            "uploaded_at": f.uploaded_at.isoformat()}


async def _appeal_request(request: Request, max_bytes: int) -> tuple[AppealIn, list[EvidenceUpload]]:
    """The appeal and its files from a JSON body (no files) or a multipart form (fields as in AppealIn, files
    under `files`). Each file is read to at most `max_bytes` + 1, so an oversize one is refused, not buffered."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        try:
            return AppealIn.model_validate_json(await request.body()), []
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None
    limit = MAX_EVIDENCE_FILES * max_bytes + MIB
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, "evidence_too_large", f"the request is over {size_label(limit)}; attach at most "
                                                  f"{MAX_EVIDENCE_FILES} files of {size_label(max_bytes)} each")
    try:
        async with request.form(max_files=10 * MAX_EVIDENCE_FILES, max_fields=200) as form:
            fields = {"kind": form.get("kind"), "text": form.get("text"), "fact_ids": form.getlist("fact_ids"),
                      "evidence": form.getlist("evidence")}
            uploads: list[EvidenceUpload] = []
            for item in form.getlist("files"):
                if not isinstance(item, UploadFile):
                    raise ApiError(422, "invalid_request", "`files` must hold files, not text")
                uploads.append(EvidenceUpload(item.filename or "", await item.read(max_bytes + 1)))
    except HTTPException as exc:  # the multipart parser's refusal (malformed body, too many parts)
        raise ApiError(422, "invalid_request", f"the form could not be read: {exc.detail}") from None
    try:
        return AppealIn.model_validate(fields), uploads
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def _agency_out(agency: Agency, changed: bool | None = None) -> dict[str, Any]:
    """An agency as staff see it (never its key, which only its digest could give anyway)."""
    out: dict[str, Any] = {"id": agency.id, "name": agency.name, "scopes": sorted(agency.scopes),
                           "created_at": agency.created_at.isoformat(), "disabled": agency.disabled_at is not None,
                           "disabled_at": agency.disabled_at.isoformat() if agency.disabled_at else None}
    if changed is not None:
        out["changed"] = changed
    return out


def _code_out(view: CodeView) -> CodeOut:
    return CodeOut(
        colour=view.colour, score=view.score, not_scored=view.not_scored, valid_until=view.valid_until,
        ruleset_version=view.ruleset_version, verification_code=view.token, qr_svg=qr_svg(view.token),
        reasons=[ReasonOut(code=r.code.value, points=r.points, case_numbers=list(r.case_numbers),
                           fact_ids=list(r.fact_ids), expires_on=r.expires_on.isoformat() if r.expires_on else None)
                 for r in view.reasons],
    )


def integrity_router(ctx: IntegrityContext) -> APIRouter:
    router = APIRouter(prefix="/api/integrity", tags=["integrity"], route_class=_Route)
    staff = StaffDeps(ctx.auth)
    service = ctx.service

    async def person(x_integrity_access: str = Header("", description="The access token from the court")) -> str:
        try:
            return await service.person_for_access(x_integrity_access)
        except IntegrityRefused as exc:
            raise _refused(exc) from None

    async def judge(principal: StaffPrincipal = Depends(staff.current)) -> StaffPrincipal:
        if not (principal.roles & JUDICIAL):
            raise ApiError(403, "forbidden", "only a judge decides integrity appeals")
        return principal

    @router.get("/public-key", response_class=PlainTextResponse)
    async def public_key() -> str:
        """The court's Ed25519 public key (PEM): all a third party needs to verify codes offline."""
        return service.signer.public_pem()

    @router.post("/verify")
    async def verify_code(body: VerifyIn) -> dict[str, Any]:
        """Online convenience for what any verifier can do offline; 422 `code_expired` / `code_bad_signature`."""
        claims = verify(body.token, service.signer.public_pem(), datetime.now(UTC))
        return {"valid": True, "colour": claims.colour, "expires_at": claims.expires_at.isoformat(),
                "ruleset_version": claims.ruleset_version, "subject": claims.subject}

    # ---- the person ------------------------------------------------------------------------------------

    @router.get("/me", response_model=CodeOut)
    async def my_code(person_id: str = Depends(person)) -> CodeOut:
        return _code_out(await service.code(person_id))

    @router.get("/me/activity")
    async def my_activity(person_id: str = Depends(person)) -> dict[str, Any]:
        """Who queried the code (agency, scope, purpose, when), its history, and the person's appeals."""
        return {
            "queries": [{"agency_id": q.agency_id, "agency": q.agency_name, "scope": q.scope, "purpose": q.purpose,
                         "colour": q.colour, "at": q.at.isoformat()} for q in await service.queries_of(person_id)],
            "history": [{"colour": h.colour, "score": h.score, "trigger": h.trigger.split(":")[0],
                         "computed_at": h.computed_at.isoformat()} for h in await service.history(person_id)],
            "appeals": [{"id": a.id, "kind": a.kind.value, "status": a.status.value, "filed_at": a.filed_at.isoformat(),
                         "decision": a.decision, "files": [_file_out(f) for f in a.files]}
                        for a in await service.appeals(status=None, person_id=person_id)],
        }

    @router.post("/me/appeals", status_code=201, openapi_extra={  # capped before reading (app/body_limits.py)
        **_APPEAL_BODY, "x-max-body-bytes": MAX_EVIDENCE_FILES * service.max_evidence_bytes + MIB})
    async def file_appeal(request: Request, person_id: str = Depends(person)) -> dict[str, Any]:
        """File an appeal or a repair request: JSON, or a multipart form with evidence files (PDF/PNG/JPEG, type
        read from the bytes, size-capped). All or nothing: a refused file (413 `evidence_too_large`, 415
        `evidence_unsupported_type`, 422 `evidence_empty` / `evidence_too_many`) files nothing."""
        body, uploads = await _appeal_request(request, service.max_evidence_bytes)
        appeal = await service.file_appeal(person_id, body.kind, body.text, evidence=body.evidence,
                                           fact_ids=body.fact_ids, files=uploads)
        return {"id": appeal.id, "status": appeal.status.value, "files": [_file_out(f) for f in appeal.files]}

    # ---- agencies --------------------------------------------------------------------------------------

    @router.post("/agency/query", response_model=QueryOut)
    async def agency_query(body: QueryIn, x_agency_key: str = Header("", description="The agency's API key")
                           ) -> QueryOut:
        """Colour, validity and a verification code only; every query is audited and shown to the person."""
        agency = await service.authenticate_agency(x_agency_key)
        if (body.person_id is None) == (body.id_document is None):
            raise InvalidRecord("give exactly one of person_id and id_document")

        async def by_document() -> str:  # run by the service only after purpose, scope and rate are checked
            assert body.id_document is not None
            found = await ctx.court.find_persons_by_id_document(body.id_document)
            if len(found) != 1:
                raise ApiError(404, "not_found", "no single person with this identity document in the court's "
                                                 "register; check the number")
            return found[0].id

        person = body.person_id if body.person_id is not None else by_document
        answer = await service.query(agency, person, body.scope, body.purpose)
        return QueryOut(colour=answer.colour, valid_until=answer.valid_until,
                        verification_code=answer.verification_code)

    # ---- staff -----------------------------------------------------------------------------------------

    @router.post("/access-links", status_code=201)
    async def issue_access(body: AccessIn, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, str]:
        token = await service.issue_access(body.person_id, staff_id=principal.id)
        return {"token": token, "url": f"{ctx.base_url}/integrity#access={token}"}

    @router.post("/access-links/revoke")
    async def revoke_access(body: AccessIn, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, int]:
        """Withdraw every valid access link of the person (audited); their holders then get 401
        `access_revoked`. Issue a new link afterwards if the person still needs one."""
        return {"revoked": await service.revoke_access(body.person_id, staff_id=principal.id)}

    @router.post("/agencies", status_code=201)
    async def create_agency(body: AgencyIn, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, Any]:
        agency, key = await service.create_agency(body.name, body.scopes, actor_id=principal.id)
        return {"id": agency.id, "scopes": sorted(agency.scopes), "api_key": key}

    @router.get("/agencies")
    async def list_agencies(principal: StaffPrincipal = Depends(staff.require(Permission.WRITE_REGISTER))
                            ) -> list[dict[str, Any]]:
        """Every agency account with its scopes and whether it is disabled (oldest first)."""
        return [_agency_out(a) for a in await service.list_agencies()]

    @router.post("/agencies/{agency_id}/disable")
    async def disable_agency(agency_id: str, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, Any]:
        """Stop the agency at once: its key gets 403 `agency_disabled` from the next request, and a query in flight
        is refused and records nothing. Audited (`integrity.agency_disabled`); `changed: false` if it already
        was disabled. Its past queries stay in the people's activity."""
        return _agency_out(*await service.disable_agency(agency_id, actor_id=principal.id))

    @router.post("/agencies/{agency_id}/enable")
    async def enable_agency(agency_id: str, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, Any]:
        """Let a disabled agency query again with its key (audited `integrity.agency_enabled`)."""
        return _agency_out(*await service.enable_agency(agency_id, actor_id=principal.id))

    @router.put("/agencies/{agency_id}/scopes")
    async def set_agency_scopes(agency_id: str, body: ScopesIn, principal: StaffPrincipal = Depends(
            staff.require(Permission.WRITE_REGISTER))) -> dict[str, Any]:
        """Replace the agency's scopes: 422 `scope_unknown` for a scope that does not exist, 422 `invalid_request`
        for none. Effective from its next query; audited (`integrity.agency_scopes_changed`, before and after)."""
        return _agency_out(*await service.set_agency_scopes(agency_id, body.scopes, actor_id=principal.id))

    @router.post("/imports", openapi_extra={"x-max-body-bytes": MAX_IMPORT_BYTES})
    async def import_file(request: Request, format: Literal["json", "csv"] = Query(...),
                          source: str | None = Query(None, description="Required for CSV; JSON may name it inside"),
                          principal: StaffPrincipal = Depends(staff.require(Permission.WRITE_REGISTER))
                          ) -> dict[str, Any]:
        """Import facts from the city's data exchange (docs/integrity.md): all rows or none; idempotent."""
        data = await request.body()
        if format == "csv":
            if not source:
                raise InvalidRecord("a CSV import needs ?source=<the exchange's name>")
            src, rows = parse_csv(data, source)
        else:
            src, rows = parse_json(data, source)
        report = await import_facts(src, rows, court=ctx.court, facts=service.facts, audit=AuditEvent(
            principal.id, "staff", "integrity.facts_imported", f"source:{src}", {"rows": len(rows)}))
        for person_id in report.person_ids:
            await service.recompute(person_id)  # at once for the importing clerk; the follower finds it done
        return {"source": src, "rows": report.rows, "recorded": report.recorded, "unchanged": report.unchanged}

    @router.get("/appeals")
    async def appeal_queue(principal: StaffPrincipal = Depends(judge)) -> list[dict[str, Any]]:
        """Pending appeals and repair requests, oldest first, with the disputed facts' reasons."""
        return [{"id": a.id, "person_id": a.person_id, "kind": a.kind.value, "text": a.text,
                 "evidence": list(a.evidence), "files": [_file_out(f) for f in a.files],
                 "fact_ids": list(a.fact_ids), "filed_at": a.filed_at.isoformat()}
                for a in await service.appeals()]

    @router.get("/appeals/{appeal_id}/evidence/{evidence_id}")
    async def open_evidence(appeal_id: str, evidence_id: str,
                            principal: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        """A link to one evidence file of an appeal, valid a few minutes; every request is audited
        (`integrity.evidence_viewed`: judge, appeal, file and its SHA-256)."""
        link = await service.open_evidence(appeal_id, evidence_id, judge_id=principal.id)
        return {"url": link.url, "expires_at": link.expires_at.isoformat(), **_file_out(link.file)}

    @router.post("/appeals/{appeal_id}/decision")
    async def decide(appeal_id: str, body: DecisionIn, principal: StaffPrincipal = Depends(judge)) -> dict[str, Any]:
        appeal, view = await service.decide(appeal_id, judge_id=principal.id, grant=body.grant,
                                            decision=body.decision)
        return {"id": appeal.id, "status": appeal.status.value, "colour": view.colour, "score": view.score}

    return router
