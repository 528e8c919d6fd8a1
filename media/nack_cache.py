"""The per-publisher-track cache of recent packets that subscribers' NACKs are answered from.

A ring buffer indexed by (extended) sequence number: O(1) put/get, no allocation per packet beyond storing the
reference. Each slot remembers the extended sequence number it holds, so a lookup never returns a packet from a
different sequence number that happens to share the slot (after eviction or a 16-bit wrap).
"""

from __future__ import annotations

from media.sequencing import MAX_SEQ_JUMP, seq_diff

__all__ = ["PacketCache"]


class PacketCache:
    """Holds the packets of the last `size` sequence numbers (a window ending at the highest one stored).

    `get(seq)` returns the data last `put` for `seq` if `seq` lies within ``[highest − size + 1, highest]``, else
    None. A packet older than the window is not stored (it would evict a newer one); a jump of more than
    `MAX_SEQ_JUMP` either way is a publisher restart and starts the window afresh.
    """

    __slots__ = ("_data", "_hi", "_seqs", "size")

    def __init__(self, size: int = 1024) -> None:
        if size <= 0:
            raise ValueError("size must be positive")
        self.size = size
        self._seqs: list[int] = [-1] * size  # extended seq held by each slot (-1: empty)
        self._data: list[bytes | None] = [None] * size
        self._hi: int | None = None  # extended highest seq stored

    def put(self, seq: int, packet: bytes) -> None:
        hi = self._hi
        if hi is None:
            ext = self._start(seq)
        else:
            d = seq_diff(seq, hi & 0xFFFF)
            if d > MAX_SEQ_JUMP or d < -MAX_SEQ_JUMP:
                self.clear()
                ext = self._start(seq)
            else:
                ext = hi + d
                if d > 0:
                    self._hi = ext
                elif ext <= hi - self.size:
                    return  # older than the window
        i = ext % self.size
        self._seqs[i] = ext
        self._data[i] = packet

    def get(self, seq: int) -> bytes | None:
        hi = self._hi
        if hi is None:
            return None
        ext = hi + seq_diff(seq, hi & 0xFFFF)
        if ext > hi or ext <= hi - self.size:
            return None
        i = ext % self.size
        return self._data[i] if self._seqs[i] == ext else None

    def _start(self, seq: int) -> int:
        # Start the extended numbering one cycle up, so reordered packets just before it stay non-negative.
        ext = (seq & 0xFFFF) + 0x10000
        self._hi = ext
        return ext

    def clear(self) -> None:
        self._seqs = [-1] * self.size
        self._data = [None] * self.size
        self._hi = None
