"""The panel rule (hearing.staff_auth.panel_problem), pure: a panel is the court's judges only — enabled accounts
with a judicial role — and the refusal names the first member who is not one."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from docket.staff import StaffAccount, StaffRole
from hearing.staff_auth import JUDICIAL, panel_problem

PEOPLE = [f"p{i}" for i in range(6)]
accounts = st.lists(st.builds(
    lambda person, roles, disabled, n: StaffAccount(f"s{n}", f"u{n}", "n", person, frozenset(roles), "h",
                                                    disabled=disabled),
    st.sampled_from([*PEOPLE, None]), st.sets(st.sampled_from(list(StaffRole)), min_size=1), st.booleans(),
    st.integers(0, 10**6)), max_size=8)


@given(panel=st.lists(st.sampled_from(PEOPLE), max_size=5), staff=accounts)
def test_the_first_non_judge_is_named(panel: list[str], staff: list[StaffAccount]) -> None:
    judges = {a.person_id for a in staff if a.person_id and not a.disabled and a.roles & JUDICIAL}
    expected = next((i for i, p in enumerate(panel, start=1) if p not in judges), None)
    assert panel_problem(panel, staff) == expected


def test_a_clerk_or_a_disabled_judge_is_no_panel() -> None:
    clerk = StaffAccount("s1", "c", "c", "p1", frozenset({StaffRole.CLERK}), "h")
    judge = StaffAccount("s2", "j", "j", "p2", frozenset({StaffRole.JUDGE, StaffRole.CLERK}), "h")
    gone = StaffAccount("s3", "g", "g", "p3", frozenset({StaffRole.PRESIDING_JUDGE}), "h", disabled=True)
    assert panel_problem(["p1"], [clerk, judge]) == 1
    assert panel_problem(["p2", "p1"], [clerk, judge]) == 2
    assert panel_problem(["p2"], [clerk, judge]) is None
    assert panel_problem(["p3"], [gone]) == 1
    assert panel_problem([], []) is None
