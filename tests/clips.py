"""The resumable clip upload over HTTP as a client does it (the clips themselves: tests/clip_files.py)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx


async def upload_clip(client: httpx.AsyncClient, purpose: str, data: bytes, *, headers: dict[str, str],
                      chunk: int = 4096, content_type: str = "video/webm") -> dict[str, Any]:
    """Declare, send in chunks (checking the committed offset with HEAD halfway, as a resuming client does),
    complete; returns the clip's JSON."""
    r = await client.post(f"/api/clips/{purpose}/uploads", headers=headers, json={
        "size": len(data), "content_type": content_type, "sha256": hashlib.sha256(data).hexdigest()})
    assert r.status_code == 201, r.text
    upload = r.json()["id"]
    offset = 0
    while offset < len(data):
        part = data[offset:offset + chunk]
        r = await client.patch(f"/api/clips/{purpose}/uploads/{upload}", content=part,
                               headers={**headers, "Upload-Offset": str(offset)})
        assert r.status_code == 200, r.text
        head = await client.head(f"/api/clips/{purpose}/uploads/{upload}", headers=headers)
        offset = int(head.headers["Upload-Offset"])
    r = await client.post(f"/api/clips/{purpose}/uploads/{upload}/complete", headers=headers)
    assert r.status_code == 201, r.text
    clip: dict[str, Any] = r.json()["clip"]
    return clip
