"""Serves the local store's presigned URLs, so browsers fetch recordings the same way they would from S3."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from recordings.local_store import LocalObjectStore
from recordings.objectstore import InvalidKey, ObjectNotFound

_NO_STORE = {"Cache-Control": "private, no-store"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=_NO_STORE)


def local_objects_router(store: LocalObjectStore) -> APIRouter:
    """`GET /objects/{key}?expires=&signature=`: the URL is the credential, so no session is needed.

    Mount it at the root of the app whose base URL the store was given as `url_base`.
    """
    router = APIRouter()

    @router.get("/objects/{key:path}", name="local_object", include_in_schema=False)
    async def get_object(key: str, expires: str | None = None, signature: str | None = None) -> Response:
        # Missing or malformed parameters are a bad signature (403), not a validation error (422): the caller
        # holds a URL, not a form, and should learn only that the URL is no good.
        if expires is None or signature is None or not expires.isdigit():
            return _error(403, "bad_signature", "this download link is not valid; ask for a new one")
        verdict = store.check_presigned(key, int(expires), signature)
        if verdict == "bad_signature":
            return _error(403, "bad_signature", "this download link is not valid; ask for a new one")
        if verdict == "expired":
            return _error(403, "expired", "this download link has expired; ask for a new one")
        try:
            info = await store.stat(key)
        except (ObjectNotFound, InvalidKey):
            return _error(404, "not_found", f"no object {key!r}")
        # FileResponse streams from disk (objects can be tens of MB) and answers Range requests (seeking).
        return FileResponse(store.path_for(key), media_type=info.content_type, headers=_NO_STORE)

    return router
