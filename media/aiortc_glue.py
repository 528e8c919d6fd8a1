"""Every use of aiortc/aioice private API lives here, and nowhere else.

aiortc gives ICE, DTLS, SRTP and SDP; its own media path decodes and re-encodes. The SFU instead:
  * taps decrypted RTP/RTCP bytes right after SRTP unprotect (`RTCDtlsTransport._handle_rtp_data` /
    `_handle_rtcp_data`), before aiortc parses or routes them, so no jitter buffer or decoder sees them;
  * sends by SRTP-protecting with the transport's own context (`_tx_srtp`) and `sendto` on the nominated
    ICE pair, re-read at every send so an ICE change never leaves a stale address;
  * replaces `RTCRtpSender.send` / `RTCRtpReceiver.receive` on each transceiver with a capture of the
    negotiated parameters, so aiortc starts no encoder, decoder, decoder thread or RTCP loop for them;
  * offers only the configured host addresses as ICE candidates (aioice skips 127.0.0.1 by itself).
These are private: aiortc is pinned to AIORTC_VERSION and `check_compatibility()` fails loudly (and a test
calls it) when an upgrade moves any of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceServer
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

from media import fastsend
from media.tracks import MAX_RTP_OUT, PROBLEMS

AIORTC_VERSION = "1.16.0"

# pylibsrtp protects into a fixed 1500-byte buffer and keeps room for its largest trailer (144 bytes), so it
# refuses RTP over 1356 bytes, below what a 1500-byte MTU carries. GStreamer's payloaders send 1400-byte packets
# (legal), and the SFU's rewritten header extensions add a few bytes more. The SFU's own sessions get a buffer
# that fits media.tracks.MAX_RTP_OUT, the forwarding path's limit.
_SRTP_BUFFER = MAX_RTP_OUT + pylibsrtp.SRTP_MAX_TRAILER_LEN

RtpHandler = Callable[[bytes, float], None]
RtcpHandler = Callable[[bytes], None]


class IncompatibleAiortc(RuntimeError):
    """aiortc changed what the SFU relies on; pin AIORTC_VERSION or adapt media/aiortc_glue.py."""


def check_compatibility() -> None:
    """Fail loudly, naming the missing piece, when the installed aiortc is not the one this glue was written for."""
    installed = version("aiortc")
    if installed != AIORTC_VERSION:
        raise IncompatibleAiortc(f"aiortc {installed} installed, media/aiortc_glue.py is written for {AIORTC_VERSION}")
    needs: list[tuple[object, str]] = [
        (RTCDtlsTransport, "_handle_rtp_data"),
        (RTCDtlsTransport, "_handle_rtcp_data"),
        (RTCDtlsTransport, "_recv_next"),
        (RTCDtlsTransport, "_set_role"),
        (RTCCertificate, "_create_ssl_context"),
        (RTCRtpSender, "send"),
        (RTCRtpReceiver, "receive"),
        (aioice.ice, "get_host_addresses"),
        (aioice.ice.Connection, "sendto"),
        (pylibsrtp.Session, "protect"),
    ]
    for owner, attr in needs:
        if not hasattr(owner, attr):
            raise IncompatibleAiortc(f"{getattr(owner, '__name__', owner)}.{attr} is gone")
    import inspect

    src = inspect.getsource(RTCDtlsTransport._recv_next)
    for marker in ("_rx_srtp.unprotect(", "_rx_srtp.unprotect_rtcp(", "_handle_rtp_data(", "_handle_rtcp_data("):
        if marker not in src:
            raise IncompatibleAiortc(f"RTCDtlsTransport._recv_next no longer calls {marker}")
    if b"ECDHE-ECDSA" not in inspect.getsource(_aiortc_ssl_context).encode():
        raise IncompatibleAiortc("RTCCertificate._create_ssl_context no longer sets ECDSA ciphers; see DTLS_CIPHERS")
    src = inspect.getsource(pylibsrtp.Session)
    if "self._cdata = ffi.new(" not in src or "self._buffer = ffi.buffer(self._cdata)" not in src:
        raise IncompatibleAiortc("pylibsrtp.Session no longer protects into self._cdata; see widen_srtp()")
    src = inspect.getsource(aioice.ice.Connection.sendto)
    if "_nominated" not in src or "send_data" not in src:
        raise IncompatibleAiortc("aioice Connection.sendto no longer uses _nominated pairs")
    src = inspect.getsource(RTCPeerConnection.createOffer)
    for marker in ("transceiver._codecs = filter_preferred_codecs(",
                   "transceiver._headerExtensions = HEADER_EXTENSIONS"):
        if marker not in src:
            raise IncompatibleAiortc(f"RTCPeerConnection.createOffer no longer does {marker!r}; see create_offer()")
    src = inspect.getsource(aioice.ice.Connection.gather_candidates)
    if "get_host_addresses(" not in src:
        raise IncompatibleAiortc("aioice gathers host addresses without get_host_addresses()")
    missing = fastsend.check_compatibility()
    if missing:
        raise IncompatibleAiortc("the fast send path (media/fastsend.py) needs: " + "; ".join(missing))


_send_path = "fast"


def use_send_path(path: str) -> None:
    """"fast" (media/fastsend.py, compiled where built), "python" (its pure-Python form) or "reference"
    (TransportTap's plain path) for taps created from now on."""
    global _send_path
    if path not in fastsend.PATHS:
        raise ValueError(f"send path must be one of {', '.join(fastsend.PATHS)}, not {path!r}")
    _send_path = path
    fastsend.skip_stun_parse(path != "reference")


def use_host_addresses(addresses: list[str]) -> None:
    """Offer exactly these IPs as host candidates (127.0.0.1 in tests, the public IP in production)."""
    chosen = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def ice_servers(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers]


# aiortc's DTLS offers only ECDHE-ECDSA suites. As DTLS client (the SFU's role after answering with
# a=setup:active) it then cannot talk to a server with an RSA certificate (GStreamer's dtlsagent, older stacks):
# "no shared cipher". The RSA suites are added after the ECDSA ones; our own certificate stays ECDSA.
DTLS_CIPHERS = (b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:"
                b"ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                b"ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA")
_aiortc_ssl_context = RTCCertificate._create_ssl_context


def _ssl_context(self: RTCCertificate, srtp_profiles: list[Any]) -> Any:
    ctx = _aiortc_ssl_context(self, srtp_profiles)
    ctx.set_cipher_list(DTLS_CIPHERS)
    return ctx


def accept_rsa_dtls_peers() -> None:
    """Offer RSA key-exchange suites too in every DTLS handshake of this process (idempotent)."""
    RTCCertificate._create_ssl_context = _ssl_context  # type: ignore[method-assign]


def new_peer_connection(servers: list[dict[str, Any]] | None = None) -> RTCPeerConnection:
    """A PeerConnection that never contacts a default STUN server and bundles everything on one transport."""
    accept_rsa_dtls_peers()
    config = RTCConfiguration(iceServers=ice_servers(servers or []), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    return RTCPeerConnection(configuration=config)


class SilentTrack(MediaStreamTrack):
    """Gives a forwarding sender a kind and an SSRC in SDP; aiortc never pulls from it (send() is captured)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:  # pragma: no cover - never called: the sender's RTP loop is not started
        await asyncio.Future()


@dataclass
class Negotiated:
    """What one transceiver agreed on, captured when aiortc would start its sender or receiver."""

    mid: str
    kind: str
    codecs: list[Any]
    header_extensions: dict[str, int]
    ssrcs: list[int] = field(default_factory=list)
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)  # rtx ssrc -> media ssrc
    rtcp_ssrc: int | None = None


def _negotiated(kind: str, params: RTCRtpParameters) -> Negotiated:
    n = Negotiated(
        mid=params.muxId,
        kind=kind,
        codecs=list(params.codecs),
        header_extensions={e.uri: e.id for e in params.headerExtensions},
    )
    for enc in getattr(params, "encodings", []):
        if enc.ssrc:
            n.ssrcs.append(enc.ssrc)
        if enc.rtx is not None and enc.ssrc:
            n.rtx_ssrcs[enc.rtx.ssrc] = enc.ssrc
    return n


def capture_transceiver(
    transceiver: RTCRtpTransceiver,
    on_send: Callable[[RTCRtpTransceiver, Negotiated, int, int], Awaitable[None]],
    on_receive: Callable[[RTCRtpTransceiver, Negotiated], Awaitable[None]],
) -> None:
    """Replace the transceiver's sender.send / receiver.receive: aiortc starts no media machinery for it.

    on_send gets the negotiated parameters and the sender's SSRC and RTX SSRC (chosen by aiortc for SDP).
    """
    sender, receiver = transceiver.sender, transceiver.receiver
    if getattr(sender, "_sfu_captured", False):
        return
    kind = transceiver.kind

    started = {"send": False, "receive": False}

    # aiortc calls these again after every renegotiation; like its own send()/receive(), act only once.
    async def send(parameters: Any) -> None:
        if not started["send"]:
            started["send"] = True
            await on_send(transceiver, _negotiated(kind, parameters), sender._ssrc, sender._rtx_ssrc)

    async def receive(parameters: Any) -> None:
        if not started["receive"]:
            started["receive"] = True
            await on_receive(transceiver, _negotiated(kind, parameters))

    sender.send = send  # type: ignore[method-assign]
    receiver.receive = receive  # type: ignore[method-assign]
    sender._sfu_captured = True  # type: ignore[attr-defined]


def widen_srtp(session: pylibsrtp.Session) -> None:
    """Let this SRTP session protect packets up to MAX_RTP_OUT bytes (pylibsrtp alone stops at 1356)."""
    if len(session._cdata) < _SRTP_BUFFER:
        session._cdata = pylibsrtp.ffi.new("char[]", _SRTP_BUFFER)
        session._buffer = pylibsrtp.ffi.buffer(session._cdata)


class TransportTap:
    """Raw decrypted RTP/RTCP in, protected RTP/RTCP out, on one PeerConnection's (bundled) DTLS transport."""

    def __init__(self, dtls: RTCDtlsTransport, on_rtp: RtpHandler, on_rtcp: RtcpHandler) -> None:
        self.dtls = dtls
        self._ice = dtls.transport._connection
        self._srtp: Any = None  # the SRTP session last widened
        self.sent_packets = 0
        self.sent_bytes = 0
        if _send_path != "reference":
            self.send_rtp = fastsend.FastRtpSender(self, compiled=_send_path == "fast")  # type: ignore[method-assign]

        async def handle_rtp(data: bytes, arrival_time_ms: int) -> None:
            # aiortc awaits this inside the DTLS receive loop: an exception here would end that loop, and with
            # it both directions of this participant's media. Nothing a packet does may get that far.
            try:
                on_rtp(data, time.monotonic())
            except Exception as exc:
                PROBLEMS.receive_errors += 1
                PROBLEMS.note("handling a received packet failed", f"{type(exc).__name__}: {str(exc)[:120]}")

        async def handle_rtcp(data: bytes) -> None:
            on_rtcp(data)

        dtls._handle_rtp_data = handle_rtp  # type: ignore[method-assign]
        dtls._handle_rtcp_data = handle_rtcp  # type: ignore[method-assign]

    @property
    def connected(self) -> bool:
        return self.dtls.state == "connected" and self.dtls._tx_srtp is not None

    def send_rtp(self, packet: bytes) -> bool:
        """Protect and send now (no awaits, no queue). False when the transport is not (or no longer) up."""
        srtp = self.dtls._tx_srtp
        pair = self._ice._nominated.get(1)
        if srtp is None or pair is None or self.dtls.state != "connected":
            return False
        if srtp is not self._srtp:
            widen_srtp(srtp)
            self._srtp = srtp
        data = srtp.protect(packet)
        pair.protocol.transport.sendto(data, pair.remote_addr)
        self.sent_packets += 1
        self.sent_bytes += len(data)
        return True

    def send_rtcp(self, packet: bytes) -> bool:
        srtp = self.dtls._tx_srtp
        pair = self._ice._nominated.get(1)
        if srtp is None or pair is None or self.dtls.state != "connected":
            return False
        try:
            pair.protocol.transport.sendto(srtp.protect_rtcp(packet), pair.remote_addr)
        except (ValueError, OSError) as exc:  # pylibsrtp refuses oversize compounds; one peer's problem only
            PROBLEMS.send_errors += 1
            PROBLEMS.note("RTCP send failed", f"{type(exc).__name__}: {exc}")
            return False
        return True


def pin_dtls_role(dtls: RTCDtlsTransport) -> None:
    """Keep the DTLS role the first answer gave this transport for the life of the session (RFC 8842).

    aiortc applies every m-line's a=setup of every answer to the one BUNDLE transport, last one wins, even
    mid-handshake. Firefox answers a re-offer that arrives before DTLS is up with the old m-lines passive and the
    new ones active; other peers answer every re-offer active. Either flipped the SFU's role: both ends DTLS
    server (a 20 s timeout) or keys derived for the wrong role (every packet fails SRTP authentication).
    """
    if getattr(dtls, "_sfu_role_pinned", False):
        return
    set_role = dtls._set_role

    def keep_first(role: str) -> None:
        if dtls._role == "auto":
            set_role(role)

    dtls._set_role = keep_first  # type: ignore[method-assign]
    dtls._sfu_role_pinned = True  # type: ignore[attr-defined]


def dtls_role(dtls: RTCDtlsTransport | None) -> str:
    """"client", "server", or "auto" (not yet fixed by an answer)."""
    return str(getattr(dtls, "_role", "auto"))


def dtls_transport(pc: RTCPeerConnection) -> RTCDtlsTransport | None:
    for t in pc.getTransceivers():
        transport = t.receiver.transport
        if transport is not None:
            return transport
    return None


def media_machinery_started(transceiver: RTCRtpTransceiver) -> dict[str, bool]:
    """Whether aiortc started its own encoder/decoder path for this transceiver (the SFU never should)."""
    sender, receiver = transceiver.sender, transceiver.receiver
    return {
        "sender_started": bool(getattr(sender, "_RTCRtpSender__started", False)),
        "encoder": getattr(sender, "_RTCRtpSender__encoder", None) is not None,
        "receiver_started": bool(getattr(receiver, "_RTCRtpReceiver__started", False)),
        "decoder_thread": getattr(receiver, "_RTCRtpReceiver__decoder_thread", None) is not None,
    }


def restrict_codecs(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Allow one media codec (plus its RTX) on a transceiver, in offers *and* in answers.

    setCodecPreferences only takes effect when a description is applied; for a transceiver created by a
    remote offer the answer's codec list was already computed, so it is filtered here as well.
    """
    from aiortc.rtcrtpsender import RTCRtpSender as _Sender

    wanted = mime_type.lower()
    caps = _Sender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == wanted]
    if not chosen:
        raise ValueError(f"{mime_type} is not a codec aiortc supports")
    rtx = [c for c in caps if c.mimeType.lower().endswith("/rtx")]
    transceiver.setCodecPreferences(chosen + rtx)
    current = getattr(transceiver, "_codecs", None)
    if current:
        keep = [c for c in current if c.mimeType.lower() == wanted]
        pts = {c.payloadType for c in keep}
        keep += [c for c in current if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") in pts]
        transceiver._codecs = keep


def transceiver_codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    """The codecs aiortc has agreed (or would offer) for this transceiver."""
    return list(getattr(transceiver, "_codecs", None) or [])


def keep_rejected(transceiver: RTCRtpTransceiver, codecs: list[Any]) -> None:
    """A transceiver whose m-line media/sdp_rewrite.py rejects on the wire: aiortc still needs formats to write its
    section, and no codec preference, or it finds no codec in what the peer sends back for that mid."""
    transceiver._codecs = codecs
    transceiver._preferred_codecs = []


# ---- one numbering per session --------------------------------------------------------------------------------
# aiortc's createOffer() resets every transceiver's payload types and header-extension ids to its own defaults.
# Browsers refuse a re-offer that renumbers a negotiated m-line, and inside a BUNDLE one id must mean one URI on
# every m-line. So while an offer is built, negotiated transceivers keep what was agreed, and new ones take the
# numbers the session already uses (or free ones).


class _NumberedTransceiver(RTCRtpTransceiver):
    """A transceiver whose `_codecs` / `_headerExtensions` ignore aiortc's reset while `_sfu_fixed` is set."""

    @property  # type: ignore[override]
    def _codecs(self) -> list[Any]:
        return self.__dict__.get("_sfu_codecs", [])

    @_codecs.setter
    def _codecs(self, value: list[Any]) -> None:
        fixed = self.__dict__.get("_sfu_fixed")
        self.__dict__["_sfu_codecs"] = fixed[0] if fixed is not None else value

    @property  # type: ignore[override]
    def _headerExtensions(self) -> list[Any]:
        return self.__dict__.get("_sfu_exts", [])

    @_headerExtensions.setter
    def _headerExtensions(self, value: list[Any]) -> None:
        fixed = self.__dict__.get("_sfu_fixed")
        self.__dict__["_sfu_exts"] = fixed[1] if fixed is not None else _keep_transport_cc(self, value)


def _numbered(t: RTCRtpTransceiver) -> RTCRtpTransceiver:
    if not isinstance(t, _NumberedTransceiver):
        codecs = t.__dict__.pop("_codecs", [])
        exts = t.__dict__.pop("_headerExtensions", [])
        t.__class__ = _NumberedTransceiver
        t.__dict__["_sfu_codecs"], t.__dict__["_sfu_exts"] = codecs, exts
    return t


def _codec_key(c: Any) -> tuple[str, int, str]:
    name = c.mimeType.lower()
    extra = ""
    if name == "video/h264":
        extra = f"{c.parameters.get('packetization-mode', '0')}/{str(c.parameters.get('profile-level-id', ''))[:2]}"
    return name, c.clockRate, extra


async def create_offer(pc: RTCPeerConnection) -> Any:
    """pc.createOffer(), keeping one numbering (payload types, extension ids) for the life of the session."""
    import copy

    from aiortc.codecs import CODECS, HEADER_EXTENSIONS
    from aiortc.rtcpeerconnection import filter_preferred_codecs

    transceivers = [_numbered(t) for t in pc.getTransceivers()]
    negotiated = [t for t in transceivers if t.currentDirection is not None and t._codecs]
    ext_ids: dict[str, int] = {}
    pts: dict[tuple[str, int, str], int] = {}
    rtx_for: dict[int, int] = {}  # media payload type -> its RTX payload type, as the session agreed
    for t in negotiated:
        for e in t._headerExtensions:
            ext_ids.setdefault(e.uri, e.id)
        for c in t._codecs:
            if c.mimeType.lower().endswith("/rtx"):
                rtx_for.setdefault(int(c.parameters.get("apt", -1)), c.payloadType)
            else:
                pts.setdefault(_codec_key(c), c.payloadType)
    used_ids = set(ext_ids.values())
    used_pts = {c.payloadType for t in negotiated for c in t._codecs}
    for t in transceivers:
        if t in negotiated:
            t.__dict__["_sfu_fixed"] = (t._codecs, t._headerExtensions)
            continue
        codecs = copy.deepcopy(filter_preferred_codecs(CODECS[t.kind][:], t._preferred_codecs))
        remap: dict[int, int] = {}
        for c in codecs:
            if c.mimeType.lower().endswith("/rtx"):
                continue
            want = pts.get(_codec_key(c))
            if want is None and c.payloadType in used_pts:
                want = next(pt for pt in range(96, 128) if pt not in used_pts)
            if want is not None and want != c.payloadType:
                remap[c.payloadType] = want
                c.payloadType = want
            used_pts.add(c.payloadType)
        for c in codecs:
            if c.mimeType.lower().endswith("/rtx"):
                apt = remap.get(c.parameters.get("apt"), c.parameters.get("apt"))
                c.parameters = {**c.parameters, "apt": apt}
                if apt in rtx_for:
                    c.payloadType = rtx_for[apt]
                elif c.payloadType in used_pts:
                    c.payloadType = next(pt for pt in range(96, 128) if pt not in used_pts)
                used_pts.add(c.payloadType)
        exts = copy.deepcopy(HEADER_EXTENSIONS[t.kind][:])
        for e in exts:
            if e.uri in ext_ids:
                e.id = ext_ids[e.uri]
            elif e.id in used_ids:
                e.id = next(i for i in range(1, 15) if i not in used_ids)
            ext_ids.setdefault(e.uri, e.id)
            used_ids.add(e.id)
        offer_transport_cc(t, codecs, exts, ext_ids, used_ids)
        t.__dict__["_sfu_fixed"] = (codecs, exts)
    try:
        return await pc.createOffer()
    finally:
        for t in transceivers:
            t.__dict__.pop("_sfu_fixed", None)


# ---- Opus in-band FEC ------------------------------------------------------------------------------------------
OPUS_FMTP: dict[str, int] = {"minptime": 10, "useinbandfec": 1}


def negotiate_opus_fec() -> None:
    """Offer and answer Opus with `useinbandfec=1` (RFC 7587 §7): a browser publisher only adds in-band FEC when
    the receiver's SDP asks for it, and aiortc's Opus codec carries no fmtp, so its answers dropped it. The SFU
    forwards Opus untouched, so FEC a publisher sends reaches every subscriber's decoder. Idempotent; changes
    aiortc's codec table for the process (before any capabilities are read, so preferences still match)."""
    from aiortc.codecs import CODECS

    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus" and any(codec.parameters.get(k) != v for k, v in OPUS_FMTP.items()):
            codec.parameters = {**codec.parameters, **OPUS_FMTP}


# ---- transport-wide congestion control -------------------------------------------------------------------------
URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
_TRANSPORT_CC = {"offer": False}


def enable_transport_cc(on: bool) -> None:
    """Whether `offer_transport_cc` offers it (the SFU's `MediaConfig.transport_cc`; off by default)."""
    _TRANSPORT_CC["offer"] = on


def offer_transport_cc(t: RTCRtpTransceiver, codecs: list[Any], exts: list[Any], ext_ids: dict[str, int],
                       used_ids: set[int]) -> None:
    """Offer transport-cc (header extension + `a=rtcp-fb:* transport-cc`) on the m-lines the SFU sends on.

    Only there: a browser receiving them then sends transport-cc feedback, which feeds the SFU's estimate of that
    subscriber's link (media/bwe.py). Not on m-lines the SFU receives on (answers to publishers keep aiortc's list):
    a browser publisher that negotiated it would wait for feedback the SFU does not send yet.
    """
    if t.direction != "sendonly" or not _TRANSPORT_CC["offer"]:
        return
    from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpHeaderExtensionParameters

    xid = next((e.id for e in exts if e.uri == URI_TRANSPORT_CC), None)
    if xid is None:
        xid = ext_ids.get(URI_TRANSPORT_CC) or next((i for i in range(1, 15) if i not in used_ids), None)
        if xid is None:
            return
        exts.append(RTCRtpHeaderExtensionParameters(id=xid, uri=URI_TRANSPORT_CC))
        ext_ids.setdefault(URI_TRANSPORT_CC, xid)
        used_ids.add(xid)
    t.__dict__["_sfu_tcc"] = xid
    for c in codecs:
        if not c.mimeType.lower().endswith("/rtx") and not any(f.type == "transport-cc" for f in c.rtcpFeedback):
            c.rtcpFeedback = [*c.rtcpFeedback, RTCRtcpFeedback(type="transport-cc")]


def _keep_transport_cc(t: RTCRtpTransceiver, value: list[Any]) -> list[Any]:
    """aiortc recomputes a transceiver's extensions from its own table when a description is applied, which has no
    transport-cc: keep the one `offer_transport_cc` offered on this transceiver (same id, as BUNDLE requires)."""
    xid = t.__dict__.get("_sfu_tcc")
    if xid is None or any(e.uri == URI_TRANSPORT_CC for e in value):
        return value
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

    return [*value, RTCRtpHeaderExtensionParameters(id=xid, uri=URI_TRANSPORT_CC)]
