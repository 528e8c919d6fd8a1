"""Dominant speaker from RFC 6464 levels: windowed means, threshold, no flapping on coughs, silence releases."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.speakers import SILENCE, SpeakerChange, SpeakerDetector

Level = Callable[[float], int | None]  # time -> level of the packet sent then (None: no packet, e.g. DTX)


def run(det: SpeakerDetector, voices: dict[str, Level], until: float, start: float = 0.0,
        voice_flag: bool = False) -> list[tuple[float, str | None]]:
    """Packets every 20 ms per participant, `update` every 100 ms; returns (time, new speaker) changes."""
    changes: list[tuple[float, str | None]] = []
    for tick in range(round(start * 50), round(until * 50)):
        now = tick / 50
        for pid, level in voices.items():
            lv = level(now)
            if lv is not None:
                det.add(pid, lv, voice_flag and lv < SILENCE, now)
        if tick % 5 == 0:
            change = det.update(now)
            if change is not None:
                changes.append((now, change.participant_id))
    return changes


def const(level: int | None, start: float = 0.0, stop: float = 1e9, otherwise: int | None = SILENCE) -> Level:
    return lambda t: level if start <= t < stop else otherwise


def test_single_speaker_takes_the_floor_then_silence_releases_it() -> None:
    det = SpeakerDetector()
    changes = run(det, {"a": const(30, 1.0, 4.0)}, 7.0)
    assert [p for _, p in changes] == ["a", None]
    took, released = changes[0][0], changes[1][0]
    assert 1.2 <= took <= 1.5  # half a window of speech, then at once: nobody else held the floor
    assert 5.0 <= released <= 5.4  # `hold` (1 s) of silence after the window emptied
    assert det.current is None


def test_quiet_participant_never_takes_the_floor() -> None:
    det = SpeakerDetector(threshold_dbov=50)
    assert run(det, {"a": const(60)}, 3.0) == []
    assert det.levels(3.0) == {"a": 60}


def test_cough_does_not_steal_the_floor() -> None:
    det = SpeakerDetector()
    voices = {"a": const(35), "b": const(5, 3.0, 3.3)}  # b coughs, loudly, for 0.3 s
    assert [p for _, p in run(det, voices, 6.0)] == ["a"]


def test_cough_from_a_dtx_sender_does_not_steal_the_floor() -> None:
    det = SpeakerDetector()
    voices = {"a": const(35), "b": const(5, 3.0, 3.25, otherwise=None)}  # nothing sent outside the cough
    assert [p for _, p in run(det, voices, 6.0)] == ["a"]


def test_louder_sustained_speaker_takes_over_after_half_hold() -> None:
    det = SpeakerDetector(hold=1.0)
    changes = run(det, {"a": const(35), "b": const(20, 3.0)}, 6.0)
    assert [p for _, p in changes] == ["a", "b"]
    assert 3.6 <= changes[1][0] <= 4.0  # eligible after ~0.25 s, then louder for hold/2


def test_speaker_keeps_floor_through_short_pauses() -> None:
    det = SpeakerDetector()
    talk = lambda t: 30 if (t % 1.0) < 0.8 else SILENCE  # noqa: E731 - 200 ms pause every second
    assert [p for _, p in run(det, {"a": talk}, 6.0)] == ["a"]


def test_current_speaker_wins_ties() -> None:
    det = SpeakerDetector()
    assert [p for _, p in run(det, {"b": const(30), "a": const(30, 2.0)}, 5.0)] == ["b"]


def test_silent_current_hands_over_to_another_speaker() -> None:
    det = SpeakerDetector()
    changes = run(det, {"a": const(30, 0.0, 2.0), "b": const(40, 2.0)}, 5.0)
    assert [p for _, p in changes] == ["a", "b"]


def test_voice_flag_is_trusted_only_from_senders_that_set_it() -> None:
    det = SpeakerDetector()
    det.add("vad", 30, True, 0.0)
    for i in range(1, 30):
        det.add("vad", 30, False, i * 0.02)  # loud but flagged as not voice: noise
        det.add("novad", 30, False, i * 0.02)  # never flags voice: level alone counts
    assert det.levels(0.6) == {"vad": SILENCE, "novad": 30}
    assert det.update(0.6) == SpeakerChange("novad")


def test_levels_are_window_means_and_age_out() -> None:
    det = SpeakerDetector(window=0.5)
    for i in range(25):
        det.add("a", 20 if i % 2 else 40, False, i * 0.02)
    assert det.levels(0.49) == {"a": 30}
    assert det.levels(1.2) == {"a": SILENCE}
    det.add("a", 200, False, 1.3)  # clamped to 127
    det.add("b", -3, False, 1.3)  # clamped to 0
    assert det.levels(1.3) == {"a": SILENCE, "b": 0}


def test_forget_current_speaker_announces_none() -> None:
    det = SpeakerDetector()
    run(det, {"a": const(30)}, 2.0)
    assert det.current == "a"
    det.forget("a")
    assert det.update(2.0) == SpeakerChange(None)
    assert det.update(2.1) is None
    det.forget("nobody")


def test_forget_candidate() -> None:
    det = SpeakerDetector()
    run(det, {"a": const(35), "b": const(20, 2.0)}, 2.4)
    det.forget("b")
    assert [p for _, p in run(det, {"a": const(35)}, 4.0, start=2.4)] == []
    assert det.current == "a"


def test_invalid_window() -> None:
    with pytest.raises(ValueError):
        SpeakerDetector(window=0)


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 127), st.booleans(), st.integers(0, 60),
                          st.booleans(), st.integers(0, 30)), max_size=300))
def test_property_changes_are_real_and_consistent(events: list[tuple[str, int, bool, int, bool, int]]) -> None:
    """A change is only reported when the speaker actually changes, only to a participant that is present and was
    heard at or above the threshold within the window, and `levels` stays within 0..127."""
    det = SpeakerDetector()
    ms = 0
    current: str | None = None
    heard: dict[str, list[tuple[int, int]]] = {}
    for pid, level, voice, dt, forget, tick in events:
        ms += dt
        if forget and tick == 0:
            det.forget(pid)
            heard.pop(pid, None)
            if current == pid:
                current = None
                assert det.update(ms / 1000) is not None
            continue
        det.add(pid, level, voice, ms / 1000)
        heard.setdefault(pid, []).append((ms, level))
        if tick < 10:
            change = det.update(ms / 1000)
            if change is not None:
                assert change.participant_id != current
                current = change.participant_id
                if current is not None:
                    recent = [lv for t, lv in heard.get(current, []) if t > ms - 600]
                    assert recent and min(recent) <= det.threshold_dbov
            assert det.current == current
        assert all(0 <= v <= SILENCE for v in det.levels(ms / 1000).values())
