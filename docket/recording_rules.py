"""How each kind of hearing is recorded, as the register holds it: a hearing's `recorded` flag must fit its kind.

The kinds are the register's vocabulary (docket.court.HearingKind), and so is what each kind's record is: a trial
(庭审) without its recording is not a trial record. The register therefore refuses a hearing whose flag breaks its
kind's rule, whoever schedules it (staff API, CLI, demo, a script), with a typed `RecordingRuleViolation`:

| kind | rule | flag at scheduling |
|---|---|---|
| trial, interview, arraignment, asynchronous trial | `in_full`: recorded from session start to close | always true |
| mediation (调解) | `chosen`: the mediator starts/pauses in the room | true by default, false allowed |
| deliberation (合议) | `panel_chooses`: not recorded unless the panel chooses, in the room | always false |

Private rooms (caucus 背靠背, counsel and client, the retiring room) are not hearings: `PRIVATE_ROOM_RULE` is
`never`, and the recorder only ever follows hearings' main rooms. Who may start or pause a recording in the room
is the court's permission policy (hearing.policy); a test keeps this table and that policy in agreement.

Pure: no I/O, hypothesis-tested (tests/test_recording_rules.py).
"""

from __future__ import annotations

from enum import StrEnum

from docket.court import HearingKind, InvalidRecord


class RecordingRule(StrEnum):
    IN_FULL = "in_full"  # always recorded; nobody may pause it
    CHOSEN = "chosen"  # recorded unless scheduled otherwise; started and paused in the room
    PANEL_CHOOSES = "panel_chooses"  # scheduled unrecorded; only the panel, in the room, may start it
    NEVER = "never"  # never recorded (private rooms)


RECORDING_RULES: dict[HearingKind, RecordingRule] = {
    HearingKind.TRIAL: RecordingRule.IN_FULL,
    HearingKind.MEDIATION: RecordingRule.CHOSEN,
    HearingKind.DELIBERATION: RecordingRule.PANEL_CHOOSES,
    HearingKind.INTERVIEW: RecordingRule.IN_FULL,
    HearingKind.ASYNC_TRIAL: RecordingRule.IN_FULL,
    HearingKind.ARRAIGNMENT: RecordingRule.IN_FULL,
}
PRIVATE_ROOM_RULE = RecordingRule.NEVER


class RecordingRuleViolation(InvalidRecord):
    """A hearing's `recorded` flag breaks its kind's rule; `code` is recording_required or recording_forbidden."""

    def __init__(self, kind: HearingKind, recorded: bool, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.recorded = recorded
        self.code = code


def default_recorded(kind: HearingKind) -> bool:
    """The flag a hearing of this kind gets when its scheduler says nothing."""
    return RECORDING_RULES[kind] in (RecordingRule.IN_FULL, RecordingRule.CHOSEN)


def recording_violation(kind: HearingKind, recorded: bool) -> RecordingRuleViolation | None:
    """Why this flag does not fit this kind, or None."""
    rule = RECORDING_RULES[kind]
    if rule is RecordingRule.IN_FULL and not recorded:
        return RecordingRuleViolation(kind, recorded, "recording_required",
                                      f"a {kind.value} is recorded in full: it cannot be scheduled unrecorded")
    if rule in (RecordingRule.PANEL_CHOOSES, RecordingRule.NEVER) and recorded:
        return RecordingRuleViolation(kind, recorded, "recording_forbidden",
                                      f"a {kind.value} is not recorded unless the panel chooses, in the room; "
                                      "schedule it unrecorded")
    return None


def recorded_flag(kind: HearingKind, asked: bool | None) -> bool:
    """The flag to store: the kind's default when none was asked; RecordingRuleViolation if the ask breaks the rule."""
    recorded = default_recorded(kind) if asked is None else asked
    if (violation := recording_violation(kind, recorded)) is not None:
        raise violation
    return recorded
