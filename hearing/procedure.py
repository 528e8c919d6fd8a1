"""The hearing procedure as a pure state machine: which transition leads where, and who may trigger it.

    scheduled ─open_lobby→ lobby_open ─start_session→ in_session ⇄ recess ─close→ closed ─seal→ record_sealed
                                                        (recess / resume)   (close from in_session or recess)

An actor may trigger a transition when both hold:
1. the permission policy grants their role `change_procedure_state` in this kind and state (who leads this kind
   of hearing at all: hearing.policy), and
2. the transition's own rule names their role (what kind of move it is): the clerk may open the lobby but
   not start the session; only the presiding judge — or, in mediation, the mediator — seals the record.

`attempt()` returns the new state (`Moved`) or a typed refusal (`Refused`) whose text can be shown to the
person; it never raises for a bad request and does no I/O, so the service and signalling can both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, may
from hearing.roles import Role

S = ProcedureState
R = Role


class Transition(StrEnum):
    OPEN_LOBBY = "open_lobby"
    START_SESSION = "start_session"  # 开庭
    RECESS = "recess"  # 休庭
    RESUME = "resume"  # 继续开庭
    CLOSE = "close"  # 闭庭
    SEAL = "seal"  # the record is final (归档)


@dataclass(frozen=True, slots=True)
class TransitionRule:
    sources: frozenset[ProcedureState]
    target: ProcedureState
    actors: frozenset[Role]  # the roles this kind of move is for (further narrowed by the policy per kind)


_LEADS = frozenset({R.PRESIDING_JUDGE, R.JUDGE, R.MEDIATOR})

TRANSITIONS: dict[Transition, TransitionRule] = {
    Transition.OPEN_LOBBY: TransitionRule(frozenset({S.SCHEDULED}), S.LOBBY_OPEN, _LEADS | {R.CLERK}),
    Transition.START_SESSION: TransitionRule(frozenset({S.LOBBY_OPEN}), S.IN_SESSION, _LEADS),
    Transition.RECESS: TransitionRule(frozenset({S.IN_SESSION}), S.RECESS, _LEADS),
    Transition.RESUME: TransitionRule(frozenset({S.RECESS}), S.IN_SESSION, _LEADS),
    Transition.CLOSE: TransitionRule(frozenset({S.IN_SESSION, S.RECESS}), S.CLOSED, _LEADS),
    Transition.SEAL: TransitionRule(frozenset({S.CLOSED}), S.RECORD_SEALED, frozenset({R.PRESIDING_JUDGE, R.MEDIATOR})),
}

INITIAL_STATE = S.SCHEDULED
TERMINAL_STATES = frozenset({S.RECORD_SEALED})


class RefusalCode(StrEnum):
    UNKNOWN = "unknown"  # not a transition, role, kind or state of this court
    TERMINAL = "terminal"  # the record is sealed: nothing moves any more
    WRONG_STATE = "wrong_state"  # the transition does not start from the current state
    NOT_PERMITTED = "not_permitted"  # the actor's role may not make this move here
    CONSENT_MISSING = "consent_missing"  # an asynchronous trial without every party's consent (hearing.async_trial)


@dataclass(frozen=True, slots=True)
class Moved:
    transition: Transition
    source: ProcedureState
    target: ProcedureState


@dataclass(frozen=True, slots=True)
class Refused:
    code: RefusalCode
    reason: str
    params: Mapping[str, Any] = field(default_factory=dict)  # what the client needs to say it (e.g. who is missing)


def _parse(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, transition: Transition | str
) -> tuple[HearingKind, ProcedureState, Role, Transition] | Refused:
    try:
        return HearingKind(kind), ProcedureState(state), Role(role), Transition(transition)
    except ValueError as exc:
        return Refused(RefusalCode.UNKNOWN, str(exc))


def _words(code: str) -> str:
    return code.replace("_", " ")


def _a(code: str) -> str:
    words = _words(code)
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def attempt(
    kind: HearingKind | str, state: ProcedureState | str, role: Role | str, transition: Transition | str
) -> Moved | Refused:
    """What happens if `role` asks for `transition` in a hearing of `kind` currently in `state`."""
    parsed = _parse(kind, state, role, transition)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role, transition = parsed
    rule = TRANSITIONS[transition]
    if state in TERMINAL_STATES:
        return Refused(RefusalCode.TERMINAL, "the record is sealed; the procedure cannot change any more")
    if state not in rule.sources:
        return Refused(RefusalCode.WRONG_STATE,
                       f"cannot {_words(transition.value)} from {_words(state.value)}")
    if role not in rule.actors or not may(role, kind, state, Action.CHANGE_PROCEDURE_STATE):
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"{_a(role.value)} may not {_words(transition.value)} {_a(kind.value)} hearing")
    return Moved(transition, state, rule.target)


def available(kind: HearingKind | str, state: ProcedureState | str, role: Role | str) -> frozenset[Transition]:
    """The transitions `role` may trigger now (what a console shows as buttons)."""
    return frozenset(t for t in Transition if isinstance(attempt(kind, state, role, t), Moved))


def reachable(start: ProcedureState = INITIAL_STATE) -> frozenset[ProcedureState]:
    """States reachable from `start` along the transition graph, whoever triggers."""
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for rule in TRANSITIONS.values():
            if state in rule.sources and rule.target not in seen:
                seen.add(rule.target)
                frontier.append(rule.target)
    return frozenset(seen)
