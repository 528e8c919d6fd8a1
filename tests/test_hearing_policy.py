"""The permission policy, checked exhaustively over every role × kind × state against the court's invariants."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from hearing import permissions_doc
from hearing.kinds import LIVE_STATES, PUBLIC_KINDS, HearingKind, ProcedureState
from hearing.policy import RULES, Action, allowed, may
from hearing.roles import ROLE_GRANTS, Role
from tests.conftest import ROOT

A = Action
S = ProcedureState
ALL = list(itertools.product(Role, HearingKind, ProcedureState))
PANEL = {Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK}
STAFF = {Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK, Role.MEDIATOR}
PUBLISH = {A.PUBLISH_AUDIO, A.PUBLISH_VIDEO}
MODERATING = {A.ADMIT_DENY, A.MUTE_OTHERS, A.REMOVE, A.START_PAUSE_RECORDING, A.OPEN_PRIVATE_ROOM,
              A.CHANGE_PROCEDURE_STATE, A.GIVE_FLOOR}
RECORDED_IN_FULL = {HearingKind.TRIAL, HearingKind.INTERVIEW, HearingKind.ARRAIGNMENT, HearingKind.ASYNC_TRIAL}


def test_the_table_covers_every_kind_and_uses_only_known_roles() -> None:
    assert set(RULES) == set(HearingKind)
    for roles in RULES.values():
        assert set(roles) <= set(Role)


def test_deliberation_is_unreachable_for_anyone_off_the_panel() -> None:
    for role, state in itertools.product(Role, ProcedureState):
        if role not in PANEL:
            assert allowed(role, HearingKind.DELIBERATION, state) == frozenset(), (role, state)
    assert may(Role.JUDGE, HearingKind.DELIBERATION, S.IN_SESSION, A.PUBLISH_AUDIO)
    assert may(Role.CLERK, HearingKind.DELIBERATION, S.IN_SESSION, A.SUBSCRIBE)


@pytest.mark.parametrize(("kind", "state"), list(itertools.product(HearingKind, ProcedureState)))
def test_observers_only_watch_and_only_public_hearings_in_session(kind: HearingKind, state: ProcedureState) -> None:
    got = allowed(Role.OBSERVER, kind, state)
    assert got <= {A.SUBSCRIBE}
    expected = {A.SUBSCRIBE} if kind in PUBLIC_KINDS and state is S.IN_SESSION else set()
    assert got == expected
    for private in (HearingKind.MEDIATION, HearingKind.DELIBERATION, HearingKind.INTERVIEW):
        assert not allowed(Role.OBSERVER, private, state)


def test_no_media_outside_the_open_room() -> None:
    for role, kind, state in ALL:
        if state not in LIVE_STATES:
            assert not allowed(role, kind, state) & (PUBLISH | {A.SUBSCRIBE}), (role, kind, state)


def test_in_recess_parties_are_not_heard() -> None:
    speakers_in_recess = STAFF | {Role.INTERPRETER, Role.OFFICER}
    for role, kind in itertools.product(Role, HearingKind):
        if allowed(role, kind, S.RECESS) & PUBLISH:
            assert role in speakers_in_recess, (role, kind)


def test_witnesses_speak_only_in_session() -> None:
    for kind, state in itertools.product(HearingKind, ProcedureState):
        if state is not S.IN_SESSION:
            assert not allowed(Role.WITNESS, kind, state) & PUBLISH, (kind, state)
    assert may(Role.WITNESS, HearingKind.TRIAL, S.IN_SESSION, A.PUBLISH_AUDIO)


def test_signing_only_once_closed_and_the_sealed_record_allows_nothing() -> None:
    for role, kind, state in ALL:
        if A.SIGN_TRANSCRIPT in allowed(role, kind, state):
            assert state is S.CLOSED, (role, kind, state)
        if state is S.RECORD_SEALED:
            assert allowed(role, kind, state) == frozenset()


def test_scheduled_allows_only_opening_the_lobby() -> None:
    for role, kind in itertools.product(Role, HearingKind):
        consent = {A.CONSENT_ASYNC_TRIAL} if kind is HearingKind.ASYNC_TRIAL else set()  # consent comes first
        assert allowed(role, kind, S.SCHEDULED) <= {A.CHANGE_PROCEDURE_STATE} | consent


def test_publishers_also_receive() -> None:
    for role, kind, state in ALL:
        got = allowed(role, kind, state)
        if got & PUBLISH:
            assert got >= PUBLISH | {A.SUBSCRIBE}, (role, kind, state)  # audio and video go together


def test_policy_never_exceeds_the_roles_signalling_grants() -> None:
    for role, kind, state in ALL:
        got = allowed(role, kind, state)
        grants = ROLE_GRANTS[role]
        if got & MODERATING:
            assert "moderate" in grants, (role, kind, state)
        if got & (PUBLISH | {A.PRESENT_EXHIBIT}):
            assert "publish" in grants, (role, kind, state)
        if got & {A.SUBSCRIBE, A.ENTER_PRIVATE_ROOM}:
            assert "subscribe" in grants, (role, kind, state)


def test_recording_is_paused_only_where_the_kind_allows_it() -> None:
    for role, kind, state in ALL:
        if A.START_PAUSE_RECORDING in allowed(role, kind, state):
            assert kind not in RECORDED_IN_FULL and state is S.IN_SESSION, (role, kind, state)
    assert may(Role.PRESIDING_JUDGE, HearingKind.DELIBERATION, S.IN_SESSION, A.START_PAUSE_RECORDING)
    assert not may(Role.JUDGE, HearingKind.DELIBERATION, S.IN_SESSION, A.START_PAUSE_RECORDING)


def test_private_rooms() -> None:
    for role, kind, state in ALL:
        got = allowed(role, kind, state)
        if got & {A.OPEN_PRIVATE_ROOM, A.ENTER_PRIVATE_ROOM}:
            assert state in (S.IN_SESSION, S.RECESS) and kind in (HearingKind.TRIAL, HearingKind.MEDIATION)
        if A.OPEN_PRIVATE_ROOM in got:
            assert role in (Role.MEDIATOR, Role.PRESIDING_JUDGE), (role, kind, state)
    assert may(Role.MEDIATOR, HearingKind.MEDIATION, S.IN_SESSION, A.OPEN_PRIVATE_ROOM)
    for party in (Role.PLAINTIFF, Role.DEFENDANT, Role.COUNSEL):
        assert may(party, HearingKind.MEDIATION, S.IN_SESSION, A.ENTER_PRIVATE_ROOM)
        assert not may(party, HearingKind.MEDIATION, S.IN_SESSION, A.OPEN_PRIVATE_ROOM)


def test_procedure_is_moved_only_by_those_who_lead() -> None:
    leads = {
        HearingKind.TRIAL: {Role.PRESIDING_JUDGE},
        HearingKind.MEDIATION: {Role.PRESIDING_JUDGE, Role.MEDIATOR},
        HearingKind.DELIBERATION: {Role.PRESIDING_JUDGE},
        HearingKind.INTERVIEW: {Role.PRESIDING_JUDGE, Role.JUDGE},
        HearingKind.ASYNC_TRIAL: {Role.PRESIDING_JUDGE},
        HearingKind.ARRAIGNMENT: {Role.PRESIDING_JUDGE, Role.JUDGE},
    }
    for role, kind, state in ALL:
        if may(role, kind, state, A.CHANGE_PROCEDURE_STATE):
            assert role in leads[kind] or (role is Role.CLERK and state is S.SCHEDULED), (role, kind, state)
    for kind, roles in leads.items():
        for role in roles:
            assert may(role, kind, S.IN_SESSION, A.CHANGE_PROCEDURE_STATE), (role, kind)


def test_every_action_role_and_kind_is_used_somewhere() -> None:
    granted = set().union(*(allowed(r, k, s) for r, k, s in ALL))
    assert granted == set(Action)
    assert {r for r, k, s in ALL if allowed(r, k, s)} == set(Role)
    for kind in HearingKind:  # and every kind has someone who can see and hear it
        assert any(A.SUBSCRIBE in allowed(r, kind, S.IN_SESSION) for r in Role)


def test_arraignment_and_interview_cast() -> None:
    k = HearingKind.ARRAIGNMENT
    assert may(Role.DETAINEE, k, S.IN_SESSION, A.PUBLISH_VIDEO)
    assert may(Role.OFFICER, k, S.IN_SESSION, A.SUBSCRIBE)
    assert not allowed(Role.PLAINTIFF, k, S.IN_SESSION)
    assert not allowed(Role.DETAINEE, HearingKind.MEDIATION, S.IN_SESSION)
    assert may(Role.DEFENDANT, HearingKind.INTERVIEW, S.IN_SESSION, A.PUBLISH_AUDIO)


def test_unknown_values_are_denied() -> None:
    assert allowed("usher", "trial", "in_session") == frozenset()
    assert allowed("judge", "tribunal", "in_session") == frozenset()
    assert allowed("judge", "trial", "adjourned") == frozenset()
    assert not may("judge", "trial", "in_session", "launch_rockets")
    assert may("presiding_judge", "trial", "in_session", "mute_others")  # plain strings work as the enums


def test_permissions_doc_matches_the_policy() -> None:
    assert permissions_doc.DOC.read_text(encoding="utf-8") == permissions_doc.generated(), (
        "docs/permissions.md is out of date: run `python -m hearing.permissions_doc`"
    )


def test_permissions_doc_check_command() -> None:
    done = subprocess.run([sys.executable, "-m", "hearing.permissions_doc", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_permissions_doc_shows_every_kind_and_the_deliberation_exclusion() -> None:
    text = permissions_doc.generated()
    for kind in HearingKind:
        assert f"`{kind.value}`" in text
    deliberation = text.split("`deliberation`")[1].split("### ")[0]
    assert "No access in any state:" in deliberation and "Observer" in deliberation.split("No access")[1]
