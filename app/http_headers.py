"""Security headers on every page and API answer (issue 14, item 8; docs/security.md).

- Content-Security-Policy: scripts and styles only from this origin, never inline (web/ has no inline script,
  handler or style; tests/test_http_headers.py keeps it so), no plugins, no <base> tricks, forms post here only.
  `frame-ancestors 'self'` rather than 'none': the station and duty pages (web/stations/) show the call as the join
  page in an iframe (#call-frame), which is same-origin framing; every other site still cannot frame any page
  (clickjacking). Media and exhibit files may come from the object store's own origin (S3 presigned URLs), and
  signalling may be redirected to another media node (ws:/wss:).
- X-Content-Type-Options nosniff, Referrer-Policy no-referrer (join links keep their token in the fragment, and no
  page should leak its path), Permissions-Policy: camera, microphone and fullscreen for this origin only, nothing
  else, and Cross-Origin-Opener-Policy same-origin.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(extra_origins: list[str]) -> str:
    others = "".join(f" {o}" for o in extra_origins)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob:{others}",
        f"media-src 'self' blob:{others}",
        f"frame-src 'self'{others}",
        f"connect-src 'self' ws: wss:{others}",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


def security_headers(extra_origins: list[str]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(extra_origins).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), "
                                b"geolocation=(), payment=(), usb=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"x-frame-options", b"SAMEORIGIN"),  # for browsers that predate frame-ancestors
    ]


API_DOCS = ("/docs", "/redoc")
"""FastAPI's API documentation pages: they load Swagger UI / ReDoc from a CDN and start it with an inline script,
so they get a policy of their own (nothing of the court's is shown there; every other page keeps the strict one)."""

DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
               "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds the headers to every HTTP answer that does not set its own."""

    def __init__(self, app: ASGIApp, extra_origins: list[str] | None = None) -> None:
        self.app = app
        self.headers = security_headers(extra_origins or [])
        self.docs_headers = [(k, DOCS_POLICY.encode() if k == b"content-security-policy" else v)
                             for k, v in self.headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope.get("path", "")
        headers = self.docs_headers if path.startswith(API_DOCS) else self.headers

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in headers if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
