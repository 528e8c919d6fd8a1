"""Request bodies are capped before they are read (issue 14, item 5; docs/security.md).

One ASGI middleware for every route: a route that takes large bodies declares its cap in its OpenAPI extra as
`x-max-body-bytes` (exhibits, clip chunks, petition forms, appeal evidence, fact imports), every other route gets
HTTP_MAX_BODY_KB. A Content-Length over the cap is answered 413 at once, before a byte of the body is read (so
no temp file, no buffer); a chunked body is counted while it streams and refused the moment it passes the cap.
Authorization before reading is each upload route's own duty (they authorize in a dependency or first thing, and
declare no body parameter, which FastAPI would parse before any dependency). Answers use the platform's error
envelope `{"error": code, "message": sentence, ...parameters}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIMIT_KEY = "x-max-body-bytes"


class BodyTooLarge(Exception):
    """Raised into the app from `receive` when a streamed body passes its cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over {limit} bytes")
        self.limit = limit


def _size_label(limit: int) -> str:
    return f"{limit / (1 << 20):.0f} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def too_large_body(limit: int) -> bytes:
    return json.dumps({"error": "request_too_large", "message": f"the request is over {_size_label(limit)}; "
                       "send a smaller one", "limit_bytes": limit}).encode()


def declared_caps(schema: dict[str, Any]) -> list[tuple[re.Pattern[str], str, int]]:
    """The routes that declare a cap, read from the app's OpenAPI document: FastAPI's public view of every route,
    however routers are nested (newer FastAPI keeps included routers as objects of their own)."""
    caps = []
    for template, operations in schema.get("paths", {}).items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
        for method, operation in operations.items():
            if isinstance(operation, dict) and LIMIT_KEY in operation:
                caps.append((pattern, method.lower(), int(operation[LIMIT_KEY])))
    return caps


class BodyLimits:
    def __init__(self, app: ASGIApp, default_limit: int, router_app: Any = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.router_app = router_app  # the FastAPI app whose routes declare their caps (set by the factory)
        self._caps: list[tuple[re.Pattern[str], str, int]] | None = None

    def limit_for(self, scope: Scope) -> int:
        if self.router_app is None:
            return self.default_limit
        if self._caps is None:
            self._caps = declared_caps(self.router_app.openapi())
        path, method = scope.get("path", ""), scope.get("method", "").lower()
        for pattern, verb, cap in self._caps:
            if verb == method and pattern.fullmatch(path):
                return cap
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict((k.lower(), v) for k, v in scope["headers"] if k.lower() in (b"content-length",
                                                                                     b"transfer-encoding"))
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length is None and not chunked:
            await self.app(scope, receive, send)  # no body
            return
        limit = self.limit_for(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(send, limit)
            return
        received = 0
        over = False  # passed the cap: whatever the app answers (FastAPI turns a failed read into 400), it is 413
        answered = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if over:
                if not answered and message["type"] == "http.response.start":
                    answered = True
                    await self._refuse(send, limit)
                return  # the app's own answer to the cut body is dropped
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            if answered:
                raise
            answered = True
            await self._refuse(send, limit)
            return
        if over and not answered:
            await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = too_large_body(limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
