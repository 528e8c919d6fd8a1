"""Each kind's recording rule holds in the register itself (issue 14, item 7): no trial is ever scheduled unrecorded,
a deliberation is never scheduled recorded, and the audit entry of a hearing's creation carries the flag.

The pure rule under hypothesis, its agreement with the court's permission policy, the SQL register on both backends,
and the staff API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from docket.court import HearingKind, NewHearing
from docket.court_sql import SqlCourtRecords
from docket.recording_rules import (
    PRIVATE_ROOM_RULE,
    RECORDING_RULES,
    RecordingRule,
    RecordingRuleViolation,
    default_recorded,
    recorded_flag,
    recording_violation,
)
from hearing.kinds import ProcedureState
from hearing.policy import Action, allowed
from hearing.recording_control import recorded_in_full
from hearing.roles import Role
from tests.test_docket_court import START, _case_with_people
from tests.test_staff_api import Api, _api, _case_and_trial, _error


@given(kind=st.sampled_from(list(HearingKind)), asked=st.none() | st.booleans())
def test_the_flag_stored_always_fits_the_kind(kind: HearingKind, asked: bool | None) -> None:
    rule = RECORDING_RULES[kind]
    try:
        recorded = recorded_flag(kind, asked)
    except RecordingRuleViolation as exc:
        assert asked is not None and exc.kind is kind and exc.recorded is asked
        assert exc.code == ("recording_required" if rule is RecordingRule.IN_FULL else "recording_forbidden")
        return
    assert recording_violation(kind, recorded) is None
    if rule is RecordingRule.IN_FULL:
        assert recorded
    if rule in (RecordingRule.PANEL_CHOOSES, RecordingRule.NEVER):
        assert not recorded
    if asked is None:
        assert recorded == default_recorded(kind)
    else:
        assert recorded == asked


def test_every_kind_has_a_rule_and_it_agrees_with_the_policy() -> None:
    assert set(RECORDING_RULES) == set(HearingKind) and PRIVATE_ROOM_RULE is RecordingRule.NEVER
    for kind, rule in RECORDING_RULES.items():
        # "in full" means nobody may pause it (the policy grants start_pause_recording to no role)...
        assert (rule is RecordingRule.IN_FULL) == recorded_in_full(kind), kind
        starters = {r for r in Role for s in ProcedureState if Action.START_PAUSE_RECORDING in allowed(r, kind, s)}
        # ...and "the panel chooses" means only the panel may start it.
        if rule is RecordingRule.PANEL_CHOOSES:
            assert starters and starters <= {Role.PRESIDING_JUDGE, Role.JUDGE}, starters
    assert RECORDING_RULES[HearingKind.TRIAL] is RecordingRule.IN_FULL


async def test_the_register_refuses_a_flag_against_the_kind(court: SqlCourtRecords) -> None:
    case_id, people = await _case_with_people(court)
    end = START + timedelta(hours=1)
    for kind in (HearingKind.TRIAL, HearingKind.INTERVIEW, HearingKind.ARRAIGNMENT, HearingKind.ASYNC_TRIAL):
        with pytest.raises(RecordingRuleViolation) as refused:
            await court.create_hearing(NewHearing(case_id, kind, START, end, panel=[people[2].id], recorded=False))
        assert refused.value.code == "recording_required"
    with pytest.raises(RecordingRuleViolation, match="panel chooses"):
        await court.create_hearing(NewHearing(case_id, HearingKind.DELIBERATION, START, end, panel=[people[2].id],
                                              recorded=True))
    assert await court.list_hearings() == []  # nothing half-written
    trial = await court.create_hearing(NewHearing(case_id, HearingKind.TRIAL, START, end))
    deliberation = await court.create_hearing(NewHearing(case_id, HearingKind.DELIBERATION, START, end,
                                                         panel=[people[2].id]))
    mediation = await court.create_hearing(NewHearing(case_id, HearingKind.MEDIATION, START, end, recorded=False))
    assert (trial.recorded, deliberation.recorded, mediation.recorded) == (True, False, False)


@pytest.fixture
async def api(court_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for a in _api(tmp_path, court_url):
        yield a


async def test_the_staff_api_cannot_schedule_an_unrecorded_trial(api: Api) -> None:
    await api.login("clerk")
    made = await _case_and_trial(api)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    body = {"case_id": made["case"]["id"], "scheduled_start": start.isoformat(),
            "scheduled_end": (start + timedelta(hours=1)).isoformat(), "panel": [api.people["pres"]]}
    refused = _error(await api.call("POST", "/api/hearings", "clerk", json={**body, "kind": "trial",
                                                                            "recorded": False}),
                     422, "recording_required")
    assert refused["kind"] == "trial" and refused["recorded"] is False
    _error(await api.call("POST", "/api/hearings", "clerk", json={**body, "kind": "deliberation", "recorded": True}),
           422, "recording_forbidden")
    assert [h["id"] for h in (await api.call("GET", "/api/hearings", "clerk")).json()] == [made["hearing"]["id"]]
    mediation = await api.call("POST", "/api/hearings", "clerk", json={**body, "kind": "mediation",
                                                                       "recorded": False, "panel": []})
    assert mediation.status_code == 201 and mediation.json()["recorded"] is False
    created = {e.subject: e.details for e in await api.services.audit.entries(0, 1000)
               if e.action == "register.hearing_created"}
    assert created[f"hearing:{made['hearing']['id']}"]["recorded"] is True
    assert created[f"hearing:{mediation.json()['id']}"]["recorded"] is False
