"""What a participant does inside a hearing over HTTP: exhibits (电子质证) and the transcript (笔录).

Authenticated by the participant's own join link (`Authorization: Bearer <join token>`), checked like a join:
the token must be for this room, not revoked, bound to a register participant of this hearing who was not
denied or removed — and who is in the hearing: admitted from the lobby, or court staff, who never wait there
(hearing.courtroom.STAFF_ROLES, the rule the courtroom seats people by). Everything here shows or changes the
hearing's content, so a party still waiting in the lobby, or a witness waiting apart to be called, gets 403
`not_admitted` on every route: the lobby sees nothing of the hearing. Admission lasts past the close (nobody is
sent back to the lobby by closing), so those admitted read and sign the transcript afterwards. Staff act here
through their own links too, in the role they hold in the hearing, so the permission policy decides the same way
for everyone. Files and text travel over HTTP; what everyone must see at once (the exhibit on screen, a new
transcript version) is announced over signalling.

Identity confirmation for signing: the clerk, seeing a participant on video, records it
(`POST /transcript/confirmations`); that participant may then sign `staff_confirmed` within the confirmation's
lifetime, once. The signer never names the clerk to be trusted: the server finds the clerk's record.

Who viewed what (`GET /exhibit-views`): every view link handed out is recorded and audited; the court staff of
the hearing (judges, the clerk, the mediator) read that record per exhibit, with each viewer's name and role.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from docket.court import CourtRecords, Hearing, NotFound, Participant, ParticipantStatus
from docket.exhibits import Exhibit, Opinion
from docket.records import Records
from docket.transcripts import ReverificationMethod
from hearing import exhibits as exhibit_rules
from hearing import transcript as transcript_rules
from hearing.api.deps import ApiError, ApiRoute
from hearing.courtroom import STAFF_ROLES, presented
from hearing.exhibit_service import ExhibitService
from hearing.procedure_service import Actor
from hearing.roles import Role
from hearing.transcript_service import Confirmed, ReverificationSet, Saved, Signed, TranscriptRead, TranscriptService
from signaling.hub import SignalingHub
from signaling.protocol import ConnectionState, TranscriptUpdated
from signaling.tokens import TokenError, TokenService

UPLOAD_CHUNK = 1 << 20
FORM_OVERHEAD = 1 << 20
"""What a multipart form adds to its file (boundaries, part headers, the name field), generously."""


@dataclass
class InHearingContext:
    court: CourtRecords
    records: Records
    tokens: TokenService
    exhibits: ExhibitService
    transcripts: TranscriptService
    hub: SignalingHub


def in_the_hearing(participant: Participant) -> bool:
    """Admitted from the lobby, or court staff (who never wait there, and are admitted as they come in)."""
    if participant.status in (ParticipantStatus.DENIED, ParticipantStatus.REMOVED):
        return False
    return participant.status is ParticipantStatus.ADMITTED or participant.role in STAFF_ROLES


@dataclass(frozen=True, slots=True)
class Caller:
    participant: Participant
    hearing: Hearing

    @property
    def actor(self) -> Actor:
        return Actor(self.participant.id, Role(self.participant.role))


# ---- answers --------------------------------------------------------------------------------------------


class ExhibitOut(BaseModel):
    id: str
    name: str
    media_type: str
    size: int
    page_count: int
    sha256: str
    uploaded_by: str
    uploader_role: str
    created_at: datetime
    withdrawn: bool


class ViewOut(BaseModel):
    url: str = Field(description="A presigned link to the file; it expires, and each request is audited")
    expires_at: datetime
    exhibit: ExhibitOut


class ViewerOut(BaseModel):
    participant_id: str = Field(description="who opened the exhibit (their participant id)")
    name: str | None = Field(description="their name in the register (null if the viewer is not a participant)")
    role: str = Field(description="the role they viewed it in")
    at: datetime = Field(description="when the view link was handed out")


class ExhibitViewsOut(BaseModel):
    exhibit_id: str
    name: str
    withdrawn: bool
    views: list[ViewerOut] = Field(description="every view, oldest first (each view link handed out is one)")


class PresentIn(BaseModel):
    exhibit_id: str | None = Field(None, max_length=64, description="null to stop presenting")
    page: int = Field(1, ge=1, le=100_000)


class OpinionIn(BaseModel):
    stance: str = Field(max_length=32, description="agree, object or partially_agree")
    text: str = Field("", max_length=20_000)


class OpinionOut(BaseModel):
    id: str
    exhibit_id: str
    participant_id: str
    role: str
    stance: str
    text: str
    revision: int
    created_at: datetime


class TranscriptIn(BaseModel):
    text: str = Field(max_length=2_000_000)
    base_version: int = Field(ge=0, description="the version this text was edited from (0 for the first save)")


class ConfirmationOut(BaseModel):
    participant_id: str = Field(description="who was confirmed (the signer)")
    confirmed_by: str = Field(description="the clerk's participant id")
    confirmed_at: datetime
    expires_at: datetime = Field(description="sign before this; the confirmation also serves one signature only")


class TranscriptOut(BaseModel):
    version: int
    sha256: str
    text: str
    saved_at: datetime | None
    frozen: bool
    signed_by: list[str]
    pending: list[str]
    complete: bool
    reverify_roles: list[str] = Field(description="roles that must re-verify their identity before signing")
    signer_roles: list[str] = Field(description="the roles that sign this kind of hearing's transcript (those the "
                                                "re-verification rule may name)")
    confirmations: list[ConfirmationOut] = Field(
        description="clerks' identity confirmations usable now (unused, unexpired), for `staff_confirmed`")


class SignIn(BaseModel):
    sha256: str = Field(min_length=64, max_length=64, description="the SHA-256 of the text you were shown")
    method: ReverificationMethod
    id_document: str | None = Field(None, max_length=64)
    confirmed_by: str | None = Field(
        None, max_length=64,
        description="optional: the clerk you expect confirmed you; staff_confirmed relies on the clerk's own record "
                    "(POST /transcript/confirmations), and naming a clerk who did not confirm you is refused")


class ConfirmIn(BaseModel):
    participant_id: str = Field(min_length=1, max_length=64, description="the participant whose identity you "
                                                                         "checked on video, for signing")


class ReverificationIn(BaseModel):
    roles: list[str] | None = Field(max_length=32, description="roles that must re-verify before signing; "
                                                               "null restores the court's default")


class ReverificationOut(BaseModel):
    roles: list[str] = Field(description="the roles that must re-verify now")
    default: bool = Field(description="whether this is the court's default rule")


class SignOut(BaseModel):
    participant_id: str
    version: int
    sha256: str
    signed_at: datetime
    method: str


def exhibit_out(e: Exhibit) -> ExhibitOut:
    return ExhibitOut(id=e.id, name=e.display_name, media_type=e.media_type, size=e.size, page_count=e.page_count,
                      sha256=e.sha256, uploaded_by=e.uploaded_by, uploader_role=e.uploader_role,
                      created_at=e.created_at, withdrawn=e.withdrawn)


def opinion_out(o: Opinion) -> OpinionOut:
    return OpinionOut(id=o.id, exhibit_id=o.exhibit_id, participant_id=o.participant_id, role=o.role,
                      stance=o.stance, text=o.text, revision=o.revision, created_at=o.created_at)


_STATUS = {
    "not_permitted": 403, "not_admitted": 403, "not_a_participant": 403, "identity_mismatch": 403,
    "bad_confirmer": 403, "not_confirmed": 403, "not_found": 404, "wrong_hearing": 404, "no_transcript": 404,
    "wrong_state": 409, "frozen": 409, "conflict": 409, "stale_hash": 409, "already_signed": 409, "not_present": 409,
    "no_video_after_close": 409,
    "withdrawn": 409, "too_large": 413, "unsupported_type": 415, "type_mismatch": 415,
}


def refused(code: str, reason: str, **extra: Any) -> ApiError:
    return ApiError(_STATUS.get(code, 422), code, reason, **extra)


async def identify(tokens: TokenService, records: Records, court: CourtRecords, room_id: str,
                   credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The register participant a join link belongs to (this room, not revoked, its current link, not denied or
    removed), whether or not admitted yet; 401/403/404 otherwise. Admission is each route's further check."""
    if credentials is None:
        raise ApiError(401, "not_authenticated", "send your join token: 'Authorization: Bearer <token>'",
                       headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = tokens.verify_join(credentials.credentials, room_id)
    except TokenError as exc:
        raise ApiError(401, "token_refused", exc.reason, headers={"WWW-Authenticate": "Bearer"}) from None
    if await records.is_revoked(claims.jti):
        raise ApiError(401, "token_refused", "this link has been withdrawn by the court")
    hearing = await court.find_hearing_by_room(room_id)
    if hearing is None:
        raise ApiError(404, "not_found", "this room is not a hearing of this court")
    try:
        participant = await court.get_participant(claims.participant_id)
    except NotFound:
        raise ApiError(403, "forbidden", "this link does not belong to a participant of this hearing") from None
    if participant.hearing_id != hearing.id or participant.token_jti != claims.jti:
        raise ApiError(403, "forbidden", "this link does not belong to a participant of this hearing")
    if participant.status in (ParticipantStatus.DENIED, ParticipantStatus.REMOVED):
        raise ApiError(403, "forbidden", "you no longer take part in this hearing; contact the court")
    return Caller(participant, hearing)


# ---- the router -----------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="Your join token (the part of your link after '#token=')")


def in_hearing_router(ctx: InHearingContext) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}", tags=["in the hearing"], route_class=ApiRoute)

    async def caller(room_id: str, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                          Security(_bearer)]) -> Caller:
        who = await identify(ctx.tokens, ctx.records, ctx.court, room_id, credentials)
        if not in_the_hearing(who.participant):
            witness = who.participant.role == Role.WITNESS.value
            apart = "witnesses wait apart until the court calls them" if witness else "you are waiting in the lobby"
            raise refused("not_admitted", f"{apart}: wait for the court to admit you; the hearing's exhibits and "
                                          "transcript open to you once you are admitted")
        return who

    me = Depends(caller)

    # ---- exhibits ---------------------------------------------------------------------------------------

    @router.get("/exhibits", response_model=list[ExhibitOut])
    async def list_exhibits(room_id: str, who: Caller = me) -> list[ExhibitOut]:
        """The exhibits you may open now (court and parties: all; others: the one presented)."""
        result = await ctx.exhibits.list(who.hearing.id, viewer_role=who.participant.role)
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        return [exhibit_out(e) for e in result]

    # The file is read only after the caller is identified and admitted (a declared File() parameter would make
    # FastAPI parse the whole form before any dependency runs); the server caps the body at the exhibit limit
    # plus the form's overhead before reading (x-max-body-bytes, app/body_limits.py).
    exhibit_body_limit = ctx.exhibits.max_size + FORM_OVERHEAD

    @router.post("/exhibits", response_model=ExhibitOut, status_code=201, openapi_extra={
        "x-max-body-bytes": exhibit_body_limit,
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "name": {"type": "string", "maxLength": 200}}}}}}})
    async def upload_exhibit(room_id: str, request: Request, who: Caller = me) -> ExhibitOut:
        """Upload a PDF or an image (PNG, JPEG, WebP) as form field `file` (and an optional `name`); the type is
        read from the bytes, the size is capped."""
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "multipart/form-data":
            raise ApiError(422, "invalid_request", "send the exhibit as multipart/form-data with the file in `file`")
        too_large = refused("too_large", f"the file is larger than {ctx.exhibits.max_size // (1 << 20)} MiB; "
                                         "split or compress it")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > exhibit_body_limit:
            raise too_large
        try:
            async with request.form(max_files=1, max_fields=4) as form:
                file, name = form.get("file"), form.get("name")
                if not isinstance(file, UploadFile):
                    raise ApiError(422, "invalid_request", "`file` must hold the exhibit's file")
                if name is not None and (not isinstance(name, str) or len(name) > 200):
                    raise ApiError(422, "invalid_request", "`name` must be text of at most 200 characters")
                data = bytearray()
                while chunk := await file.read(UPLOAD_CHUNK):
                    data += chunk
                    if len(data) > ctx.exhibits.max_size:
                        raise too_large
                filename, content_type = file.filename, file.content_type
        except HTTPException as exc:  # the multipart parser's refusal (malformed body, too many parts)
            raise ApiError(422, "invalid_request", f"the form could not be read: {exc.detail}") from None
        result = await ctx.exhibits.upload(who.hearing.id, who.participant.id, who.participant.role,
                                           name or filename, content_type, bytes(data))
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        return exhibit_out(result)

    @router.get("/exhibits/{exhibit_id}/view", response_model=ViewOut)
    async def view_exhibit(room_id: str, exhibit_id: str, who: Caller = me) -> ViewOut:
        """A short-lived link to the file. Every request is recorded: who viewed which exhibit, when."""
        grant = await ctx.exhibits.open_for_view(exhibit_id, who.participant.id, who.participant.role,
                                                 hearing_id=who.hearing.id)
        if isinstance(grant, exhibit_rules.Refused):
            raise refused(grant.code.value, grant.reason)
        return ViewOut(url=grant.url, expires_at=grant.expires_at, exhibit=exhibit_out(grant.exhibit))

    @router.get("/exhibit-views", response_model=list[ExhibitViewsOut])
    async def exhibit_views(room_id: str, who: Caller = me) -> list[ExhibitViewsOut]:
        """Who viewed which exhibit, and when (from the audited views): for the court staff of this hearing
        (judges, the clerk, the mediator); anyone else gets 403 `not_permitted`."""
        result = await ctx.exhibits.hearing_views(who.hearing.id, who.participant.id, who.participant.role)
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        viewers = {v.viewer_id for _, views in result for v in views}
        names: dict[str, str] = {}
        for p in await ctx.court.list_participants(who.hearing.id):
            if p.id in viewers:
                with contextlib.suppress(NotFound):
                    names[p.id] = (await ctx.court.get_person(p.person_id)).name
        return [ExhibitViewsOut(exhibit_id=e.id, name=e.display_name, withdrawn=e.withdrawn,
                                views=[ViewerOut(participant_id=v.viewer_id, name=names.get(v.viewer_id),
                                                 role=v.viewer_role, at=v.at) for v in views])
                for e, views in result]

    @router.post("/exhibits/{exhibit_id}/opinion", response_model=OpinionOut, status_code=201)
    async def give_opinion(room_id: str, exhibit_id: str, body: OpinionIn, who: Caller = me) -> OpinionOut:
        """Your side's opinion on an exhibit (质证意见); a later one replaces it, the history is kept."""
        result = await ctx.exhibits.opinion(exhibit_id, who.participant.id, body.stance, body.text)
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        return opinion_out(result)

    @router.get("/exhibits/{exhibit_id}/opinions", response_model=list[OpinionOut])
    async def list_opinions(room_id: str, exhibit_id: str, who: Caller = me) -> list[OpinionOut]:
        result = await ctx.exhibits.opinions(exhibit_id, viewer_id=who.participant.id,
                                             viewer_role=who.participant.role, hearing_id=who.hearing.id)
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        return [opinion_out(o) for o in result if o.exhibit_id == exhibit_id]

    @router.post("/presentation", status_code=204)
    async def present(room_id: str, body: PresentIn, who: Caller = me) -> Response:
        """Show an exhibit's page to everyone in the room (null: show nothing)."""
        result = await ctx.exhibits.present(who.hearing.id, who.actor, body.exhibit_id, body.page)
        if isinstance(result, exhibit_rules.Refused):
            raise refused(result.code.value, result.reason)
        await ctx.hub.broadcast(room_id, await presented(ctx.exhibits, who.hearing.id, result.exhibit_id,
                                                          result.page))
        return Response(status_code=204)

    # ---- the transcript ---------------------------------------------------------------------------------

    async def transcript_out(who: Caller) -> TranscriptOut:
        """The transcript as `who` may read it now (hearing.transcript.may_read), or a refusal."""
        read = await ctx.transcripts.read(who.hearing.id, who.participant.id, who.participant.role)
        if isinstance(read, transcript_rules.Refused):
            raise refused(read.code.value, read.reason)
        assert isinstance(read, TranscriptRead)
        status, current = read.status, read.current
        return TranscriptOut(
            version=current.number if current else 0, sha256=current.sha256 if current else "",
            text=current.text if current else "", saved_at=current.saved_at if current else None,
            frozen=status.frozen, signed_by=[s.participant_id for s in status.signatures],
            pending=list(status.completion.pending), complete=status.complete,
            reverify_roles=sorted(status.reverify_roles),
            signer_roles=[r.value for r in Role if transcript_rules.may_ever_sign(who.hearing.kind, r)],
            confirmations=[ConfirmationOut(participant_id=c.participant_id, confirmed_by=c.confirmed_by,
                                           confirmed_at=c.confirmed_at, expires_at=c.expires_at)
                           for c in status.confirmations])

    @router.get("/transcript", response_model=TranscriptOut)
    async def get_transcript(room_id: str, who: Caller = me) -> TranscriptOut:
        """The latest text: for the editors, for whoever follows the hearing now, and for the signers once closed."""
        return await transcript_out(who)

    @router.put("/transcript", response_model=TranscriptOut)
    async def save_transcript(room_id: str, body: TranscriptIn, who: Caller = me) -> TranscriptOut:
        """Autosave (the clerk): based on `base_version`; a newer version saved meanwhile is a 409 with it."""
        result = await ctx.transcripts.save(who.hearing.id, who.participant.id, who.participant.role, body.text,
                                            body.base_version)
        if isinstance(result, transcript_rules.Conflict):
            latest = result.latest
            raise refused("conflict", result.reason, latest_version=latest.number if latest else 0,
                          latest_text=latest.text if latest else "")
        if isinstance(result, transcript_rules.Refused):
            raise refused(result.code.value, result.reason)
        if isinstance(result, Saved):
            await ctx.hub.broadcast(room_id, TranscriptUpdated(version=result.version.number,
                                                               sha256=result.version.sha256))
        return await transcript_out(who)

    @router.put("/transcript/reverification", response_model=ReverificationOut)
    async def set_reverification(room_id: str, body: ReverificationIn, who: Caller = me) -> ReverificationOut:
        """Which roles must re-verify their identity before signing (the clerk or presiding judge, until the
        first signature); null restores the court's default."""
        result = await ctx.transcripts.set_reverification(who.hearing.id, who.participant.id, who.participant.role,
                                                          body.roles)
        if isinstance(result, transcript_rules.Refused):
            raise refused(result.code.value, result.reason)
        assert isinstance(result, ReverificationSet)
        return ReverificationOut(roles=sorted(result.roles), default=body.roles is None)

    @router.post("/transcript/confirmations", response_model=ConfirmationOut, status_code=201)
    async def confirm_identity(room_id: str, body: ConfirmIn, who: Caller = me) -> ConfirmationOut:
        """The clerk records having checked a participant's identity on video, so that they may sign
        `staff_confirmed`: both must be connected to the hearing room now (a dropped connection does not count);
        it expires after a few minutes and serves one signature."""
        members = await ctx.hub.members(room_id)
        present = [pid for pid, m in members.items() if m.get("connection") != ConnectionState.RECONNECTING.value]
        result = await ctx.transcripts.confirm_identity(who.hearing.id, who.participant.id, body.participant_id,
                                                        present=present)
        if isinstance(result, transcript_rules.Refused):
            raise refused(result.code.value, result.reason)
        assert isinstance(result, Confirmed)
        c = result.confirmation
        return ConfirmationOut(participant_id=c.participant_id, confirmed_by=c.confirmed_by,
                               confirmed_at=c.confirmed_at, expires_at=c.expires_at)

    @router.post("/transcript/sign", response_model=SignOut, status_code=201)
    async def sign_transcript(room_id: str, body: SignIn, who: Caller = me) -> SignOut:
        """Sign the transcript you were shown (its SHA-256), after re-checking your identity: your ID number, or
        (`staff_confirmed`) a clerk's confirmation of you on video, recorded by the clerk beforehand."""
        result = await ctx.transcripts.sign(who.hearing.id, who.participant.id, sha256=body.sha256.lower(),
                                            method=body.method, id_document=body.id_document,
                                            confirmed_by=body.confirmed_by)
        if isinstance(result, transcript_rules.Refused):
            raise refused(result.code.value, result.reason)
        assert isinstance(result, Signed)
        s = result.signature
        return SignOut(participant_id=s.participant_id, version=s.version, sha256=s.sha256, signed_at=s.signed_at,
                       method=str(s.method))

    @router.get("/transcript.pdf", response_class=Response,
                responses={200: {"content": {"application/pdf": {}}}})
    async def transcript_pdf(room_id: str, who: Caller = me) -> Response:
        """The transcript with its signature page, as PDF."""
        result = await ctx.transcripts.export_pdf_for(who.hearing.id, who.participant.id, who.participant.role)
        if isinstance(result, transcript_rules.Refused):
            raise refused(result.code.value, result.reason)
        return Response(result, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="transcript.pdf"'})

    return router
