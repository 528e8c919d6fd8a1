"""The room in real Chromium: people see and hear each other through the SFU, late joiners catch up,
mute and leave show on the others' pages, and audio-only mode really stops the video."""

from __future__ import annotations

import re
import time

from hearing.roles import Role
from tests.browser import (
    ARTIFACTS,
    audio_packets,
    chromium,
    decoded_video,
    fresh_context,
    join,
    speech_like_wav,
    video_of,
    wait_audio,
    wait_decoded,
    wait_frames,
)
from tests.live import live_server


async def test_two_pages_see_and_hear_each_other(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link("court-1", Role.PLAINTIFF, "张原告"))
            await wait_frames(judge, "plaintiff")
            await wait_frames(party, "presiding_judge")
            await wait_audio(judge)
            await wait_audio(party)
            # Names and roles on the tiles; the SFU forwards exactly one audio and one video track each way.
            tile = party.locator('[data-tile-for][data-role="presiding_judge"]')
            assert "王审判长" in await tile.inner_text() and "审判长" in await tile.inner_text()
            assert await party.locator("video[data-participant-id]").count() == 1
            # The connection-quality indicator fills in from getStats (RTT, loss, available bitrate).
            quality = party.locator("#quality")
            await party.wait_for_function("document.getElementById('quality').dataset.level !== 'unknown'")
            assert await quality.get_attribute("data-level") in ("good", "fair")
            assert re.search(r"往返 \d+ ms · 丢包 \d+\.\d% · 可用 \d", await quality.inner_text())
            for page in (judge, party):
                assert not page.errors.errors
                assert await page.evaluate("hearing.media.stats.restarts") == 0


async def test_late_joiner_sees_everyone_and_screenshot(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            judge = await join(c1, await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长"))
            plaintiff = await join(c2, await server.link("court-1", Role.PLAINTIFF, "张原告"))
            await wait_frames(judge, "plaintiff")
            t0 = time.monotonic()
            late = await join(c3, await server.link("court-1", Role.DEFENDANT, "李被告"))
            await wait_frames(late, "presiding_judge", more=1)
            await wait_frames(late, "plaintiff", more=1)
            caught_up = time.monotonic() - t0
            assert caught_up < 15, f"late joiner needed {caught_up:.1f}s for the others' video"
            # ... and the two already in the room now see the newcomer too, without disturbing each other.
            await wait_frames(judge, "defendant")
            await wait_frames(plaintiff, "defendant")
            await wait_frames(plaintiff, "presiding_judge")
            await wait_audio(late)
            ARTIFACTS.mkdir(exist_ok=True)
            await plaintiff.screenshot(path=str(ARTIFACTS / "room-three-party-1280x720.png"))
            await judge.screenshot(path=str(ARTIFACTS / "room-three-party-judge-view.png"))
            for page in (judge, plaintiff, late):
                assert not page.errors.errors


async def test_mute_shows_on_others_and_leaving_removes_the_tile(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2, fresh_context(browser) as c3:
            judge = await join(c1, await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长"))
            party = await join(c2, await server.link("court-1", Role.PLAINTIFF, "张原告"))
            other = await join(c3, await server.link("court-1", Role.DEFENDANT, "李被告"))
            for page in (judge, other):
                await page.locator(video_of("plaintiff")).wait_for(state="attached")
            mic = party.get_by_role("button", name="静音麦克风")
            await mic.click()
            assert await mic.get_attribute("aria-pressed") == "true"
            # The local track is really off, not just the button.
            assert await party.evaluate("hearing.app.local.audio.enabled") is False
            for page in (judge, other):
                await page.locator('[data-tile-for][data-role="plaintiff"] .badge.mic-off').wait_for()
            cam = party.get_by_role("button", name="关闭摄像头")
            await cam.click()
            assert await party.evaluate("hearing.app.local.video.enabled") is False
            await judge.locator('[data-tile-for][data-role="plaintiff"] .badge.cam-off').wait_for()
            await mic.click()
            await judge.locator('[data-tile-for][data-role="plaintiff"] .badge.mic-off').wait_for(state="detached")
            await party.get_by_role("button", name="离开").click()
            await party.wait_for_function("document.body.dataset.state === 'ended'")
            for page in (judge, other):
                await page.locator(video_of("plaintiff")).wait_for(state="detached")
                await page.locator('[data-tile-for][data-role="plaintiff"]').wait_for(state="detached")
            # The two who stayed still see each other.
            await wait_frames(judge, "defendant")
            await wait_frames(other, "presiding_judge")


async def test_audio_only_mode_stops_video_and_keeps_audio(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        async with fresh_context(browser) as c1, fresh_context(browser) as c2:
            judge = await join(c1, await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长"))
            station = await join(c2, await server.link("court-1", Role.DEFENDANT, "李被告"))
            await wait_frames(station, "presiding_judge")
            toggle = station.get_by_role("button", name="仅音频模式")
            await toggle.click()
            assert await toggle.get_attribute("aria-pressed") == "true"
            assert not await station.locator(video_of("presiding_judge")).is_visible()
            await wait_audio(station, 25)  # let what was in flight arrive
            decoded = await decoded_video(station)
            audio = await audio_packets(station)
            await wait_audio(station, 100)  # ~2 s of audio
            assert await decoded_video(station) - decoded <= 1, "the SFU kept sending video in audio-only mode"
            assert await audio_packets(station) > audio
            # The judge's own view is untouched: it still receives the station's video.
            await wait_frames(judge, "defendant")
            await toggle.click()
            assert await toggle.get_attribute("aria-pressed") == "false"
            await wait_decoded(station, 10)
            await wait_frames(station, "presiding_judge")


async def test_the_active_speaker_is_shown(tmp_path) -> None:
    voice = speech_like_wav(tmp_path / "voice.wav")
    async with (live_server(tmp_path) as server, chromium([f"--use-file-for-fake-audio-capture={voice}"]) as talking,
                chromium() as quiet):
        async with fresh_context(talking) as c1, fresh_context(quiet) as c2:
            # The party is there first: the server announces a speaker only when it changes (a newcomer is not
            # told who is already speaking), so the judge must start talking after the party joined.
            party = await join(c2, await server.link("court-1", Role.PLAINTIFF, "张原告"))
            await join(c1, await server.link("court-1", Role.PRESIDING_JUDGE, "王审判长"))
            tile = party.locator('[data-tile-for][data-role="presiding_judge"]')
            await tile.locator(".badge.speaking", has_text="正在发言").wait_for()
            assert "speaking" in (await tile.get_attribute("class") or "")
            assert await party.locator(".tile.speaking").count() == 1
