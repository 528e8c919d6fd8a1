"""The petition's rules (接诉即办 = video petitions): categories and their class, the state machine, the traffic light.

Pure: no I/O and no clock — the caller passes `now` and a `Deadlines` function (start instant, working days →
due instant; petitions.deadlines over the court's calendar). docs/petitions.md explains each rule and why.

States (one cycle; a reopen starts a second and last one):

    filed ──triage──▶ assigned ──contact──▶ contacted ──reply──▶ replied ──rate──▶ rated ──close──▶ closed
                        ▲  └─reassign─┘        └─reassign/contact┘   └────close──────────────▲
                        └──────────────────────── reopen (once, within REOPEN_DAYS of the reply) ──┘

A petition is never closed without a resolution: `close` exists only from replied/rated, and `reply` cannot be
recorded without one. Reclassification (with a reason) recomputes the deadline from the start of the cycle: the
citizen's clock started when they filed, not when the clerk changed their mind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

REOPEN_DAYS = 15
"""Calendar days after the reply within which the citizen may reopen (once). Also when an unrated petition closes."""
MAX_TEXT = 4000
MAX_REASON = 500


class PetitionClass(StrEnum):
    """The 一三五 rule: how many working days the court has to answer."""

    URGENT = "urgent"  # 紧急: 1 working day
    PERSONAL = "personal"  # 涉及群众切身利益: 3 working days
    COMPLEX = "complex"  # 复杂疑难: 5 working days


WORKING_DAYS: Mapping[PetitionClass, int] = {PetitionClass.URGENT: 1, PetitionClass.PERSONAL: 3,
                                             PetitionClass.COMPLEX: 5}


class Category(StrEnum):
    """What the petition is about; each has a default class (CATEGORY_CLASS) the clerk may change with a reason."""

    SAFETY = "safety"  # 人身安全、紧急求助
    URGENT_ENFORCEMENT = "urgent_enforcement"  # 执行中的紧急情况（财产正被转移等）
    CASE_PROGRESS = "case_progress"  # 案件进度
    FILING = "filing"  # 立案
    ENFORCEMENT = "enforcement"  # 执行款、执行进度
    LITIGATION_SERVICE = "litigation_service"  # 诉讼服务（材料、缴费、送达）
    CONDUCT = "conduct"  # 干警作风
    DISPUTE = "dispute"  # 矛盾纠纷化解
    SUGGESTION = "suggestion"  # 意见建议


CATEGORY_CLASS: Mapping[Category, PetitionClass] = {
    Category.SAFETY: PetitionClass.URGENT,
    Category.URGENT_ENFORCEMENT: PetitionClass.URGENT,
    Category.CASE_PROGRESS: PetitionClass.PERSONAL,
    Category.FILING: PetitionClass.PERSONAL,
    Category.ENFORCEMENT: PetitionClass.PERSONAL,
    Category.LITIGATION_SERVICE: PetitionClass.PERSONAL,
    Category.CONDUCT: PetitionClass.COMPLEX,
    Category.DISPUTE: PetitionClass.COMPLEX,
    Category.SUGGESTION: PetitionClass.COMPLEX,
}


class Status(StrEnum):
    FILED = "filed"  # 待分派
    ASSIGNED = "assigned"  # 已分派
    CONTACTED = "contacted"  # 已联系
    REPLIED = "replied"  # 已答复 (resolution recorded)
    RATED = "rated"  # 已评价
    CLOSED = "closed"  # 已办结


OPEN = frozenset({Status.FILED, Status.ASSIGNED, Status.CONTACTED})
"""Not yet answered in this cycle: the deadline runs."""


class HandlerKind(StrEnum):
    JUDGE = "judge"
    MEDIATOR = "mediator"
    DEPARTMENT = "department"  # a department (执行局, 立案庭…), acting through its named contact account


class ContactChannel(StrEnum):
    PHONE = "phone"
    VIDEO = "video"
    IN_PERSON = "in_person"
    SMS = "sms"


class Outcome(StrEnum):
    RESOLVED = "resolved"  # 已解决: the problem was solved
    EXPLAINED = "explained"  # 已解释说明: answered, but nothing could be changed (e.g. the law does not allow it)


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically"  # 基本满意
    NOT_SATISFIED = "not_satisfied"  # 不满意


class Light(StrEnum):
    """The supervisor board's traffic light (see `light`)."""

    GREEN = "green"  # answered on time and rated or closed: done / reported
    BLUE = "blue"  # answered on time, awaiting review (the citizen's rating or the clerk's closing)
    RED = "red"  # not answered by the deadline (overdue), or answered after it
    GREY = "grey"  # not answered yet, deadline not reached: in progress


class Actor(StrEnum):
    CITIZEN = "citizen"
    CLERK = "clerk"  # triages, reclassifies, closes
    HANDLER = "handler"  # the assigned judge / mediator / department contact
    SUPERVISOR = "supervisor"  # may close, sees the board
    SYSTEM = "system"  # the scheduler: closes petitions nobody rated once the reopen window ends


class Refused(ValueError):
    """A move the rules do not allow now; `code` is stable (the API's error code), the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


Deadlines = Callable[[datetime, int], datetime]
"""(start of the cycle, working days) → the instant it becomes overdue (petitions.deadlines.due_at, bound)."""


@dataclass(frozen=True, slots=True)
class Petition:
    """The fields the rules decide on; the register stores these and more (texts, contact details)."""

    category: Category
    klass: PetitionClass
    status: Status
    filed_at: datetime
    cycle_started_at: datetime  # filed_at, or when it was reopened
    due_at: datetime
    handler_id: str | None = None
    handler_kind: HandlerKind | None = None
    first_contact_at: datetime | None = None  # of this cycle
    replied_at: datetime | None = None  # of this cycle
    outcome: Outcome | None = None
    resolution: str | None = None
    rating: Rating | None = None
    reopen_count: int = 0
    closed_at: datetime | None = None


# ---- moves ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Triage:
    """Assign (from filed) or reassign (before the reply) to a handler."""

    handler_id: str
    handler_kind: HandlerKind


@dataclass(frozen=True, slots=True)
class Reclassify:
    klass: PetitionClass
    reason: str


@dataclass(frozen=True, slots=True)
class Contact:
    channel: ContactChannel
    note: str


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    resolution: str  # what was done: required, it is what "closed with a resolution" means
    has_reply: bool  # a reply text or a recorded reply clip goes with it


@dataclass(frozen=True, slots=True)
class Rate:
    rating: Rating


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    pass


Move = Triage | Reclassify | Contact | Reply | Rate | Reopen | Close

MOVE_NAMES: Mapping[type, str] = {Triage: "triage", Reclassify: "reclassify", Contact: "contact", Reply: "reply",
                                  Rate: "rate", Reopen: "reopen", Close: "close"}

ALLOWED_ACTORS: Mapping[type, frozenset[Actor]] = {
    Triage: frozenset({Actor.CLERK}),
    Reclassify: frozenset({Actor.CLERK}),
    Contact: frozenset({Actor.HANDLER}),
    Reply: frozenset({Actor.HANDLER}),
    Rate: frozenset({Actor.CITIZEN}),
    Reopen: frozenset({Actor.CITIZEN}),
    Close: frozenset({Actor.CLERK, Actor.SUPERVISOR, Actor.SYSTEM}),
}
"""Who may make each move. The handler is whoever the petition is assigned to (checked by the service)."""

FROM_STATES: Mapping[type, frozenset[Status]] = {
    Triage: frozenset({Status.FILED, Status.ASSIGNED, Status.CONTACTED}),
    Reclassify: OPEN,
    Contact: frozenset({Status.ASSIGNED, Status.CONTACTED}),
    Reply: frozenset({Status.CONTACTED}),
    Rate: frozenset({Status.REPLIED}),
    Reopen: frozenset({Status.REPLIED, Status.RATED, Status.CLOSED}),
    Close: frozenset({Status.REPLIED, Status.RATED}),
}


def first_deadline(category: Category, filed_at: datetime, deadlines: Deadlines,
                   klass: PetitionClass | None = None) -> Petition:
    """A newly filed petition: its class from the category (unless given) and its deadline."""
    k = klass or CATEGORY_CLASS[category]
    return Petition(category, k, Status.FILED, filed_at, filed_at, deadlines(filed_at, WORKING_DAYS[k]))


def _text(value: str, what: str, limit: int, code: str) -> None:
    if not value.strip():
        raise Refused(code, f"{what} must not be empty")
    if len(value) > limit:
        raise Refused("text_too_long", f"{what} is over {limit} characters")


def check_actor(move: Move, actor: Actor) -> None:
    if actor not in ALLOWED_ACTORS[type(move)]:
        raise Refused("not_allowed", f"a {actor.value} may not {MOVE_NAMES[type(move)]} a petition")


def step(p: Petition, move: Move, now: datetime, deadlines: Deadlines, *,
         reopen_days: int = REOPEN_DAYS) -> Petition:
    """The petition after `move` at `now`; Refused (nothing changes) when the rules do not allow it."""
    name = MOVE_NAMES[type(move)]
    if p.status not in FROM_STATES[type(move)]:
        raise Refused("wrong_state", f"a petition that is {p.status.value} cannot take '{name}' now")
    match move:
        case Triage(handler_id=handler_id, handler_kind=kind):
            if not handler_id:
                raise Refused("invalid_request", "name the handler")
            if p.status is not Status.FILED and (handler_id, kind) == (p.handler_id, p.handler_kind):
                raise Refused("unchanged", "the petition is already assigned to this handler")
            status = Status.ASSIGNED if p.status is Status.FILED else p.status
            return replace(p, handler_id=handler_id, handler_kind=kind, status=status)
        case Reclassify(klass=klass, reason=reason):
            _text(reason, "the reason for the new class", MAX_REASON, "reason_required")
            if klass is p.klass:
                raise Refused("unchanged", f"the petition is already {klass.value}")
            return replace(p, klass=klass, due_at=deadlines(p.cycle_started_at, WORKING_DAYS[klass]))
        case Contact(note=note):
            _text(note, "the contact note", MAX_TEXT, "note_required")
            return replace(p, status=Status.CONTACTED, first_contact_at=p.first_contact_at or now)
        case Reply(outcome=outcome, resolution=resolution, has_reply=has_reply):
            _text(resolution, "the resolution", MAX_TEXT, "resolution_required")
            if not has_reply:
                raise Refused("reply_required", "attach a reply to the citizen: a text or a recorded clip")
            return replace(p, status=Status.REPLIED, replied_at=now, outcome=outcome, resolution=resolution)
        case Rate(rating=rating):
            return replace(p, status=Status.RATED, rating=rating)
        case Reopen(reason=reason):
            _text(reason, "the reason for reopening", MAX_REASON, "reason_required")
            if p.reopen_count >= 1:
                raise Refused("reopen_used", "a petition can be reopened once only")
            assert p.replied_at is not None  # every state Reopen starts from has a reply
            if now >= p.replied_at + timedelta(days=reopen_days):
                raise Refused("reopen_expired", f"a petition can be reopened within {reopen_days} days of the reply")
            return replace(p, status=Status.ASSIGNED, cycle_started_at=now,
                           due_at=deadlines(now, WORKING_DAYS[p.klass]), first_contact_at=None, replied_at=None,
                           outcome=None, resolution=None, rating=None, reopen_count=p.reopen_count + 1,
                           closed_at=None)
        case Close():
            if not p.resolution:  # unreachable through `step`; kept as the rule's last line of defence
                raise Refused("resolution_required", "a petition cannot be closed without a resolution")
            return replace(p, status=Status.CLOSED, closed_at=now)
    raise AssertionError(f"unknown move {move!r}")


def reopen_ends_at(p: Petition, reopen_days: int = REOPEN_DAYS) -> datetime | None:
    """When the citizen's chance to reopen ends (None: none left, or no reply yet)."""
    if p.replied_at is None or p.reopen_count >= 1:
        return None
    return p.replied_at + timedelta(days=reopen_days)


def overdue(p: Petition, now: datetime) -> bool:
    """Not answered in this cycle and past the deadline."""
    return p.replied_at is None and now >= p.due_at


def light(p: Petition, now: datetime) -> Light:
    """The traffic light of the current cycle.

    red   — no reply and the deadline has passed (overdue, not reported), or the reply came at/after the deadline;
    blue  — replied before the deadline, awaiting review (state replied: not yet rated nor closed);
    green — replied before the deadline, and rated or closed (done and reported);
    grey  — no reply yet and the deadline not reached (in progress).
    """
    if p.replied_at is None:
        return Light.RED if now >= p.due_at else Light.GREY
    if p.replied_at >= p.due_at:
        return Light.RED
    return Light.BLUE if p.status is Status.REPLIED else Light.GREEN
