"""Security headers on every page and API answer, and a web client with no inline script, handler or style (so
the Content-Security-Policy can forbid them) (issue 14, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.served import serve

WEB = ROOT / "web"


def test_no_inline_script_handler_or_style_in_the_web_client() -> None:
    for page in WEB.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", html, flags=re.I):
            assert "src=" in tag, f"{page.relative_to(ROOT)}: inline <script> (move it to a file)"
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html, flags=re.I), f"{page}: script with a body"
        assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I), f"{page.relative_to(ROOT)}: inline handler"
        assert not re.search(r"<style\b|\sstyle\s*=", html, flags=re.I), f"{page.relative_to(ROOT)}: inline style"
        assert "javascript:" not in html
    for script in WEB.rglob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert not re.search(r"\beval\(|new Function\(", text), f"{script.relative_to(ROOT)}: eval"


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        paths = ["/join", "/staff", "/station", "/duty", "/points", "/integrity", "/petitions", "/async",
                 "/static/js/app.js", "/healthz", "/api/me", "/api/rooms/x/exhibits", "/no-such-page"]
        for path in paths:
            r = httpx.get(server.base + path, timeout=10)
            csp = r.headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, (path, csp)
            assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "camera=(self)" in r.headers["permissions-policy"]
            assert "microphone=(self)" in r.headers["permissions-policy"]
            assert "server" not in r.headers
        docs = httpx.get(server.base + "/docs", timeout=10)  # Swagger UI's own policy: it needs its CDN
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
        assert docs.headers["x-content-type-options"] == "nosniff"
