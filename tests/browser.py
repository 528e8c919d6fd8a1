"""Debian's Chromium driven by Playwright (never `playwright install`), with the flags that work here.

Also the helpers the web-client tests share: joining a page, waiting on `document.body.dataset.state`,
and reading media progress (frames rendered, audio packets received) from the page's `window.hearing` hooks.
Every wait is a condition with a generous timeout, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bench.chromium import CHROMIUM, FLAGS

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 30_000
STATION = {"width": 1024, "height": 600}


@asynccontextmanager
async def chromium(extra_args: list[str] | None = None) -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing at /usr/bin/chromium; run `make test` (installs it with apt)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS + (extra_args or []), headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def fresh_context(browser: Browser, viewport: dict[str, int] | None = None, *,
                        enforce_csp: bool = False) -> AsyncIterator[BrowserContext]:
    """An isolated context (no shared cookies, storage or cache) per participant, as on separate machines.

    Playwright's `wait_for_function` evaluates its predicate with eval in the page, which the app's
    Content-Security-Policy forbids (app/http_headers.py), so contexts skip the policy unless `enforce_csp`;
    tests/test_web_csp.py runs the pages under it."""
    ctx = await browser.new_context(viewport=viewport or {"width": 1280, "height": 720}, bypass_csp=not enforce_csp)
    try:
        yield ctx
    finally:
        await ctx.close()


# ---- the web client's automation hooks -------------------------------------------------------------------------

class PageErrors:
    """Uncaught exceptions in a page; tests assert there are none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


async def open_page(ctx: BrowserContext, link: str, *, skipcheck: bool = True) -> Page:
    page = await ctx.new_page()
    page.errors = PageErrors(page)  # type: ignore[attr-defined]
    await page.goto(link + ("&skipcheck=1" if skipcheck else ""))
    return page


async def join(ctx: BrowserContext, link: str) -> Page:
    """Open a join link with the pre-join check skipped and wait until the page is connected."""
    page = await open_page(ctx, link)
    await wait_state(page, "connected")
    return page


async def wait_state(page: Page, *states: str, timeout: int = WAIT_MS) -> str:
    await page.wait_for_function("states => states.includes(document.body.dataset.state)", arg=list(states),
                                 timeout=timeout)
    return await page.evaluate("document.body.dataset.state")


def video_of(role: str) -> str:
    """CSS selector of a remote participant's <video> by role."""
    return f'video[data-participant-id][data-role="{role}"]'


FRAMES_JS = """sel => { const v = document.querySelector(sel);
                         return v ? window.hearing.framesOf(v.dataset.participantId) : 0; }"""


async def frames(page: Page, role: str) -> int:
    """Frames rendered for the participant with this role (a requestVideoFrameCallback count kept per participant,
    so it keeps rising across a new PeerConnection; 0 when there is no such participant)."""
    return int(await page.evaluate(FRAMES_JS, video_of(role)))


async def wait_frames(page: Page, role: str, more: int = 10, timeout: int = WAIT_MS) -> None:
    """Wait until the video of `role` has rendered `more` frames beyond what it shows now."""
    base = await frames(page, role)
    await page.wait_for_function(f"([sel, target]) => ({FRAMES_JS})(sel) >= target", arg=[video_of(role), base + more],
                                 timeout=timeout)


def _inbound_js(kind: str, field: str) -> str:
    return f"""async () => {{ let n = 0; const pc = window.hearing.pc; if (!pc) return 0;
        (await pc.getStats()).forEach(s => {{ if (s.type === 'inbound-rtp' && s.kind === '{kind}')
                                                 n += s.{field} || 0; }});
        return n; }}"""


async def decoded_video(page: Page) -> int:
    """inbound-rtp video framesDecoded over the page's current PeerConnection: what the SFU really sends."""
    return int(await page.evaluate(_inbound_js("video", "framesDecoded")))


async def audio_packets(page: Page) -> int:
    """inbound-rtp audio packetsReceived over the page's current PeerConnection (window.hearing.pc)."""
    return int(await page.evaluate(_inbound_js("audio", "packetsReceived")))


async def poll(read: Callable[[], Awaitable[int]], target: int, timeout: float = WAIT_MS / 1000,
               what: str = "counter") -> int:
    """Poll an async reading (getStats is async, which `wait_for_function` cannot await) until it reaches target."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if value >= target:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} stayed at {value}, expected {target} within {timeout:g}s")
        await asyncio.sleep(0.2)


async def wait_audio(page: Page, more: int = 25, timeout: float = WAIT_MS / 1000) -> int:
    """Wait until `more` audio packets arrived beyond the current count (50 packets/s with Opus at 20 ms).
    Read after the PeerConnection settled: a new one counts from zero."""
    base = await audio_packets(page)
    return await poll(lambda: audio_packets(page), base + more, timeout, "inbound audio packets")


async def wait_decoded(page: Page, more: int = 10, timeout: float = WAIT_MS / 1000) -> int:
    base = await decoded_video(page)
    return await poll(lambda: decoded_video(page), base + more, timeout, "decoded video frames")


def speech_like_wav(path: Path, seconds: float = 3.0, rate: int = 48000) -> Path:
    """A loud, steady voice-band signal (a 220 Hz tone with harmonics) for `--use-file-for-fake-audio-capture`:
    Chromium's default fake microphone only beeps briefly once a second, which never counts as speaking."""
    import math
    import struct
    import wave

    frames = bytearray()
    for i in range(int(seconds * rate)):
        x = sum(math.sin(2 * math.pi * 220 * k * i / rate) / k for k in (1, 2, 3))
        frames += struct.pack("<h", int(12000 * x / 1.8))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path
