"""Staff accounts and sessions (`SqlStaffStore`) on SQLite and PostgreSQL, and login/lockout/sessions (`StaffAuth`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from docket.audit import SqlAuditLog
from docket.court import Hearing, HearingKind, InvalidRecord, NotFound, Participant, ParticipantStatus
from docket.court_sql import SqlCourtRecords, open_court_records
from docket.staff import (
    DuplicateUsername,
    NewStaff,
    StaffNotFound,
    StaffRole,
    StaffSession,
    StaffStore,
    after_failed_login,
    normalise_username,
    parse_roles,
)
from docket.staff_sql import SqlStaffStore, open_staff_store
from hearing.roles import Role
from hearing.staff_auth import (
    LOCK_DURATION,
    SESSION_TTL,
    LoginRefused,
    Permission,
    SessionInvalid,
    StaffAuth,
    StaffPrincipal,
    cheap_hasher,
    hash_token,
    hearing_role,
    involved,
    password_problem,
    permissions_of,
)

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Db:
    court: SqlCourtRecords
    store: SqlStaffStore
    audit: SqlAuditLog


@pytest.fixture
async def db(court_url: str) -> AsyncIterator[Db]:
    """The register and staff store on each backend (conftest's `court_url`): SQLite, then a fresh PostgreSQL db."""
    court = await open_court_records(court_url, id_hash_iterations=1_000)  # migrates to head
    store = open_staff_store(court_url)
    try:
        yield Db(court, store, court.audit)
    finally:
        await store.close()
        await court.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(db: Db, clock: Clock) -> StaffAuth:
    return StaffAuth(db.store, db.audit, hasher=cheap_hasher(), clock=clock)


def _new(username: str = "Wang.Judge", roles: frozenset[StaffRole] = frozenset({StaffRole.JUDGE}),
         person_id: str | None = None) -> NewStaff:
    return NewStaff(username, "王法官", roles, "argon2-hash-placeholder", person_id)


# ---- pure parts -------------------------------------------------------------------------------------------


def test_usernames_are_normalised_and_checked() -> None:
    assert normalise_username("  Wang.Judge ") == "wang.judge"
    assert normalise_username("ＷＡＮＧ") == "wang"  # full-width letters (NFKC)
    assert normalise_username("书记员01") == "书记员01"
    for bad in ("", "two words", "x" * 65, "semi;colon"):
        with pytest.raises(InvalidRecord, match="username"):
            normalise_username(bad)


def test_roles_are_parsed_with_clear_errors() -> None:
    assert parse_roles(["judge", "clerk"]) == {StaffRole.JUDGE, StaffRole.CLERK}
    with pytest.raises(InvalidRecord, match=r"unknown staff role.*bailiff.*choose from"):
        parse_roles(["judge", "bailiff"])
    with pytest.raises(InvalidRecord, match="at least one"):
        parse_roles([" ", ""])


def test_lockout_arithmetic() -> None:
    assert after_failed_login(0, T0, limit=5, lock_for=LOCK_DURATION) == (1, None)
    assert after_failed_login(3, T0, limit=5, lock_for=LOCK_DURATION) == (4, None)
    assert after_failed_login(4, T0, limit=5, lock_for=LOCK_DURATION) == (0, T0 + LOCK_DURATION)


def test_password_rules() -> None:
    assert password_problem(PASSWORD) is None
    assert "at least 10" in (password_problem("short") or "")
    assert "only spaces" in (password_problem(" " * 12) or "")
    assert "at most" in (password_problem("x" * 2000) or "")


def test_permissions_by_staff_role() -> None:
    assert Permission.WRITE_REGISTER in permissions_of({StaffRole.CLERK})
    assert Permission.ISSUE_LINKS in permissions_of({StaffRole.ADMIN})
    judge = permissions_of({StaffRole.JUDGE})
    assert Permission.WRITE_REGISTER not in judge and Permission.VIEW_ALL_HEARINGS not in judge
    assert Permission.CHANGE_PROCEDURE not in permissions_of({StaffRole.ADMIN})  # running the system ≠ sitting


def _principal(roles: set[StaffRole], person_id: str | None = "p-judge") -> StaffPrincipal:
    return StaffPrincipal("s1", "u", "U", person_id, frozenset(roles), "h" * 64, T0 + SESSION_TTL)


def _hearing(panel: tuple[str, ...] = ("p-pres", "p-judge")) -> Hearing:
    return Hearing("h1", "c1", HearingKind.TRIAL, T0, T0 + timedelta(hours=2), panel, "scheduled", None, True, T0, T0)


def _participant(person_id: str, role: str) -> Participant:
    return Participant(f"pt-{person_id}", "h1", person_id, role, ParticipantStatus.WAITING, None, None, None, T0)


def test_hearing_role_comes_from_the_register_and_needs_a_matching_staff_role() -> None:
    h = _hearing()
    assert hearing_role(_principal({StaffRole.PRESIDING_JUDGE}, "p-pres"), h, []) is Role.PRESIDING_JUDGE
    assert hearing_role(_principal({StaffRole.JUDGE}, "p-pres"), h, []) is Role.PRESIDING_JUDGE  # a judge may preside
    assert hearing_role(_principal({StaffRole.JUDGE}), h, []) is Role.JUDGE
    assert hearing_role(_principal({StaffRole.CLERK}), h, []) is None  # on the panel but not a judge
    clerk = [_participant("p-clerk", "clerk")]
    assert hearing_role(_principal({StaffRole.CLERK}, "p-clerk"), h, clerk) is Role.CLERK
    assert hearing_role(_principal({StaffRole.MEDIATOR}, "p-clerk"), h, clerk) is None
    assert hearing_role(_principal({StaffRole.ADMIN}, "p-other"), h, []) is None
    assert hearing_role(_principal({StaffRole.ADMIN}, None), h, []) is None
    assert hearing_role(_principal({StaffRole.CLERK}, "p-x"), h, [_participant("p-x", "plaintiff")]) is None
    assert involved(_principal({StaffRole.CLERK}, "p-x"), h, [_participant("p-x", "plaintiff")])
    assert not involved(_principal({StaffRole.JUDGE}, "p-y"), h, [])


# ---- the store on both backends ---------------------------------------------------------------------------


async def test_store_satisfies_the_protocol(db: Db) -> None:
    assert isinstance(db.store, StaffStore)


async def test_accounts_are_unique_case_insensitively(db: Db) -> None:
    account = await db.store.create_staff(_new("Wang.Judge"))
    assert account.username == "wang.judge" and account.roles == {StaffRole.JUDGE}
    assert account.failed_attempts == 0 and account.locked_until is None and not account.disabled
    assert account.created_at is not None and account.created_at.tzinfo is not None
    assert "argon2-hash-placeholder" not in repr(account)
    assert await db.store.find_staff("WANG.JUDGE") == account
    assert await db.store.find_staff("nobody") is None
    assert await db.store.find_staff("not a valid name") is None
    assert await db.store.get_staff(account.id) == account
    with pytest.raises(DuplicateUsername, match="case-insensitive"):
        await db.store.create_staff(_new("wang.JUDGE"))
    await db.store.create_staff(_new("clerk.li", frozenset({StaffRole.CLERK, StaffRole.ADMIN})))
    assert [a.username for a in await db.store.list_staff()] == ["clerk.li", "wang.judge"]
    with pytest.raises(StaffNotFound):
        await db.store.get_staff("missing")


async def test_accounts_link_to_one_person_each(db: Db) -> None:
    from docket.court import NewPerson

    person = await db.court.create_person(NewPerson("王审判长"))
    account = await db.store.create_staff(_new("wang", person_id=person.id))
    assert account.person_id == person.id
    with pytest.raises(InvalidRecord, match="already has a staff account"):
        await db.store.create_staff(_new("wang2", person_id=person.id))
    with pytest.raises(NotFound, match="person"):
        await db.store.create_staff(_new("ghost", person_id="no-such-person"))


async def test_concurrent_failures_all_count_and_lock(db: Db) -> None:
    account = await db.store.create_staff(_new())
    results = await asyncio.gather(*(
        db.store.record_failed_login(account.id, T0, limit=5, lock_for=LOCK_DURATION) for _ in range(5)
    ))
    after = await db.store.get_staff(account.id)
    assert after.locked_until == T0 + LOCK_DURATION and after.failed_attempts == 0
    assert sorted(r.failed_attempts for r in results) == [0, 1, 2, 3, 4]
    assert after.locked_at(T0 + timedelta(minutes=14)) and not after.locked_at(T0 + LOCK_DURATION)
    cleared = await db.store.record_successful_login(account.id)
    assert cleared.locked_until is None and cleared.failed_attempts == 0


async def test_sessions_store_only_a_hash_and_end(db: Db) -> None:
    account = await db.store.create_staff(_new())
    other = await db.store.create_staff(_new("other"))
    s1 = StaffSession(hash_token("tok-1"), account.id, T0, T0 + SESSION_TTL)
    await db.store.create_session(s1)
    await db.store.create_session(StaffSession(hash_token("tok-2"), account.id, T0, T0 + SESSION_TTL))
    await db.store.create_session(StaffSession(hash_token("tok-3"), other.id, T0, T0 + SESSION_TTL))
    assert await db.store.get_session(hash_token("tok-1")) == s1
    assert await db.store.get_session("tok-1") is None  # looked up by hash only
    assert await db.store.revoke_session(s1.token_hash, T0 + timedelta(hours=1))
    assert await db.store.revoke_session(s1.token_hash, T0 + timedelta(hours=2))  # exists; first time kept
    assert (await db.store.get_session(s1.token_hash)).revoked_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    assert not await db.store.revoke_session("0" * 64, T0)
    assert await db.store.revoke_sessions_of(account.id, T0 + timedelta(hours=3)) == 1
    assert (await db.store.get_session(hash_token("tok-3"))).revoked_at is None  # type: ignore[union-attr]
    with pytest.raises(StaffNotFound):
        await db.store.create_session(StaffSession("a" * 64, "missing", T0, T0 + SESSION_TTL))


async def test_disable_and_password_change(db: Db) -> None:
    account = await db.store.create_staff(_new())
    assert (await db.store.set_disabled(account.id, True)).disabled
    await db.store.set_password_hash(account.id, "new-hash")
    assert (await db.store.get_staff(account.id)).password_hash == "new-hash"
    with pytest.raises(StaffNotFound):
        await db.store.set_disabled("missing", True)


# ---- login, lockout, sessions -----------------------------------------------------------------------------


async def _audit_texts(db: Db) -> list[str]:
    return [f"{e.actor_id} {e.action} {e.subject} {e.details}" for e in await db.audit.entries(0, 1000)]


async def test_login_resolve_logout(db: Db, auth: StaffAuth, clock: Clock) -> None:
    account = await auth.create_account("Clerk.Li", "李书记员", ["clerk"], PASSWORD)
    token, principal = await auth.login("clerk.li", PASSWORD)
    assert principal.id == account.id and principal.roles == {StaffRole.CLERK}
    assert principal.session_expires_at == T0 + SESSION_TTL
    assert (await auth.resolve(token)) == principal
    session = await db.store.get_session(hash_token(token))
    assert session is not None and session.token_hash != token
    await auth.logout(principal)
    with pytest.raises(SessionInvalid, match="ended"):
        await auth.resolve(token)
    entries = await db.audit.entries(0, 100)
    assert [(e.action, e.actor_id) for e in entries] == [("staff.login", account.id), ("staff.logout", account.id)]
    assert all("clerk.li" not in t.lower() and "李书记员" not in t for t in await _audit_texts(db))


async def test_sessions_expire_on_the_injected_clock(auth: StaffAuth, clock: Clock) -> None:
    await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    token, _ = await auth.login("judge", PASSWORD)
    clock.advance(SESSION_TTL - timedelta(seconds=1))
    await auth.resolve(token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(SessionInvalid, match="expired"):
        await auth.resolve(token)
    for bad in ("", "hs_unknown", "Bearer x", "hs_" + "x" * 200):
        with pytest.raises(SessionInvalid, match="not valid"):
            await auth.resolve(bad)


async def test_wrong_and_unknown_look_the_same_and_are_audited(db: Db, auth: StaffAuth) -> None:
    account = await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    with pytest.raises(LoginRefused) as wrong:
        await auth.login("judge", "not the password")
    with pytest.raises(LoginRefused) as unknown:
        await auth.login("nobody", PASSWORD)
    assert wrong.value.code == unknown.value.code == "bad_credentials"
    assert str(wrong.value) == str(unknown.value) == "wrong username or password"
    entries = await db.audit.entries(0, 100)
    assert [(e.action, e.actor_id, e.details.get("reason")) for e in entries] == [
        ("staff.login_failed", account.id, "wrong_password"),
        ("staff.login_failed", "anonymous", "unknown_username"),
    ]
    assert entries[0].details["attempts"] == 1
    assert all("nobody" not in t for t in await _audit_texts(db))


async def test_wrong_passwords_never_lock_by_default(db: Db, auth: StaffAuth) -> None:
    """Guessing must not let anyone lock a judge out (issue 14): throttling is per client address instead."""
    await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    for _ in range(12):
        with pytest.raises(LoginRefused, match="wrong username or password"):
            await auth.login("judge", "guess-guess-guess")
    _, principal = await auth.login("judge", PASSWORD)
    assert principal.username == "judge"


async def test_an_opted_in_lockout_locks_for_fifteen_minutes(db: Db, auth: StaffAuth, clock: Clock) -> None:
    auth.max_failed_logins = 5  # a court may opt in (StaffAuth(max_failed_logins=5))
    account = await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    for _ in range(4):
        with pytest.raises(LoginRefused, match="wrong username or password"):
            await auth.login("judge", "guess-guess-guess")
    with pytest.raises(LoginRefused) as locked:
        await auth.login("judge", "guess-guess-guess")
    assert locked.value.code == "locked" and locked.value.locked_until == T0 + LOCK_DURATION
    assert "locked until 2026-06-01 08:15 UTC" in str(locked.value)
    clock.advance(timedelta(minutes=14))
    with pytest.raises(LoginRefused, match="locked") as still:  # even the right password waits
        await auth.login("judge", PASSWORD)
    assert still.value.code == "locked"
    clock.advance(timedelta(minutes=1))
    _, principal = await auth.login("judge", PASSWORD)
    assert principal.id == account.id
    assert (await db.store.get_staff(account.id)).failed_attempts == 0
    reasons = [(e.action, e.details.get("reason"), e.details.get("locked")) for e in await db.audit.entries(0, 100)]
    assert reasons[4] == ("staff.login_failed", "wrong_password", True)
    assert reasons[5] == ("staff.login_failed", "locked", None)
    assert reasons[-1] == ("staff.login", None, None)


async def test_disabled_accounts(db: Db, auth: StaffAuth) -> None:
    account = await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    token, _ = await auth.login("judge", PASSWORD)
    await db.store.set_disabled(account.id, True)
    with pytest.raises(SessionInvalid, match="disabled"):
        await auth.resolve(token)
    with pytest.raises(LoginRefused) as wrong:  # the state is told only to someone who knows the password
        await auth.login("judge", "not the password")
    assert wrong.value.code == "bad_credentials"
    with pytest.raises(LoginRefused) as right:
        await auth.login("judge", PASSWORD)
    assert right.value.code == "disabled"


async def test_account_creation_checks_and_rehash(db: Db, auth: StaffAuth, clock: Clock) -> None:
    with pytest.raises(ValueError, match="at least 10"):
        await auth.create_account("judge", "王法官", ["judge"], "short")
    with pytest.raises(InvalidRecord, match="unknown staff role"):
        await auth.create_account("judge", "王法官", ["bailiff"], PASSWORD)
    account = await auth.create_account("judge", "王法官", ["judge"], PASSWORD)
    assert account.password_hash.startswith("$argon2id$")
    stronger = StaffAuth(db.store, db.audit, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1),
                         clock=clock)
    await stronger.login("judge", PASSWORD)  # parameters raised: re-hashed at the next login
    rehashed = (await db.store.get_staff(account.id)).password_hash
    assert rehashed != account.password_hash and "t=2" in rehashed
    await stronger.login("judge", PASSWORD)


# ---- the CLI ----------------------------------------------------------------------------------------------


def test_cli_staff_add_and_list(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    hearing = str(Path(sys.executable).parent / "hearing")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "DATABASE_", "HEARING_"))}
    env.update(HEARING_VAR_DIR=str(tmp_path / "var"), HEARING_ENV="test", HEARING_STAFF_PASSWORD=PASSWORD)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([hearing, "staff", *args], env={**env, **extra}, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    out = run("add", "--username", "Clerk.Li", "--name", "李书记员", "--roles", "clerk,admin")
    assert out.returncode == 0, out.stderr
    assert "created staff account clerk.li" in out.stdout and "admin, clerk" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr
    again = run("add", "--username", "CLERK.LI", "--name", "x", "--roles", "clerk")
    assert again.returncode == 1 and "is taken" in again.stderr and "Traceback" not in again.stderr
    bad = run("add", "--username", "judge", "--name", "x", "--roles", "judge,bailiff")
    assert bad.returncode == 1 and "unknown staff role" in bad.stderr
    short = run("add", "--username", "judge", "--name", "x", "--roles", "judge", HEARING_STAFF_PASSWORD="short")
    assert short.returncode == 2 and "at least 10" in short.stderr
    ghost = run("add", "--username", "judge", "--name", "x", "--roles", "judge", "--person-id", "nope")
    assert ghost.returncode == 1 and "no person 'nope'" in ghost.stderr
    listed = run("list")
    assert listed.returncode == 0 and "clerk.li" in listed.stdout and "admin,clerk" in listed.stdout
    assert "judge" not in listed.stdout
