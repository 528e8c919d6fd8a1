"""Join links for register participants (hearing.join_links): the rules, and issuing on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from docket.court import (
    Hearing,
    HearingKind,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NotFound,
    ParticipantStatus,
)
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.sql import SqlRecords, open_records
from docket.staff_sql import SqlHearingRooms
from hearing.join_links import (
    MAX_TTL,
    MIN_DEFAULT_TTL,
    LinkRefused,
    admission_problem,
    admitted_roles,
    check_ttl,
    default_ttl,
    issue_participant_link,
)
from hearing.roles import ROLE_GRANTS, Role
from signaling.tokens import TokenService

NOW = datetime.now(UTC).replace(microsecond=0)
BASE = "http://court.example"


def _hearing(kind: HearingKind, panel: tuple[str, ...] = ("p-pres", "p-judge")) -> Hearing:
    return Hearing("h1", "c1", kind, NOW, NOW + timedelta(hours=2), panel, "scheduled", None, True, NOW, NOW)


# ---- the rules ----------------------------------------------------------------------------------------------


def test_admitted_roles_follow_the_policy() -> None:
    assert admitted_roles(HearingKind.DELIBERATION) == {Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK}
    assert Role.OBSERVER in admitted_roles(HearingKind.TRIAL)
    assert Role.OBSERVER not in admitted_roles(HearingKind.MEDIATION)
    assert Role.MEDIATOR in admitted_roles(HearingKind.MEDIATION)
    assert Role.DETAINEE in admitted_roles(HearingKind.ARRAIGNMENT)
    assert admitted_roles("no-such-kind") == frozenset()


def test_nobody_but_the_panel_and_clerk_enters_a_deliberation() -> None:
    h = _hearing(HearingKind.DELIBERATION)
    for role in Role:
        if role not in (Role.PRESIDING_JUDGE, Role.JUDGE, Role.CLERK):
            problem = admission_problem(h, role, "p-someone")
            assert problem and "deliberation (合议)" in problem and "ever issued to anyone else" in problem, role
    assert admission_problem(h, Role.PRESIDING_JUDGE, "p-pres") is None
    assert admission_problem(h, Role.JUDGE, "p-judge") is None
    assert admission_problem(h, Role.CLERK, "p-clerk") is None
    assert "first member of its panel" in (admission_problem(h, Role.PRESIDING_JUDGE, "p-judge") or "")
    assert "must sit on its panel" in (admission_problem(h, Role.JUDGE, "p-outsider") or "")
    assert "must sit on its panel" in (admission_problem(h, Role.JUDGE, "p-pres") or "")
    # A deliberation without a panel admits no judge at all.
    assert admission_problem(_hearing(HearingKind.DELIBERATION, ()), Role.JUDGE, "p-judge")


def test_other_kinds_check_judges_against_a_panel_when_there_is_one() -> None:
    assert admission_problem(_hearing(HearingKind.TRIAL), Role.PLAINTIFF, "p-x") is None
    assert admission_problem(_hearing(HearingKind.TRIAL), Role.JUDGE, "p-x")
    assert admission_problem(_hearing(HearingKind.INTERVIEW, ()), Role.JUDGE, "p-x") is None
    assert "not a role of this court" in (admission_problem(_hearing(HearingKind.TRIAL), "bailiff", "p-x") or "")
    assert "a mediation (调解) admits only" in (admission_problem(_hearing(HearingKind.MEDIATION), Role.OBSERVER,
                                                                  "p-x") or "")
    assert "an interview (谈话)" in (admission_problem(_hearing(HearingKind.INTERVIEW), Role.OBSERVER, "p-x") or "")


def test_default_ttl_runs_to_the_end_plus_two_hours_within_bounds() -> None:
    assert default_ttl(NOW + timedelta(hours=3), NOW) == 5 * 3600
    assert default_ttl(NOW + timedelta(days=7), NOW) == int(MAX_TTL.total_seconds())
    assert default_ttl(NOW - timedelta(hours=5), NOW) == int(MIN_DEFAULT_TTL.total_seconds())
    assert check_ttl(600) == 600
    for bad in (59, 24 * 3600 + 1):
        with pytest.raises(LinkRefused, match="a link lasts") as exc:
            check_ttl(bad)
        assert exc.value.code == "bad_ttl"


# ---- issuing, on both backends ------------------------------------------------------------------------------


@dataclass
class Env:
    court: SqlCourtRecords
    records: SqlRecords
    rooms: SqlHearingRooms
    tokens: TokenService

    async def issue(self, hearing_id: str, participant_id: str, **kw: object) -> object:
        return await issue_participant_link(self.court, self.records, self.tokens, self.rooms, BASE,
                                            hearing_id=hearing_id, participant_id=participant_id,
                                            audit=self.court.audit, actor_id="staff-1", actor_role="staff",
                                            **kw)  # type: ignore[arg-type]


@pytest.fixture
async def env(court_url: str) -> AsyncIterator[Env]:
    records = await open_records(court_url)
    court = await open_court_records(court_url, migrate=False, id_hash_iterations=1_000)
    try:
        yield Env(court, records, SqlHearingRooms(court.engine), TokenService("test-secret-" + "x" * 32))
    finally:
        await court.close()
        await records.close()


async def _trial(env: Env, kind: HearingKind = HearingKind.TRIAL, room_id: str | None = None,
                 ) -> tuple[Hearing, dict[str, str]]:
    people = {n: (await env.court.create_person(NewPerson(name))).id
              for n, name in (("pres", "王审判长"), ("judge", "李审判员"), ("plaintiff", "张原告"))}
    case = await env.court.create_case(NewCase(f"(2026)示例民初{id(people)}号", "contract dispute"))
    hearing = await env.court.create_hearing(NewHearing(case.id, kind, NOW, NOW + timedelta(hours=2),
                                                        (people["pres"], people["judge"]), room_id))
    return hearing, people


async def test_link_is_bound_verifiable_and_replaces_the_previous_one(env: Env) -> None:
    hearing, people = await _trial(env)
    assert hearing.room_id is None
    plaintiff = await env.court.add_participant(NewParticipant(hearing.id, people["plaintiff"], "plaintiff"))
    first = await env.issue(hearing.id, plaintiff.id)
    assert first.url.startswith(f"{BASE}/join#token=") and "?" not in first.url  # type: ignore[attr-defined]
    assert first.room_id == hearing.id  # type: ignore[attr-defined]
    assert (await env.court.get_hearing(hearing.id)).room_id == hearing.id
    claims = env.tokens.verify_join(first.url.split("#token=")[1], hearing.id)  # type: ignore[attr-defined]
    assert claims.participant_id == plaintiff.id and claims.role == "plaintiff"
    assert claims.grants == ROLE_GRANTS[Role.PLAINTIFF] and claims.name == "张原告"
    assert claims.expires_at == pytest.approx((hearing.scheduled_end + timedelta(hours=2)).timestamp(), abs=2)
    assert (await env.court.get_participant(plaintiff.id)).token_jti == claims.jti

    second = await env.issue(hearing.id, plaintiff.id, ttl_seconds=600)
    assert second.revoked == (first.jti,)  # type: ignore[attr-defined]
    assert await env.records.is_revoked(first.jti)  # type: ignore[attr-defined]
    assert not await env.records.is_revoked(second.jti)  # type: ignore[attr-defined]
    assert (await env.court.get_participant(plaintiff.id)).token_jti == second.jti  # type: ignore[attr-defined]
    assert (second.expires_at - datetime.now(UTC)).total_seconds() == pytest.approx(600, abs=5)  # type: ignore[attr-defined]

    issued = [e for e in await env.court.audit.entries(0, 100) if e.action == "link.issued"]
    assert [e.details["jti"] for e in issued] == [first.jti, second.jti]  # type: ignore[attr-defined]
    assert issued[1].details["revoked"] == [first.jti] and issued[1].actor_id == "staff-1"  # type: ignore[attr-defined]
    assert all("张原告" not in str(e.details) for e in issued)


async def test_an_existing_room_is_kept(env: Env) -> None:
    hearing, people = await _trial(env, room_id="courtroom-3")
    p = await env.court.add_participant(NewParticipant(hearing.id, people["pres"], "presiding_judge"))
    link = await env.issue(hearing.id, p.id)
    assert link.room_id == "courtroom-3" and link.role is Role.PRESIDING_JUDGE  # type: ignore[attr-defined]
    assert env.tokens.verify_join(link.url.split("#token=")[1], "courtroom-3").grants == ROLE_GRANTS[  # type: ignore[attr-defined]
        Role.PRESIDING_JUDGE]


async def test_refusals(env: Env) -> None:
    deliberation, people = await _trial(env, HearingKind.DELIBERATION)
    # A party put straight into the register (bypassing the API's check) still never gets a link.
    party = await env.court.add_participant(NewParticipant(deliberation.id, people["plaintiff"], "plaintiff"))
    with pytest.raises(LinkRefused, match="ever issued to anyone else") as refused:
        await env.issue(deliberation.id, party.id)
    assert refused.value.code == "role_not_admitted"
    assert (await env.court.get_participant(party.id)).token_jti is None
    assert (await env.court.get_hearing(deliberation.id)).room_id is None

    trial, people2 = await _trial(env)
    judge = await env.court.add_participant(NewParticipant(trial.id, people2["judge"], "judge"))
    with pytest.raises(NotFound, match="participant"):  # a participant of another hearing
        await env.issue(trial.id, party.id)
    with pytest.raises(NotFound, match="hearing"):
        await env.issue("no-such-hearing", judge.id)
    with pytest.raises(LinkRefused, match="a link lasts"):
        await env.issue(trial.id, judge.id, ttl_seconds=10)
    for expected, new in (("scheduled", "lobby_open"), ("lobby_open", "in_session"), ("in_session", "closed")):
        await env.court.set_hearing_state(trial.id, expected, new)
    with pytest.raises(LinkRefused, match="closed; nobody can join") as over:
        await env.issue(trial.id, judge.id)
    assert over.value.code == "hearing_over"


async def test_concurrent_issuance_leaves_one_live_link(env: Env) -> None:
    hearing, people = await _trial(env)
    p = await env.court.add_participant(NewParticipant(hearing.id, people["plaintiff"], "plaintiff"))
    links = await asyncio.gather(*(env.issue(hearing.id, p.id) for _ in range(4)))
    bound = (await env.court.get_participant(p.id)).token_jti
    live = [t.jti for t in await env.records.tokens_for_room(hearing.id) if t.revoked_at is None]
    assert live == [bound] and bound in {link.jti for link in links}  # type: ignore[attr-defined]
    assert (await env.court.get_participant(p.id)).status is ParticipantStatus.WAITING
