"""Checks SDP and trickled ICE candidates from clients before aiortc sees them. Pure: no aiortc, no I/O.

Why: aiortc's parser trusts its input. `candidate:1 1 udp` trips an `assert`, a fmtp line for an unknown payload
type raises StopIteration, and some values are accepted on parse only to fail later: a `c=` line with a bad address
(`c=IN IP4 1.2`) is stored, and every later offer fails when aiortc renders the stored description. So each line
aiortc parses is checked here against the grammar it will be read with (RFC 8866 SDP, RFC 8839 ICE, RFC 8122
fingerprints), and anything else is refused with a reason the client can log. Browsers' SDP always passes.

Every function returns None when the input is fine, else a short problem description (never raises).
"""

from __future__ import annotations

import ipaddress
import re

MAX_LINE_CHARS = 4096

_LINE = re.compile(r"^[a-z]=")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")  # RFC 8866 token
_ICE_CHARS = re.compile(r"^[A-Za-z0-9+/]+$")
_FOUNDATION = re.compile(r"^[A-Za-z0-9+/]{1,32}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_M_LINE = re.compile(r"^m=([a-z]+) ([0-9]{1,5}) ([A-Z/]+) (\S+(?: \S+)*)$")
_FINGERPRINT = re.compile(r"^(sha-1|sha-224|sha-256|sha-384|sha-512) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63})$")
_RTPMAP = re.compile(r"^([0-9]{1,3}) ([A-Za-z0-9\-_.]{1,32})/([0-9]{1,6})(?:/([0-9]{1,2}))?$")
_FMTP = re.compile(r"^([0-9]{1,3}) (\S.*)$")
_RTCP_FB = re.compile(r"^(\*|[0-9]{1,3}) (\S+)(?: (\S.*))?$")
_EXTMAP = re.compile(r"^([0-9]{1,3})(?:/(?:sendonly|recvonly|sendrecv|inactive))? (\S+)$")
_SSRC = re.compile(r"^([0-9]{1,10}) ([A-Za-z0-9\-_.]+):(.*)$")
_SSRC_GROUP = re.compile(r"^([A-Za-z0-9\-_.]+)((?: [0-9]{1,10})*)$")
_RTCP = re.compile(r"^([0-9]{1,5})(?: (IN (?:IP4|IP6) \S+))?$")
_CONNECTION = re.compile(r"^IN (IP4|IP6) ([^ ]+)$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")

CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
TCP_TYPES = frozenset({"active", "passive", "so"})
SETUP_ROLES = frozenset({"actpass", "active", "passive"})  # aiortc knows no holdconn
FMTP_INT_PARAMETERS = frozenset({"apt", "max-fr", "max-fs", "maxplaybackrate", "minptime", "stereo", "useinbandfec"})
RTCP_MUX_CONFLICT = range(72, 77)  # payload types that collide with RTCP packet types under rtcp-mux (RFC 5761)


def _port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535


def _uint32(text: str) -> bool:
    return _DIGITS.match(text) is not None and int(text) <= 0xFFFFFFFF


def _address_problem(text: str, *, hostname_ok: bool) -> str | None:
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    if hostname_ok and text.lower().endswith(".local") and _HOSTNAME.match(text):
        return None  # an mDNS name, which browsers use to hide local addresses (RFC 8839 §5.1, mdns-ice)
    return f"not an IP address{' or an mDNS name (.local)' if hostname_ok else ''}: {text[:64]!r}"


def check_candidate(candidate: str) -> str | None:
    """An ICE candidate as trickled (RTCIceCandidateInit.candidate, with or without `candidate:`) or in `a=candidate:`.

    RFC 8839 §5.1: foundation component transport priority address port `typ` type, then name/value pairs.
    """
    if not isinstance(candidate, str):
        return "a candidate must be a string"
    if not candidate.isascii() or any(ch in candidate for ch in "\r\n\x00"):
        return "a candidate is one line of ASCII text"
    bits = candidate.removeprefix("candidate:").split()
    if len(bits) < 8:
        return f"a candidate has at least 8 fields, this one has {len(bits)}"
    foundation, component, transport, priority, address, port, typ, kind = bits[:8]
    if not _FOUNDATION.match(foundation):
        return "bad candidate foundation"
    if not (component.isdigit() and len(component) <= 3 and 1 <= int(component) <= 256):
        return "bad candidate component (1-256)"
    if transport.lower() not in ("udp", "tcp"):
        return f"unknown candidate transport {transport[:16]!r}"
    if not _uint32(priority):
        return "bad candidate priority (0-4294967295)"
    if (problem := _address_problem(address, hostname_ok=True)) is not None:
        return f"bad candidate address: {problem}"
    if not _port(port):
        return "bad candidate port (0-65535)"
    if typ != "typ" or kind not in CANDIDATE_TYPES:
        return "a candidate needs `typ host|srflx|prflx|relay` after its port"
    rest = bits[8:]
    if len(rest) % 2:
        return "candidate extensions come in name/value pairs"
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        if not _TOKEN.match(name) or not (_TOKEN.match(value) or _ICE_CHARS.match(value)):
            return "bad candidate extension"  # values are tokens, or ice-chars (a ufrag may hold `/`)
        if name == "raddr" and (problem := _address_problem(value, hostname_ok=True)) is not None:
            return f"bad candidate raddr: {problem}"
        if name == "rport" and not _port(value):
            return "bad candidate rport (0-65535)"
        if name == "tcptype" and value not in TCP_TYPES:
            return "bad candidate tcptype"
    return None


def check_sdp(sdp: str) -> str | None:
    """A whole session description (an offer or an answer) from a client."""
    if not isinstance(sdp, str):
        return "SDP must be a string"
    lines = [line for line in sdp.splitlines() if line != ""]
    if not lines or lines[0] != "v=0":
        return "SDP must start with v=0"
    if not any(line.startswith("m=") for line in lines):
        return "SDP has no media sections (m=)"
    media: str | None = None  # kind of the current m= section; None = session level
    pts: set[int] = set()
    fmtps: list[tuple[int, str]] = []
    for number, line in enumerate(lines[1:], 2):
        problem = _line_problem(line, media, pts, fmtps)
        if problem is None and line.startswith("m="):
            if (problem := _fmtp_problem(fmtps, pts)) is None:
                media, pts, fmtps = line[2:].split(" ", 1)[0], set(), []
        if problem is not None:
            return f"invalid SDP line {number}: {problem}"
    if (problem := _fmtp_problem(fmtps, pts)) is not None:
        return f"invalid SDP: {problem}"
    return None


def _fmtp_problem(fmtps: list[tuple[int, str]], pts: set[int]) -> str | None:
    for pt, params in fmtps:
        if pt not in pts:
            return f"a=fmtp for payload type {pt}, which has no a=rtpmap"
        for param in params.split(";"):
            key, eq, value = param.partition("=")
            if eq and key in FMTP_INT_PARAMETERS and not (value.isascii() and value.isdigit() and len(value) <= 10):
                return f"a=fmtp parameter {key} must be a number"
    return None


def _line_problem(line: str, media: str | None, pts: set[int], fmtps: list[tuple[int, str]]) -> str | None:
    if len(line) > MAX_LINE_CHARS:
        return "line too long"
    if not line.isprintable():
        return "control characters in a line"
    if not _LINE.match(line):
        return "each line is <letter>=<value>"
    kind, value = line[0], line[2:]
    if kind == "v":
        return "a second v= line"
    if kind == "o":
        return None if len(value.split(" ")) == 6 else "o= has 6 fields"
    if kind == "c":
        return _connection_problem(value)
    if kind == "m":
        return _media_problem(line)
    if kind == "a":
        name, colon, rest = value.partition(":")
        return _attribute_problem(name, rest if colon else None, media, pts, fmtps)
    return None


def _connection_problem(value: str) -> str | None:
    m = _CONNECTION.match(value)
    if not m:
        return "c= is `IN IP4|IP6 <address>`"
    try:
        address = ipaddress.ip_address(m.group(2))
    except ValueError:
        return f"c= address {m.group(2)[:64]!r} is not an IP address"
    return None if f"IP{address.version}" == m.group(1) else "c= address family does not match its address"


def _media_problem(line: str) -> str | None:
    m = _M_LINE.match(line)
    if not m:
        return "m= is `<media> <port> <proto> <formats>`"
    kind, port, formats = m.group(1), m.group(2), m.group(4).split(" ")
    if not _port(port):
        return "m= port out of range"
    if kind in ("audio", "video"):
        for fmt in formats:
            if not (fmt.isdigit() and len(fmt) <= 3 and int(fmt) < 128) or int(fmt) in RTCP_MUX_CONFLICT:
                return f"m= payload type {fmt[:8]!r} is not 0-127 (72-76 excluded)"
    elif kind != "application":
        return f"unknown media {kind[:16]!r}"
    return None


def _attribute_problem(name: str, value: str | None, media: str | None, pts: set[int],
                       fmtps: list[tuple[int, str]]) -> str | None:
    """The attributes aiortc parses; others pass unread. Those needing a value must have one."""
    needs_value = {"candidate", "extmap", "fingerprint", "ice-pwd", "ice-ufrag", "max-message-size", "mid",
                   "rtcp", "setup", "rtpmap", "sctpmap", "sctp-port", "ssrc-group", "ssrc", "fmtp", "rtcp-fb",
                   "group", "msid-semantic", "ice-options", "msid"}
    if name not in needs_value:
        return None
    if value is None or value == "":
        return f"a={name} needs a value"
    if name == "fingerprint":
        return None if _FINGERPRINT.match(value) else "a=fingerprint is `<sha-N> <hex bytes with colons>`"
    if name == "setup":
        return None if value in SETUP_ROLES else "a=setup is actpass, active or passive"
    if name == "ice-ufrag":
        return None if _ICE_CHARS.match(value) and 4 <= len(value) <= 256 else "a=ice-ufrag is 4-256 ice-chars"
    if name == "ice-pwd":
        return None if _ICE_CHARS.match(value) and 22 <= len(value) <= 256 else "a=ice-pwd is 22-256 ice-chars"
    if name == "group":
        return None if all(_TOKEN.match(b) for b in value.split(" ")) else "a=group is tokens"
    if media is None:
        return None  # the rest are read in media sections only
    if name == "candidate":
        return check_candidate(value)
    if name == "extmap":
        m = _EXTMAP.match(value)
        return None if m and 1 <= int(m.group(1)) <= 255 else "a=extmap is `<1-255>[/direction] <uri>`"
    if name == "mid":
        return None if _TOKEN.match(value) and len(value) <= 32 else "a=mid is a token of at most 32 characters"
    if name in ("max-message-size", "sctp-port"):
        return None if _uint32(value) else f"a={name} is a number"
    if name == "rtcp":
        m = _RTCP.match(value)
        if not m or not _port(m.group(1)):
            return "a=rtcp is `<port> [IN IP4|IP6 <address>]`"
        return _connection_problem(m.group(2)) if m.group(2) else None
    if name == "rtpmap":
        m = _RTPMAP.match(value)
        if not m or int(m.group(1)) > 127 or int(m.group(3)) == 0:
            return "a=rtpmap is `<0-127> <codec>/<clock rate>[/<channels>]`"
        pts.add(int(m.group(1)))
        return None
    if name == "fmtp":
        m = _FMTP.match(value)
        if not m:
            return "a=fmtp is `<payload type> <parameters>`"
        fmtps.append((int(m.group(1)), m.group(2)))
        return None
    if name == "rtcp-fb":
        return None if _RTCP_FB.match(value) else "a=rtcp-fb is `<payload type|*> <type> [<parameter>]`"
    if name == "sctpmap":
        return None if re.match(r"^[0-9]{1,5} \S", value) else "a=sctpmap is `<number> <protocol>`"
    if name == "ssrc":
        m = _SSRC.match(value)
        return None if m and _uint32(m.group(1)) else "a=ssrc is `<ssrc> <attribute>:<value>`"
    if name == "ssrc-group":
        m = _SSRC_GROUP.match(value)
        ok = m is not None and all(_uint32(s) for s in m.group(2).split())
        return None if ok else "a=ssrc-group is `<semantics> <ssrc>...`"
    return None
