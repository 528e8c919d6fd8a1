"""Simulcast in SDP (RFC 8853 `a=simulcast`, RFC 8851 `a=rid`): what a browser offers, and the answer accepting it.

Why text: aiortc 1.16's SDP model parses neither attribute, so its answer to a browser's simulcast offer carries
neither and the browser falls back to one encoding. These pure functions read the offer and add the receive side
to aiortc's answer, m-line by m-line (matched by `a=mid`). Not wired in yet: the SFU must first bind the layers'
unsignalled SSRCs by their RID header extension (docs/village-links.md, "Not built yet").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SimulcastOffer", "accept_simulcast", "offered_simulcast"]

_RID = re.compile(r"^a=rid:([A-Za-z0-9_-]{1,16}) send(?: (.*))?$")
_SIMULCAST = re.compile(r"^a=simulcast:send (\S+)$")
RID_URIS = ("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id")


@dataclass(frozen=True, slots=True)
class SimulcastOffer:
    """One video m-line's offered layers: rids in the order of `a=simulcast` (alternatives and paused `~` dropped)."""

    mid: str
    rids: tuple[str, ...]
    restrictions: dict[str, str]
    rid_extmaps: tuple[str, ...] = ()  # the offer's a=extmap lines for the RID extensions (the answer must agree)


def _sections(sdp: str) -> list[list[str]]:
    lines = sdp.replace("\r\n", "\n").split("\n")
    out: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            out.append([])
        out[-1].append(line)
    return out


def offered_simulcast(sdp: str) -> list[SimulcastOffer]:
    """The simulcast layers offered per m-line (sections without both attributes are left out)."""
    found = []
    for section in _sections(sdp)[1:]:
        mid = next((line[6:].strip() for line in section if line.startswith("a=mid:")), None)
        rids: dict[str, str] = {}
        order: list[str] = []
        for line in section:
            line = line.strip()
            if m := _RID.match(line):
                rids[m.group(1)] = m.group(2) or ""
            elif m := _SIMULCAST.match(line):
                for alt in m.group(1).split(";"):
                    first = alt.split(",")[0]
                    if first and not first.startswith("~"):
                        order.append(first)
        layers = tuple(r for r in order if r in rids)
        extmaps = tuple(line.strip() for line in section
                        if line.startswith("a=extmap:") and line.strip().endswith(RID_URIS))
        if mid is not None and len(layers) > 1:
            found.append(SimulcastOffer(mid, layers, {r: rids[r] for r in layers}, extmaps))
    return found


def accept_simulcast(offer_sdp: str, answer_sdp: str) -> str:
    """The answer with `a=rid:<rid> recv` and `a=simulcast:recv <rids>` added to each m-line whose offer had them,
    and the offer's RID header extensions (a browser refuses simulcast without them)."""
    offers = {o.mid: o for o in offered_simulcast(offer_sdp)}
    sections = _sections(answer_sdp)
    for section in sections[1:]:
        mid = next((line[6:].strip() for line in section if line.startswith("a=mid:")), None)
        offer = offers.get(mid or "")
        if offer is None or any(line.startswith(("a=simulcast:", "a=rid:")) for line in section):
            continue
        insert_at = len(section)
        while insert_at > 0 and section[insert_at - 1] == "":
            insert_at -= 1
        have = {line.split()[-1] for line in section if line.startswith("a=extmap:")}
        extra = [e for e in offer.rid_extmaps if e.split()[-1] not in have]
        extra += [f"a=rid:{rid} recv" for rid in offer.rids] + [f"a=simulcast:recv {';'.join(offer.rids)}"]
        section[insert_at:insert_at] = extra
    return "\r\n".join(line for section in sections for line in section)
