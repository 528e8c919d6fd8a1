"""The SFU's per-packet send path, cut to what one forwarded packet needs (`SFU_SEND_PATH=fast`, the default).

A py-spy profile at 16 subscribers put most of the server's media CPU in `TransportTap.send_rtp`: besides SRTP and
the `sendto` syscall, every packet paid for `RTCDtlsTransport.state` (an enum formatted and lowercased), aioice's
`CandidatePair.remote_addr` (a tuple built), pylibsrtp's argument checks and a fresh `int *`, and asyncio's
`DatagramTransport.sendto` checks. `FastRtpSender` caches what stays the same between packets (the SRTP session's
buffer and length cell, the nominated pair's raw socket and address) and protects in place with libsrtp, then sends
the protected bytes straight from that buffer with `socket.sendto`. It defers to asyncio's transport whenever that
has queued writes (ordering) or the socket would block, so the bytes on the wire and their order are unchanged.

On receive, `skip_stun_parse` lets aioice hand RTP/RTCP/DTLS datagrams on without first trying to parse each one as
STUN (RFC 7983: a STUN message starts with a byte 0-3; RTP/RTCP 128-191, DTLS 20-63).

When media/_fastpath.c is built (`pip install` builds it; it is optional), `FastRtpSender.rewrite_send` goes one
step further for forwarded packets: the rewrite (media/rtp.py's `rewrite_rtp`), SRTP protect and `sendto` happen in
one compiled call writing into one C buffer, so no Python object is made per packet and subscriber. The forwarding
state (sequencing, extension block) stays in Python. Without the module, or with `SFU_SEND_PATH=python`, the
pure-Python fast path above is used.

`SFU_SEND_PATH=reference` keeps aiortc_glue's original, straightforward path (the behaviour the tests pin on all).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from typing import TYPE_CHECKING, Any

import aioice.ice
import pylibsrtp
from aiortc.rtcdtlstransport import State

from media.tracks import MAX_RTP_OUT

try:
    from media import _fastpath  # type: ignore[attr-defined]
except ImportError:  # not built (no compiler at install): the pure-Python fast path
    _fastpath = None

if TYPE_CHECKING:
    from media.aiortc_glue import TransportTap

PATHS = ("fast", "python", "reference")
_lib: Any = pylibsrtp._binding.lib  # type: ignore[attr-defined]
_ffi: Any = pylibsrtp.ffi
_CONNECTED = State.CONNECTED
_RETRY = (-errno.EAGAIN, -errno.EWOULDBLOCK, -errno.EINTR)
COMPILED = _fastpath is not None
if _fastpath is not None:
    _fastpath.init(int(_ffi.cast("uintptr_t", _ffi.addressof(_lib, "srtp_protect"))), MAX_RTP_OUT)
    _c_send: Any = _fastpath.send
    _c_last: Any = _fastpath.last


def sockaddr(family: int, addr: tuple[Any, ...]) -> bytes | None:
    """`struct sockaddr_in`/`sockaddr_in6` for sendto(2) from C; None for anything else (that pair stays on
    the Python path)."""
    try:
        if family == socket.AF_INET:
            return struct.pack("=HH4s8x", socket.AF_INET, socket.htons(addr[1]), socket.inet_aton(addr[0]))
        if family == socket.AF_INET6:
            host = str(addr[0]).split("%", 1)[0]
            flow, scope = (addr[2], addr[3]) if len(addr) >= 4 else (0, 0)
            return struct.pack("=HHI16sI", socket.AF_INET6, socket.htons(addr[1]), flow,
                               socket.inet_pton(socket.AF_INET6, host), scope)
    except (OSError, TypeError, ValueError, IndexError, struct.error):
        return None
    return None


def send_path() -> str:
    """The send path chosen by `SFU_SEND_PATH`: fast (compiled where built), python (the fast path without the
    compiled helper) or reference; unknown values are refused."""
    value = os.environ.get("SFU_SEND_PATH", "fast").strip().lower() or "fast"
    if value not in PATHS:
        raise ValueError(f"SFU_SEND_PATH must be one of {', '.join(PATHS)}, not {value!r}")
    return value


class FastRtpSender:
    """`send_rtp` for one TransportTap: protect in place, one `sendto` from the SRTP buffer. Same contract."""

    __slots__ = ("_addr", "_buf", "_cdata", "_dtls", "_fd", "_ice", "_len", "_pair", "_ptr", "_ptr_int", "_sock",
                 "_sockaddr", "_srtp", "_tap", "_transport", "rewrite_send")

    def __init__(self, tap: TransportTap, compiled: bool = True) -> None:
        self._tap = tap
        self._dtls = tap.dtls
        self._ice = tap._ice
        self._srtp: Any = None
        self._pair: Any = None
        self._len = _ffi.new("int *")
        self._sockaddr: bytes | None = None
        # Forward looks this up once: None keeps it on rewrite_rtp + __call__ (pure Python).
        self.rewrite_send = self._rewrite_send if compiled and COMPILED else None

    def _rebind_srtp(self, srtp: pylibsrtp.Session) -> None:
        from media.aiortc_glue import widen_srtp

        widen_srtp(srtp)
        self._srtp, self._ptr, self._cdata = srtp, srtp._srtp[0], srtp._cdata
        self._ptr_int = int(_ffi.cast("uintptr_t", self._ptr))
        self._buf = memoryview(srtp._buffer)  # type: ignore[arg-type]

    def _rebind_pair(self, pair: Any) -> None:
        self._pair, self._transport = pair, pair.protocol.transport
        self._sock, self._addr = self._transport._sock, pair.remote_addr
        self._fd = self._sock.fileno()
        self._sockaddr = sockaddr(self._sock.family, self._addr)

    def _rewrite_send(self, data: bytes, h: Any, ssrc: int, sequence: int, timestamp: int, payload_type: int,
                      ext_block: bytes | None, spec: tuple[bytes, int, int, bytes] | None = None,
                      abs_value: int = -1) -> bool | None:
        """`rewrite_rtp(data, h, ...)` then `self(packet)`, in one compiled call. With `spec`
        (`ExtensionRewriter.compiled_spec()`, for a packet it need not encode generically) C builds the extension
        block too, as `build(data, h, abs_value or None)` would. None: not done here (over MAX_RTP_OUT, or an
        address C cannot take): the caller goes the Python way."""
        dtls = self._dtls
        srtp = dtls._tx_srtp
        pair = self._ice._nominated.get(1)
        if srtp is None or pair is None or dtls._state is not _CONNECTED:
            return False
        if srtp is not self._srtp:
            self._rebind_srtp(srtp)
        if pair is not self._pair:
            self._rebind_pair(pair)
        addr = self._sockaddr
        if addr is None:
            return None
        transport = self._transport
        fd = -1 if transport._buffer or transport.is_closing() else self._fd  # -1: protect only, asyncio sends
        if spec is None:
            n = _c_send(self._ptr_int, fd, addr, data, h.payload_offset, h.csrc_count, ssrc, sequence, timestamp,
                        payload_type, ext_block)
        else:
            static, abs_byte, tcc_byte, remap = spec
            n = _c_send(self._ptr_int, fd, addr, data, h.payload_offset, h.csrc_count, ssrc, sequence, timestamp,
                        payload_type, static, abs_byte, abs_value, tcc_byte, -1, remap, h.ext_offset, h.ext_length)
        if n == 0:
            return None
        if n < 0:
            out = _c_last()
            if n in _RETRY:
                transport.sendto(out, self._addr)  # keep asyncio's queue (and its order) in charge
            else:  # what asyncio does with a send error on a datagram socket
                transport._protocol.error_received(OSError(-n, os.strerror(-n)))
            n = len(out)
        tap = self._tap
        tap.sent_packets += 1
        tap.sent_bytes += n
        return True

    def __call__(self, packet: bytes) -> bool:
        dtls = self._dtls
        srtp = dtls._tx_srtp
        pair = self._ice._nominated.get(1)
        if srtp is None or pair is None or dtls._state is not _CONNECTED:
            return False
        if srtp is not self._srtp:
            self._rebind_srtp(srtp)
        if pair is not self._pair:
            self._rebind_pair(pair)
        n = len(packet)
        if n > len(self._cdata) - pylibsrtp.SRTP_MAX_TRAILER_LEN:
            raise ValueError("packet is too long")
        size = self._len
        size[0] = n
        _ffi.memmove(self._cdata, packet, n)
        rc = _lib.srtp_protect(self._ptr, self._cdata, size)
        if rc != 0:
            raise pylibsrtp.Error(f"srtp_protect failed ({rc})")
        out = self._buf[: size[0]]
        transport = self._transport
        if transport._buffer or transport.is_closing():
            transport.sendto(bytes(out), self._addr)  # keep asyncio's queue (and its order) in charge
        else:
            try:
                self._sock.sendto(out, self._addr)
            except (BlockingIOError, InterruptedError):
                transport.sendto(bytes(out), self._addr)
            except OSError as exc:  # what asyncio does with a send error on a datagram socket
                transport._protocol.error_received(exc)
        tap = self._tap
        tap.sent_packets += 1
        tap.sent_bytes += size[0]
        return True


_original_datagram_received = aioice.ice.StunProtocol.datagram_received


def _datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
    if data and data[0] > 3:  # not STUN (RFC 7983): media or DTLS, straight to the connection
        self.receiver.data_received(data, self.local_candidate.component)
        return
    _original_datagram_received(self, data, addr)


def skip_stun_parse(on: bool) -> None:
    """Install (or remove) the first-byte check in front of aioice's per-datagram STUN parse."""
    aioice.ice.StunProtocol.datagram_received = (  # type: ignore[method-assign]
        _datagram_received if on else _original_datagram_received)


def check_compatibility() -> list[str]:
    """What this module relies on in aioice/asyncio/pylibsrtp/aiortc, missing pieces named (empty when all there)."""
    missing = []
    if not hasattr(_lib, "srtp_protect"):
        missing.append("pylibsrtp binding lib.srtp_protect")
    if not hasattr(aioice.ice.StunProtocol, "datagram_received"):
        missing.append("aioice StunProtocol.datagram_received")
    import inspect

    if "self.receiver.data_received(data, self.local_candidate.component)" not in inspect.getsource(
            _original_datagram_received):
        missing.append("aioice StunProtocol hands non-STUN data to receiver.data_received")
    if "_buffer" not in inspect.getsource(__import__("asyncio").selector_events._SelectorDatagramTransport.sendto):
        missing.append("asyncio datagram transport _buffer")
    return missing
