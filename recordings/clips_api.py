"""The clip upload HTTP routes (protocol: docs/clips.md), thin over `ClipService`.

recordings/ knows no court rules, so it does not decide who may upload: each **purpose** (petition, async_trial,
station) has an authorizer handed in by the composition root — an async callable that reads the request (a petition
link's token, a party's join token, a staff session) and returns the `ClipActor` (owner + who), or raises. It may
raise `ClipRefused`, or any exception with a `response()` method (hearing's `ApiError`), which is answered as is.

Every route authorizes first; a chunk's Content-Length and offset are checked before its body is read, so an
unauthenticated, misplaced or oversized body is refused without reading it. Errors use the platform's envelope
`{"error": code, "message": sentence, ...parameters}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from docket.records import RecordsError
from recordings.clips import ClipActor, ClipRefused, ClipService
from recordings.objectstore import ObjectStoreError

log = logging.getLogger("recordings.clips_api")

ClipAuthorizer = Callable[[Request], Awaitable[ClipActor]]
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class ClipsContext:
    service: ClipService
    authorizers: Mapping[str, ClipAuthorizer]


class UploadIn(BaseModel):
    size: int = Field(gt=0, description="the whole clip's size in bytes")
    content_type: str = Field(max_length=100, description="video/webm, video/mp4 (codecs parameter allowed)")
    sha256: str = Field(max_length=64, description="SHA-256 of the whole clip, hex")


def _error(status: int, code: str, message: str, **params: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **params}, status_code=status, headers=_NO_STORE)


def _answer(exc: Exception) -> Response | None:
    if isinstance(exc, ClipRefused):
        return _error(exc.status, exc.code, exc.message, **exc.params)
    if isinstance(exc, RequestValidationError):
        fields = [".".join(str(p) for p in e.get("loc", ()) if p != "body") for e in exc.errors()]
        return _error(422, "invalid_request", f"the request is not valid: {', '.join(fields[:5])}", fields=fields)
    respond = getattr(exc, "response", None)
    if callable(respond):  # the caller's own error envelope (hearing.api.deps.ApiError)
        answer = respond()
        if isinstance(answer, Response):
            return answer
    if isinstance(exc, ObjectStoreError):
        log.error("object store error in the clip API: %s", exc)
        return _error(503, "storage_unavailable", "the clip store did not answer; try again shortly")
    if isinstance(exc, RecordsError):
        log.error("records database error in the clip API: %s", exc)
        return _error(503, "database_unavailable", "the court's database did not answer; try again shortly")
    return None


class _Route(APIRoute):
    """Exceptions from the service become the error envelope (see `_answer`); anything else is a bug (500)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = _answer(exc)
                if answer is None:
                    raise
                return answer

        return route


def clips_router(ctx: ClipsContext) -> APIRouter:
    router = APIRouter(prefix="/api/clips", tags=["clips"], route_class=_Route)
    service = ctx.service

    async def actor_for(purpose: str, request: Request) -> ClipActor:
        authorize = ctx.authorizers.get(purpose)
        if authorize is None:
            raise ClipRefused(404, "clip_purpose_unknown", f"no clip uploads for {purpose!r}")
        return await authorize(request)

    def offset_headers(offset: int, size: int) -> dict[str, str]:
        return {"Upload-Offset": str(offset), "Upload-Length": str(size), **_NO_STORE}

    @router.post("/{purpose}/uploads", status_code=201)
    async def create(purpose: str, body: UploadIn, request: Request) -> Response:
        """Declare a clip (size, type, SHA-256) → an upload id; then send its bytes with PATCH."""
        actor = await actor_for(purpose, request)
        upload = await service.create_upload(actor, purpose, size=body.size, content_type=body.content_type,
                                             sha256=body.sha256)
        return JSONResponse({**upload.as_json(), "max_chunk_bytes": service.policy.max_chunk_bytes},
                            status_code=201, headers=offset_headers(upload.committed, upload.declared_size))

    async def owned(purpose: str, upload_id: str, request: Request) -> tuple[ClipActor, Any]:
        """Authorize, then the upload as it stands once a stale request of this instance still reading a chunk
        of it (a link that died without a reset) has committed what it received."""
        actor = await actor_for(purpose, request)
        upload = await service.upload(upload_id)
        if upload.owner != actor.owner or upload.purpose != purpose:
            raise ClipRefused(404, "clip_upload_not_found", f"no clip upload {upload_id!r}")
        if upload.state == "open":
            await service.settle(upload_id)
            upload = await service.upload(upload_id)
        return actor, upload

    @router.head("/{purpose}/uploads/{upload_id}")
    async def head(purpose: str, upload_id: str, request: Request) -> Response:
        """The committed offset (header Upload-Offset): where to resume."""
        _, upload = await owned(purpose, upload_id, request)
        return Response(status_code=200, headers=offset_headers(upload.committed, upload.declared_size))

    @router.get("/{purpose}/uploads/{upload_id}")
    async def status(purpose: str, upload_id: str, request: Request) -> Response:
        _, upload = await owned(purpose, upload_id, request)
        return JSONResponse(upload.as_json(), headers=offset_headers(upload.committed, upload.declared_size))

    @router.patch("/{purpose}/uploads/{upload_id}", openapi_extra={"x-max-body-bytes": service.policy.max_chunk_bytes})
    async def append(purpose: str, upload_id: str, request: Request) -> Response:
        """One chunk at `Upload-Offset`, body = raw bytes with a Content-Length (no chunked encoding)."""
        actor, upload = await owned(purpose, upload_id, request)
        raw_offset = request.headers.get("upload-offset", "")
        raw_length = request.headers.get("content-length", "")
        if not raw_offset.isdigit():
            raise ClipRefused(422, "clip_offset_missing", "send the chunk's offset in the Upload-Offset header")
        if not raw_length.isdigit():
            raise ClipRefused(411, "clip_length_required", "send the chunk with a Content-Length header")
        offset, length = int(raw_offset), int(raw_length)
        service.check_chunk(upload, offset, length)  # before reading a byte of the body
        updated = await service.append(upload_id, actor.owner, offset, length, request.stream())
        return JSONResponse(updated.as_json(), headers=offset_headers(updated.committed, updated.declared_size))

    @router.post("/{purpose}/uploads/{upload_id}/complete")
    async def complete(purpose: str, upload_id: str, request: Request) -> Response:
        """Verify (size, SHA-256, container, codecs, duration) and store the clip; repeatable."""
        actor, _ = await owned(purpose, upload_id, request)
        clip = await service.complete(upload_id, actor)
        return JSONResponse({"clip": clip.as_json()}, status_code=201, headers=_NO_STORE)

    @router.delete("/{purpose}/uploads/{upload_id}", status_code=204)
    async def abort(purpose: str, upload_id: str, request: Request) -> Response:
        actor, _ = await owned(purpose, upload_id, request)
        await service.abort(upload_id, actor)
        return Response(status_code=204, headers=_NO_STORE)

    @router.get("/{purpose}/clips/{clip_id}")
    async def clip(purpose: str, clip_id: str, request: Request) -> Response:
        """The uploader's own clip and a short-lived URL to play it."""
        actor = await actor_for(purpose, request)
        found = await service.clip(clip_id)
        if found.owner != actor.owner or found.purpose != purpose:
            raise ClipRefused(404, "clip_not_found", f"no clip {clip_id!r}")
        return JSONResponse({"clip": found.as_json(), "url": await service.url(clip_id)}, headers=_NO_STORE)

    return router
