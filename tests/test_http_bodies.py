"""Bodies are refused before they are read (issue 14, item 5), against a real `hearing serve`: the server answers
while the client still has most of its body unsent, and no temp file appears."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.served import Served, serve

GIB = 1 << 30
PIECE = 64 << 10


def _connect(server: Served) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIECE)
    return s


def _answer(s: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        assert more, f"closed without an answer: {data!r}"
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        more = s.recv(65536)
        assert more
        rest += more
    return status, json.loads(rest[:length])


def _send_until_answered(s: socket.socket, piece: bytes, most: int) -> int:
    """Send `piece` repeatedly until the server has answered (readable) or `most` bytes went; returns bytes sent."""
    import select

    sent = 0
    while sent < most:
        readable, writable, _ = select.select([s], [s], [], 30)
        if readable:
            return sent
        assert writable, "the server neither read nor answered for 30 s"
        try:
            sent += s.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            return sent
    return sent


MULTIPART_HEAD = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
                  b"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n")


def test_anonymous_gigabyte_exhibit_is_refused_before_its_body(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with serve(tmp_path, TMPDIR=str(tmp)) as server:
        # Declared 1 GiB: 413 at once, from the headers alone.
        s = _connect(server)
        s.sendall(b"POST /api/rooms/court-1/exhibits HTTP/1.1\r\nHost: court\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: " + str(GIB).encode() +
                  b"\r\n\r\n" + MULTIPART_HEAD)
        sent = _send_until_answered(s, b"\0" * PIECE, GIB)
        status, body = _answer(s)
        assert status == 413 and body["error"] == "request_too_large", body
        assert sent < 64 << 20, f"{sent} bytes went before the answer"
        s.close()
        # Chunked, no length: the missing join token is refused before the form is read.
        s = _connect(server)
        s.sendall(b"POST /api/rooms/court-1/exhibits HTTP/1.1\r\nHost: court\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  f"{len(MULTIPART_HEAD):x}\r\n".encode() + MULTIPART_HEAD + b"\r\n")
        chunk = f"{PIECE:x}\r\n".encode() + b"\0" * PIECE + b"\r\n"
        sent = _send_until_answered(s, chunk, GIB)
        status, body = _answer(s)
        assert status == 401 and body["error"] == "not_authenticated", body
        assert sent < 64 << 20, f"{sent} bytes went before the answer"
        s.close()
        assert list(tmp.iterdir()) == [], "the server spooled the body to a temp file"
        assert server.healthz() == 200


def test_chunked_body_over_the_default_cap_is_cut_while_streaming(tmp_path: Path) -> None:
    with serve(tmp_path, HTTP_MAX_BODY_KB="64") as server:
        s = _connect(server)
        s.sendall(b"POST /api/login HTTP/1.1\r\nHost: court\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = f"{PIECE:x}\r\n".encode() + b" " * PIECE + b"\r\n"
        sent = _send_until_answered(s, chunk, GIB)
        status, body = _answer(s)
        assert status == 413 and body == {"error": "request_too_large", "message": body["message"],
                                           "limit_bytes": 64 << 10}
        assert sent < 64 << 20
        s.close()
        s = _connect(server)  # declared over the cap: refused from the headers
        s.sendall(b"POST /api/login HTTP/1.1\r\nHost: court\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 70000\r\n\r\n")
        assert _answer(s)[0] == 413
        s.close()
        assert server.healthz() == 200
