"""Which simulcast layer an incoming packet belongs to. Pure state: the receive-side half of simulcast.

Why: a browser sending simulcast does not signal its layers' SSRCs in SDP (RFC 8853); each layer's packets carry
the MID and RID header extensions (RFC 8852) until the receiver has learnt the SSRC, and each layer's RTX carries
the repaired RID. The SFU's tap sees raw packets before aiortc's router, so it binds unknown SSRCs here: (mid, rid)
→ layer index (the order of `a=simulcast`, which the web client sends lowest first), RTX SSRC → its media SSRC.
A bound SSRC costs one dict lookup per packet; the extensions are only read for SSRCs not yet bound.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Binding", "LayerBinder"]


@dataclass(frozen=True, slots=True)
class Binding:
    mid: str
    layer: int
    rid: str
    rtx: bool = False  # a retransmission stream (repaired RID) of that layer


class LayerBinder:
    """One publisher's simulcast m-lines: learns layer SSRCs from MID/RID (and repaired-RID) extensions."""

    __slots__ = ("_by_ssrc", "_media_ssrc", "_rids", "max_ssrcs")

    def __init__(self, max_ssrcs: int = 64) -> None:
        self._rids: dict[str, tuple[str, ...]] = {}  # mid -> rids, lowest layer first
        self._by_ssrc: dict[int, Binding] = {}
        self._media_ssrc: dict[tuple[str, str], int] = {}  # (mid, rid) -> the media SSRC bound to it
        self.max_ssrcs = max_ssrcs

    def expect(self, mid: str, rids: tuple[str, ...]) -> None:
        """The answer accepted these layers on `mid` (media/simulcast_sdp.py)."""
        self._rids[mid] = tuple(rids)

    def lookup(self, ssrc: int) -> Binding | None:
        return self._by_ssrc.get(ssrc)

    def media_ssrc(self, mid: str, rid: str) -> int | None:
        return self._media_ssrc.get((mid, rid))

    def bind(self, ssrc: int, mid: str | None, rid: str | None, repaired_rid: str | None) -> Binding | None:
        """Bind an SSRC seen with these extension values (None when absent). None: not a layer we expect.

        An SSRC once bound stays bound (the extensions may stop coming); a (mid, rid) seen again on a new SSRC
        (the publisher restarted its encoder) moves to the new SSRC.
        """
        known = self._by_ssrc.get(ssrc)
        if known is not None:
            return known
        if mid is None:
            return None
        rids = self._rids.get(mid)
        name = repaired_rid if repaired_rid is not None else rid
        if rids is None or name is None or name not in rids:
            return None
        binding = Binding(mid, rids.index(name), name, rtx=repaired_rid is not None)
        if len(self._by_ssrc) >= self.max_ssrcs:
            return None  # a flood of SSRCs: bind no more (SRTP authenticated them, but bound the state anyway)
        if not binding.rtx:
            old = self._media_ssrc.get((mid, name))
            if old is not None:
                self._by_ssrc.pop(old, None)
            self._media_ssrc[(mid, name)] = ssrc
        self._by_ssrc[ssrc] = binding
        return binding

    def forget(self, mid: str) -> None:
        """The m-line went away (track removed)."""
        self._rids.pop(mid, None)
        for ssrc in [s for s, b in self._by_ssrc.items() if b.mid == mid]:
            del self._by_ssrc[ssrc]
        for key in [k for k in self._media_ssrc if k[0] == mid]:
            del self._media_ssrc[key]
