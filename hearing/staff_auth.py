"""Court staff login: passwords, lockout, sessions, permissions, and the role a staff member holds in a hearing.

Passwords are hashed with argon2id (argon2-cffi; the parameters travel inside each hash, so raising them later
re-hashes at the next login). A login for an unknown username still runs one argon2 verification against a dummy
hash, so its timing does not tell which usernames exist. Guessing is slowed per client address
(hearing.login_throttle, in the login route), never by locking the account, which would let anyone lock a judge
out. A court may still opt into a lockout (`max_failed_logins`): then after that many wrong passwords in a row the
account is locked for `LOCK_DURATION`; while locked, logins are refused without checking the password (so
guessing stops), with an error saying until when. Successes and failures are audited (`staff.login`,
`staff.login_failed`, `staff.logout`) with the account id only, never the username typed.

A session is an opaque random token given to the client once; the store keeps only its SHA-256, so a copy of the
database does not let anyone in. Sessions last `SESSION_TTL` (a court day) and end at logout.

Staff roles (admin, presiding judge, judge, clerk, mediator) grant API permissions (`STAFF_PERMISSIONS`). They do
not by themselves give a role *in a hearing*: that comes from the register, and the account must be qualified
for it (`hearing_role`):
- the person on the hearing's panel first is its presiding judge, the others its judges — if the account holds a
  judicial staff role (presiding_judge or judge; an ordinary judge may preside over a panel);
- otherwise a participant record of the hearing for the account's person, with a court role, gives that role:
  clerk needs the clerk staff role, mediator the mediator (or a judicial) staff role, a judge role a judicial one;
- admins hold no role in any hearing unless the register puts their person there like anyone else: running the
  system is not sitting in court, so an admin cannot start a session or seal a record on their own.
Judges and mediators see the hearings their person is on (panel or participant); admins and clerks see all.

Seats (席位) and their links: a staff seat (presiding judge, judge, clerk, mediator: `STAFF_SEATS`) is only ever
the staff member's own. Its join link is issued to them alone, through their own login (`own_seat`; the staff API's
POST /api/hearings/{id}/my-link); nobody else — no admin, no clerk — can issue it, so nobody can withdraw a judge's
link and take the judge's procedure moves or enter the deliberation (合议) in the judge's place. Links for the
others' seats (parties, counsel, witnesses...) are issued by staff holding `links.issue` and go to those people.

Pure parts (permissions, password rules, `hearing_role`) are plain functions; `StaffAuth` is the shell over a
`StaffStore` and the audit log, with an injectable clock.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from docket.audit import AuditEvent, AuditLog
from docket.court import Hearing, Participant
from docket.staff import NewStaff, StaffAccount, StaffRole, StaffSession, StaffStore, parse_roles
from hearing.roles import Role

MAX_FAILED_LOGINS = 5
"""Where a court opts into a per-account lockout (StaffAuth(max_failed_logins=...)); off by default, because a
lockout lets anyone lock a judge out by guessing: logins are throttled per client address instead
(hearing.login_throttle)."""
NEVER = 1 << 31
LOCK_DURATION = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; a cap keeps a request from costing more than a password
TOKEN_PREFIX = "hs_"
AUDIT_ROLE = "staff"


class Permission(StrEnum):
    """What the staff API checks; a 403 names the one missing."""

    READ_REGISTER = "register.read"  # persons, cases, stations
    WRITE_REGISTER = "register.write"  # create persons, stations, cases, hearings, participants
    ISSUE_LINKS = "links.issue"  # one-time join links for participants
    VIEW_ALL_HEARINGS = "hearings.view_all"  # without it: only the hearings one's person is on
    VIEW_STATS = "stats.view"
    CHANGE_PROCEDURE = "procedure.change"  # also needs a role in that hearing (hearing_role)
    READ_AUDIT = "audit.read"  # browse the audit log (admins: running the system, not sitting in court)


P = Permission
_CLERK = frozenset({P.READ_REGISTER, P.WRITE_REGISTER, P.ISSUE_LINKS, P.VIEW_ALL_HEARINGS, P.VIEW_STATS,
                    P.CHANGE_PROCEDURE})
_JUDGE = frozenset({P.VIEW_STATS, P.CHANGE_PROCEDURE})

STAFF_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.ADMIN: frozenset({P.READ_REGISTER, P.WRITE_REGISTER, P.ISSUE_LINKS, P.VIEW_ALL_HEARINGS, P.VIEW_STATS,
                                P.READ_AUDIT}),
    StaffRole.CLERK: _CLERK,
    StaffRole.PRESIDING_JUDGE: _JUDGE,
    StaffRole.JUDGE: _JUDGE,
    StaffRole.MEDIATOR: frozenset({P.CHANGE_PROCEDURE}),
    # Station operators use only the stations API (their station, its calls); nothing of the register.
    StaffRole.STATION_OPERATOR: frozenset(),
}

JUDICIAL = frozenset({StaffRole.PRESIDING_JUDGE, StaffRole.JUDGE})
_QUALIFIED: dict[Role, frozenset[StaffRole]] = {
    Role.PRESIDING_JUDGE: JUDICIAL,
    Role.JUDGE: JUDICIAL,
    Role.CLERK: frozenset({StaffRole.CLERK}),
    Role.MEDIATOR: JUDICIAL | {StaffRole.MEDIATOR},
}
"""Court roles a staff member may hold in a hearing, and the staff roles that qualify for each."""

STAFF_SEATS = frozenset(_QUALIFIED)
"""Seats held by court staff: their links go only to the staff member themselves, through their own login."""


def permissions_of(roles: Iterable[StaffRole]) -> frozenset[Permission]:
    out: frozenset[Permission] = frozenset()
    for role in roles:
        out |= STAFF_PERMISSIONS.get(role, frozenset())
    return out


COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common_passwords.txt"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case), refused for staff accounts."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None. Length matters most (no composition rules), and a password from
    the shipped common list, or one character or a run of digits repeated, is refused however long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password may have at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "a password cannot be only spaces"
    folded = password.strip().lower()
    if folded in common_passwords() or len(set(folded)) <= 2 or _sequence(folded):
        return "this password is one of the most common ones (or a simple pattern); choose another"
    return None


def _sequence(text: str) -> bool:
    """Digits or letters counting up or down by one (1234567890, abcdefghij, 9876543210)."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and steps <= {1, -1, -9, 9}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cheap_hasher() -> PasswordHasher:
    """Minimal argon2 cost, for tests only: hashes made with it are still valid, just fast to guess."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """Who is calling the staff API: the account (ids, roles) and the session they called with."""

    id: str
    username: str
    display_name: str
    person_id: str | None
    roles: frozenset[StaffRole]
    session_hash: str
    session_expires_at: datetime

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def panel_problem(panel: Iterable[str], accounts: Iterable[StaffAccount]) -> int | None:
    """The 1-based position of the first panel member who is not one of the court's judges (an enabled staff
    account of that person holding a judicial role), or None. Scheduling refuses such a panel: a clerk or an
    admin on it would hold no seat (`hearing_role`), and nobody else could take the judge's place."""
    judges = {a.person_id for a in accounts if a.person_id and not a.disabled and a.roles & JUDICIAL}
    for position, person_id in enumerate(panel, start=1):
        if person_id not in judges:
            return position
    return None


def involved(principal: StaffPrincipal, hearing: Hearing, participants: Iterable[Participant]) -> bool:
    """Whether the principal's person is on the hearing's panel or among its participants."""
    pid = principal.person_id
    return pid is not None and (pid in hearing.panel or any(p.person_id == pid for p in participants))


def hearing_role(principal: StaffPrincipal, hearing: Hearing, participants: Iterable[Participant]) -> Role | None:
    """The court role the principal acts in for this hearing, or None (see the module docstring)."""
    pid = principal.person_id
    if pid is None:
        return None
    if hearing.panel and principal.roles & JUDICIAL:
        if hearing.panel[0] == pid:
            return Role.PRESIDING_JUDGE
        if pid in hearing.panel[1:]:
            return Role.JUDGE
    for p in participants:
        if p.person_id != pid or p.hearing_id != hearing.id:
            continue
        try:
            role = Role(p.role)
        except ValueError:
            return None
        return role if principal.roles & _QUALIFIED.get(role, frozenset()) else None
    return None


@dataclass(frozen=True, slots=True)
class Seat:
    """The staff seat the principal holds in a hearing; `participant` is None for a panel judge not yet listed."""

    role: Role
    participant: Participant | None


def is_staff_seat(role: Role | str) -> bool:
    return role in STAFF_SEATS


def own_seat(principal: StaffPrincipal, hearing: Hearing, participants: Iterable[Participant]) -> Seat | None:
    """The principal's own staff seat in the hearing (the role `hearing_role` gives them), or None.

    None also when their person's participant record names another role than the one they hold (a panel judge
    listed as a witness): the register must be put right before either seat gets a link.
    """
    participants = list(participants)
    role = hearing_role(principal, hearing, participants)
    if role is None or role not in STAFF_SEATS:
        return None
    mine = next((p for p in participants if p.person_id == principal.person_id and p.hearing_id == hearing.id), None)
    if mine is not None and mine.role != role.value:
        return None
    return Seat(role, mine)


# ---- errors ---------------------------------------------------------------------------------------------


class LoginRefused(Exception):
    """A login that did not succeed; `code` is bad_credentials, locked or disabled, and the message says why."""

    def __init__(self, code: str, message: str, *, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.locked_until = locked_until


class SessionInvalid(Exception):
    """No usable session: missing, unknown, expired, ended, or its account disabled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_BAD_CREDENTIALS = "wrong username or password"


# ---- the shell ------------------------------------------------------------------------------------------


class StaffAuth:
    """Login, logout and session resolution over a `StaffStore`, audited. `clock` and `hasher` are injectable."""

    def __init__(
        self,
        store: StaffStore,
        audit: AuditLog,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] | None = None,
        session_ttl: timedelta = SESSION_TTL,
        max_failed_logins: int | None = None,
        lock_duration: timedelta = LOCK_DURATION,
    ) -> None:
        self.store = store
        self.audit = audit
        self.hasher = hasher or PasswordHasher()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.session_ttl = session_ttl
        self.max_failed_logins = max_failed_logins
        self.lock_duration = lock_duration
        self._dummy: tuple[PasswordHasher, str] | None = None

    # -- passwords --

    async def hash_password(self, password: str) -> str:
        """ValueError (the reason) if the password is refused; argon2 runs off the event loop."""
        problem = password_problem(password)
        if problem:
            raise ValueError(problem)
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored_hash: str, password: str) -> bool:
        def run() -> bool:
            try:
                return bool(self.hasher.verify(stored_hash, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(run)

    async def _dummy_hash(self) -> str:
        if self._dummy is None or self._dummy[0] is not self.hasher:
            self._dummy = (self.hasher, await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(16)))
        return self._dummy[1]

    async def create_account(self, username: str, display_name: str, roles: Iterable[str | StaffRole],
                             password: str, *, person_id: str | None = None) -> StaffAccount:
        """Validate and hash, then store (DuplicateUsername, NotFound, InvalidRecord, ValueError)."""
        parsed = parse_roles(roles)
        password_hash = await self.hash_password(password)
        return await self.store.create_staff(NewStaff(username, display_name, parsed, password_hash, person_id))

    # -- login / logout --

    async def _failed(self, actor_id: str, subject: str, reason: str, **details: object) -> None:
        await self.audit.append(AuditEvent(actor_id, AUDIT_ROLE, "staff.login_failed", subject,
                                           {"reason": reason, **details}))

    async def login(self, username: str, password: str) -> tuple[str, StaffPrincipal]:
        """The new session token (give it to the client once) and the principal; LoginRefused otherwise."""
        if len(password) > MAX_PASSWORD_LENGTH:
            raise LoginRefused("bad_credentials", _BAD_CREDENTIALS)
        account = await self.store.find_staff(username)
        if account is None:
            await self._verify(await self._dummy_hash(), password)  # same cost as a real check
            await self._failed("anonymous", "staff:unknown", "unknown_username")
            raise LoginRefused("bad_credentials", _BAD_CREDENTIALS)
        subject = f"staff:{account.id}"
        now = self.clock()
        if account.locked_at(now):
            assert account.locked_until is not None
            await self._failed(account.id, subject, "locked")
            raise LoginRefused(
                "locked",
                f"this account is locked after {self.max_failed_logins} wrong passwords until "
                f"{account.locked_until:%Y-%m-%d %H:%M} UTC; try again then, or ask an administrator",
                locked_until=account.locked_until,
            )
        if not await self._verify(account.password_hash, password):
            updated = await self.store.record_failed_login(account.id, now, limit=self.max_failed_logins or NEVER,
                                                           lock_for=self.lock_duration)
            if updated.locked_at(now):
                assert updated.locked_until is not None
                await self._failed(account.id, subject, "wrong_password", locked=True,
                                   locked_until=updated.locked_until.isoformat())
                raise LoginRefused(
                    "locked",
                    f"wrong username or password; after {self.max_failed_logins} wrong passwords the account is "
                    f"locked until {updated.locked_until:%Y-%m-%d %H:%M} UTC",
                    locked_until=updated.locked_until,
                )
            await self._failed(account.id, subject, "wrong_password", attempts=updated.failed_attempts)
            raise LoginRefused("bad_credentials", _BAD_CREDENTIALS)
        if account.disabled:  # said only to someone who knows the password
            await self._failed(account.id, subject, "disabled")
            raise LoginRefused("disabled", "this account is disabled; ask an administrator")
        await self.store.record_successful_login(account.id)
        if self.hasher.check_needs_rehash(account.password_hash):
            await self.store.set_password_hash(account.id, await asyncio.to_thread(self.hasher.hash, password))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session = StaffSession(hash_token(token), account.id, now, now + self.session_ttl)
        await self.store.create_session(session)
        await self.audit.append(AuditEvent(account.id, AUDIT_ROLE, "staff.login", subject,
                                           {"session": session.token_hash[:16]}))
        return token, self._principal(account, session)

    async def logout(self, principal: StaffPrincipal) -> None:
        await self.store.revoke_session(principal.session_hash, self.clock())
        await self.audit.append(AuditEvent(principal.id, AUDIT_ROLE, "staff.logout", f"staff:{principal.id}",
                                           {"session": principal.session_hash[:16]}))

    async def resolve(self, token: str) -> StaffPrincipal:
        """The principal a session token stands for; SessionInvalid saying why not."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            raise SessionInvalid("the session token is not valid; log in again (POST /api/login)")
        session = await self.store.get_session(hash_token(token))
        if session is None:
            raise SessionInvalid("the session token is not valid; log in again (POST /api/login)")
        if session.revoked_at is not None:
            raise SessionInvalid("this session has ended (logged out); log in again (POST /api/login)")
        if not session.valid_at(self.clock()):
            raise SessionInvalid("this session has expired; log in again (POST /api/login)")
        account = await self.store.get_staff(session.staff_id)
        if account.disabled:
            raise SessionInvalid("this account is disabled; ask an administrator")
        return self._principal(account, session)

    @staticmethod
    def _principal(account: StaffAccount, session: StaffSession) -> StaffPrincipal:
        return StaffPrincipal(account.id, account.username, account.display_name, account.person_id, account.roles,
                              session.token_hash, session.expires_at)
