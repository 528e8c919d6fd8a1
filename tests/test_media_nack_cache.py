"""The per-track packet cache NACKs are answered from: a window of the last `size` sequence numbers, wrap-safe."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.nack_cache import PacketCache


def test_put_get_and_never_stored() -> None:
    c = PacketCache(8)
    assert c.get(1) is None
    c.put(1, b"a")
    c.put(2, b"b")
    assert c.get(1) == b"a" and c.get(2) == b"b"
    assert c.get(3) is None and c.get(0) is None


def test_eviction_after_size_newer_packets() -> None:
    c = PacketCache(8)
    for s in range(9):
        c.put(s, bytes([s]))
    assert c.get(0) is None  # its slot now holds 8
    assert [c.get(s) for s in range(1, 9)] == [bytes([s]) for s in range(1, 9)]


def test_slot_reused_by_different_seq_is_not_confused() -> None:
    c = PacketCache(4)
    c.put(10, b"x")
    c.put(14, b"y")  # same slot as 10
    assert c.get(10) is None and c.get(14) == b"y"
    c.put(10, b"late")  # older than the window: not stored over a newer packet
    assert c.get(14) == b"y" and c.get(10) is None


def test_wraparound() -> None:
    c = PacketCache(16)
    seqs = [(65530 + i) & 0xFFFF for i in range(12)]
    for s in seqs:
        c.put(s, s.to_bytes(2, "big"))
    assert [c.get(s) for s in seqs] == [s.to_bytes(2, "big") for s in seqs]
    assert c.get(65529) is None and c.get(6) is None


def test_reordered_put_inside_window_and_replacement() -> None:
    c = PacketCache(16)
    c.put(100, b"100")
    c.put(103, b"103")
    c.put(101, b"101")
    c.put(101, b"101'")  # a retransmission replaces the copy
    assert c.get(101) == b"101'" and c.get(102) is None and c.get(103) == b"103"


def test_publisher_restart_starts_a_new_window() -> None:
    c = PacketCache(16)
    c.put(100, b"old")
    c.put(40_000, b"new")
    assert c.get(100) is None and c.get(40_000) == b"new"
    c.put(39_990, b"reordered")  # just before the new start
    assert c.get(39_990) == b"reordered"


def test_clear() -> None:
    c = PacketCache(4)
    c.put(1, b"a")
    c.clear()
    assert c.get(1) is None
    c.put(9, b"b")
    assert c.get(9) == b"b"


def test_invalid_size() -> None:
    with pytest.raises(ValueError):
        PacketCache(0)


@settings(deadline=None, max_examples=300)
@given(st.sampled_from([1, 3, 16, 64]), st.integers(0, 0xFFFF),
       st.lists(st.tuples(st.integers(-40, 60), st.binary(max_size=3)), max_size=300))
def test_property_holds_exactly_the_window(size: int, start: int, steps: list[tuple[int, bytes]]) -> None:
    """get(seq) is the data last put for seq when seq is among the `size` newest sequence numbers, else None."""
    c = PacketCache(size)
    model: dict[int, bytes] = {}  # unwrapped seq -> data
    hi: int | None = None
    cursor = start
    for delta, data in steps:
        cursor += delta
        if hi is not None:
            cursor = max(cursor, hi - 2000)  # a jump of more than 3000 back would be a publisher restart
        seq = cursor & 0xFFFF
        if hi is None or cursor > hi:
            hi = cursor
        if cursor > hi - size:
            model[cursor] = data  # else: too old to store
        c.put(seq, data)
        assert hi is not None
        for ext in range(hi - size - 3, hi + 3):
            want = model.get(ext) if hi - size < ext <= hi else None
            assert c.get(ext & 0xFFFF) == want
