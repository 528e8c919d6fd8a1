"""Per-subscriber sequence/timestamp rewriting: gap-free across SFU drops, gaps kept for upstream loss, wraparound."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.sequencing import OutboundStream, seq_diff, seq_newer, ts_diff, ts_newer

M16 = 0xFFFF
M32 = 0xFFFF_FFFF


def audio(seq0: int = 1000, ts0: int = 50_000) -> OutboundStream:
    return OutboundStream(0x1234, 48000, is_video=False, initial_sequence=seq0, initial_timestamp=ts0)


def video(seq0: int = 1000, ts0: int = 50_000) -> OutboundStream:
    return OutboundStream(0x5678, 90000, is_video=True, initial_sequence=seq0, initial_timestamp=ts0)


# -- helpers ---------------------------------------------------------------------------------------------------------


def test_seq_diff_and_newer_wrap() -> None:
    assert seq_diff(0, 65535) == 1 and seq_diff(65535, 0) == -1
    assert seq_diff(5, 5) == 0
    assert seq_diff(100, 65500) == 136
    assert seq_newer(0, 65535) and not seq_newer(65535, 0)
    assert seq_diff(0x8000, 0) == -0x8000 and not seq_newer(0x8000, 0) and not seq_newer(0, 0x8000)


def test_ts_diff_and_newer_wrap() -> None:
    assert ts_diff(0, M32) == 1 and ts_diff(M32, 0) == -1
    assert ts_diff(10, 2**32 - 10) == 20
    assert ts_newer(3, 2**32 - 3) and not ts_newer(2**32 - 3, 3)


@settings(deadline=None)
@given(st.integers(0, M16), st.integers(-32768, 32767))
def test_seq_diff_inverts_addition(a: int, d: int) -> None:
    assert seq_diff((a + d) & M16, a) == d


@settings(deadline=None)
@given(st.integers(0, M32), st.integers(-(2**31), 2**31 - 1))
def test_ts_diff_inverts_addition(a: int, d: int) -> None:
    assert ts_diff((a + d) & M32, a) == d


# -- steady state ----------------------------------------------------------------------------------------------------


def test_first_packet_gets_initial_values_then_offsets_hold() -> None:
    s = audio(seq0=7, ts0=1_000)
    assert s.last_seq_out is None and s.last_ts_out is None
    assert s.forward(40_000, 900_000, False, 0.0) == (7, 1_000)
    assert s.forward(40_001, 900_960, False, 0.02) == (8, 1_960)
    assert s.forward(40_002, 901_920, False, 0.04) == (9, 2_920)
    assert s.last_seq_out == 9 and s.last_ts_out == 2_920
    assert s.translate_timestamp(905_000) == 6_000


def test_upstream_gap_stays_a_gap() -> None:
    s = audio()
    s.forward(10, 0, False, 0.0)
    assert s.forward(13, 2880, False, 0.06) == (1003, 50_000 + 2880)  # 11, 12 lost upstream: subscriber NACKs them
    assert s.translate_nack(1001) == 11 and s.translate_nack(1002) == 12


def test_wraparound_of_input_output_and_timestamp() -> None:
    s = audio(seq0=65534, ts0=M32 - 500)
    outs = [s.forward((65533 + i) & M16, (M32 - 959 + 960 * i) & M32, False, 0.02 * i) for i in range(5)]
    assert [o[0] for o in outs if o] == [65534, 65535, 0, 1, 2]
    assert [o[1] for o in outs if o] == [(M32 - 500 + 960 * i) & M32 for i in range(5)]
    assert all(ts_newer(b[1], a[1]) for a, b in itertools.pairwise(outs) if a and b)
    assert [s.translate_nack(x) for x in (65534, 65535, 0, 1, 2)] == [65533, 65534, 65535, 0, 1]


def test_reordered_packet_keeps_its_slot_and_older_than_base_is_dropped() -> None:
    s = audio()
    assert s.forward(100, 0, False, 0.0) == (1000, 50_000)
    assert s.forward(102, 1920, False, 0.04) == (1002, 51_920)
    assert s.forward(101, 960, False, 0.041) == (1001, 50_960)  # late, same offsets
    assert s.forward(99, 0, False, 0.05) is None  # before the base
    assert s.forward(102, 1920, False, 0.05) == (1002, 51_920)  # duplicate: same slot


def test_too_old_packet_is_dropped_not_taken_for_a_restart() -> None:
    s = video()
    for i in range(1200):  # 200 packets/s of video
        s.forward(i, 450 * i, i == 0, 0.005 * i)
    assert s.forward(100, 450 * 100, False, 6.0) is None  # 1099 behind (5.5 s): outside the reorder window
    assert s.forward(1200, 450 * 1200, False, 6.0) == (1000 + 1200, 50_000 + 450 * 1200)


# -- SFU drops: renumbering ------------------------------------------------------------------------------------------


def test_skip_renumbers_so_the_subscriber_sees_no_gap() -> None:
    s = audio()
    s.forward(10, 0, False, 0.0)
    s.skip(11)
    s.skip(12)
    assert s.forward(13, 2880, False, 0.06) == (1001, 52_880)
    assert s.translate_nack(1001) == 13
    assert s.translate_nack(1000) == 10


def test_skip_after_upstream_loss_keeps_the_loss_visible() -> None:
    s = audio()
    s.forward(10, 0, False, 0.0)
    s.skip(13)  # 11, 12 not arrived yet
    assert s.forward(14, 3840, False, 0.08) == (1003, 53_840)
    assert s.forward(11, 960, False, 0.081) == (1001, 50_960)  # late arrivals fill their own slots
    assert s.forward(12, 1920, False, 0.082) == (1002, 51_920)
    assert [s.translate_nack(x) for x in (1000, 1001, 1002, 1003)] == [10, 11, 12, 14]


def test_withheld_packet_arriving_again_is_not_forwarded_into_a_given_away_slot() -> None:
    s = audio()
    s.forward(10, 0, False, 0.0)
    s.skip(11)
    assert s.forward(12, 1920, False, 0.04) == (1001, 51_920)
    assert s.forward(11, 960, False, 0.05) is None


def test_skip_of_an_old_packet_changes_nothing() -> None:
    s = audio()
    s.forward(10, 0, False, 0.0)
    s.forward(12, 1920, False, 0.04)
    s.skip(11)  # a reordered packet withheld: its slot 1001 stays a hole
    assert s.forward(13, 2880, False, 0.06) == (1003, 52_880)


def test_audio_pause_resume_is_gap_free_and_time_keeps_running() -> None:
    s = audio()
    s.forward(0, 0, False, 0.0)
    s.pause()
    assert s.paused
    for i in range(1, 50):
        assert s.forward(i, 960 * i, False, 0.02 * i) is None
    s.resume()
    assert not s.paused and not s.waiting_for_keyframe
    assert s.forward(50, 48_000, False, 1.0) == (1001, 50_000 + 48_000)


# -- video gates -----------------------------------------------------------------------------------------------------


def test_video_waits_for_a_keyframe_and_starts_gap_free() -> None:
    s = video()
    assert s.waiting_for_keyframe
    assert s.forward(500, 0, False, 0.0) is None
    assert s.forward(501, 0, False, 0.0) is None
    assert s.forward(502, 3000, True, 0.033) == (1000, 50_000)
    assert not s.waiting_for_keyframe
    assert s.forward(503, 3000, False, 0.034) == (1001, 50_000)
    assert s.translate_nack(999) is None  # before the base


def test_video_resume_gates_until_keyframe_and_clock_follows_wall_time() -> None:
    s = video()
    s.forward(0, 0, True, 0.0)
    s.forward(1, 3000, False, 1 / 30)
    s.pause()
    for i in range(2, 62):
        assert s.forward(i, 3000 * i, False, i / 30) is None
    s.resume()
    assert s.waiting_for_keyframe
    assert s.forward(62, 3000 * 62, False, 62 / 30) is None
    assert s.translate_nack(1001) is None  # gated: no base to answer NACKs from
    out = s.forward(63, 3000 * 63, True, 63 / 30)
    assert out is not None
    assert out[0] == 1002
    assert out[1] == 50_000 + 3000 + int((63 / 30 - 1 / 30) * 90000)
    assert s.translate_nack(1001) is None and s.translate_nack(1002) == 63


def test_request_keyframe_gate_is_a_no_op_for_audio() -> None:
    s = audio()
    s.forward(0, 0, False, 0.0)
    s.request_keyframe_gate()
    assert not s.waiting_for_keyframe
    assert s.forward(1, 960, False, 0.02) == (1001, 50_960)


# -- publisher restarts ----------------------------------------------------------------------------------------------


def test_sequence_jump_rebases_audio_continuing_output() -> None:
    s = audio()
    s.forward(100, 7_000, False, 0.0)
    s.forward(101, 7_960, False, 0.02)
    out = s.forward(40_000, 123, False, 0.5)  # new source: random origins
    assert out == (1002, 50_960 + int(0.48 * 48000))
    assert s.forward(40_001, 1083, False, 0.52) == (1003, 50_960 + int(0.48 * 48000) + 960)
    assert s.forward(102, 8_920, False, 0.53) is not None  # the old source again is yet another restart


def test_timestamp_jump_with_close_sequence_is_a_restart() -> None:
    s = video()
    s.forward(100, 0, True, 0.0)
    assert s.forward(101, 90000 * 60, False, 0.04) is None  # +60 s of media in 40 ms: restart, gate
    assert s.waiting_for_keyframe
    out = s.forward(102, 90000 * 60, True, 0.05)
    assert out is not None and out[0] == 1001 and ts_newer(out[1], 50_000)


def test_long_silence_is_not_a_restart() -> None:
    s = audio()
    s.forward(0, 0, False, 0.0)
    # 30 s of DTX silence: timestamps moved with the wall clock, offsets stay.
    assert s.forward(1, 48000 * 30, False, 30.0) == (1001, (50_000 + 48000 * 30) & M32)


def test_restart_ts_gap_is_at_least_one_tick() -> None:
    s = audio()
    s.forward(0, 0, False, 5.0)
    assert s.forward(30_000, 999, False, 5.0) == (1001, 50_001)


# -- counters --------------------------------------------------------------------------------------------------------


def test_counters() -> None:
    s = audio()
    s.forward(0, 0, False, 0.0)
    s.count(100)
    s.count(60)
    assert (s.packets_sent, s.octets_sent) == (2, 160)
    assert s.translate_nack(1001) is None  # never sent


def test_invalid_clock_rate() -> None:
    with pytest.raises(ValueError):
        OutboundStream(1, 0, is_video=False, initial_sequence=0, initial_timestamp=0)


# -- properties ------------------------------------------------------------------------------------------------------

seq_start = st.one_of(st.integers(65400, 65535), st.integers(0, M16))
ts_start = st.one_of(st.integers(2**32 - 200_000, M32), st.integers(0, M32))

OP_ARGS: dict[str, st.SearchStrategy[tuple]] = {
    "pkt": st.tuples(st.just("pkt"), st.sampled_from([0, 0, 0, 0, 1, 3]), st.booleans(), st.floats(0, 0.05)),
    "skip": st.tuples(st.just("skip"), st.floats(0, 0.05)),
    "pause": st.just(("pause",)),
    "resume": st.just(("resume",)),
    "gate": st.just(("gate",)),
    "restart": st.tuples(st.just("restart"), st.integers(3200, 62000), st.integers(0, M32)),
    "silence": st.tuples(st.just("silence"), st.floats(1.0, 30.0)),
    "swap": st.tuples(st.just("swap"), st.booleans(), st.booleans()),
    "dup": st.tuples(st.just("dup"), st.integers(1, 20)),
}


def ops(**weights: int) -> st.SearchStrategy[list[tuple]]:
    """Operation lists with the given relative frequencies (st.one_of would merge repeated branches)."""
    kinds = [k for k, w in weights.items() for _ in range(w)]
    return st.lists(st.sampled_from(kinds).flatmap(OP_ARGS.__getitem__), min_size=10, max_size=150)


ops_exact = ops(pkt=20, skip=3, pause=1, resume=2, gate=1, restart=1, silence=1)
ops_reorder = ops(pkt=20, skip=3, pause=1, resume=2, gate=1, restart=1, swap=3, dup=2)


@dataclass
class Publisher:
    """A realistic source: timestamps follow its own clock, which runs with the wall clock."""

    seq: int
    ts0: int
    rate: int
    t: float = 0.0
    gen: int = 0
    sent: list[tuple[int, int, int, bool]] = field(default_factory=list)  # (gen, seq, ts, keyframe)

    @property
    def last(self) -> int:
        return self.sent[-1][1] if self.sent else self.seq

    def next(self, keyframe: bool) -> tuple[int, int, int, bool]:
        p = (self.gen, self.seq & M16, (self.ts0 + int(self.t * self.rate)) & M32, keyframe)
        self.seq += 1
        self.sent.append(p)
        return p


@dataclass
class Model:
    """What the subscriber must see, for streams without reordering."""

    is_video: bool
    pending: bool = True  # next forwarded packet re-bases
    gated: bool = False
    paused: bool = False
    lost_since: int = 0
    prev_out: int | None = None  # unwrapped
    prev_ts: int = 0
    prev_time: float = 0.0
    ts_offset: int = 0
    epoch: list[tuple[int, int]] = field(default_factory=list)  # (seq_in, seq_out & M16) since the base

    def __post_init__(self) -> None:
        self.gated = self.is_video


def run_exact(is_video: bool, seq0: int, ts0: int, in_seq0: int, in_ts0: int, ops: list[tuple]) -> None:
    rate = 90000 if is_video else 48000
    s = OutboundStream(1, rate, is_video=is_video, initial_sequence=seq0, initial_timestamp=ts0)
    pub = Publisher(in_seq0, in_ts0, rate)
    m = Model(is_video)
    for op in ops:
        kind = op[0]
        if kind == "pkt":
            _, lost, kf, dt = op
            pub.t += dt
            pub.seq += lost
            m.lost_since += lost
            _, seq, ts, kf = pub.next(kf)
            out = s.forward(seq, ts, kf, pub.t)
            if m.paused or (m.pending and m.gated and not kf):
                assert out is None
                assert s.waiting_for_keyframe == (m.pending and m.gated)
                continue
            assert out is not None and not s.waiting_for_keyframe
            seq_out, ts_out = out
            if m.pending:
                if m.prev_out is None:
                    assert out == (seq0, ts0)
                    m.prev_out = seq0
                else:
                    assert seq_out == (m.prev_out + 1) & M16
                    gap = ts_diff(ts_out, m.prev_ts)
                    assert gap >= 1
                    assert abs(gap - max(1, int((pub.t - m.prev_time) * rate))) <= 1
                    m.prev_out += 1
                if is_video:
                    assert kf  # the first packet after a gate is a keyframe
                m.pending = m.gated = False
                m.ts_offset = (ts_out - ts) & M32
                m.epoch = []
            else:
                assert seq_out == (m.prev_out + 1 + m.lost_since) & M16
                assert (ts_out - ts) & M32 == m.ts_offset
                assert not ts_newer(m.prev_ts, ts_out)  # never backwards
                m.prev_out += 1 + m.lost_since
            m.lost_since = 0
            m.prev_ts, m.prev_time = ts_out, pub.t
            m.epoch.append((seq, seq_out))
            assert s.last_seq_out == seq_out and s.last_ts_out == ts_out
        elif kind == "skip":
            pub.t += op[1]
            _, seq, _, _ = pub.next(False)
            s.skip(seq)
        elif kind == "silence":
            pub.t += op[1]
        elif kind == "pause":
            s.pause()
            m.paused = True
        elif kind == "resume":
            s.resume()
            if m.paused and is_video:
                m.pending = m.gated = True
            m.paused = False
        elif kind == "gate":
            s.request_keyframe_gate()
            if is_video:
                m.pending = m.gated = True
        elif kind == "restart":
            pub.seq = pub.last + op[1]  # far from the last packet seen, so the jump is detectable
            pub.ts0 = op[2]
            pub.gen += 1
            m.pending = True
            m.gated = is_video
        assert s.paused == m.paused
    if not m.pending:
        for seq_in, seq_out in m.epoch:
            assert s.translate_nack(seq_out) == seq_in
        if m.prev_out is not None:
            assert s.translate_nack((m.prev_out + 1) & M16) is None  # never sent


@settings(deadline=None, max_examples=300)
@given(st.booleans(), seq_start, ts_start, seq_start, ts_start, ops_exact)
def test_property_exact_model(is_video: bool, seq0: int, ts0: int, in_seq0: int, in_ts0: int,
                              ops: list[tuple]) -> None:
    """Output numbering: +1 per forwarded packet, +1 + n after n upstream losses, +1 across any SFU drop or re-base;
    timestamps: fixed offset between re-bases, wall-clock continuation across them; video starts on keyframes."""
    run_exact(is_video, seq0, ts0, in_seq0, in_ts0, ops)


@settings(deadline=None, max_examples=300)
@given(st.booleans(), seq_start, ts_start, seq_start, ts_start, ops_reorder)
def test_property_reordering_invariants(is_video: bool, seq0: int, ts0: int, in_seq0: int, in_ts0: int,
                                        ops: list[tuple]) -> None:
    """With reordering and duplicates: no output number is ever used for two different inputs, timestamps of new
    highest outputs never go backwards, video (re)starts on a keyframe, and NACKs translate back to the input."""
    rate = 90000 if is_video else 48000
    s = OutboundStream(1, rate, is_video=is_video, initial_sequence=seq0, initial_timestamp=ts0)
    pub = Publisher(in_seq0, in_ts0, rate)
    owner: dict[int, tuple[int, int]] = {}  # unwrapped seq_out -> (generation, seq_in)
    top: int | None = None  # unwrapped highest seq_out
    top_ts = 0
    pending = True
    epoch: list[tuple[int, int]] = []

    def deliver(p: tuple[int, int, int, bool]) -> None:
        nonlocal top, top_ts, pending, epoch
        gen, seq, ts, kf = p
        out = s.forward(seq, ts, kf, pub.t)
        if out is None:
            return
        seq_out, ts_out = out
        if top is None:
            assert out == (seq0, ts0)
            ext = seq0
        else:
            ext = top + seq_diff(seq_out, top & M16)
        if pending:
            assert ext == (top + 1 if top is not None else seq0)
            assert not is_video or kf
            pending = False
            epoch = []
        assert owner.setdefault(ext, (gen, seq)) == (gen, seq)
        if top is None or ext > top:
            if top is not None:
                assert ts_newer(ts_out, top_ts) or ts_out == top_ts
            top, top_ts = ext, ts_out
        epoch.append((seq, seq_out))

    for op in ops:
        kind = op[0]
        if kind == "pkt":
            _, lost, kf, dt = op
            pub.t += dt
            pub.seq += lost
            deliver(pub.next(kf))
        elif kind == "swap":
            pub.t += 0.01
            a, b = pub.next(op[1]), pub.next(op[2])
            deliver(b)
            deliver(a)
        elif kind == "dup":
            same_gen = [p for p in pub.sent[-op[1]:] if p[0] == pub.gen]
            if same_gen:
                deliver(same_gen[0])
        elif kind == "skip":
            pub.t += op[1]
            s.skip(pub.next(False)[1])
        elif kind == "pause":
            s.pause()
        elif kind == "resume":
            if s.paused and is_video:
                pending = True
            s.resume()
        elif kind == "gate":
            s.request_keyframe_gate()
            pending = pending or is_video
        elif kind == "restart":
            pub.seq = pub.last + op[1]  # far from the last packet seen, so the jump is detectable
            pub.ts0 = op[2]
            pub.gen += 1
            pending = True
    if not pending:
        for seq_in, seq_out in epoch:
            assert s.translate_nack(seq_out) == seq_in
