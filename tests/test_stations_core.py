"""The pure cores of connect-a-judge, checked with hypothesis: opening hours, queue moves, presence and deadlines,
queue order, the duty roster and the statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stations.hours import DAYS, BadHours, OpeningHours, is_open
from stations.queue import FRESH, MOVES, TERMINAL, Move, Presence, Waiting, due_move, order, position, presence, target
from stations.roster import Shift, courts_of, next_shift_start, on_duty
from stations.stats import CallFacts, call_stats, percentile
from stations.vocab import CallState, DutyStatus

TZ = ZoneInfo("Asia/Shanghai")
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@st.composite
def hours_text(draw: st.DrawFn) -> str:
    clauses = []
    for day in draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)):
        cuts = sorted(draw(st.lists(st.integers(0, 1440), min_size=2, max_size=6, unique=True)))
        spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
        clauses.append(f"{day} " + ",".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in spans))
    return "; ".join(clauses)


@given(hours_text(), moments)
def test_hours_round_trip_and_agree_with_a_brute_force_reading(text: str, at: datetime) -> None:
    hours = OpeningHours.parse(text)
    assert OpeningHours.parse(hours.text()) == hours
    local = at.astimezone(TZ)
    minute = local.hour * 60 + local.minute
    expected = False
    for clause in text.split("; "):
        day, spans = clause.split(" ")
        if DAYS.index(day) != local.weekday():
            continue
        for span in spans.split(","):
            a, b = (int(x[:2]) * 60 + int(x[3:]) for x in span.split("-"))
            expected |= a <= minute < b
    assert hours.open_at(at, TZ) is expected


def test_hours_in_words() -> None:
    monday_0900 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert is_open("mon-fri 08:30-17:30", monday_0900, TZ)
    assert not is_open("sat-sun 08:30-17:30", monday_0900, TZ)
    assert is_open("fri-mon 08:30-09:01", monday_0900, TZ)  # wraps round the week
    assert is_open(None, monday_0900, TZ)
    for bad in ("", "mon", "moon 08:00-09:00", "mon 09:00-08:00", "mon 08:00-10:00,09:00-11:00", "mon 8-9"):
        with pytest.raises(BadHours):
            OpeningHours.parse(bad)


@given(st.sampled_from(list(CallState)), st.sampled_from(list(Move)))
def test_moves_follow_the_table_and_terminal_states_stay_put(state: CallState, move: Move) -> None:
    sources, to = MOVES[move]
    assert target(state, move) == (to if state in sources else None)
    if state in TERMINAL:
        assert target(state, move) is None


def test_only_a_waiting_call_can_be_accepted() -> None:
    assert [s for s in CallState if target(s, Move.ACCEPT)] == [CallState.WAITING]


@given(moments, st.integers(0, 3600), st.integers(0, 3600), st.integers(1, 600), st.integers(1, 120))
def test_time_forces_at_most_one_move_on_a_waiting_call(queued: datetime, waited: int, quiet: int, timeout: int,
                                                        grace: int) -> None:
    now = queued + timedelta(seconds=waited)
    last_seen = now - timedelta(seconds=min(quiet, waited))
    move = due_move(CallState.WAITING, queued, last_seen, now, pickup_timeout=timedelta(seconds=timeout),
                    grace=timedelta(seconds=grace))
    gone = presence(last_seen, now, timedelta(seconds=grace)) is Presence.GONE
    assert move == (Move.ABANDON if gone else Move.GIVE_UP if waited >= timeout else None)
    assert due_move(CallState.IN_CALL, queued, last_seen, now, pickup_timeout=timedelta(seconds=timeout),
                    grace=timedelta(seconds=grace)) is None


def test_presence_keeps_a_quiet_station_for_the_grace_window() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    grace = timedelta(seconds=30)
    assert presence(t, t + FRESH, grace) is Presence.PRESENT
    assert presence(t, t + FRESH + grace, grace) is Presence.RECONNECTING
    assert presence(t, t + FRESH + grace + timedelta(seconds=1), grace) is Presence.GONE


@given(st.lists(st.tuples(st.text("abcdef", min_size=1, max_size=4), st.integers(0, 100)), unique_by=lambda x: x[0]))
def test_queue_order_is_first_come_first_served(items: list[tuple[str, int]]) -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    calls = [Waiting(i, t + timedelta(seconds=s)) for i, s in items]
    ordered = order(calls)
    assert [c.queued_at for c in ordered] == sorted(c.queued_at for c in calls)
    for n, c in enumerate(ordered, start=1):
        assert position(calls, c.id) == n
    assert position(calls, "zzzzz") is None


def test_the_roster_counts_shifts_and_statuses() -> None:
    t = datetime(2026, 12, 7, 2, tzinfo=UTC)
    h = timedelta(hours=1)
    shifts = [Shift("1", "A", "j1", "judge", t - h, t + h), Shift("2", "A", "j2", "judge", t - h, t + h),
              Shift("3", "B", "j3", "judge", t - h, t + h), Shift("4", "A", "j4", "judge", t + 2 * h, t + 3 * h)]
    statuses = {"j2": DutyStatus.AWAY}
    assert on_duty(shifts, statuses, "A", t) == {"j1"}
    assert on_duty(shifts, {"j1": DutyStatus.BUSY}, "A", t, available_only=True) == {"j2"}
    assert courts_of(shifts, "j3", t) == {"B"}
    assert next_shift_start(shifts, "A", t) == t + 2 * h
    assert next_shift_start(shifts, "B", t) is None
    assert on_duty(shifts, {}, "A", t + h) == set()  # a shift's end is not part of it


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1), st.floats(1, 100))
def test_percentile_is_a_value_that_was_seen(values: list[float], p: float) -> None:
    got = percentile(values, p)
    assert got in values
    assert sum(v <= got for v in values) >= p / 100 * len(values)  # type: ignore[operator]


def test_call_stats() -> None:
    t = datetime(2026, 12, 7, tzinfo=UTC)
    s = timedelta(seconds=1)
    calls = [CallFacts("s1", "A", "ended", t, t + 10 * s, t + 70 * s),
             CallFacts("s1", "A", "ended", t, t + 30 * s, t + 150 * s),
             CallFacts("s2", "A", "unanswered", t, None, None),
             CallFacts("s2", "B", "waiting", t, None, None)]
    out = call_stats(calls, t + 1000 * s)
    assert out["total"] == {"calls": 4, "answered": 2, "pickup_rate": round(2 / 3, 4), "wait_p50_seconds": 10.0,
                            "wait_p90_seconds": 30.0, "minutes": 3.0}
    assert out["by_station"]["s2"]["pickup_rate"] == 0.0  # type: ignore[index]
    assert out["by_court"]["B"]["pickup_rate"] is None  # type: ignore[index]


def test_every_stations_refusal_code_has_words_in_both_languages() -> None:
    """Each code stations/ can answer with has an `err_<code>` entry in web/js/i18n.js (zh and en)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    source = "".join((root / "stations" / f).read_text(encoding="utf-8") for f in ("errors.py", "service.py",
                                                                                    "store_sql.py", "api.py",
                                                                                    "sharing_sql.py"))
    codes = set(re.findall(r'StationsRefused\(\s*\d+,\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', source)) | {"call_taken", "call_state"}
    from tests.test_error_codes import translations

    strings = translations()  # one table for every server code (tests/test_error_codes.py)
    for code in sorted(codes):
        assert f"err_{code}" in strings["zh"] and f"err_{code}" in strings["en"], code
    assert len(codes) > 15
