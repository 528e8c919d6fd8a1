"""web/js/clip_upload.js in real Chromium against the real server: a clip recorded from the fake camera with
MediaRecorder uploads through dropped requests, resumes from the server's offset, is stored once and plays back."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import Request
from playwright.async_api import Page, Route

from recordings.clips import ClipActor, ClipRefused
from tests.browser import chromium, fresh_context
from tests.live import LiveServer, live_server

OWNER = ClipActor("petition:browser", "person-9", "citizen")


async def authorize(request: Request) -> ClipActor:
    if request.headers.get("authorization") != "Bearer citizen-token":
        raise ClipRefused(401, "not_authenticated", "send the petition link's token")
    return OWNER


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, Page]]:
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        assert server.app is not None
        server.app.state.clip_authorizers["petition"] = authorize
        page = await ctx.new_page()
        await page.goto(f"{server.base}/healthz")  # an origin to import the modules from
        yield server, page


RECORD_JS = """async (ms) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus" });
  const parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(250);
  await new Promise((resolve) => setTimeout(resolve, ms));  // the recording's own length, not a wait on the server
  recorder.stop();
  await stopped;
  stream.getTracks().forEach((t) => t.stop());
  window.recorded = new Blob(parts, { type: "video/webm" });
  return window.recorded.size;
}"""

UPLOAD_JS = """async () => {
  const m = await import('/static/js/clip_upload.js');
  const retries = [];
  const clip = await m.uploadClip(window.recorded, { purpose: "petition", chunkBytes: 8192, maxChunkBytes: 8192,
    maxDelayMs: 300,
    headers: { Authorization: "Bearer citizen-token" }, onRetry: (n, ms, why) => retries.push(why) });
  return { clip, retries, sha256: await m.sha256Hex(window.recorded) };
}"""


async def test_a_recorded_clip_uploads_through_drops_and_plays(served: tuple[LiveServer, Page]) -> None:
    server, page = served
    size = await page.evaluate(RECORD_JS, 3000)
    assert size > 8192 * 10, "the clip should span more chunks than the drops"
    patches = 0

    async def drop_some(route: Route) -> None:
        nonlocal patches
        if route.request.method == "PATCH":
            patches += 1
            if patches in (1, 3, 4, 7):  # the link drops: the request never reaches the server
                await route.abort("connectionreset")
                return
        await route.continue_()

    await page.route("**/api/clips/petition/uploads/**", drop_some)
    result = await page.evaluate(UPLOAD_JS)
    clip = result["clip"]
    assert result["retries"].count("network") == 4
    assert clip["sha256"] == result["sha256"] and clip["size"] == size and clip["video_codec"] == "vp8"
    stored = await server.services.clips.clips_of(OWNER.owner)  # type: ignore[union-attr]
    assert [c.id for c in stored] == [clip["id"]]
    data = await server.services.objects.get(stored[0].object_key)
    assert hashlib.sha256(data).hexdigest() == clip["sha256"]
    assert 2000 <= clip["duration_ms"] <= 4500
    # Play it back through the clip's short-lived URL.
    played = await page.evaluate("""async (id) => {
      const r = await fetch(`/api/clips/petition/clips/${id}`, { headers: { Authorization: "Bearer citizen-token" } });
      const { url } = await r.json();
      const v = document.createElement("video");
      v.muted = true;
      document.body.append(v);
      await new Promise((resolve, reject) => {
        v.onloadeddata = resolve; v.onerror = () => reject(v.error); v.src = url;
      });
      await v.play();
      await new Promise((resolve) => v.requestVideoFrameCallback(resolve));
      return { w: v.videoWidth, h: v.videoHeight };
    }""", clip["id"])
    assert played == {"w": 320, "h": 240}


async def test_a_refused_clip_rejects_with_the_servers_code(served: tuple[LiveServer, Page]) -> None:
    _, page = served
    refused = await page.evaluate("""async () => {
      const m = await import('/static/js/clip_upload.js');
      const junk = new Blob([new Uint8Array(5000).fill(7)], { type: "video/webm" });
      try {
        await m.uploadClip(junk, { purpose: "petition", headers: { Authorization: "Bearer citizen-token" } });
        return null;
      } catch (err) { return { name: err.name, code: err.code, status: err.status }; }
    }""")
    assert refused == {"name": "ClipUploadError", "code": "clip_not_media", "status": 422}
    denied = await page.evaluate("""async () => {
      const m = await import('/static/js/clip_upload.js');
      try {
        await m.uploadClip(new Blob(["x"], { type: "video/webm" }), { purpose: "petition" });
        return null;
      } catch (err) { return err.code; }
    }""")
    assert denied == "not_authenticated"


async def test_backoff_grows_and_is_capped(served: tuple[LiveServer, Page]) -> None:
    _, page = served
    delays = await page.evaluate("""async () => {
      const m = await import('/static/js/clip_upload.js');
      return [1, 2, 3, 4, 10, 20].map((n) => m.backoffDelay(n, { random: () => 0.5 }));
    }""")
    assert delays == [1000, 2000, 4000, 8000, 30000, 30000]
