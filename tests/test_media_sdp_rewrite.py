"""media/sdp_rewrite.py: rejecting m-lines on the wire and giving aiortc back what it knows, on generated SDPs."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from media.sdp_rewrite import reject_media, rejected_mids, restore_rejected, section_for_mid, state_setup


def sdp(kinds: list[str], *, ufrag: str = "abcd", bundle_only_after_first: bool = False) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(str(i) for i in range(len(kinds)))]
    for i, kind in enumerate(kinds):
        port = 0 if bundle_only_after_first and i else 9
        pt = 111 if kind == "audio" else 96
        lines += [f"m={kind} {port} UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 0.0.0.0", f"a=mid:{i}", "a=sendrecv",
                  f"a=rtpmap:{pt} {'opus/48000/2' if kind == 'audio' else 'VP8/90000'}", f"a=ice-ufrag:{ufrag}",
                  "a=ice-pwd:p", "a=fingerprint:sha-256 AA:BB", "a=setup:actpass", "a=ssrc:1 cname:x",
                  "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host"]
        if port == 0:
            lines.append("a=bundle-only")
    return "\r\n".join(lines) + "\r\n"


def ports(text: str) -> list[str]:
    return re.findall(r"^m=\w+ (\d+) ", text, re.M)


def bundle(text: str) -> list[str]:
    return re.search(r"^a=group:BUNDLE(.*)$", text, re.M).group(1).split()  # type: ignore[union-attr]


kinds_st = st.lists(st.sampled_from(["audio", "video"]), min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(kinds_st, st.data())
def test_rejected_mids_are_port_0_outside_bundle_and_the_rest_untouched(kinds: list[str], data: st.DataObject) -> None:
    original = sdp(kinds)
    mids = set(data.draw(st.lists(st.sampled_from([str(i) for i in range(1, len(kinds))]), unique=True)))
    out = reject_media(original, mids)
    assert set(rejected_mids(out)) == mids
    assert set(bundle(out)) == {str(i) for i in range(len(kinds))} - mids
    for i in range(len(kinds)):
        if str(i) not in mids:
            assert section_for_mid(out, str(i)) == section_for_mid(original, str(i))


@settings(max_examples=200, deadline=None)
@given(kinds_st, st.data())
def test_what_comes_back_for_a_rejected_mid_is_the_known_section_inactive_on_the_live_transport(
        kinds: list[str], data: st.DataObject) -> None:
    ours = sdp(kinds)
    mids = set(data.draw(st.lists(st.sampled_from([str(i) for i in range(1, len(kinds))]), unique=True,
                                  min_size=1)))
    known = {m: section_for_mid(ours, m) or "" for m in mids}
    # The peer answers from its own transport (another ufrag), with the rejected mids at port 0 or live.
    theirs = reject_media(sdp(kinds, ufrag="wxyz"), data.draw(st.sampled_from([mids, set()])))
    back = restore_rejected(theirs, known)
    assert rejected_mids(back) == [] and ports(back) == ["9"] * len(kinds)
    assert set(bundle(back)) == {str(i) for i in range(len(kinds))}
    for m in mids:
        section = section_for_mid(back, m) or ""
        assert "a=inactive" in section and "a=sendrecv" not in section
        assert "a=ice-ufrag:wxyz" in section and "a=ice-ufrag:abcd" not in section  # the one BUNDLE transport
        assert "a=candidate" not in section and "a=ssrc" not in section
    assert restore_rejected(theirs, {}) == theirs


def test_bundle_only_sections_are_not_rejections() -> None:
    gst = sdp(["audio", "video", "video"], bundle_only_after_first=True)  # GStreamer's max-bundle answer
    assert ports(gst) == ["9", "0", "0"]
    assert rejected_mids(gst) == []
    assert rejected_mids(reject_media(gst, {"2"})) == ["2"]


def test_an_offer_states_the_dtls_role_it_has() -> None:
    offer = sdp(["audio", "video"])
    assert state_setup(offer, "client").count("a=setup:active") == 2
    assert state_setup(offer, "server").count("a=setup:passive") == 2
    assert state_setup(offer, "auto") == offer and "a=setup:actpass" not in state_setup(offer, "client")
