"""The fast send path puts the same bytes on the wire, in the same order, as the reference path (real SRTP, real
UDP sockets on 127.0.0.1), and the receive shortcut leaves STUN to aioice."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

import aioice.ice
import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import State

from media import fastsend
from media.aiortc_glue import TransportTap
from media.rtp import parse_rtp

KEY = bytes(range(30))  # AES-CM-128 key + salt


def _session() -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    return pylibsrtp.Session(policy=policy)


def _packet(seq: int, size: int) -> bytes:
    return bytes([0x80, 96]) + seq.to_bytes(2, "big") + (seq * 3000).to_bytes(4, "big") + b"\x01\x02\x03\x04" + \
        bytes([seq & 0xFF]) * size


async def _tap(dest: tuple[str, int]) -> tuple[Any, Any]:
    """A TransportTap over a real asyncio datagram transport, with stand-ins for aiortc's DTLS and ICE objects."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=transport), remote_addr=dest)
    fake_dtls = SimpleNamespace(_tx_srtp=_session(), _state=State.CONNECTED, state="connected",
                                transport=SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair})))
    return fake_dtls, transport


def _new_tap(fake_dtls: Any) -> TransportTap:
    """The tap's state without its constructor (which hooks aiortc's receive side, not needed to send)."""
    tap = object.__new__(TransportTap)
    tap.dtls = fake_dtls
    tap._ice = fake_dtls.transport._connection
    tap._srtp = None
    tap.sent_packets = tap.sent_bytes = 0
    return tap


async def _receive(sock: socket.socket, n: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    return [await asyncio.wait_for(loop.sock_recv(sock, 2048), 5) for _ in range(n)]


async def test_fast_path_sends_what_the_reference_path_sends() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    packets = [_packet(i, size) for i, size in enumerate([20, 1100, 1300, 1380, 5, 900] * 5)]
    try:
        ref_dtls, ref_transport = await _tap(sink.getsockname())
        reference = _new_tap(ref_dtls)
        assert all(TransportTap.send_rtp(reference, p) for p in packets)
        want = await _receive(sink, len(packets))

        fast_dtls, fast_transport = await _tap(sink.getsockname())
        tap = _new_tap(fast_dtls)
        sender = fastsend.FastRtpSender(tap)
        assert all(sender(p) for p in packets)
        got = await _receive(sink, len(packets))
        assert got == want
        assert (tap.sent_packets, tap.sent_bytes) == (reference.sent_packets, reference.sent_bytes)
        assert [parse_rtp(_session_rx().unprotect(g)).sequence for g in got] == list(range(len(packets)))

        fast_dtls._state = State.CLOSED  # not connected: nothing sent, like the reference path
        assert sender(packets[0]) is False
        with pytest.raises(ValueError):
            fast_dtls._state = State.CONNECTED
            sender(_packet(1, 4000))
        ref_transport.close()
        fast_transport.close()
    finally:
        sink.close()


def _session_rx() -> pylibsrtp.Session:
    return pylibsrtp.Session(policy=pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))


def test_receive_shortcut_hands_media_on_and_leaves_stun_to_aioice() -> None:
    handed: list[bytes] = []
    parsed: list[bytes] = []
    proto = SimpleNamespace(receiver=SimpleNamespace(data_received=lambda d, c: handed.append(d)),
                            local_candidate=SimpleNamespace(component=1))
    original = fastsend._original_datagram_received
    try:
        fastsend._original_datagram_received = lambda self, data, addr: parsed.append(data)  # type: ignore[assignment]
        fastsend._datagram_received(proto, b"\x80\x60rtp", ("127.0.0.1", 1))
        fastsend._datagram_received(proto, b"\x16\xfe\xfddtls", ("127.0.0.1", 1))
        fastsend._datagram_received(proto, b"\x00\x01stun", ("127.0.0.1", 1))
    finally:
        fastsend._original_datagram_received = original  # type: ignore[assignment]
    assert handed == [b"\x80\x60rtp", b"\x16\xfe\xfddtls"]
    assert parsed == [b"\x00\x01stun"]


def test_skip_stun_parse_installs_and_removes() -> None:
    fastsend.skip_stun_parse(True)
    assert aioice.ice.StunProtocol.datagram_received is fastsend._datagram_received
    fastsend.skip_stun_parse(False)
    assert aioice.ice.StunProtocol.datagram_received is fastsend._original_datagram_received
    fastsend.skip_stun_parse(fastsend.send_path() != "reference")


def test_send_path_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFU_SEND_PATH", "reference")
    assert fastsend.send_path() == "reference"
    monkeypatch.setenv("SFU_SEND_PATH", "turbo")
    with pytest.raises(ValueError, match="SFU_SEND_PATH"):
        fastsend.send_path()
    assert fastsend.check_compatibility() == []


def _rtp(seq: int, size: int, *, csrcs: int = 0, ext: bytes = b"", padding: int = 0) -> bytes:
    """An RTP packet with `csrcs` CSRCs, a one-byte-form extension block of elements `ext`, `padding` pad bytes."""
    b0 = 0x80 | csrcs | (0x10 if ext else 0) | (0x20 if padding else 0)
    out = bytes([b0, 0x80 | 96]) + seq.to_bytes(2, "big") + (seq * 3000).to_bytes(4, "big") + b"\x0a\x0b\x0c\x0d"
    out += b"".join((0x1000 + i).to_bytes(4, "big") for i in range(csrcs))
    if ext:
        ext += b"\x00" * (-len(ext) & 3)
        out += b"\xbe\xde" + (len(ext) // 4).to_bytes(2, "big") + ext
    out += bytes([(seq + i) & 0xFF for i in range(size)])
    if padding:
        out += b"\x00" * (padding - 1) + bytes([padding])
    return out


CASES = [  # (packet, extension block for the subscriber: None keeps the original, b"" strips it)
    (_rtp(1, 1100, ext=b"\x22\x01\x02\x03"), b"\xbe\xde\x00\x01\x10\x31\x00\x00"),
    (_rtp(2, 20), b""),
    (_rtp(3, 900, csrcs=2, ext=b"\x10\x05"), b"\xbe\xde\x00\x02\x32\x01\x02\x03\x10\x31\x00\x00"),
    (_rtp(4, 300, csrcs=1, ext=b"\x10\x05"), b""),
    (_rtp(5, 500, padding=4), None),
    (_rtp(6, 1300, csrcs=3, ext=b"\x10\x05", padding=2), b"\xbe\xde\x00\x01\x10\x31\x00\x00"),
    (_rtp(7, 5), None),
]


@pytest.mark.skipif(not fastsend.COMPILED, reason="media/_fastpath.c not built")
async def test_compiled_rewrite_send_puts_the_reference_bytes_on_the_wire() -> None:
    """rewrite_send(data, h, ...) == reference send_rtp(rewrite_rtp(data, h, ...)), byte for byte, in order."""
    from media.rtp import rewrite_rtp

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    try:
        ref_dtls, ref_transport = await _tap(sink.getsockname())
        reference = _new_tap(ref_dtls)
        for i, (data, ext) in enumerate(CASES * 3):
            packet = rewrite_rtp(data, parse_rtp(data), ssrc=0xDEADBEEF, sequence=40000 + i, timestamp=2**32 + i,
                                 payload_type=111, ext_block=ext)
            assert TransportTap.send_rtp(reference, packet)
        want = await _receive(sink, len(CASES) * 3)

        fast_dtls, fast_transport = await _tap(sink.getsockname())
        tap = _new_tap(fast_dtls)
        sender = fastsend.FastRtpSender(tap)
        assert sender.rewrite_send is not None
        for i, (data, ext) in enumerate(CASES * 3):
            assert sender.rewrite_send(data, parse_rtp(data), 0xDEADBEEF, 40000 + i, 2**32 + i, 111, ext) is True
        got = await _receive(sink, len(CASES) * 3)
        assert got == want
        assert (tap.sent_packets, tap.sent_bytes) == (reference.sent_packets, reference.sent_bytes)

        big = _rtp(9, 1500)  # over MAX_RTP_OUT: not done here, the caller shrinks it the Python way
        assert sender.rewrite_send(big, parse_rtp(big), 1, 2, 3, 96, b"") is None
        fast_dtls._state = State.CLOSED
        assert sender.rewrite_send(CASES[0][0], parse_rtp(CASES[0][0]), 1, 2, 3, 96, b"") is False
        ref_transport.close()
        fast_transport.close()
    finally:
        sink.close()


@pytest.mark.skipif(not fastsend.COMPILED, reason="media/_fastpath.c not built")
async def test_compiled_send_leaves_queued_writes_to_asyncio_in_order() -> None:
    """With asyncio's queue holding writes, the compiled path protects only and queues behind them."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    try:
        ref_dtls, ref_transport = await _tap(sink.getsockname())
        reference = _new_tap(ref_dtls)
        packets = [_rtp(i, 200) for i in range(4)]
        for p in packets:
            TransportTap.send_rtp(reference, p)
        want = await _receive(sink, 4)
        fast_dtls, fast_transport = await _tap(sink.getsockname())
        sender = fastsend.FastRtpSender(_new_tap(fast_dtls))
        queued: list[bytes] = []
        fast_transport._buffer.append((b"x", None))  # pretend a write is waiting: nothing may overtake it
        real_sendto = fast_transport.sendto
        fast_transport.sendto = lambda data, addr=None: queued.append(data)  # type: ignore[method-assign]
        for p in packets:
            h = parse_rtp(p)
            assert sender.rewrite_send(p, h, h.ssrc, h.sequence, h.timestamp, h.payload_type, None) is True
        assert queued == want
        fast_transport._buffer.clear()
        fast_transport.sendto = real_sendto  # type: ignore[method-assign]
        ref_transport.close()
        fast_transport.close()
    finally:
        sink.close()


async def test_python_fast_path_has_no_compiled_send() -> None:
    fake_dtls, transport = await _tap(("127.0.0.1", 9))
    assert fastsend.FastRtpSender(_new_tap(fake_dtls), compiled=False).rewrite_send is None
    transport.close()


def test_sockaddr_packs_ipv4_and_ipv6_and_refuses_names() -> None:
    v4 = fastsend.sockaddr(socket.AF_INET, ("10.0.0.1", 5000))
    assert v4 is not None and len(v4) == 16 and v4[2:4] == (5000).to_bytes(2, "big") and v4[4:8] == bytes([10, 0, 0, 1])
    v6 = fastsend.sockaddr(socket.AF_INET6, ("::1", 5000, 0, 0))
    assert v6 is not None and len(v6) == 28
    assert fastsend.sockaddr(socket.AF_INET, ("host.example", 5000)) is None


def _ext_packet(seq: int, elements: list[tuple[int, bytes]], size: int = 400, profile: int = 0xBEDE) -> bytes:
    body = b"".join(bytes([(xid << 4) | (len(v) - 1)]) + v for xid, v in elements) if profile == 0xBEDE else \
        b"".join(bytes([xid, len(v)]) + v for xid, v in elements)
    body += b"\x00" * (-len(body) & 3)
    return bytes([0x90, 111]) + seq.to_bytes(2, "big") + (seq * 960).to_bytes(4, "big") + b"\x01\x02\x03\x04" + \
        profile.to_bytes(2, "big") + (len(body) // 4).to_bytes(2, "big") + body + bytes([seq & 0xFF]) * size


@pytest.mark.skipif(not fastsend.COMPILED, reason="media/_fastpath.c not built")
@pytest.mark.parametrize("sub_ids", [
    {"mid": 9, "abs": 2, "level": 5},  # one-byte form: C builds the extension block
    {"mid": 9, "abs": 2, "level": 15},  # an id over 14: two-byte form, Python builds the block, C sends it
    {"mid": 9},  # nothing copied, no abs-send-time
])
async def test_forward_puts_the_same_bytes_on_the_wire_on_every_path(sub_ids: dict[str, int]) -> None:
    """One Forward per send path over the same packets (audio level, abs-send-time and MID elements, padding,
    a two-byte-form block, a packet too large for its extensions): the wire bytes are the reference path's."""
    from media.rtp import URI_ABS_SEND_TIME, URI_AUDIO_LEVEL, URI_MID
    from media.tracks import CodecInfo, Forward, PublishedTrack

    uris = {"mid": URI_MID, "abs": URI_ABS_SEND_TIME, "level": URI_AUDIO_LEVEL}
    codec = CodecInfo(name="opus", clock_rate=48000, payload_type=111)
    track = PublishedTrack(publisher_id="p", track_id="t", kind="audio", ssrc=0x01020304, codec=codec,
                           header_extensions={URI_AUDIO_LEVEL: 1, URI_ABS_SEND_TIME: 3, URI_MID: 4},
                           request_keyframe=lambda t: None)
    packets = [
        _ext_packet(100, [(1, b"\x85"), (3, b"\x01\x02\x03"), (4, b"0")]),
        _ext_packet(101, [(1, b"\x90")], size=1),
        _ext_packet(102, [(1, b"\x90")], profile=0x1000),
        _ext_packet(103, [(4, b"0"), (1, b"\x7f")], size=1400),  # with the subscriber's extensions: over the limit
        _rtp(104, 300),
        _rtp(105, 200, padding=3),
        _ext_packet(106, [(2, b"\x01\x02"), (1, b"\x81")]),
    ]
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    wires = []
    try:
        for path in ("reference", "python", "fast"):
            fake_dtls, transport = await _tap(sink.getsockname())
            tap = _new_tap(fake_dtls)
            send = (tap.send_rtp if path == "reference"
                    else fastsend.FastRtpSender(tap, compiled=path == "fast"))
            fwd = Forward(track, "s", out_ssrc=0xCAFE0001, rtx_ssrc=None, codec=codec, mid="7",
                          header_extensions={uris[k]: v for k, v in sub_ids.items()}, send=send,  # type: ignore[arg-type]
                          initial_sequence=65530, initial_timestamp=2**32 - 500)
            assert (fwd._spec is not None) == (path == "fast" and sub_ids.get("level", 0) <= 14)
            for i, p in enumerate(packets):
                fwd.forward(p, parse_rtp(p), True, 1000.0 + i / 50)
            wires.append(await _receive(sink, len(packets)))
            assert fwd.stream.packets_sent == len(packets)
            transport.close()
    finally:
        sink.close()
    assert wires[1] == wires[0]
    assert wires[2] == wires[0]
