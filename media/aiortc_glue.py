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
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy, RTCIceServer
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

AIORTC_VERSION = "1.16.0"

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
        (RTCRtpSender, "send"),
        (RTCRtpReceiver, "receive"),
        (aioice.ice, "get_host_addresses"),
        (aioice.ice.Connection, "sendto"),
    ]
    for owner, attr in needs:
        if not hasattr(owner, attr):
            raise IncompatibleAiortc(f"{getattr(owner, '__name__', owner)}.{attr} is gone")
    import inspect

    src = inspect.getsource(RTCDtlsTransport._recv_next)
    for marker in ("_rx_srtp.unprotect(", "_rx_srtp.unprotect_rtcp(", "_handle_rtp_data(", "_handle_rtcp_data("):
        if marker not in src:
            raise IncompatibleAiortc(f"RTCDtlsTransport._recv_next no longer calls {marker}")
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


def use_host_addresses(addresses: list[str]) -> None:
    """Offer exactly these IPs as host candidates (127.0.0.1 in tests, the public IP in production)."""
    chosen = list(addresses)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


def ice_servers(servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers]


def new_peer_connection(servers: list[dict[str, Any]] | None = None) -> RTCPeerConnection:
    """A PeerConnection that never contacts a default STUN server and bundles everything on one transport."""
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


class TransportTap:
    """Raw decrypted RTP/RTCP in, protected RTP/RTCP out, on one PeerConnection's (bundled) DTLS transport."""

    def __init__(self, dtls: RTCDtlsTransport, on_rtp: RtpHandler, on_rtcp: RtcpHandler) -> None:
        self.dtls = dtls
        self._ice = dtls.transport._connection
        self.sent_packets = 0
        self.sent_bytes = 0

        async def handle_rtp(data: bytes, arrival_time_ms: int) -> None:
            on_rtp(data, time.monotonic())

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
        pair.protocol.transport.sendto(srtp.protect_rtcp(packet), pair.remote_addr)
        return True


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
        self.__dict__["_sfu_exts"] = fixed[1] if fixed is not None else value


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
        t.__dict__["_sfu_fixed"] = (codecs, exts)
    try:
        return await pc.createOffer()
    finally:
        for t in transceivers:
            t.__dict__.pop("_sfu_fixed", None)
