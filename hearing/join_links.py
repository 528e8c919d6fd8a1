"""One-time join links for the register's participants: who may get one, for how long, and issuing it.

A link is a signed join token (signaling.tokens) in the URL fragment (`/join#token=…`; browsers never send the
fragment, so no server or proxy log holds it). For a register participant the token carries the participant's id,
role and that role's grants (hearing.roles.ROLE_GRANTS), for the hearing's room — which is the hearing's id if the
hearing had none. Each participant holds one live link: issuing a new one binds it to the participant record and
revokes the ones before it (a link sent to the wrong address is withdrawn by issuing another).

Who may ever get a link is the permission policy's word (hearing.policy): a role with no grant at all in a kind is
refused, e.g. nobody but the panel and the clerk for a deliberation (合议). Judges must match the panel (the
presiding judge is the first panel member), so a judge's link cannot be issued to someone off the panel.

No FastAPI and no app/ here: the staff API, the CLI and the demo pass in the adapters, the base URL and the
TokenService. Pure rules (`admitted_roles`, `admission_problem`, `default_ttl`) are separate from the shell.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from docket.audit import AuditEvent, AuditLog
from docket.court import CourtRecords, Hearing, NotFound
from docket.records import IssuedToken, Records
from hearing.kinds import KIND_LABELS, HearingKind, ProcedureState
from hearing.policy import allowed
from hearing.roles import ROLE_GRANTS, Role
from signaling.tokens import TokenService

LINK_GRACE = timedelta(hours=2)
"""A default link lasts until the scheduled end plus this (hearings overrun)..."""
MAX_TTL = timedelta(hours=24)
"""...but never longer than this: links are issued on the day, not a week ahead."""
MIN_DEFAULT_TTL = timedelta(hours=1)
"""A link for a hearing already past its scheduled end still lasts this long."""
MIN_TTL_SECONDS = 60
JOINABLE_STATES = frozenset({ProcedureState.SCHEDULED, ProcedureState.LOBBY_OPEN, ProcedureState.IN_SESSION,
                             ProcedureState.RECESS})
REPLACED_REASON = "replaced by a new link"


class LinkRefused(Exception):
    """No link for this participant now; `code` is role_not_admitted, hearing_over, bad_ttl or conflict."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RoomAssigner(Protocol):
    async def assign_room(self, hearing_id: str, room_id: str) -> str:
        """Set the hearing's room id if it has none; return the room id in effect."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedLink:
    url: str  # holds the token: show it once, never log it
    jti: str
    room_id: str
    participant_id: str
    role: Role
    expires_at: datetime
    revoked: tuple[str, ...]  # token ids this link replaced


# ---- pure rules -----------------------------------------------------------------------------------------


def admitted_roles(kind: HearingKind | str) -> frozenset[Role]:
    """Roles the policy grants anything at all, in any state, for this kind of hearing."""
    return frozenset(r for r in Role if any(allowed(r, kind, s) for s in ProcedureState))


def _kind_name(kind: HearingKind) -> str:
    """With its article: "a deliberation (合议)", "an interview (谈话)"."""
    zh, en = KIND_LABELS[kind]
    return f"{'an' if en[0].lower() in 'aeiou' else 'a'} {en.lower()} ({zh})"


def admission_problem(hearing: Hearing, role: Role | str, person_id: str) -> str | None:
    """Why `person_id` may not take part in `hearing` as `role`, or None. Readable, for the clerk."""
    try:
        role = Role(role)
    except ValueError:
        return f"{role!r} is not a role of this court; use one of {', '.join(r.value for r in Role)}"
    kind = HearingKind(hearing.kind)
    admitted = admitted_roles(kind)
    if role not in admitted:
        return (f"{_kind_name(kind)} admits only {', '.join(sorted(r.value for r in admitted))}; "
                f"no link for it is ever issued to anyone else ({role.value})")
    strict = kind is HearingKind.DELIBERATION  # the panel's own room: judges must be the panel, always
    if role is Role.PRESIDING_JUDGE and (hearing.panel or strict):
        if not hearing.panel or hearing.panel[0] != person_id:
            return "the presiding judge of a hearing is the first member of its panel; change the panel first"
    if role is Role.JUDGE and (hearing.panel or strict):
        if person_id not in hearing.panel[1:]:
            return "a judge of a hearing must sit on its panel (after the presiding judge); change the panel first"
    return None


def default_ttl(scheduled_end: datetime, now: datetime) -> int:
    """Seconds until the scheduled end plus LINK_GRACE, kept between MIN_DEFAULT_TTL and MAX_TTL."""
    ttl = min(max(scheduled_end + LINK_GRACE - now, MIN_DEFAULT_TTL), MAX_TTL)
    return int(ttl.total_seconds())


def check_ttl(ttl_seconds: int) -> int:
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL.total_seconds():
        raise LinkRefused("bad_ttl", f"a link lasts {MIN_TTL_SECONDS} s to {int(MAX_TTL.total_seconds())} s "
                                     f"(24 h); {ttl_seconds} s was asked")
    return ttl_seconds


# ---- the shell ------------------------------------------------------------------------------------------

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(participant_id: str) -> asyncio.Lock:
    lock = _locks.get(participant_id)
    if lock is None:
        lock = asyncio.Lock()
        _locks[participant_id] = lock
    return lock


async def issue_participant_link(
    court: CourtRecords,
    records: Records,
    tokens: TokenService,
    rooms: RoomAssigner,
    base_url: str,
    *,
    hearing_id: str,
    participant_id: str,
    ttl_seconds: int | None = None,
    now: datetime | None = None,
    audit: AuditLog | None = None,
    actor_id: str = "system",
    actor_role: str = "system",
) -> IssuedLink:
    """Issue, record and bind a new link for the participant and revoke the ones before it.

    NotFound if the hearing or participant (in this hearing) does not exist; LinkRefused if the participant may
    not get one (role not admitted, judge off the panel, hearing over, bad ttl). Concurrent issuance for one
    participant is serialised within this process; across instances the last bind wins and every link it did not
    bind is revoked by whichever issuer ran last.
    """
    now = now or datetime.now(UTC)
    hearing = await court.get_hearing(hearing_id)
    participant = await court.get_participant(participant_id)
    if participant.hearing_id != hearing.id:
        raise NotFound("participant", participant_id)
    if hearing.state not in JOINABLE_STATES:
        raise LinkRefused("hearing_over", f"hearing {hearing.id} is {hearing.state.replace('_', ' ')}; "
                                          "nobody can join it any more")
    problem = admission_problem(hearing, participant.role, participant.person_id)
    if problem:
        raise LinkRefused("role_not_admitted", problem)
    role = Role(participant.role)
    ttl = check_ttl(ttl_seconds) if ttl_seconds is not None else default_ttl(hearing.scheduled_end, now)
    room_id = hearing.room_id or await rooms.assign_room(hearing.id, hearing.id)
    case = await court.get_case(hearing.case_id)
    person = await court.get_person(participant.person_id)
    await records.create_room(room_id, f"{case.case_number} {KIND_LABELS[hearing.kind][0]}", hearing.kind.value)
    async with _lock(participant.id):
        token, claims = tokens.issue_join(room_id=room_id, role=role.value, name=person.name,
                                          grants=ROLE_GRANTS[role], ttl_seconds=ttl, participant_id=participant.id)
        issued = IssuedToken(
            jti=claims.jti, room_id=room_id, participant_id=participant.id, role=role.value,
            issued_at=datetime.fromtimestamp(claims.issued_at, UTC),
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        )
        await records.record_token(issued)
        await court.bind_token(participant.id, claims.jti)
        bound = (await court.get_participant(participant.id)).token_jti
        revoked: list[str] = []
        for old in await records.tokens_for_room(room_id):
            if (old.participant_id == participant.id and old.jti != bound and old.revoked_at is None
                    and await records.revoke_token(old.jti, REPLACED_REASON)):
                revoked.append(old.jti)
    if bound != claims.jti:  # another instance bound its link after ours: ours was just revoked
        raise LinkRefused("conflict", "another link was issued for this participant at the same moment; "
                                      "use that one, or issue again")
    if audit is not None:
        await audit.append(AuditEvent(actor_id, actor_role, "link.issued", f"participant:{participant.id}", {
            "hearing_id": hearing.id, "room_id": room_id, "jti": claims.jti, "role": role.value,
            "expires_at": issued.expires_at.isoformat(), "revoked": revoked,
        }))
    return IssuedLink(f"{base_url}/join#token={token}", claims.jti, room_id, participant.id, role,
                      issued.expires_at, tuple(revoked))
