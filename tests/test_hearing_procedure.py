"""The procedure state machine: the graph, who may move it, and random sequences of attempts (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, may
from hearing.procedure import (
    INITIAL_STATE,
    TERMINAL_STATES,
    TRANSITIONS,
    Moved,
    RefusalCode,
    Refused,
    Transition,
    attempt,
    available,
    reachable,
)
from hearing.roles import Role

S = ProcedureState
T = Transition
K = HearingKind


def test_the_graph() -> None:
    assert reachable() == set(ProcedureState)
    assert reachable(S.RECORD_SEALED) == {S.RECORD_SEALED}
    assert TERMINAL_STATES == {S.RECORD_SEALED}
    edges = {(s, r.target) for r in TRANSITIONS.values() for s in r.sources}
    assert edges == {
        (S.SCHEDULED, S.LOBBY_OPEN), (S.LOBBY_OPEN, S.IN_SESSION), (S.IN_SESSION, S.RECESS),
        (S.RECESS, S.IN_SESSION), (S.IN_SESSION, S.CLOSED), (S.RECESS, S.CLOSED), (S.CLOSED, S.RECORD_SEALED),
    }


def test_a_trial_from_scheduled_to_sealed() -> None:
    steps = [
        (Role.CLERK, T.OPEN_LOBBY, S.LOBBY_OPEN),
        (Role.PRESIDING_JUDGE, T.START_SESSION, S.IN_SESSION),
        (Role.PRESIDING_JUDGE, T.RECESS, S.RECESS),
        (Role.PRESIDING_JUDGE, T.RESUME, S.IN_SESSION),
        (Role.PRESIDING_JUDGE, T.CLOSE, S.CLOSED),
        (Role.PRESIDING_JUDGE, T.SEAL, S.RECORD_SEALED),
    ]
    state = INITIAL_STATE
    for role, transition, target in steps:
        outcome = attempt(K.TRIAL, state, role, transition)
        assert outcome == Moved(transition, state, target)
        state = target


@pytest.mark.parametrize(("role", "transition", "state"), [
    (Role.CLERK, T.START_SESSION, S.LOBBY_OPEN),  # the clerk opens the lobby, the judge opens the session
    (Role.JUDGE, T.CLOSE, S.IN_SESSION),  # an associate judge of a trial panel does not run it
    (Role.PLAINTIFF, T.RECESS, S.IN_SESSION),
    (Role.OBSERVER, T.OPEN_LOBBY, S.SCHEDULED),
    (Role.CLERK, T.SEAL, S.CLOSED),
])
def test_refusals_in_a_trial(role: Role, transition: Transition, state: ProcedureState) -> None:
    outcome = attempt(K.TRIAL, state, role, transition)
    assert isinstance(outcome, Refused) and outcome.code is RefusalCode.NOT_PERMITTED
    assert role.value.replace("_", " ") in outcome.reason


def test_only_the_presiding_judge_seals_an_interview_though_a_judge_runs_it() -> None:
    assert isinstance(attempt(K.INTERVIEW, S.IN_SESSION, Role.JUDGE, T.CLOSE), Moved)
    refused = attempt(K.INTERVIEW, S.CLOSED, Role.JUDGE, T.SEAL)
    assert isinstance(refused, Refused) and refused.code is RefusalCode.NOT_PERMITTED
    assert isinstance(attempt(K.INTERVIEW, S.CLOSED, Role.PRESIDING_JUDGE, T.SEAL), Moved)


def test_the_mediator_leads_and_seals_a_mediation_but_not_a_trial() -> None:
    assert available(K.MEDIATION, S.IN_SESSION, Role.MEDIATOR) == {T.RECESS, T.CLOSE}
    assert isinstance(attempt(K.MEDIATION, S.CLOSED, Role.MEDIATOR, T.SEAL), Moved)
    assert available(K.TRIAL, S.IN_SESSION, Role.MEDIATOR) == frozenset()


def test_wrong_state_terminal_and_unknown() -> None:
    wrong = attempt(K.TRIAL, S.SCHEDULED, Role.PRESIDING_JUDGE, T.START_SESSION)
    assert isinstance(wrong, Refused) and wrong.code is RefusalCode.WRONG_STATE
    assert wrong.reason == "cannot start session from scheduled"
    sealed = attempt(K.TRIAL, S.RECORD_SEALED, Role.PRESIDING_JUDGE, T.RESUME)
    assert isinstance(sealed, Refused) and sealed.code is RefusalCode.TERMINAL
    for bad in (("trial", "scheduled", "usher", "open_lobby"), ("trial", "limbo", "clerk", "open_lobby"),
                ("tribunal", "scheduled", "clerk", "open_lobby"), ("trial", "scheduled", "clerk", "adjourn")):
        outcome = attempt(*bad)
        assert isinstance(outcome, Refused) and outcome.code is RefusalCode.UNKNOWN


def test_every_kind_can_be_taken_to_sealed_by_its_staff() -> None:
    for kind in HearingKind:
        state = INITIAL_STATE
        for transition in (T.OPEN_LOBBY, T.START_SESSION, T.RECESS, T.RESUME, T.CLOSE, T.SEAL):
            movers = [r for r in Role if isinstance(attempt(kind, state, r, transition), Moved)]
            assert movers, (kind, state, transition)
            state = TRANSITIONS[transition].target
        assert state is S.RECORD_SEALED


def test_exhaustive_moves_need_the_policy_and_the_transition_rule() -> None:
    for kind, state, role, transition in itertools.product(HearingKind, ProcedureState, Role, Transition):
        outcome = attempt(kind, state, role, transition)
        rule = TRANSITIONS[transition]
        permitted = role in rule.actors and may(role, kind, state, Action.CHANGE_PROCEDURE_STATE)
        if isinstance(outcome, Moved):
            assert state in rule.sources and permitted and outcome.target is rule.target
        elif state in TERMINAL_STATES:
            assert outcome.code is RefusalCode.TERMINAL
        elif state not in rule.sources:
            assert outcome.code is RefusalCode.WRONG_STATE
        else:
            assert not permitted and outcome.code is RefusalCode.NOT_PERMITTED


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(HearingKind),
       steps=st.lists(st.tuples(st.sampled_from(Role), st.sampled_from(Transition)), max_size=40))
def test_random_attempts_follow_the_rules(kind: HearingKind, steps: list[tuple[Role, Transition]]) -> None:
    state = INITIAL_STATE
    possible = reachable()
    for role, transition in steps:
        before = state
        outcome = attempt(kind, state, role, transition)
        if isinstance(outcome, Moved):
            assert before not in TERMINAL_STATES, "the sealed record never moves"
            assert role in TRANSITIONS[transition].actors
            assert may(role, kind, before, Action.CHANGE_PROCEDURE_STATE)
            assert outcome.source is before and before in TRANSITIONS[transition].sources
            state = outcome.target
        else:
            assert outcome.reason
        assert state in possible
        if before in TERMINAL_STATES:
            assert state is before


# Only leads (and the clerk, for the lobby) ever move: drive with everyone, including people who may not.
@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(HearingKind), roles=st.lists(st.sampled_from(Role), min_size=1, max_size=60))
def test_greedy_actors_reach_sealed_only_through_leads(kind: HearingKind, roles: list[Role]) -> None:
    state = INITIAL_STATE
    for role in roles:
        options = sorted(available(kind, state, role))
        if not options:
            continue
        assert role in {Role.PRESIDING_JUDGE, Role.JUDGE, Role.MEDIATOR, Role.CLERK}
        moved = attempt(kind, state, role, options[0])
        assert isinstance(moved, Moved)
        state = moved.target
    assert state in reachable()
