"""The permission policy: (role, hearing kind, procedure state) → the actions allowed. Pure and table-driven.

`RULES` below *is* the policy: for each kind, each role's grants as (states, actions) pairs. Anything not
granted is refused (deny by default, also for unknown roles, kinds or states). docs/permissions.md is
generated from it (`python -m hearing.permissions_doc`), and tests/test_hearing_policy.py checks the court's
invariants over every role × kind × state:

- Deliberation (合议) belongs to the panel: presiding judge, judges and the clerk. Everyone else gets nothing
  in any state — not even to watch.
- Observers (the public) only ever subscribe, only in public kinds (trial), only while in session.
- Media flows only while the room is open (lobby open, in session, recess). In scheduled, closed and sealed
  nobody publishes or subscribes. In recess only court staff, interpreters and officers speak: the parties'
  talk is off the record and belongs in a private room.
- Witnesses speak only in session (they wait apart until called; the room layer keeps them out of sight).
- The transcript (笔录) is signed only once the hearing is closed; the sealed record allows nothing at all.
- Procedure moves (change_procedure_state) belong to whoever leads: the presiding judge; in mediation (调解)
  also the mediator; in interview (谈话) and arraignment (提讯) also a judge (but only the presiding judge
  seals, see hearing.procedure); the clerk may open the lobby.
- Recording: trials, interviews, arraignments and asynchronous trials (异步审理) are recorded in full, so
  nobody may pause them; a mediation's recording may be started/paused by the mediator, a deliberation's by
  the presiding judge ("not recorded unless the panel chooses"). Caucus rooms are never recorded (room layer).
- Private rooms: in mediation the mediator opens caucus rooms (mediator + one side) and the parties, counsel
  and interpreter enter them; in a trial the presiding judge opens counsel-and-client rooms and the panel's
  retiring room during recess. Which room a person may enter is the room layer's check; this grant says
  whether they may enter one at all.
- Moderating actions (admit/deny, mute others, remove, recording, opening private rooms, procedure, giving the
  floor) go only to roles whose signalling grants include "moderate" (hearing.roles.ROLE_GRANTS); publishing,
  exhibits and screen sharing only to roles that may publish.
- Room tools (as in any video meeting): whoever may speak may also write in the room's chat, which goes on the
  record (the transcript's chat section; a private room's chat reaches its members only and is kept nowhere);
  parties, counsel, witnesses, interpreters and detainees raise a hand (举手) when they may speak, and the chair and
  the clerk lower hands and spotlight a speaker (give_floor); screen sharing (a document shown by counsel) belongs
  to counsel, prosecutors and court staff in session only, and is recorded like a camera. Mute all is mute_others,
  admit all is admit_deny, applied to each person as the single action would be.
- Asynchronous trial (异步审理): the parties consent (or withdraw) from scheduling until the first stage opens, the
  clerk or presiding judge may record a party's written or oral consent; nothing moves past scheduled until every
  party has consented. In session the presiding judge conducts the stages and the parties and counsel answer.
- Seats follow the person who holds them: a role here is a seat in the register, and a staff seat (presiding
  judge, judge, clerk, mediator) is only its holder's — its join link goes to the staff member alone, through their
  own login (hearing.staff_auth.own_seat), never issued by an admin or clerk for them; links for the others' seats
  (parties, counsel, witnesses...) are issued by the clerk to those people. So every move of a seat above is made
  by the person who holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from hearing.kinds import HearingKind, ProcedureState
from hearing.roles import Role


class Action(StrEnum):
    PUBLISH_AUDIO = "publish_audio"
    PUBLISH_VIDEO = "publish_video"
    SUBSCRIBE = "subscribe"
    PRESENT_EXHIBIT = "present_exhibit"  # show an exhibit so all see the same page (电子质证)
    ADMIT_DENY = "admit_deny"  # let someone in from the lobby, or turn them away
    MUTE_OTHERS = "mute_others"
    REMOVE = "remove"
    START_PAUSE_RECORDING = "start_pause_recording"
    OPEN_PRIVATE_ROOM = "open_private_room"
    ENTER_PRIVATE_ROOM = "enter_private_room"
    CHANGE_PROCEDURE_STATE = "change_procedure_state"
    SIGN_TRANSCRIPT = "sign_transcript"
    CONSENT_ASYNC_TRIAL = "consent_async_trial"  # give, withdraw or record consent to an asynchronous trial
    CONDUCT_STAGES = "conduct_stages"  # open/close stages, post questions, extend deadlines (异步审理)
    ANSWER_QUESTIONS = "answer_questions"  # answer a stage's questions by recorded clip and/or text
    CHAT = "chat"  # write in the room's chat, which goes on the record (the transcript's chat section)
    RAISE_HAND = "raise_hand"  # ask for the floor (举手): a queue the presiding judge and clerk see
    SHARE_SCREEN = "share_screen"  # present a screen or window (counsel showing a document); recorded like a camera
    GIVE_FLOOR = "give_floor"  # lower raised hands, spotlight a speaker for everyone


A = Action
S = ProcedureState
R = Role
K = HearingKind

# ---- named state sets -------------------------------------------------------------------------------------
SCHEDULED = frozenset({S.SCHEDULED})
LOBBY = frozenset({S.LOBBY_OPEN})
SESSION = frozenset({S.IN_SESSION})
RECESS = frozenset({S.RECESS})
CLOSED = frozenset({S.CLOSED})
LOBBY_AND_SESSION = LOBBY | SESSION
HEARING = SESSION | RECESS
OPEN = LOBBY | SESSION | RECESS  # the room is open
RUNNING = SCHEDULED | OPEN  # not yet closed
UNSEALED = RUNNING | CLOSED

# ---- named action sets ------------------------------------------------------------------------------------
SPEAK = frozenset({A.PUBLISH_AUDIO, A.PUBLISH_VIDEO, A.SUBSCRIBE, A.CHAT})  # publishers also receive, and chat
WATCH = frozenset({A.SUBSCRIBE})
EXHIBIT = frozenset({A.PRESENT_EXHIBIT})
HAND = frozenset({A.RAISE_HAND})
SCREEN = frozenset({A.SHARE_SCREEN})
LOBBY_DUTY = frozenset({A.ADMIT_DENY})
CLERK_DUTY = frozenset({A.ADMIT_DENY, A.MUTE_OTHERS, A.GIVE_FLOOR})
CHAIR = frozenset({A.ADMIT_DENY, A.MUTE_OTHERS, A.REMOVE, A.GIVE_FLOOR})
PROCEDURE = frozenset({A.CHANGE_PROCEDURE_STATE})
RECORDING = frozenset({A.START_PAUSE_RECORDING})
CAUCUS = frozenset({A.OPEN_PRIVATE_ROOM, A.ENTER_PRIVATE_ROOM})
OPEN_ROOM = frozenset({A.OPEN_PRIVATE_ROOM})
ENTER_ROOM = frozenset({A.ENTER_PRIVATE_ROOM})
SIGN = frozenset({A.SIGN_TRANSCRIPT})
CONSENT = frozenset({A.CONSENT_ASYNC_TRIAL})
STAGES = frozenset({A.CONDUCT_STAGES})
ANSWER = frozenset({A.ANSWER_QUESTIONS})

Grant = tuple[frozenset[ProcedureState], frozenset[Action]]

# ---- recurring role patterns ------------------------------------------------------------------------------
_CLERK: tuple[Grant, ...] = (  # opens the lobby, checks identities, keeps order, shows exhibits, signs
    (SCHEDULED, PROCEDURE),
    (OPEN, SPEAK | CLERK_DUTY),
    (SESSION, EXHIBIT | SCREEN),
    (CLOSED, SIGN),
)
_PANEL_JUDGE: tuple[Grant, ...] = ((OPEN, SPEAK), (SESSION, EXHIBIT | SCREEN), (CLOSED, SIGN))
_PARTY: tuple[Grant, ...] = (  # speaks (and asks for the floor) in lobby and session; in recess only listens
    (LOBBY_AND_SESSION, SPEAK | HAND),
    (RECESS, WATCH),
    (SESSION, EXHIBIT),
    (CLOSED, SIGN),
)
_COUNSEL: tuple[Grant, ...] = (*_PARTY, (SESSION, SCREEN))  # counsel and prosecutors present documents on screen
_INTERPRETER: tuple[Grant, ...] = ((OPEN, SPEAK | HAND), (CLOSED, SIGN))  # interprets whoever speaks, recess included
_WITNESS: tuple[Grant, ...] = ((SESSION, SPEAK | HAND), (CLOSED, SIGN))
_INTERVIEWER: tuple[Grant, ...] = ((OPEN, SPEAK | CHAIR), (SESSION, EXHIBIT | SCREEN), (CLOSED, SIGN))

RULES: dict[HearingKind, dict[Role, tuple[Grant, ...]]] = {
    # 庭审: public; recorded in full; witnesses wait apart until called.
    K.TRIAL: {
        R.PRESIDING_JUDGE: (
            (UNSEALED, PROCEDURE),
            (OPEN, SPEAK | CHAIR),
            (SESSION, EXHIBIT | SCREEN),
            (HEARING, OPEN_ROOM),
            (RECESS, ENTER_ROOM),  # the panel's retiring room
            (CLOSED, SIGN),
        ),
        R.JUDGE: (*_PANEL_JUDGE, (RECESS, ENTER_ROOM)),
        R.CLERK: _CLERK,
        R.PLAINTIFF: (*_PARTY, (HEARING, ENTER_ROOM)),  # counsel-and-client rooms
        R.DEFENDANT: (*_PARTY, (HEARING, ENTER_ROOM)),
        R.COUNSEL: (*_COUNSEL, (HEARING, ENTER_ROOM)),
        R.PROSECUTOR: _COUNSEL,
        R.DETAINEE: ((LOBBY_AND_SESSION, SPEAK | HAND), (RECESS, WATCH), (HEARING, ENTER_ROOM), (CLOSED, SIGN)),
        R.WITNESS: _WITNESS,
        R.INTERPRETER: (*_INTERPRETER, (HEARING, ENTER_ROOM)),
        R.OFFICER: ((LOBBY_AND_SESSION, SPEAK), (RECESS, WATCH)),  # the guard at the detention end
        R.OBSERVER: ((SESSION, WATCH),),
    },
    # 调解: private; the mediator (or a judge presiding over it) leads and opens caucus rooms.
    K.MEDIATION: {
        R.MEDIATOR: (
            (UNSEALED, PROCEDURE),
            (OPEN, SPEAK | CHAIR),
            (SESSION, EXHIBIT | SCREEN | RECORDING),
            (HEARING, CAUCUS),
            (CLOSED, SIGN),
        ),
        R.PRESIDING_JUDGE: (
            (UNSEALED, PROCEDURE),
            (OPEN, SPEAK | CHAIR),
            (SESSION, EXHIBIT | SCREEN | RECORDING),
            (HEARING, CAUCUS),
            (CLOSED, SIGN),
        ),
        R.JUDGE: (*_PANEL_JUDGE, (HEARING, ENTER_ROOM)),
        R.CLERK: _CLERK,
        R.PLAINTIFF: (*_PARTY, (HEARING, ENTER_ROOM)),
        R.DEFENDANT: (*_PARTY, (HEARING, ENTER_ROOM)),
        R.COUNSEL: (*_COUNSEL, (HEARING, ENTER_ROOM)),
        R.INTERPRETER: (*_INTERPRETER, (HEARING, ENTER_ROOM)),
    },
    # 合议: the panel only. Not recorded unless the presiding judge starts it.
    K.DELIBERATION: {
        R.PRESIDING_JUDGE: (
            (UNSEALED, PROCEDURE),
            (OPEN, SPEAK | frozenset({A.ADMIT_DENY, A.REMOVE})),
            (SESSION, EXHIBIT | SCREEN | RECORDING),
            (CLOSED, SIGN),
        ),
        R.JUDGE: _PANEL_JUDGE,
        R.CLERK: ((SCHEDULED, PROCEDURE), (OPEN, SPEAK), (SESSION, EXHIBIT | SCREEN), (CLOSED, SIGN)),
    },
    # 谈话: a judge (with the clerk) and one person; private; recorded in full.
    K.INTERVIEW: {
        R.PRESIDING_JUDGE: ((UNSEALED, PROCEDURE), *_INTERVIEWER),
        R.JUDGE: ((RUNNING, PROCEDURE), *_INTERVIEWER),
        R.CLERK: _CLERK,
        R.PLAINTIFF: _PARTY,
        R.DEFENDANT: _PARTY,
        R.COUNSEL: _COUNSEL,
        R.WITNESS: _WITNESS,
        R.INTERPRETER: _INTERPRETER,
    },
    # 异步审理: stages instead of a live session. In session the presiding judge opens stages and posts questions
    # and the parties answer by recorded clip or text before each stage's deadline (hearing.async_trial); recess =
    # between stages (they may review). Only with every party's consent: the procedure service refuses to move past
    # scheduled, and no stage opens, until each has consented (hearing.async_trial.schedule_refusal). Consent is
    # given (or withdrawn, until the first stage opens: the core's check) from scheduled on; the clerk and
    # presiding judge record written or oral consent for a party.
    K.ASYNC_TRIAL: {
        R.PRESIDING_JUDGE: (
            (UNSEALED, PROCEDURE),
            (RUNNING, CONSENT),
            (OPEN, SPEAK | frozenset({A.ADMIT_DENY, A.REMOVE})),
            (SESSION, EXHIBIT | STAGES),
            (CLOSED, SIGN),
        ),
        R.JUDGE: _PANEL_JUDGE,
        R.CLERK: ((SCHEDULED, PROCEDURE), (RUNNING, CONSENT), (OPEN, SPEAK | LOBBY_DUTY), (SESSION, EXHIBIT),
                  (CLOSED, SIGN)),
        R.PLAINTIFF: ((RUNNING, CONSENT), (LOBBY | RECESS, WATCH), (SESSION, SPEAK | EXHIBIT | ANSWER),
                      (CLOSED, SIGN)),
        R.DEFENDANT: ((RUNNING, CONSENT), (LOBBY | RECESS, WATCH), (SESSION, SPEAK | EXHIBIT | ANSWER),
                      (CLOSED, SIGN)),
        R.COUNSEL: ((LOBBY | RECESS, WATCH), (SESSION, SPEAK | EXHIBIT | ANSWER), (CLOSED, SIGN)),
        R.INTERPRETER: ((LOBBY | RECESS, WATCH), (SESSION, SPEAK), (CLOSED, SIGN)),
    },
    # 提讯: a judge (or the prosecutor) questions a detainee at the detention centre, an officer present.
    K.ARRAIGNMENT: {
        R.PRESIDING_JUDGE: ((UNSEALED, PROCEDURE), *_INTERVIEWER),
        R.JUDGE: ((RUNNING, PROCEDURE), *_INTERVIEWER),
        R.CLERK: _CLERK,
        R.PROSECUTOR: _COUNSEL,
        R.DETAINEE: ((LOBBY_AND_SESSION, SPEAK | HAND), (RECESS, WATCH), (CLOSED, SIGN)),
        R.OFFICER: ((OPEN, SPEAK),),
        R.INTERPRETER: _INTERPRETER,
    },
}


def _compile(
    rules: Mapping[HearingKind, Mapping[Role, Iterable[Grant]]],
) -> dict[tuple[str, str, str], frozenset[Action]]:
    """Flatten the readable table into one lookup per (kind, role, state)."""
    table: dict[tuple[str, str, str], frozenset[Action]] = {}
    for kind, roles in rules.items():
        for role, grants in roles.items():
            for states, actions in grants:
                for state in states:
                    key = (kind.value, role.value, state.value)
                    table[key] = table.get(key, frozenset()) | actions
    return table


_TABLE = _compile(RULES)


def allowed(role: Role | str, kind: HearingKind | str, state: ProcedureState | str) -> frozenset[Action]:
    """Every action `role` may take in a hearing of `kind` in procedure `state`; empty for anything unknown."""
    return _TABLE.get((str(kind), str(role), str(state)), frozenset())


def may(role: Role | str, kind: HearingKind | str, state: ProcedureState | str, action: Action | str) -> bool:
    return str(action) in allowed(role, kind, state)
