"""Simulcast in SDP: Chromium's own simulcast offer is read, aiortc's answer is extended, and Chromium accepts it
keeping its three encodings."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCSessionDescription

from media.simulcast_sdp import accept_simulcast, offered_simulcast
from tests.browser import chromium, fresh_context
from tests.live import live_server

OFFER_JS = """async () => {
  const canvas = document.createElement("canvas"); canvas.width = 640; canvas.height = 360;
  const ctx = canvas.getContext("2d"); ctx.fillRect(0, 0, 640, 360);
  const track = canvas.captureStream(15).getVideoTracks()[0];
  const pc = new RTCPeerConnection();
  window.simPc = pc;
  pc.addTransceiver(track, {direction: "sendonly", sendEncodings: [
    {rid: "q", scaleResolutionDownBy: 4, maxBitrate: 100000},
    {rid: "h", scaleResolutionDownBy: 2, maxBitrate: 300000},
    {rid: "f", maxBitrate: 900000}]});
  await pc.setLocalDescription(await pc.createOffer());
  return pc.localDescription.sdp;
}"""


def test_an_offer_without_simulcast_yields_nothing_and_the_answer_is_untouched() -> None:
    sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rid:q send\r\n"  # a rid but no a=simulcast
    assert offered_simulcast(sdp) == []
    assert accept_simulcast(sdp, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n") == \
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"


async def test_chromium_keeps_three_encodings_with_the_extended_answer(tmp_path) -> None:
    async with live_server(tmp_path) as server, chromium() as browser, fresh_context(browser) as ctx:
        page = await ctx.new_page()
        await page.goto(f"{server.base}/healthz")
        offer = await page.evaluate(OFFER_JS)
        [layers] = offered_simulcast(offer)
        assert layers.rids == ("q", "h", "f")
        pc = RTCPeerConnection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            plain = pc.localDescription.sdp
        finally:
            await pc.close()
        assert "a=simulcast" not in plain  # what aiortc 1.16 answers by itself
        answer = accept_simulcast(offer, plain)
        assert "a=simulcast:recv q;h;f" in answer and "a=rid:q recv" in answer
        count = await page.evaluate("""async (sdp) => {
          await window.simPc.setRemoteDescription({type: "answer", sdp});
          return window.simPc.getSenders()[0].getParameters().encodings.map(e => e.rid);
        }""", answer)
        assert count == ["q", "h", "f"]
