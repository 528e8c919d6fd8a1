"""The petition rules (petitions.rules, .deadlines, .rates, .codes), pure: hypothesis over move sequences, instants
and petition sets, on the real working-day calendar (chinese-calendar through docket.workdays)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docket.workdays import CalendarNotCovered, WorkdayCalendar
from petitions import codes
from petitions.deadlines import bind, due_at, reminder_at
from petitions.rates import Fraction, by_month, by_month_and_handler, rates
from petitions.rules import (
    CATEGORY_CLASS,
    FROM_STATES,
    REOPEN_DAYS,
    WORKING_DAYS,
    Actor,
    Category,
    Close,
    Contact,
    ContactChannel,
    HandlerKind,
    Light,
    Outcome,
    Petition,
    PetitionClass,
    Rate,
    Rating,
    Reclassify,
    Refused,
    Reopen,
    Reply,
    Status,
    Triage,
    check_actor,
    first_deadline,
    light,
    step,
)

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkdayCalendar()
DUE = bind(CAL)


def cst(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime.combine(date(y, m, d) + timedelta(days=1), datetime.min.time(), TZ).astimezone(UTC)


# ---- deadlines --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("filed", "klass", "due"), [
    # National Day 2026: Oct 1-7 rest, Sat Oct 10 a make-up working day (调休).
    (cst(2026, 9, 30), PetitionClass.URGENT, end_of(2026, 10, 8)),
    (cst(2026, 9, 30), PetitionClass.PERSONAL, end_of(2026, 10, 10)),
    (cst(2026, 9, 30), PetitionClass.COMPLEX, end_of(2026, 10, 13)),
    (cst(2026, 10, 3), PetitionClass.URGENT, end_of(2026, 10, 8)),  # filed during the holiday
    (cst(2026, 10, 9, 23, 59), PetitionClass.URGENT, end_of(2026, 10, 10)),  # Friday night: the Saturday counts
    (cst(2026, 10, 10, 0, 0), PetitionClass.URGENT, end_of(2026, 10, 12)),  # on the make-up Saturday itself
    (cst(2026, 9, 19), PetitionClass.URGENT, end_of(2026, 9, 20)),  # Sun Sep 20 is a make-up day
    (cst(2026, 9, 24), PetitionClass.PERSONAL, end_of(2026, 9, 30)),  # Fri Sep 25 rests (Mid-Autumn)
    # Spring Festival 2026: Feb 15-23 rest, Sat Feb 14 and Sat Feb 28 make-up days.
    (cst(2026, 2, 13, 16), PetitionClass.URGENT, end_of(2026, 2, 14)),
    (cst(2026, 2, 13, 16), PetitionClass.PERSONAL, end_of(2026, 2, 25)),
    (cst(2026, 2, 13, 16), PetitionClass.COMPLEX, end_of(2026, 2, 27)),
    (cst(2026, 2, 27), PetitionClass.URGENT, end_of(2026, 2, 28)),
    (cst(2026, 2, 14), PetitionClass.URGENT, end_of(2026, 2, 24)),
    # National Day 2025: Oct 1-8 rest, Sun Sep 28 and Sat Oct 11 make-up days.
    (cst(2025, 9, 27), PetitionClass.URGENT, end_of(2025, 9, 28)),
    (cst(2025, 9, 30), PetitionClass.COMPLEX, end_of(2025, 10, 14)),
    # A UTC instant late on Sep 30 is already Oct 1 in the court's zone.
    (datetime(2026, 9, 30, 16, 30, tzinfo=UTC), PetitionClass.PERSONAL, end_of(2026, 10, 10)),
])
def test_deadlines_around_holidays_and_make_up_days(filed: datetime, klass: PetitionClass, due: datetime) -> None:
    assert due_at(CAL, filed, WORKING_DAYS[klass]) == due
    assert first_deadline(Category.SUGGESTION, filed, DUE, klass).due_at == due


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(list(PetitionClass)))
def test_deadline_counts_exactly_n_working_days_after_the_filing_day(filed: datetime, klass: PetitionClass) -> None:
    n = WORKING_DAYS[klass]
    due = due_at(CAL, filed, n)
    last = (due - timedelta(seconds=1)).astimezone(TZ).date()
    assert due.astimezone(TZ).time() == datetime.min.time()  # the end of a court-local day
    assert CAL.is_workday(last)
    assert CAL.workdays_between(filed, last) == n
    assert due > filed
    remind = reminder_at(CAL, filed, n)
    assert filed <= remind <= due and due - remind <= timedelta(days=1)
    assert remind == max(filed, due - timedelta(days=1))


def test_an_uncovered_year_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarNotCovered):
        due_at(CAL, cst(2026, 12, 30), 5)


def test_every_category_has_a_class() -> None:
    assert set(CATEGORY_CLASS) == set(Category)
    assert sorted(WORKING_DAYS.values()) == [1, 3, 5]


# ---- the state machine ------------------------------------------------------------------------------------

FILED = cst(2026, 3, 2, 9)  # a Monday
moves = st.one_of(
    st.builds(Triage, st.sampled_from(["h1", "h2"]), st.sampled_from(list(HandlerKind))),
    st.builds(Reclassify, st.sampled_from(list(PetitionClass)), st.sampled_from(["", "more parties involved"])),
    st.builds(Contact, st.sampled_from(list(ContactChannel)), st.sampled_from(["", "called, explained next steps"])),
    st.builds(Reply, st.sampled_from(list(Outcome)), st.sampled_from(["", "paid out the enforcement money"]),
              st.booleans()),
    st.builds(Rate, st.sampled_from(list(Rating))),
    st.builds(Reopen, st.sampled_from(["", "the money did not arrive"])),
    st.just(Close()),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(Category)),
       st.lists(st.tuples(moves, st.integers(min_value=0, max_value=6 * 24 * 60)), max_size=25))
def test_random_histories_keep_the_invariants(category: Category, history: list) -> None:
    p = first_deadline(category, FILED, DUE)
    now = FILED
    for move, minutes in history:
        now += timedelta(minutes=minutes)
        before = p
        try:
            p = step(p, move, now, DUE)
        except Refused as refused:
            assert refused.code and str(refused)
            assert p is before
            continue
        assert before.status in FROM_STATES[type(move)]
        # the deadline always follows from the cycle's start and the class
        assert p.due_at == DUE(p.cycle_started_at, WORKING_DAYS[p.klass])
        assert p.reopen_count <= 1
        if p.status in (Status.REPLIED, Status.RATED, Status.CLOSED):
            assert p.resolution and p.replied_at is not None and p.outcome is not None
        if p.status is Status.CLOSED:
            assert p.closed_at == now
        if p.status is not Status.FILED:
            assert p.handler_id is not None
        if p.status in (Status.CONTACTED, Status.REPLIED, Status.RATED):
            assert p.first_contact_at is not None
        # the light is exactly its definition
        lit = light(p, now)
        if p.replied_at is None:
            assert lit is (Light.RED if now >= p.due_at else Light.GREY)
        elif p.replied_at >= p.due_at:
            assert lit is Light.RED
        else:
            assert lit is (Light.BLUE if p.status is Status.REPLIED else Light.GREEN)


def _replied(at: datetime) -> Petition:
    p = first_deadline(Category.ENFORCEMENT, FILED, DUE)
    p = step(p, Triage("h1", HandlerKind.JUDGE), FILED, DUE)
    p = step(p, Contact(ContactChannel.PHONE, "called"), FILED + timedelta(hours=1), DUE)
    return step(p, Reply(Outcome.RESOLVED, "paid", True), at, DUE)


def test_never_closed_without_a_resolution() -> None:
    p = first_deadline(Category.ENFORCEMENT, FILED, DUE)
    for state_move in (None, Triage("h1", HandlerKind.JUDGE), Contact(ContactChannel.PHONE, "called")):
        if state_move is not None:
            p = step(p, state_move, FILED, DUE)
        with pytest.raises(Refused) as refused:
            step(p, Close(), FILED, DUE)
        assert refused.value.code == "wrong_state"
    with pytest.raises(Refused) as refused:
        step(p, Reply(Outcome.RESOLVED, "  ", True), FILED, DUE)
    assert refused.value.code == "resolution_required"
    with pytest.raises(Refused) as refused:
        step(p, Reply(Outcome.RESOLVED, "paid", False), FILED, DUE)
    assert refused.value.code == "reply_required"
    # a reopened petition's earlier resolution does not let it close: it needs a new reply
    reopened = step(_replied(FILED + timedelta(hours=2)), Reopen("not paid"), FILED + timedelta(days=1), DUE)
    assert reopened.status is Status.ASSIGNED and reopened.resolution is None
    with pytest.raises(Refused):
        step(reopened, Close(), FILED + timedelta(days=1), DUE)


def test_reopen_once_within_the_window_with_a_fresh_deadline() -> None:
    replied_at = FILED + timedelta(hours=2)
    p = step(_replied(replied_at), Rate(Rating.NOT_SATISFIED), replied_at, DUE)
    late = replied_at + timedelta(days=REOPEN_DAYS)
    with pytest.raises(Refused) as refused:
        step(p, Reopen("still unpaid"), late, DUE)
    assert refused.value.code == "reopen_expired"
    at = late - timedelta(seconds=1)
    again = step(p, Reopen("still unpaid"), at, DUE)
    assert again.cycle_started_at == at and again.due_at == DUE(at, WORKING_DAYS[again.klass])
    assert again.handler_id == "h1" and again.rating is None and again.reopen_count == 1
    again = step(step(again, Contact(ContactChannel.VIDEO, "video call"), at, DUE),
                 Reply(Outcome.RESOLVED, "paid now", True), at, DUE)
    with pytest.raises(Refused) as refused:
        step(again, Reopen("once more"), at, DUE)
    assert refused.value.code == "reopen_used"


def test_reclassification_needs_a_reason_and_recomputes_from_the_filing() -> None:
    p = first_deadline(Category.SUGGESTION, FILED, DUE)
    assert p.klass is PetitionClass.COMPLEX
    with pytest.raises(Refused) as refused:
        step(p, Reclassify(PetitionClass.URGENT, " "), FILED, DUE)
    assert refused.value.code == "reason_required"
    later = FILED + timedelta(days=1)
    q = step(p, Reclassify(PetitionClass.URGENT, "a child is at risk"), later, DUE)
    assert q.due_at == DUE(FILED, 1) == end_of(2026, 3, 3)


def test_who_may_move() -> None:
    check_actor(Rate(Rating.SATISFIED), Actor.CITIZEN)
    for move, actor in ((Rate(Rating.SATISFIED), Actor.HANDLER), (Triage("h", HandlerKind.JUDGE), Actor.CITIZEN),
                        (Reply(Outcome.RESOLVED, "x", True), Actor.CLERK), (Close(), Actor.CITIZEN)):
        with pytest.raises(Refused) as refused:
            check_actor(move, actor)
        assert refused.value.code == "not_allowed"


# ---- rates ------------------------------------------------------------------------------------------------


@st.composite
def petitions_in_2026(draw: st.DrawFn) -> Petition:
    filed = draw(st.datetimes(min_value=datetime(2026, 1, 5), max_value=datetime(2026, 11, 20),
                              timezones=st.just(UTC)))
    p = first_deadline(draw(st.sampled_from(list(Category))), filed, DUE)
    p = step(p, Triage(draw(st.sampled_from(["h1", "h2", "h3"])), HandlerKind.JUDGE), filed, DUE)
    t = filed + timedelta(hours=draw(st.integers(0, 200)))
    if draw(st.booleans()):
        p = step(p, Contact(ContactChannel.PHONE, "called"), t, DUE)
        if draw(st.booleans()):
            t += timedelta(hours=draw(st.integers(0, 100)))
            p = step(p, Reply(draw(st.sampled_from(list(Outcome))), "done", True), t, DUE)
            if draw(st.booleans()):
                p = step(p, Rate(draw(st.sampled_from(list(Rating)))), t, DUE)
    return p


@settings(max_examples=100, deadline=None)
@given(st.lists(petitions_in_2026(), max_size=30))
def test_rates_follow_their_definitions(ps: list[Petition]) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    r = rates(ps, now)
    assert r.petitions == len(ps)
    measurable = [p for p in ps if p.first_contact_at is not None or now >= p.due_at]
    assert r.response == Fraction(sum(p.first_contact_at is not None and p.first_contact_at < p.due_at
                                      for p in measurable), len(measurable))
    answered = [p for p in ps if p.replied_at is not None]
    assert r.resolution == Fraction(sum(p.outcome is Outcome.RESOLVED for p in answered), len(answered))
    rated = [p for p in ps if p.rating is not None]
    assert r.satisfaction == Fraction(sum(p.rating is not Rating.NOT_SATISFIED for p in rated), len(rated))
    for f in (r.response, r.resolution, r.satisfaction):
        assert (f.rate is None) == (f.denominator == 0)
        assert f.rate is None or 0 <= f.rate <= 1
    # per handler within a month adds up to the month
    months = by_month(ps, now, TZ)
    split = by_month_and_handler(ps, now, TZ)
    for month, total in months.items():
        parts = [v for (m, _h), v in split.items() if m == month]
        assert sum(v.petitions for v in parts) == total.petitions
        assert sum(v.satisfaction.numerator for v in parts) == total.satisfaction.numerator
        assert sum(v.response.denominator for v in parts) == total.response.denominator


# ---- numbers and status codes -----------------------------------------------------------------------------


def test_status_codes_are_unguessable_and_readable() -> None:
    assert codes.CODE_BITS >= 40
    seen = {codes.new_status_code() for _ in range(2000)}
    assert len(seen) == 2000
    assert all(set(c) <= set(codes.ALPHABET) for c in seen)
    assert not set("01OIL") & set(codes.ALPHABET)
    assert codes.format_number(2026, 123) == "2026-000123"
    assert codes.parse_number(" 2026-000123 ") == (2026, 123)
    assert codes.parse_number("2026-12") is None


@given(st.text(alphabet=codes.ALPHABET, min_size=codes.CODE_LENGTH, max_size=codes.CODE_LENGTH))
def test_a_code_is_found_however_it_is_typed(code: str) -> None:
    key = b"k" * 32
    stored = codes.code_hash(key, "p1", code)
    for typed in (code, codes.display_code(code), codes.display_code(code).lower(), f" {code[:3]} {code[3:]} "):
        assert codes.code_matches(key, "p1", typed, stored)
    assert not codes.code_matches(key, "p2", code, stored)  # bound to its petition
    assert not codes.code_matches(b"x" * 32, "p1", code, stored)  # and to the key
    assert not codes.code_matches(key, "p1", code[:-1], stored)
