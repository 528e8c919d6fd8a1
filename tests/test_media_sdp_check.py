"""The SDP/ICE candidate checks (media/sdp_check.py): browsers' SDP passes; whatever passes, aiortc can parse,
render and add (so no client input reaches aiortc's asserts); nothing makes the checks raise."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcicetransport import candidate_to_aioice
from aiortc.sdp import SessionDescription, candidate_from_sdp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from media.sdp_check import check_candidate, check_sdp

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CHROME_OFFER = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed", "a=msid-semantic: WMS 5b7c", "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 "
    "network-cost 999",
    "a=candidate:1 1 udp 2122260223 8f3a4c2e-1c1d-4b59-9a57-55a1c3b2b0c1.local 54321 typ host generation 0",
    "a=ice-ufrag:EEtu", "a=ice-pwd:6zXDpPqY0BLXc6RAcNXA0Pzh", "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendrecv", "a=msid:5b7c 0d0a", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1", "a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:13 CN/8000", "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000", "a=ssrc:1001 cname:abc", "a=ssrc:1001 msid:5b7c 0d0a",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:EEtu",
    "a=ice-pwd:6zXDpPqY0BLXc6RAcNXA0Pzh", "a=ice-options:trickle", "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass", "a=mid:1", "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:3/sendrecv http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "a=sendrecv",
    "a=msid:5b7c 9f1e", "a=rtcp-mux", "a=rtcp-rsize", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 goog-remb",
    "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 ccm fir", "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96", "a=ssrc-group:FID 2002 2003", "a=ssrc:2002 cname:abc", "a=ssrc:2003 cname:abc", "",
])
FIREFOX_CANDIDATES = [
    "candidate:0 1 UDP 2122252543 198.51.100.1 63542 typ host",
    "candidate:1 1 TCP 2105524479 198.51.100.1 9 typ host tcptype active",
    "candidate:2 1 UDP 1686052863 203.0.113.9 63542 typ srflx raddr 198.51.100.1 rport 63542",
    "candidate:3 1 udp 41885439 2001:db8::1 3478 typ relay raddr 0.0.0.0 rport 0 generation 0 ufrag EEtu",
    # Chromium's ufrag is ice-chars, which include `/` (not an RFC 8866 token): seen in CI from a real page.
    "candidate:4 1 udp 2122260223 192.0.2.4 50000 typ host generation 0 ufrag a/b+ network-id 1 network-cost 10",
    "",  # not a candidate: the caller treats "" as end of candidates before checking
]


def aiortc_offer() -> str:
    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


AIORTC_OFFER = aiortc_offer()
SAMPLES = [CHROME_OFFER, AIORTC_OFFER]


def aiortc_takes_sdp(sdp: str) -> None:
    """Raises if aiortc cannot parse this description or render it back (what it does on every later offer)."""
    str(SessionDescription.parse(sdp))


def aiortc_takes_candidate(text: str) -> None:
    candidate_to_aioice(candidate_from_sdp(text.removeprefix("candidate:")))


def test_browser_and_aiortc_sdp_passes() -> None:
    for sdp in SAMPLES:
        assert check_sdp(sdp) is None, check_sdp(sdp)
        aiortc_takes_sdp(sdp)
    assert check_sdp(CHROME_OFFER.replace("\r\n", "\n")) is None


def test_browser_candidates_pass() -> None:
    for cand in FIREFOX_CANDIDATES[:-1]:
        assert check_candidate(cand) is None, cand
        aiortc_takes_candidate(cand)


def test_what_the_attack_sent_is_refused() -> None:
    assert "at least 8 fields" in (check_candidate("candidate:1 1 udp") or "")
    truncated = CHROME_OFFER.replace("c=IN IP4 0.0.0.0", "c=IN IP4 1.2", 1)
    assert "not an IP address" in (check_sdp(truncated) or "")
    SessionDescription.parse(truncated)  # aiortc accepts it on parse...
    try:
        str(SessionDescription.parse(truncated))  # ...and fails on every render after
    except ValueError:
        pass
    else:
        raise AssertionError("aiortc renders a bad c= line now: sdp_check may be stricter than needed")
    for line in ("c=IN", "c=IN IP4", "c=IN IP6 127.0.0.1", "a=fmtp:55 apt=1", "a=setup:holdconn",
                 "a=fingerprint:sha-256", "a=extmap:1 a b", "a=ssrc:1 cname", "m=audio 9/2 RTP/AVP 0",
                 "a=rtpmap:96 VP8", "a=candidate:1 1 udp 1 a.example.com 9 typ host"):
        sdp = CHROME_OFFER.replace("a=mid:1", line)
        assert check_sdp(sdp) is not None, line


# ---- properties ----------------------------------------------------------------------------------------

TOKENS = ["candidate:1", "1", "0", "257", "udp", "UDP", "tcp", "sctp", "2122252543", "4294967296", "-1",
          "127.0.0.1", "::1", "1.2", "x.local", "host.example", "9", "65535", "65536", "typ", "host", "srflx",
          "relay", "bogus", "raddr", "rport", "tcptype", "active", "generation", "ufrag", "abc", "", "é", ":"]
candidates = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=14).map(" ".join),
    st.sampled_from(FIREFOX_CANDIDATES[:-1]).flatmap(
        lambda c: st.integers(0, len(c)).map(lambda n: c[:n])),  # truncated anywhere
)


@SETTINGS
@given(candidates)
@example("candidate:1 1 udp")
@example("1 1 udp 1 1.2.3.4 9 typ host rport x")
def test_a_candidate_that_passes_is_one_aiortc_takes(text: str) -> None:
    if check_candidate(text) is None:
        aiortc_takes_candidate(text)


NOISE_LINES = ["c=IN IP4 1.2", "c=IN", "a=candidate:1 1 udp", "a=rtpmap:x", "a=fmtp:200 apt=x", "a=fmtp:111 apt=x",
               "a=ssrc:x cname:y", "a=ssrc-group:FID x", "a=extmap:x y", "a=rtcp:x", "a=rtcp:9 IN IP4 x",
               "a=setup:x", "a=fingerprint:x", "a=max-message-size:x", "a=sctp-port:x", "a=sctpmap:x",
               "a=rtcp-fb:111", "m=audio x RTP/AVP 0", "m=video 9 UDP/TLS/RTP/SAVPF 300", "m=audio 9 x 0",
               "a=mid:", "a=ice-ufrag:", "v=1", "garbage", "a=group:BUNDLE", "a=ssrc:1 x"]


@st.composite
def mutated_sdp(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SAMPLES)).split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["truncate", "drop", "insert", "replace", "noise"]))
        if how == "truncate":
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        elif how == "drop":
            del lines[i]
        elif how == "insert":
            lines.insert(i, draw(st.sampled_from(NOISE_LINES)))
        elif how == "replace":
            lines[i] = draw(st.sampled_from(NOISE_LINES))
        else:
            start = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:start] + draw(st.text(max_size=6)) + lines[i][start:]
        if not lines:
            break
    return "\r\n".join(lines)


@SETTINGS
@given(mutated_sdp())
def test_sdp_that_passes_is_sdp_aiortc_parses_and_renders(sdp: str) -> None:
    if check_sdp(sdp) is None:
        aiortc_takes_sdp(sdp)


@SETTINGS
@given(st.text(max_size=400))
def test_the_checks_never_raise(text: str) -> None:
    assert check_sdp(text) is None or isinstance(check_sdp(text), str)
    assert check_candidate(text) is None or isinstance(check_candidate(text), str)
    check_sdp("v=0\r\nm=audio 9 RTP/AVP 0\r\n" + text)  # past the first checks too: must not raise
