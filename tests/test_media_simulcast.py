"""Binding simulcast layers' unsignalled SSRCs from their MID/RID header extensions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from media.simulcast import Binding, LayerBinder


def binder() -> LayerBinder:
    b = LayerBinder()
    b.expect("1", ("q", "h", "f"))
    return b


def test_layers_bind_by_rid_in_offer_order_and_rtx_by_repaired_rid() -> None:
    b = binder()
    assert b.bind(100, "1", "f", None) == Binding("1", 2, "f")
    assert b.bind(101, "1", "q", None) == Binding("1", 0, "q")
    assert b.bind(102, "1", None, "q") == Binding("1", 0, "q", rtx=True)
    assert b.lookup(100) == Binding("1", 2, "f") and b.media_ssrc("1", "q") == 101
    assert b.bind(100, None, None, None) == Binding("1", 2, "f")  # bound: the extensions may stop coming


def test_unknown_mids_rids_and_missing_extensions_bind_nothing() -> None:
    b = binder()
    assert b.bind(1, None, "q", None) is None
    assert b.bind(2, "9", "q", None) is None
    assert b.bind(3, "1", "x", None) is None
    assert b.bind(4, "1", None, None) is None
    assert b.lookup(1) is None


def test_a_restarted_encoder_moves_its_layer_to_the_new_ssrc_and_forget_clears() -> None:
    b = binder()
    b.bind(100, "1", "h", None)
    assert b.bind(200, "1", "h", None) == Binding("1", 1, "h")
    assert b.lookup(100) is None and b.media_ssrc("1", "h") == 200
    b.forget("1")
    assert b.lookup(200) is None and b.bind(300, "1", "h", None) is None


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([None, "1", "2"]),
                          st.sampled_from([None, "q", "h", "f", "z"]), st.sampled_from([None, "q", "f"])),
                max_size=200))
def test_state_stays_bounded_and_each_layer_has_one_media_ssrc(packets: list) -> None:  # type: ignore[type-arg]
    b = LayerBinder(max_ssrcs=16)
    b.expect("1", ("q", "h", "f"))
    for ssrc, mid, rid, repaired in packets:
        got = b.bind(ssrc, mid, rid, repaired)
        if got is not None:
            assert got.mid == "1" and got.rid in ("q", "h", "f") and b.lookup(ssrc) == got
    assert len(b._by_ssrc) <= 16
    for (mid, rid), ssrc in b._media_ssrc.items():
        assert b.lookup(ssrc) == Binding(mid, ("q", "h", "f").index(rid), rid)
