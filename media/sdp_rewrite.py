"""SDP text rewrites for other stacks' needs, as pure functions of the SDP (no aiortc here).

aiortc cannot reject one m-line: with no common codec its answer has an m-line with no formats, which its own
parser then refuses (AssertionError), and the whole answer fails. So aiortc keeps a valid section for that mid
(the peer's own codecs, inactive) and the SDP on the wire says what is meant: port 0, outside the BUNDLE group.
Whatever comes back for that mid (port 0 from a browser, a live section from aiortc) is given to aiortc as the
section it knows: a rejected m-line stays rejected for the session.

aiortc's re-offers say a=setup:actpass; `state_setup` writes the role the session has (RFC 8842): offered
actpass, GStreamer 1.22 answers active whatever its role was, and becomes a second DTLS client.
"""

from __future__ import annotations

_TRANSPORT = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:")
_DIRECTIONS = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


def _split(sdp: str) -> tuple[list[str], list[list[str]]]:
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    session: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def _join(session: list[str], sections: list[list[str]]) -> str:
    return "\r\n".join(session + [line for s in sections for line in s]) + "\r\n"


def _mid(section: list[str]) -> str | None:
    return next((line[6:].strip() for line in section if line.startswith("a=mid:")), None)


def _port(section: list[str]) -> str:
    parts = section[0].split(" ", 2)
    return parts[1] if len(parts) > 1 else ""


def _rejected(section: list[str]) -> bool:
    """Port 0 rejects an m-line, unless a=bundle-only says it shares the BUNDLE transport (RFC 8843)."""
    return _port(section) == "0" and "a=bundle-only" not in section


def section_for_mid(sdp: str, mid: str) -> str | None:
    """The text of one m-section, to give aiortc back later (see restore_rejected)."""
    _, sections = _split(sdp)
    found = next((s for s in sections if _mid(s) == mid), None)
    return "\n".join(found) if found is not None else None


def rejected_mids(sdp: str) -> list[str]:
    """The mids of the m-lines this SDP rejects (port 0, not bundle-only)."""
    _, sections = _split(sdp)
    return [m for s in sections if _rejected(s) and (m := _mid(s)) is not None]


def reject_media(sdp: str, mids: set[str] | dict[str, str]) -> str:
    """The SDP as sent: these mids' m-lines with port 0 and out of the BUNDLE group."""
    if not mids:
        return sdp
    session, sections = _split(sdp)
    for i, s in enumerate(sections):
        if _mid(s) in mids:
            kind, _, rest = s[0].split(" ", 2)
            sections[i] = [f"{kind} 0 {rest}", *(line for line in s[1:] if line != "a=bundle-only")]
    for i, line in enumerate(session):
        if line.startswith("a=group:BUNDLE"):
            session[i] = " ".join(w for w in line.split(" ") if w not in mids)
    return _join(session, sections)


def restore_rejected(sdp: str, known: dict[str, str]) -> str:
    """A peer's SDP with the section of each mid in `known` replaced by the section aiortc knows, inactive, with
    the transport attributes of this SDP's first section not in `known` (the one BUNDLE transport)."""
    if not known:
        return sdp
    session, sections = _split(sdp)
    live = next((s for s in sections if not _rejected(s) and _mid(s) not in known), None)
    if live is None:
        return sdp
    transport = [line for line in live if line.startswith(_TRANSPORT)]
    changed = []
    for i, s in enumerate(sections):
        mid = _mid(s)
        if mid in known:
            old = known[mid].split("\n")
            kind, _, rest = old[0].split(" ", 2)
            body = [line for line in old[1:] if not line.startswith((*_TRANSPORT, *_DIRECTIONS, "a=candidate:",
                                                                        "a=end-of-candidates", "a=ssrc", "a=msid"))]
            sections[i] = [f"{kind} 9 {rest}", *body, *transport, "a=inactive"]
            changed.append(mid)
    for i, line in enumerate(session):
        if line.startswith("a=group:BUNDLE"):
            session[i] = line + "".join(f" {m}" for m in changed if m not in line.split(" ")[1:])
    return _join(session, sections)


def state_setup(sdp: str, role: str) -> str:
    """An offer whose a=setup:actpass says our DTLS role instead ("client" → active, "server" → passive)."""
    if role not in ("client", "server"):
        return sdp
    return sdp.replace("a=setup:actpass", "a=setup:active" if role == "client" else "a=setup:passive")
