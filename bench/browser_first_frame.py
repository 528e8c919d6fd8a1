"""Page load → first remote video frame in Chromium: `python -m bench.browser_first_frame [--runs 10] [--json]`.

Runs `hearing serve` in its own process (embedded defaults, a temporary directory, ICE on 127.0.0.1), puts one
publishing page in a room (a judge with Chromium's fake camera and microphone), then `--runs` times opens a new
page (a fresh browser context, as another machine) on a `&skipcheck=1` join link and measures from navigation
start to the first remote video frame the page renders (requestVideoFrameCallback, `window.hearing.firstFrameAt`).
Also reports where the time goes: camera/mic open, `joined`, media connected. Prints median/min/max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.chromium import CHROMIUM, FLAGS
from bench.server import ServerDidNotStart, hearing_server

SECRET = "bench-first-frame-secret-" + "f" * 20
ROOM = "bench-first-frame"



def _link(base: str, role: str, name: str) -> str:
    from signaling.tokens import TokenService

    grants = ["publish", "subscribe", "moderate"] if role == "presiding_judge" else ["publish", "subscribe"]
    token, _ = TokenService(SECRET).issue_join(room_id=ROOM, role=role, name=name, grants=grants, ttl_seconds=3600)
    return f"{base}/join#token={token}&skipcheck=1"


async def _run(base: str, runs: int, timeout_ms: int) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    rows: list[dict[str, Any]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            publisher_ctx = await browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
            publisher = await publisher_ctx.new_page()
            await publisher.goto(_link(base, "presiding_judge", "审判长"))
            await publisher.wait_for_function("document.body.dataset.state === 'connected'", timeout=timeout_ms)
            for i in range(runs):
                ctx = await browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
                try:
                    page = await ctx.new_page()
                    await page.goto(_link(base, "plaintiff", f"原告{i}"))
                    await page.wait_for_function("window.hearing && window.hearing.firstFrameAt != null",
                                                 timeout=timeout_ms)
                    marks = await page.evaluate("({first: hearing.firstFrameAt, ...hearing.marks})")
                    row = {k: round(float(v), 1) for k, v in marks.items() if v is not None}
                    rows.append(row)
                    print(f"  [{i + 1}/{runs}] first remote frame {row['first']:.0f} ms", file=sys.stderr, flush=True)
                    await page.get_by_role("button", name="离开").click()
                    await page.wait_for_function("document.body.dataset.state === 'ended'", timeout=timeout_ms)
                finally:
                    await ctx.close()
            await publisher_ctx.close()
        finally:
            await browser.close()
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"bench": "browser_first_frame", "runs": len(rows)}
    for key in ("first", "devices", "joined", "connected"):
        values = [r[key] for r in rows if key in r]
        if values:
            name = "first_frame" if key == "first" else key
            out[f"{name}_ms_median"] = round(statistics.median(values), 1)
            out[f"{name}_ms_min"] = round(min(values), 1)
            out[f"{name}_ms_max"] = round(max(values), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="joins to time")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds allowed per join")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print("Debian chromium is missing at /usr/bin/chromium (make test installs it)", file=sys.stderr)
        return 1
    try:
        with hearing_server(SECRET, ICE_HOST_ADDRESSES="127.0.0.1") as (port, _proc):
            rows = asyncio.run(_run(f"http://127.0.0.1:{port}", args.runs, int(args.timeout * 1000)))
    except ServerDidNotStart as exc:
        print(exc, file=sys.stderr)
        return 1
    summary = _summary(rows)
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"page load → first remote video frame, Chromium, {len(rows)} joins (ms since navigation start)")
        print(f"{'':>22} {'median':>8} {'min':>8} {'max':>8}")
        for key, label in (("first_frame", "first remote frame"), ("devices", "camera+mic open"),
                           ("joined", "joined (signalling)"), ("connected", "media connected")):
            if f"{key}_ms_median" in summary:
                print(f"{label:>22} {summary[f'{key}_ms_median']:>8} {summary[f'{key}_ms_min']:>8} "
                      f"{summary[f'{key}_ms_max']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
