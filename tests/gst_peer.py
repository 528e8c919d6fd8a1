"""A GStreamer webrtcbin peer (an independent WebRTC stack), driven over stdin/stdout with JSON lines.

Runs under Debian's /usr/bin/python3 (python3-gi, GStreamer 1.22), not the project's virtualenv: the venv's
Python is a different build and cannot load the system's GObject bindings. It knows nothing of the signalling
protocol; tests/gst_client.py bridges it to a signalling connection.

stdout: {"type": "offer"|"answer", "sdp"}, {"type": "candidate", "candidate", "mline"}, {"type": "stats",
"frames": {mid: count}, "kinds": {mid: kind}, "state": ...}, {"type": "log", "text"}.
stdin:  {"type": "offer"|"answer", "sdp"}, {"type": "candidate", "candidate", "mline"}, {"type": "quit"}.

ICE stays on 127.0.0.1: libnice is given that one local address, and webrtcbin has no STUN/TURN server.
Payloaders keep GStreamer's default MTU of 1400 bytes (RTP packets up to 1400 bytes, the case of issue 19).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402

VIDEO = {
    "VP8": ("vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 target-bitrate=600000 ! rtpvp8pay mtu={mtu} "
            "picture-id-mode=15-bit ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"),
    "H264": ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=600 ! "
             "video/x-h264,profile=constrained-baseline ! rtph264pay mtu={mtu} config-interval=-1 "
             "aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,payload=102,"
             "clock-rate=90000"),
}
AUDIO = ("audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! audioresample ! opusenc ! "
         "rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000")


def emit(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


class GstPeer:
    def __init__(self, video: str | None, audio: bool, mtu: int) -> None:
        parts = ["webrtcbin name=webrtc bundle-policy=max-bundle latency=100"]
        if audio:  # first: audio's m-line is the BUNDLE tag (see docs/interop.md on rejecting the tagged m-line)
            parts.append(AUDIO + " ! webrtc.")
        if video:
            # A moving, detailed picture: keyframes of several 1400-byte packets.
            parts.append("videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
                         "video/x-raw,width=640,height=480,framerate=15/1 ! videoconvert ! queue ! "
                         + VIDEO[video].format(mtu=mtu) + " ! webrtc.")
        self.pipe = Gst.parse_launch(" ".join(parts))
        self.webrtc = self.pipe.get_by_name("webrtc")
        # PyGObject drops a reference it does not own when reading "ice-agent" (webrtcbin then finds its ICE
        # object freed): hold one more for the life of the peer.
        self.ice = self.webrtc.get_property("ice-agent")
        self.ice.ref()
        agent = self.ice.get_property("agent")
        loopback = Nice.Address()
        loopback.set_from_string("127.0.0.1")
        agent.add_local_address(loopback)
        agent.set_property("ice-tcp", False)
        if not video and not audio:  # watch only: one m-line to set the transport up
            caps = Gst.Caps.from_string("application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
                                        "clock-rate=48000")
            self.webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
        self.frames: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.offered = False
        self.webrtc.connect("on-negotiation-needed", self._negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self._candidate)
        self.webrtc.connect("pad-added", self._pad_added)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._error)

    def start(self) -> None:
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add(300, self._stats)

    # ---- negotiation ---------------------------------------------------------------------------------------

    def _negotiation_needed(self, element: Any) -> None:
        if self.offered:
            return  # we offer once; afterwards the SFU offers and we answer
        self.offered = True
        promise = Gst.Promise.new_with_change_func(self._offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def _offer_created(self, promise: Gst.Promise, _: Any) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None and reply.has_field("offer") else None
        if offer is None:
            emit({"type": "log", "text": f"no offer: {reply.to_string() if reply else None}"})
            return
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        emit({"type": "offer", "sdp": offer.sdp.as_text()})

    def _candidate(self, element: Any, mline: int, candidate: str) -> None:
        emit({"type": "candidate", "candidate": candidate, "mline": mline})

    def remote(self, kind: str, sdp: str) -> None:
        _, msg = GstSdp.SDPMessage.new_from_text(sdp)
        sdp_type = GstWebRTC.WebRTCSDPType.OFFER if kind == "offer" else GstWebRTC.WebRTCSDPType.ANSWER
        desc = GstWebRTC.WebRTCSessionDescription.new(sdp_type, msg)
        if kind == "answer":
            self.webrtc.emit("set-remote-description", desc, Gst.Promise.new())
            return
        promise = Gst.Promise.new_with_change_func(self._remote_offer_set, None)
        self.webrtc.emit("set-remote-description", desc, promise)

    def _remote_offer_set(self, promise: Gst.Promise, _: Any) -> None:
        promise = Gst.Promise.new_with_change_func(self._answer_created, None)
        self.webrtc.emit("create-answer", None, promise)

    def _answer_created(self, promise: Gst.Promise, _: Any) -> None:
        reply = promise.get_reply()
        answer = reply.get_value("answer") if reply is not None else None
        if answer is None:
            emit({"type": "log", "text": f"no answer: {reply.to_string() if reply else None}"})
            return
        self.webrtc.emit("set-local-description", answer, Gst.Promise.new())
        emit({"type": "answer", "sdp": answer.sdp.as_text()})

    # ---- received media ------------------------------------------------------------------------------------

    def _pad_added(self, element: Any, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        mid = pad.get_property("transceiver").get_property("mid") or f"?{pad.get_name()}"
        caps = pad.get_current_caps() or pad.query_caps(None)
        self.kinds[mid] = caps.get_structure(0).get_string("media") or "?"
        self.frames.setdefault(mid, 0)
        decode = Gst.ElementFactory.make("decodebin")
        decode.connect("pad-added", self._decoded_pad, mid)
        self.pipe.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))

    def _decoded_pad(self, decode: Any, pad: Gst.Pad, mid: str) -> None:
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))

        def count(p: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            self.frames[mid] = self.frames.get(mid, 0) + 1
            return Gst.PadProbeReturn.OK

        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count)

    def _stats(self) -> bool:
        state = self.webrtc.get_property("connection-state").value_nick
        emit({"type": "stats", "frames": dict(self.frames), "kinds": dict(self.kinds), "state": state})
        return True

    def _error(self, bus: Any, message: Gst.Message) -> None:
        err, debug = message.parse_error()
        emit({"type": "log", "text": f"error: {err.message} ({debug})"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--video", choices=sorted(VIDEO), default=None)
    parser.add_argument("--audio", action="store_true")
    parser.add_argument("--mtu", type=int, default=1400)
    args = parser.parse_args()
    Gst.init(None)
    loop = GLib.MainLoop()
    peer = GstPeer(args.video, args.audio, args.mtu)

    def handle(line: str) -> bool:
        msg = json.loads(line)
        if msg["type"] in ("offer", "answer"):
            peer.remote(msg["type"], msg["sdp"])
        elif msg["type"] == "candidate":
            peer.webrtc.emit("add-ice-candidate", msg["mline"], msg["candidate"])
        elif msg["type"] == "quit":
            peer.pipe.set_state(Gst.State.NULL)
            loop.quit()
        return False

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                GLib.idle_add(handle, line)
        GLib.idle_add(handle, '{"type": "quit"}')

    threading.Thread(target=read, daemon=True).start()
    peer.start()
    loop.run()


if __name__ == "__main__":
    main()
