"""Layer selection per subscriber (hysteresis, audio first, pause/resume) and continuity across layer switches."""

from __future__ import annotations

import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from media.layers import Layer, LayerSelector
from media.sequencing import OutboundStream, PictureIdStream

LAYERS = [Layer(0, 120_000, 320, 180), Layer(1, 400_000, 640, 360), Layer(2, 1_200_000, 1280, 720)]


def best_fit(estimate: float, audio: float = 40_000) -> int | None:
    fitting = [layer.index for layer in LAYERS if layer.bitrate_bps <= estimate - audio]
    return fitting[-1] if fitting else None


@settings(deadline=None)
@given(st.floats(0, 3_000_000), st.floats(0.8, 1.25))
def test_a_steady_estimate_never_oscillates(estimate: float, wobble: float) -> None:
    """Constant (or constant ± noise inside the hysteresis band) estimate: the target only ever moves one way."""
    sel = LayerSelector(probe_after=None)
    targets = []
    rnd = random.Random(int(estimate))
    for i in range(200):
        noisy = estimate * (1 + (wobble - 1) * rnd.random() * 0.1)
        targets.append(sel.update(LAYERS, noisy, i * 0.1))
    moves = [(a, b) for a, b in itertools.pairwise(targets) if a != b]
    key = [-1 if t is None else t for t in targets]
    assert key == sorted(key) or key == sorted(key, reverse=True), moves
    assert len(moves) <= len(LAYERS)


@settings(deadline=None)
@given(st.floats(0, 3_000_000))
def test_the_target_settles_on_the_best_layer_that_fits_after_audio(estimate: float) -> None:
    sel = LayerSelector(up_margin=1.0)
    for i in range(100):
        sel.update(LAYERS, estimate, i * 0.1)
    assert sel.target == best_fit(estimate)


def test_going_down_is_at_once_and_up_waits_for_headroom_held() -> None:
    sel = LayerSelector(up_hold=3.0, up_margin=1.2)
    for i in range(40):
        sel.update(LAYERS, 2_000_000, i * 0.1)
    assert sel.target == 2
    assert sel.update(LAYERS, 300_000, 4.1) == 0  # the link fell: down in one step
    assert sel.update(LAYERS, 460_000, 4.2) == 0  # 400k fits, but not with 20 % headroom
    assert sel.update(LAYERS, 600_000, 4.3) == 0  # headroom now: wait up_hold
    assert sel.update(LAYERS, 600_000, 7.2) == 0
    assert sel.update(LAYERS, 600_000, 7.4) == 1


def test_video_pauses_when_the_lowest_layer_and_audio_do_not_fit_and_resumes() -> None:
    sel = LayerSelector(audio_bps=40_000)
    assert sel.update(LAYERS, 150_000, 0.0) is None  # 120k video + 40k audio > 150k: audio keeps the link
    assert sel.paused and not sel.accept(0, keyframe=True)
    assert sel.update(LAYERS, 170_000, 1.0) is None  # fits, but not with headroom
    sel.update(LAYERS, 200_000, 2.0)
    assert sel.update(LAYERS, 200_000, 5.0) == 0  # resumed at the lowest layer
    assert not sel.accept(0, keyframe=False) and sel.accept(0, keyframe=True)


def test_paused_video_is_probed_again_with_a_growing_wait() -> None:
    sel = LayerSelector(probe_after=10.0, probe_grace=3.0, max_probe_after=40.0)
    starts = []
    t = 0.0
    while t < 200:
        before = sel.target
        if sel.update(LAYERS, 100_000, t) is not None and before is None:
            starts.append(t)
        t = round(t + 0.5, 1)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[0] == 10.0 and gaps[:3] == [23.0, 43.0, 43.0]  # paused 10 → 20 → 40 (capped) s, plus 3 s grace
    sel = LayerSelector(probe_after=10.0)
    sel.update(LAYERS, 100_000, 0.0)
    sel.update(LAYERS, 100_000, 10.0)  # probing at the lowest layer
    assert sel.update(LAYERS, 250_000, 11.0) == 0 and sel.update(LAYERS, 250_000, 20.0) == 0  # the probe held


def test_unknown_estimate_starts_on_the_lowest_layer_and_a_vanished_layer_is_left() -> None:
    sel = LayerSelector()
    assert sel.update(LAYERS, None, 0.0) == 0
    for i in range(50):
        sel.update(LAYERS, 3_000_000, 1 + i * 0.1)
    assert sel.target == 2
    assert sel.update(LAYERS[:2], 3_000_000, 10.0) == 1  # the publisher stopped sending its top layer


def test_keyframe_requests_for_the_target_are_throttled() -> None:
    sel = LayerSelector(keyframe_interval=0.5)
    sel.update(LAYERS, None, 0.0)
    assert sel.keyframe_request(0.0) == 0
    assert sel.keyframe_request(0.2) is None
    assert sel.keyframe_request(0.6) == 0
    assert sel.accept(0, keyframe=True)
    assert sel.keyframe_request(2.0) is None  # on the target: nothing to ask for


# -- a publisher sending three layers, one subscriber, estimates changing -------------------------------------------


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(50_000, 3_000_000), min_size=1, max_size=12), st.integers(0, 2**32 - 1),
       st.integers(1, 30))
def test_switches_happen_only_at_keyframes_and_numbering_is_continuous(estimates: list[float], seed: int,
                                                                       gop: int) -> None:
    rnd = random.Random(seed)
    seq = [rnd.randrange(65536) for _ in LAYERS]
    ts = [rnd.randrange(2**32) for _ in LAYERS]
    pid = [rnd.randrange(0x8000) for _ in LAYERS]
    sel = LayerSelector(up_hold=0.5)
    out = OutboundStream(1, 90000, is_video=True, initial_sequence=rnd.randrange(65536),
                         initial_timestamp=rnd.randrange(2**32))
    pids = PictureIdStream(rnd.randrange(0x8000))
    sent: list[tuple[int, int, int, int, float]] = []  # (layer, seq_out, ts_out, picture id out, time)
    frame = 0
    now = 0.0
    per_estimate = 40
    for estimate in estimates:
        for _ in range(per_estimate):
            frame += 1
            now += 1 / 30
            sel.update(LAYERS, estimate, now)
            keyframe_frame = frame % gop == 0
            for layer in range(len(LAYERS)):
                for k in range(1 + layer):  # higher layers: more packets per frame
                    key = keyframe_frame and k == 0
                    before = sel.current
                    if sel.accept(layer, key):
                        if sel.current != before:
                            assert key, "switched on a delta frame"
                            out.switch_source()
                            pids.rebase(pid[layer])
                        res = out.forward(seq[layer], ts[layer], key, now)
                        assert res is not None
                        p, _ = pids.map(pid[layer])
                        sent.append((layer, res[0], res[1], p, now))
                    seq[layer] = (seq[layer] + 1) & 0xFFFF
                ts[layer] = (ts[layer] + 3000) & 0xFFFFFFFF
                pid[layer] = (pid[layer] + 1) & 0x7FFF
    for a, b in itertools.pairwise(sent):
        assert b[1] == (a[1] + 1) & 0xFFFF  # no hole, no repeat across switches
        ticks = (b[2] - a[2]) & 0xFFFFFFFF
        assert ticks < 2**31 and abs(ticks / 90000 - (b[4] - a[4])) <= 1 / 30 + 1e-6  # the clock follows real time
        assert (b[3] - a[3]) & 0x7FFF in (0, 1)  # same picture or the next one


LADDER = [Layer(0, 100_000), Layer(1, 300_000), Layer(2, 900_000)]


@settings(max_examples=80, deadline=None)
@given(st.floats(120_000, 2_000_000))
def test_a_remb_following_what_it_receives_still_climbs_and_settles_without_oscillating(capacity: float) -> None:
    """A receiver's REMB sits near 1.5x what it receives: the selector tries the next layer (unconstrained), backs
    off after each failed try, and ends on the best layer the link carries, spending little time above it."""
    sel = LayerSelector(audio_bps=0.0, down_margin=0.8)
    over = ups = 0
    last = None
    held: list[int | None] = []
    for t in range(900):
        sent = LADDER[sel.target].bitrate_bps if sel.target is not None else 0.0
        congested = sent > capacity
        estimate = capacity * 0.7 if congested else min(1.5 * sent + 10_000, capacity)  # loss cuts at once
        target = sel.update(LADDER, estimate, float(t), may_pause=False, unconstrained=not congested)
        sel.accept(target if target is not None else 0, keyframe=True)
        over += congested
        if last is not None and target is not None and target > last:
            ups += 1
        last = target
        held.append(target)
    fits = max(layer.index for layer in LADDER if layer.bitrate_bps <= capacity) if capacity >= 100_000 else 0
    assert held[-300:].count(fits) >= 280, (held[-300:].count(fits), fits)  # settled there
    assert over <= 30  # tries above the link: a few seconds each, ever rarer
    assert ups <= 20
    late_ups = sum(1 for a, b in itertools.pairwise(held[-300:]) if a is not None and b is not None and b > a)
    assert late_ups <= 4  # each failed try waits twice as long as the last
