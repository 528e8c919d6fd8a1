"""The web client with a browser that lacks the room's video codec: real Chromium made VP8-only (its own camera's
transceiver prefers VP8 alone, as Firefox without OpenH264 offers no H264) in an H264 room."""

from __future__ import annotations

from hearing.roles import Role
from tests.browser import chromium, fresh_context, join, wait_audio
from tests.live import live_server
from tests.media_client import MediaClient

ROOM = "court-h264"

# Before the page's scripts run: every video transceiver it adds offers VP8 only.
VP8_ONLY = """(() => {
  const add = RTCPeerConnection.prototype.addTransceiver;
  RTCPeerConnection.prototype.addTransceiver = function (trackOrKind, init) {
    const t = add.call(this, trackOrKind, init);
    const kind = typeof trackOrKind === "string" ? trackOrKind : trackOrKind.kind;
    if (kind === "video") {
      t.setCodecPreferences(RTCRtpReceiver.getCapabilities("video").codecs
        .filter((c) => /vp8|rtx/i.test(c.mimeType)));
    }
    return t;
  };
})();"""


async def test_a_vp8_only_browser_in_an_h264_room_keeps_audio_and_says_why_in_chinese(tmp_path) -> None:
    async with live_server(tmp_path, video_codec="H264") as server, chromium() as browser:
        judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
        async with fresh_context(browser) as ctx:
            await ctx.add_init_script(VP8_ONLY)
            page = await join(ctx, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await page.wait_for_function("hearing.mediaNotices.length > 0", timeout=30_000)
            assert await page.evaluate("hearing.mediaNotices") == [
                {"type": "media-notice", "code": "no_common_video_codec", "params": {"offered": "VP8", "room": "H264"}}]
            text = await page.locator("#notice-text").inner_text()
            assert "视频" in text and "H264" in text and await page.locator("#notice").is_visible()
            await wait_audio(page)  # the judge's audio arrives
            pid = await page.evaluate("hearing.me.id")
            await judge.wait_frames(pid, "audio", 50)  # and the party is heard
            assert judge.from_publisher(pid, "video") is None
            assert await page.evaluate("document.body.dataset.state") == "connected"
            assert await page.evaluate("hearing.media.stats.restarts") == 0  # no retry loop
            assert not page.errors.errors
        await judge.close()


async def test_connected_without_inbound_media_is_reported_as_stalled_not_rebuilt(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser:
        judge = await MediaClient.join(server, ROOM, await server.token(ROOM, Role.PRESIDING_JUDGE, "王"))
        async with fresh_context(browser) as ctx:
            page = await join(ctx, await server.link(ROOM, Role.PLAINTIFF, "张原告"))
            await wait_audio(page)
            pid = await page.evaluate("hearing.me.id")
            peer = server.services.sfu.rooms[ROOM].peers[pid]
            # The path stays up (ICE, DTLS), but nothing reaches the page: as with SRTP keys for the wrong role.
            saved = {ssrc: f.send for ssrc, f in peer.forwards.items()}
            for f in peer.forwards.values():
                f.send = lambda packet: True
            await page.wait_for_function("document.body.dataset.state === 'stalled'", timeout=40_000)
            assert "收不到" in await page.locator("#status").inner_text()
            assert await page.evaluate("hearing.stalls.map(s => s.stalled)") == [True]
            assert await page.evaluate("hearing.media.stats.restarts") == 0  # reported, not rebuilt
            for ssrc, send in saved.items():
                peer.forwards[ssrc].send = send
            await page.wait_for_function("document.body.dataset.state === 'connected'", timeout=40_000)
            assert await page.evaluate("hearing.stalls.map(s => s.stalled)") == [True, False]
            assert not page.errors.errors
        await judge.close()
