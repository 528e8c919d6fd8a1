"""The join policy hearing/ hands to signalling: roles, their grants, and readable refusals."""

from __future__ import annotations

import itertools

import pytest

from hearing.admission import join_policy
from hearing.roles import ROLE_GRANTS, ROLE_LABELS, Role
from signaling.tokens import Grant, JoinClaims, TokenService

ALL_GRANTS = frozenset(g.value for g in Grant)


def claims(role: str, grants: frozenset[str] | set[str]) -> JoinClaims:
    return JoinClaims(participant_id="p_1", name="N", room_id="room_1", role=role, grants=frozenset(grants),
                      jti="t_1", issued_at=0, not_before=0, expires_at=60)


def test_grant_names_are_publish_subscribe_moderate() -> None:
    assert ALL_GRANTS == {"publish", "subscribe", "moderate"}


def test_every_role_has_grants_and_labels() -> None:
    assert set(ROLE_GRANTS) == set(Role)
    assert set(ROLE_LABELS) == set(Role)
    for role, (zh, en) in ROLE_LABELS.items():
        assert zh and en, role


@pytest.mark.parametrize("role", list(Role))
def test_every_roles_grants_are_known_grants(role: Role) -> None:
    assert ROLE_GRANTS[role] <= ALL_GRANTS
    assert "subscribe" in ROLE_GRANTS[role]  # everyone admitted can at least watch


@pytest.mark.parametrize("role", list(Role))
def test_every_role_with_its_full_grants_is_admitted(role: Role) -> None:
    assert join_policy(claims(role.value, ROLE_GRANTS[role])) is None


@pytest.mark.parametrize("role", list(Role))
def test_every_role_with_any_subset_of_its_grants_is_admitted(role: Role) -> None:
    full = sorted(ROLE_GRANTS[role])
    for n in range(len(full) + 1):
        for subset in itertools.combinations(full, n):
            assert join_policy(claims(role.value, set(subset))) is None, (role, subset)


@pytest.mark.parametrize("role", list(Role))
def test_every_grant_beyond_the_role_is_refused_and_named(role: Role) -> None:
    for extra in ALL_GRANTS - ROLE_GRANTS[role]:
        reason = join_policy(claims(role.value, ROLE_GRANTS[role] | {extra}))
        assert reason is not None
        assert extra in reason and role.value in reason


def test_observer_with_publish_is_refused_readably() -> None:
    reason = join_policy(claims("observer", {"subscribe", "publish"}))
    assert reason is not None
    assert "observer" in reason and "may not be granted publish" in reason
    assert "frozenset" not in reason and "{" not in reason  # prose, not a Python repr


def test_observer_with_publish_and_moderate_lists_both_sorted() -> None:
    reason = join_policy(claims("observer", {"subscribe", "publish", "moderate"}))
    assert reason is not None
    assert reason.endswith("moderate, publish")


def test_party_may_not_moderate() -> None:
    for role in (Role.PLAINTIFF, Role.DEFENDANT, Role.COUNSEL, Role.WITNESS, Role.DETAINEE):
        reason = join_policy(claims(role.value, {"publish", "subscribe", "moderate"}))
        assert reason is not None and "moderate" in reason


def test_bench_roles_may_moderate() -> None:
    for role in (Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK, Role.MEDIATOR):
        assert ROLE_GRANTS[role] == ALL_GRANTS


def test_observer_is_watch_only() -> None:
    assert ROLE_GRANTS[Role.OBSERVER] == {"subscribe"}


@pytest.mark.parametrize("role", ["", "king", "Judge", "JUDGE", "presiding judge", "观察员", "observer "])
def test_unknown_role_is_refused_readably(role: str) -> None:
    reason = join_policy(claims(role, {"subscribe"}))
    assert reason is not None
    assert repr(role) in reason and "not a role of this court" in reason


def test_unknown_grant_in_claims_is_refused() -> None:
    # a token can only carry known grants, but the policy must not trust that
    reason = join_policy(claims("judge", {"subscribe", "superpower"}))
    assert reason is not None and "superpower" in reason


def test_policy_works_on_verified_claims() -> None:
    svc = TokenService("s" * 32, clock=lambda: 1000.0)
    token, _ = svc.issue_join(room_id="r", role="witness", name="W", grants=["publish", "subscribe"], ttl_seconds=60)
    assert join_policy(svc.verify_join(token, "r")) is None
    token, _ = svc.issue_join(room_id="r", role="witness", name="W", grants=["moderate"], ttl_seconds=60)
    reason = join_policy(svc.verify_join(token, "r"))
    assert reason is not None and "witness" in reason and "moderate" in reason
