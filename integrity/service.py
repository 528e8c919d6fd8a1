"""The integrity service: the thin shell around the pure rules (integrity.rules) and the facts register.

It recomputes a person's code when asked and when facts change (`recompute`, the handler the app's facts follower
runs for each person with new facts: docket.facts_follower), keeps a snapshot of each distinct result (the
person's history), answers agency queries (scope + stated purpose + rate limit; colour, validity and a signed
verification code only — never case details; staff may disable an agency or replace its scopes, effective
at once), and runs appeals and repair requests (信用修复) to a judge's
decision. Every query, appeal, decision and access link is written to the hash-chained audit log in the same
transaction as its row; a decision, the recomputed snapshot and both their audit entries are one transaction, so
an outcome is never recorded without its recomputation. Evidence files go to an object store app/ hands in
(integrity.evidence.EvidenceStore); judges open them through expiring links, each view audited. It reads docket/
only (never hearing/): app/ hands it the register, facts, signing key and evidence store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from time import time_ns
from typing import Any, Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from docket.audit import AuditEvent, append_in
from docket.court import CourtRecords, InvalidRecord, NotFound
from docket.facts import COURT_SOURCE, Fact, FactKind, NewFact, party_ref
from docket.facts_sql import SqlFactRecords
from docket.tables_integrity import (
    integrity_access_tokens,
    integrity_agencies,
    integrity_appeals,
    integrity_codes,
    integrity_evidence,
    integrity_queries,
    litigation_facts,
)
from docket.transactions import transaction
from integrity.evidence import (
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_FILES,
    VIEW_TTL,
    EvidenceFile,
    EvidenceLink,
    EvidenceStore,
    EvidenceUpload,
    Refusal,
    RefusalCode,
    check_files,
    evidence_digest,
    object_key,
)
from integrity.ratelimit import QUERY_BURST, QUERY_RATE, LimiterUnavailable, MemoryQueryLimiter, QueryLimiter
from integrity.rules import IntegrityResult, Reason, compute
from integrity.signing import CodeSigner

log = logging.getLogger("integrity")

MAX_PURPOSE = 500
MIN_PURPOSE = 4
MAX_APPEAL_TEXT = 4000
MAX_EVIDENCE_ITEMS = 20
ACCESS_TTL = timedelta(days=7)
AUDIT_ROLE_AGENCY = "agency"
AUDIT_ROLE_PERSON = "person"
AUDIT_ROLE_SYSTEM = "system"
FACTS_CHANGED = "facts_changed"
"""The trigger of a recomputation because the person's facts changed (follower, import)."""
QUERIED = "queried"
"""The trigger of the computation behind an agency query (snapshotted only when it adds something)."""
_PG_SNAPSHOT_LOCK = 0x494E_5447  # "INTG": advisory lock class; the person id's hash is the second key


class AgencyScope(StrEnum):
    """What an agency may check codes for; each query names one, which the agency must hold."""

    PROCUREMENT = "procurement"  # 政府采购: bidders for public contracts
    SUBSIDY = "subsidy"  # 补贴: applicants for public subsidies
    LICENSING = "licensing"  # 行政许可: licence applicants
    HIRING = "hiring"  # 公职招录: candidates for public posts


class AppealKind(StrEnum):
    APPEAL = "appeal"  # 异议: a fact is wrong
    REPAIR = "repair"  # 信用修复: obligations are now performed; end a reason early


class AppealStatus(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"


class IntegrityRefused(ValueError):
    """A request the service refuses; `code` is stable for the API, the message says what to do."""

    code = "refused"
    status = 400


class PurposeMissing(IntegrityRefused):
    code, status = "purpose_missing", 422


class ScopeDenied(IntegrityRefused):
    code, status = "scope_denied", 403


class ScopeUnknown(IntegrityRefused):
    """Staff named a scope that does not exist when creating an agency or replacing its scopes."""

    code, status = "scope_unknown", 422


class AgencyUnknown(IntegrityRefused):
    code, status = "agency_unknown", 401


class AgencyDisabled(IntegrityRefused):
    """The key is genuine but the court disabled the agency: told apart from a bad key so the agency knows to
    ask the court rather than check its configuration."""

    code, status = "agency_disabled", 403


class AccessDenied(IntegrityRefused):
    code, status = "access_denied", 401


class AccessRevoked(AccessDenied):
    """The link was withdrawn by court staff; a new one must be asked for."""

    code = "access_revoked"


_EVIDENCE_STATUS = {RefusalCode.TOO_LARGE: 413, RefusalCode.UNSUPPORTED_TYPE: 415}


class EvidenceRefused(IntegrityRefused):
    """An evidence file the court does not accept (empty, too large, not PDF/PNG/JPEG, too many)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.code = refusal.code.value
        self.status = _EVIDENCE_STATUS.get(refusal.code, 422)


class EvidenceUnavailable(IntegrityRefused):
    """No evidence store is configured, or it did not answer: nothing was filed."""

    code, status = "evidence_unavailable", 503


class AlreadyDecided(IntegrityRefused):
    code, status = "already_decided", 409


class RateLimited(IntegrityRefused):
    code, status = "rate_limited", 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitUnavailable(IntegrityRefused):
    """The shared rate limiter did not answer; refused rather than let an agency through unmetered."""

    code, status = "unavailable", 503


@dataclass(frozen=True, slots=True)
class Agency:
    id: str
    name: str
    scopes: frozenset[AgencyScope]
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CodeView:
    """A person's current code as they see it (agencies see only colour, valid_until and token)."""

    person_id: str
    colour: str | None
    score: int | None
    reasons: tuple[Reason, ...]
    not_scored: str | None
    valid_until: datetime
    ruleset_version: str
    computed_at: datetime
    token: str
    facts_seq: int


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    colour: str  # "none" for a person who is not scored
    valid_until: datetime
    verification_code: str


@dataclass(frozen=True, slots=True)
class QueryRecord:
    id: str
    agency_id: str
    agency_name: str
    scope: str
    purpose: str
    colour: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Appeal:
    id: str
    person_id: str
    kind: AppealKind
    text: str
    evidence: tuple[str, ...]
    fact_ids: tuple[str, ...]
    status: AppealStatus
    filed_at: datetime
    decided_by: str | None = None
    decision: str | None = None
    decided_at: datetime | None = None
    files: tuple[EvidenceFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    colour: str | None
    score: int | None
    reasons: list[dict[str, Any]]
    ruleset_version: str
    trigger: str
    computed_at: datetime
    valid_until: datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _reasons_json(reasons: Sequence[Reason]) -> list[dict[str, Any]]:
    return [{"code": r.code.value, "points": r.points, "case_numbers": list(r.case_numbers),
             "fact_ids": list(r.fact_ids), "expires_on": r.expires_on.isoformat() if r.expires_on else None,
             "forces": r.forces.value if r.forces else None} for r in reasons]


def _appeal(r: Any, files: Sequence[EvidenceFile] = ()) -> Appeal:
    return Appeal(r.id, r.person_id, AppealKind(r.kind), r.text, tuple(json.loads(r.evidence)),
                  tuple(json.loads(r.fact_ids)), AppealStatus(r.status), r.filed_at, r.decided_by, r.decision,
                  r.decided_at, tuple(files))


def _evidence(r: Any) -> EvidenceFile:
    return EvidenceFile(r.id, r.appeal_id, r.name, r.media_type, int(r.size), r.sha256, r.object_key, r.uploaded_at)


def _fact(r: Any) -> Fact:
    return Fact(person_id=r.person_id, kind=FactKind(r.kind), occurred_on=r.occurred_on, source=r.source,
                source_ref=r.source_ref, case_number=r.case_number, details=json.loads(r.details),
                expires_on=r.expires_on, id=r.id, seq=int(r.seq), recorded_at=r.recorded_at)


def _agency(r: Any) -> Agency:
    return Agency(r.id, r.name, frozenset(AgencyScope(s) for s in r.scopes.split()), r.created_at, r.disabled_at)


def _known_scopes(scopes: Sequence[str]) -> frozenset[AgencyScope]:
    """The scopes staff gave, all known and at least one."""
    known = {s.value for s in AgencyScope}
    unknown = sorted({s for s in scopes if s not in known})
    if unknown:
        raise ScopeUnknown(f"unknown scope(s) {', '.join(map(repr, unknown))}; scopes must be among "
                           f"{', '.join(s.value for s in AgencyScope)}")
    if not scopes:
        raise InvalidRecord("give the agency at least one scope (to stop an agency, disable it)")
    return frozenset(AgencyScope(s) for s in scopes)


def _refuse_disabled(agency: Agency) -> None:
    if agency.disabled_at is not None:
        raise AgencyDisabled(f"agency {agency.id} was disabled by the court on {agency.disabled_at:%Y-%m-%d %H:%M} "
                             "UTC; its key no longer works — ask the court")


def _check_scope(agency: Agency, scope: str) -> AgencyScope:
    try:
        wanted = AgencyScope(scope)
    except ValueError:
        raise ScopeDenied(f"scope {scope!r} is not one of {', '.join(s.value for s in AgencyScope)}") from None
    if wanted not in agency.scopes:
        raise ScopeDenied(f"agency {agency.id} does not hold scope {wanted.value!r}; its scopes are "
                          f"{', '.join(sorted(agency.scopes))} — ask the court to extend them")
    return wanted


class IntegrityService:
    def __init__(self, court: CourtRecords, facts: SqlFactRecords, signer: CodeSigner, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] | None = None,
                 query_rate: float = QUERY_RATE, query_burst: int = QUERY_BURST,
                 limiter: QueryLimiter | None = None, evidence_store: EvidenceStore | None = None,
                 max_evidence_bytes: int = MAX_EVIDENCE_BYTES) -> None:
        """`limiter` meters agency queries (app/ passes a Redis one when instances share Redis); by default a
        per-process bucket of `query_rate`/`query_burst` timed by `monotonic` (else the clock). `evidence_store`
        keeps appeal evidence files (app/ passes the platform's object store); without one, files are refused."""
        self.court = court
        self.facts = facts
        self.signer = signer
        self.evidence_store = evidence_store
        self.max_evidence_bytes = max_evidence_bytes
        self._clock = clock
        self._monotonic = monotonic or (lambda: self._clock().timestamp())
        self.limiter: QueryLimiter = limiter or MemoryQueryLimiter(query_rate, query_burst,
                                                                   monotonic=lambda: self._monotonic())
        self._followed_seq: int | None = None

    async def close(self) -> None:
        await self.limiter.close()

    def _tx(self, doing: str, *, write: bool = False) -> Any:
        return transaction(self.facts.engine, self.facts._url, doing, write=write)

    # ---- codes ----------------------------------------------------------------------------------------

    async def _excluded_facts(self, conn: AsyncConnection, person_id: str) -> set[str]:
        rows = await conn.execute(select(integrity_appeals.c.fact_ids).where(
            integrity_appeals.c.person_id == person_id, integrity_appeals.c.status == AppealStatus.GRANTED.value))
        return {fid for r in rows for fid in json.loads(r.fact_ids)}

    async def code(self, person_id: str, *, trigger: str = "viewed") -> CodeView:
        """The person's code now: computed from their facts (minus those set aside by granted appeals), stored as
        a snapshot when it differs from the last one, and signed. NotFound for an unknown person."""
        person = await self.court.get_person(person_id)
        now = self._clock()
        async with self._tx("recording an integrity code", write=True) as conn:
            await self._take_turn(conn, person_id)
            result, facts_seq = await self._compute_in(conn, person_id, person.birth_date, now)
            await self._snapshot_in(conn, person_id, result, facts_seq, trigger, now)
            return self._view(person_id, result, facts_seq, now)

    @staticmethod
    async def _take_turn(conn: AsyncConnection, person_id: str) -> None:
        """Computations of one person take turns, so the snapshot check cannot race (PostgreSQL: an advisory
        lock until the transaction ends; SQLite's BEGIN IMMEDIATE already serialises writers)."""
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:cls, hashtext(:person))"),
                               {"cls": _PG_SNAPSHOT_LOCK, "person": person_id})

    async def _compute_in(self, conn: AsyncConnection, person_id: str, birth_date: Any,
                          now: datetime) -> tuple[IntegrityResult, int]:
        """The rules over the person's facts as this transaction sees them (a decision made in it included)."""
        rows = await conn.execute(select(litigation_facts).where(litigation_facts.c.person_id == person_id)
                                  .order_by(litigation_facts.c.occurred_on, litigation_facts.c.seq))
        facts = [_fact(r) for r in rows]
        excluded = await self._excluded_facts(conn, person_id)
        result = compute([f for f in facts if f.id not in excluded], birth_date, now.date())
        return result, max((f.seq for f in facts), default=0)

    def _view(self, person_id: str, result: IntegrityResult, facts_seq: int, now: datetime) -> CodeView:
        valid_until = datetime.combine(result.valid_until, time(0), UTC)
        token = self.signer.issue(person_id=person_id, colour=result.colour, ruleset_version=result.ruleset_version,
                                  issued_at=now, expires_at=valid_until)
        return CodeView(person_id, result.colour.value if result.colour else None, result.score, result.reasons,
                        result.not_scored.value if result.not_scored else None, valid_until, result.ruleset_version,
                        now, token, facts_seq)

    async def _snapshot_in(self, conn: AsyncConnection, person_id: str, result: IntegrityResult, facts_seq: int,
                           trigger: str, now: datetime) -> None:
        """Store the result (in the caller's transaction, after `_take_turn`) unless it adds nothing: a view equal
        to the last snapshot, a facts-changed recomputation that an equal one with the same facts (or one with
        newer facts) already recorded — so the follower re-running a batch, or several instances following at
        once, add nothing twice — or an agency query whose result and facts equal the last snapshot's (so busy
        agencies do not bury the person's history in repeats)."""
        reasons = json.dumps(_reasons_json(result.reasons), sort_keys=True)
        colour = result.colour.value if result.colour else None
        last = (await conn.execute(
            select(integrity_codes).where(integrity_codes.c.person_id == person_id)
            .order_by(integrity_codes.c.computed_at.desc(), integrity_codes.c.id.desc()).limit(1))).first()
        same = last is not None and (last.colour, last.score, last.reasons, last.ruleset_version) == (
            colour, result.score, reasons, result.ruleset_version)
        if same and trigger == "viewed":
            return
        if trigger == FACTS_CHANGED and last is not None and (
                last.facts_seq > facts_seq or (same and last.facts_seq == facts_seq)):
            return
        if trigger == QUERIED and same and last is not None and last.facts_seq == facts_seq:
            return  # the query itself is in integrity_queries and the audit log; a repeat result adds nothing
        await conn.execute(integrity_codes.insert().values(
            # Sorts by creation (wall-clock ns first) so snapshots with the same computed_at keep their order.
            id=f"{time_ns():016x}{uuid.uuid4().hex[:16]}",
            person_id=person_id, colour=colour, score=result.score, reasons=reasons,
            ruleset_version=result.ruleset_version, facts_seq=facts_seq, trigger=trigger[:64], computed_at=now,
            valid_until=datetime.combine(result.valid_until, time(0), UTC),
        ))

    async def history(self, person_id: str, limit: int = 50) -> list[Snapshot]:
        async with self._tx("reading integrity code history") as conn:
            rows = await conn.execute(
                select(integrity_codes).where(integrity_codes.c.person_id == person_id)
                .order_by(integrity_codes.c.computed_at.desc(), integrity_codes.c.id.desc()).limit(limit))
            return [Snapshot(r.colour, r.score, json.loads(r.reasons), r.ruleset_version, r.trigger, r.computed_at,
                             r.valid_until) for r in rows]

    async def record_fact(self, fact: NewFact, *, actor_id: str, actor_role: str) -> tuple[Fact, CodeView]:
        """Record a fact (audited) and recompute its person's code at once."""
        stored = await self.facts.add_fact(fact, audit=AuditEvent(
            actor_id, actor_role, "integrity.fact_recorded", f"person:{fact.person_id}",
            {"source": fact.source, "source_ref": fact.source_ref, "kind": str(fact.kind)}))
        return stored, await self.code(fact.person_id, trigger=f"fact:{stored.id}")

    async def recompute(self, person_id: str) -> CodeView:
        """The code after the person's facts changed, snapshotted once however often it is asked (the facts
        follower's handler: it may run twice for one fact, and on several instances)."""
        return await self.code(person_id, trigger=FACTS_CHANGED)

    async def follow_facts(self) -> list[str]:
        """Recompute the codes of everyone with facts recorded since the last call (by any writer: imports,
        hearing/ writing judgments, another instance). Returns the person ids recomputed.

        An on-demand pass with an in-memory position; the app runs the persisted, event-driven follower instead
        (docket.facts_follower with `recompute`)."""
        if self._followed_seq is None:
            async with self._tx("reading the last recomputed fact") as conn:
                self._followed_seq = int((await conn.execute(
                    select(func.coalesce(func.max(integrity_codes.c.facts_seq), 0)))).scalar_one())
        people: list[str] = []
        while True:
            batch = await self.facts.facts_after(self._followed_seq)
            if not batch:
                return people
            for person_id in dict.fromkeys(f.person_id for f in batch):
                await self.recompute(person_id)
                people.append(person_id)
            self._followed_seq = batch[-1].seq

    async def sync_case_parties(self, person_id: str, *, actor_id: str) -> int:
        """Record a `party_to_case` fact for each register case the person is a party to (idempotent)."""
        added = 0
        for case in await self.court.list_cases():
            if any(p.person_id == person_id for p in case.parties):
                before = await self.facts.find_fact(COURT_SOURCE, party_ref(case.id, person_id))
                if before is None:
                    await self.facts.add_fact(NewFact(person_id, FactKind.PARTY_TO_CASE, case.created_at.date(),
                                                      COURT_SOURCE, party_ref(case.id, person_id), case.case_number))
                    added += 1
        return added

    # ---- agencies ------------------------------------------------------------------------------------

    async def create_agency(self, name: str, scopes: Sequence[str], *, actor_id: str,
                            actor_role: str = "staff") -> tuple[Agency, str]:
        """A new agency account and its API key (shown once; only its SHA-256 is kept)."""
        if not name.strip():
            raise InvalidRecord("an agency needs a name")
        wanted = _known_scopes(scopes)
        key = "ica_" + secrets.token_urlsafe(32)
        agency = Agency(uuid.uuid4().hex, name.strip(), wanted, self._clock())
        async with self._tx("creating an agency", write=True) as conn:
            await conn.execute(integrity_agencies.insert().values(
                id=agency.id, name=agency.name, scopes=" ".join(sorted(wanted)), key_hash=_digest(key),
                created_at=agency.created_at))
            await append_in(conn, AuditEvent(actor_id, actor_role, "integrity.agency_created", f"agency:{agency.id}",
                                             {"scopes": sorted(wanted)}))
        return agency, key

    async def authenticate_agency(self, api_key: str) -> Agency:
        """The agency holding `api_key`, read afresh on every call (no cache), so disabling one or changing its
        scopes takes effect on its very next request. AgencyUnknown for a bad key, AgencyDisabled for a
        disabled agency's key."""
        async with self._tx("checking an agency key") as conn:
            row = (await conn.execute(select(integrity_agencies).where(
                integrity_agencies.c.key_hash == _digest(api_key or "")))).first()
        if row is None:
            raise AgencyUnknown("the agency API key is not valid; ask the court for a key")
        agency = _agency(row)
        _refuse_disabled(agency)
        return agency

    async def list_agencies(self) -> list[Agency]:
        async with self._tx("listing agencies") as conn:
            rows = await conn.execute(select(integrity_agencies).order_by(integrity_agencies.c.created_at,
                                                                          integrity_agencies.c.id))
            return [_agency(r) for r in rows]

    @staticmethod
    async def _agency_in(conn: AsyncConnection, agency_id: str, *, lock: Literal["share", "update"]) -> Agency:
        """The agency row, locked until the transaction ends (PostgreSQL; SQLite's write transactions are already
        serial): `update` for staff changes, `share` for a query, so a query and a disable or scope change of its
        agency never interleave — a query recorded is one the agency was allowed to make when it committed."""
        row = (await conn.execute(select(integrity_agencies).where(integrity_agencies.c.id == agency_id)
                                  .with_for_update(read=lock == "share"))).first()
        if row is None:
            raise NotFound("agency", agency_id)
        return _agency(row)

    async def disable_agency(self, agency_id: str, *, actor_id: str,
                             actor_role: str = "staff") -> tuple[Agency, bool]:
        """Stop the agency at once: its key is refused (403 `agency_disabled`) from the next request, and a query
        in flight is refused rather than recorded. Returns the agency and whether anything changed (disabling a
        disabled agency changes and audits nothing). Audited as `integrity.agency_disabled`."""
        now = self._clock()
        async with self._tx("disabling an agency", write=True) as conn:
            agency = await self._agency_in(conn, agency_id, lock="update")  # NotFound
            if agency.disabled_at is not None:
                return agency, False
            await conn.execute(update(integrity_agencies).where(integrity_agencies.c.id == agency_id)
                               .values(disabled_at=now))
            await append_in(conn, AuditEvent(actor_id, actor_role, "integrity.agency_disabled", f"agency:{agency_id}",
                                             {"scopes": sorted(agency.scopes),
                                              "disabled_at": now.isoformat()}), at=now)
        return replace(agency, disabled_at=now), True

    async def enable_agency(self, agency_id: str, *, actor_id: str, actor_role: str = "staff") -> tuple[Agency, bool]:
        """Let a disabled agency query again with its existing key (issue a new agency if the key leaked).
        Audited as `integrity.agency_enabled` with when it had been disabled; a no-op for an enabled agency."""
        now = self._clock()
        async with self._tx("re-enabling an agency", write=True) as conn:
            agency = await self._agency_in(conn, agency_id, lock="update")  # NotFound
            if agency.disabled_at is None:
                return agency, False
            await conn.execute(update(integrity_agencies).where(integrity_agencies.c.id == agency_id)
                               .values(disabled_at=None))
            await append_in(conn, AuditEvent(actor_id, actor_role, "integrity.agency_enabled", f"agency:{agency_id}",
                                             {"scopes": sorted(agency.scopes),
                                              "was_disabled_at": agency.disabled_at.isoformat()}), at=now)
        return replace(agency, disabled_at=None), True

    async def set_agency_scopes(self, agency_id: str, scopes: Sequence[str], *, actor_id: str,
                                actor_role: str = "staff") -> tuple[Agency, bool]:
        """Replace the agency's scopes (ScopeUnknown for a scope that does not exist, InvalidRecord for none: to
        stop an agency, disable it). Effective from its next query. Audited as `integrity.agency_scopes_changed`
        with the scopes before and after; replacing them with the same set changes and audits nothing."""
        wanted = _known_scopes(scopes)
        now = self._clock()
        async with self._tx("changing an agency's scopes", write=True) as conn:
            agency = await self._agency_in(conn, agency_id, lock="update")  # NotFound
            if agency.scopes == wanted:
                return agency, False
            await conn.execute(update(integrity_agencies).where(integrity_agencies.c.id == agency_id)
                               .values(scopes=" ".join(sorted(wanted))))
            await append_in(conn, AuditEvent(
                actor_id, actor_role, "integrity.agency_scopes_changed", f"agency:{agency_id}",
                {"before": sorted(agency.scopes), "after": sorted(wanted),
                 "added": sorted(wanted - agency.scopes), "removed": sorted(agency.scopes - wanted)}), at=now)
        return replace(agency, scopes=wanted), True

    async def query(self, agency: Agency, person: str | Callable[[], Awaitable[str]], scope: str,
                    purpose: str) -> QueryAnswer:
        """An agency's check of one person: colour, validity and a signed code only. Refusals change nothing.
        `person` is the person id, or a lookup (by identity document) run only once purpose, scope and rate
        passed, so an agency cannot probe the register for a scope it lacks or past its rate.

        The agency's standing (enabled, holding the scope) is checked again in the transaction that records the
        query, under a lock on its row, so a disable or scope change made while the query ran wins: the query is
        refused and nothing (snapshot, query row, audit entry) is written."""
        purpose = (purpose or "").strip()
        if len(purpose) < MIN_PURPOSE or len(purpose) > MAX_PURPOSE:
            raise PurposeMissing(f"state the purpose of the query ({MIN_PURPOSE} to {MAX_PURPOSE} characters), "
                                 "e.g. the application or tender it is for")
        _refuse_disabled(agency)
        wanted = _check_scope(agency, scope)
        try:
            wait = await self.limiter.take(agency.id)
        except LimiterUnavailable as exc:
            raise RateLimitUnavailable(f"{exc}; try again shortly") from exc
        if wait:
            raise RateLimited(f"too many queries from agency {agency.id}; retry in {wait:.0f} s", wait)
        person_id = person if isinstance(person, str) else await person()
        subject = await self.court.get_person(person_id)  # NotFound for an unknown person
        now = self._clock()
        async with self._tx("answering an agency query", write=True) as conn:
            current = await self._agency_in(conn, agency.id, lock="share")
            _refuse_disabled(current)
            _check_scope(current, wanted.value)
            await self._take_turn(conn, person_id)
            result, facts_seq = await self._compute_in(conn, person_id, subject.birth_date, now)
            await self._snapshot_in(conn, person_id, result, facts_seq, QUERIED, now)
            view = self._view(person_id, result, facts_seq, now)
            colour = view.colour or "none"
            query_id = uuid.uuid4().hex
            entry = await append_in(conn, AuditEvent(
                agency.id, AUDIT_ROLE_AGENCY, "integrity.queried", f"person:{person_id}",
                {"agency_id": agency.id, "person_id": person_id, "query_id": query_id, "scope": wanted.value,
                 "purpose": purpose, "colour": colour}), at=now)
            await conn.execute(integrity_queries.insert().values(
                id=query_id, agency_id=agency.id, person_id=person_id, scope=wanted.value, purpose=purpose,
                colour=view.colour, at=now, audit_seq=entry.seq))
        return QueryAnswer(colour, view.valid_until, view.token)

    async def queries_of(self, person_id: str, limit: int = 100) -> list[QueryRecord]:
        """Who checked this person's code, when and why: the person's right to know."""
        async with self._tx("reading agency queries") as conn:
            rows = await conn.execute(
                select(integrity_queries, integrity_agencies.c.name.label("agency_name"))
                .join(integrity_agencies, integrity_agencies.c.id == integrity_queries.c.agency_id)
                .where(integrity_queries.c.person_id == person_id)
                .order_by(integrity_queries.c.at.desc(), integrity_queries.c.id).limit(limit))
            return [QueryRecord(r.id, r.agency_id, r.agency_name, r.scope, r.purpose, r.colour, r.at) for r in rows]

    # ---- person access ---------------------------------------------------------------------------------

    async def issue_access(self, person_id: str, *, staff_id: str, ttl: timedelta = ACCESS_TTL) -> str:
        """An access token a clerk hands the person (as a link) so they can see their own code."""
        await self.court.get_person(person_id)
        token = "ipa_" + secrets.token_urlsafe(32)
        now = self._clock()
        async with self._tx("issuing an integrity access link", write=True) as conn:
            await conn.execute(integrity_access_tokens.insert().values(
                token_hash=_digest(token), person_id=person_id, issued_by=staff_id, issued_at=now,
                expires_at=now + ttl))
            await append_in(conn, AuditEvent(staff_id, "staff", "integrity.access_issued", f"person:{person_id}",
                                             {"expires_in_s": int(ttl.total_seconds())}))
        return token

    async def person_for_access(self, token: str) -> str:
        """The person an access token opens; AccessRevoked for a withdrawn one, AccessDenied otherwise."""
        async with self._tx("checking an integrity access link") as conn:
            row = (await conn.execute(select(integrity_access_tokens).where(
                integrity_access_tokens.c.token_hash == _digest(token or "")))).first()
        if row is not None and row.revoked_at is not None:
            raise AccessRevoked(f"this access link was withdrawn by the court on {row.revoked_at:%Y-%m-%d %H:%M} "
                                "UTC; ask the court for a new one")
        if row is None or row.expires_at <= self._clock():
            raise AccessDenied("this access link is not valid or has expired; ask the court for a new one")
        return str(row.person_id)

    async def revoke_access(self, person_id: str, *, staff_id: str) -> int:
        """Withdraw every unexpired, unrevoked access link of the person (a lost phone, a link sent to the wrong
        address); returns how many. Audited with the count when any was withdrawn; NotFound for an unknown
        person. Links are not listed individually: only their digests are kept, so staff cannot tell them apart,
        and withdrawing all is what a leak calls for — the clerk then issues a fresh one."""
        await self.court.get_person(person_id)
        now = self._clock()
        async with self._tx("revoking integrity access links", write=True) as conn:
            changed = await conn.execute(update(integrity_access_tokens).where(
                integrity_access_tokens.c.person_id == person_id, integrity_access_tokens.c.revoked_at.is_(None),
                integrity_access_tokens.c.expires_at > now,
            ).values(revoked_at=now, revoked_by=staff_id))
            revoked = int(changed.rowcount or 0)
            if revoked:
                await append_in(conn, AuditEvent(staff_id, "staff", "integrity.access_revoked",
                                                 f"person:{person_id}", {"revoked": revoked}))
        return revoked

    # ---- appeals and repair --------------------------------------------------------------------------

    async def file_appeal(self, person_id: str, kind: str, text: str, *, evidence: Sequence[str] = (),
                          fact_ids: Sequence[str] = (), files: Sequence[EvidenceUpload] = ()) -> Appeal:
        """File an appeal or repair request with its short evidence notes and its evidence files, all or nothing:
        every refusal (bad kind, text, fact, file type, size or count) comes before anything is stored."""
        try:
            appeal_kind = AppealKind(kind)
        except ValueError:
            raise InvalidRecord(f"kind must be one of {', '.join(k.value for k in AppealKind)}") from None
        text = (text or "").strip()
        if not text or len(text) > MAX_APPEAL_TEXT:
            raise InvalidRecord(f"explain the appeal in 1 to {MAX_APPEAL_TEXT} characters")
        items = [e.strip() for e in evidence if e and e.strip()]
        if len(items) > MAX_EVIDENCE_ITEMS or any(len(e) > 1000 for e in items):
            raise InvalidRecord(f"give at most {MAX_EVIDENCE_ITEMS} evidence items of up to 1000 characters each")
        await self.court.get_person(person_id)
        own = {f.id for f in await self.facts.facts_of(person_id)}
        stray = [f for f in fact_ids if f not in own]
        if stray:
            raise InvalidRecord(f"fact(s) {', '.join(stray)} are not facts of this person; pick from your reasons")
        # hashing up to MAX_EVIDENCE_FILES × the size cap takes a noticeable time: off the event loop
        checked = await asyncio.to_thread(check_files, list(files), max_bytes=self.max_evidence_bytes,
                                          max_files=MAX_EVIDENCE_FILES)
        if isinstance(checked, Refusal):
            raise EvidenceRefused(checked)
        store = self.evidence_store
        if checked and store is None:
            raise EvidenceUnavailable("this court does not accept evidence files yet; describe the evidence in "
                                      "the text and bring the documents to the court")
        now = self._clock()
        appeal_id = uuid.uuid4().hex
        records = []
        for item in checked:
            evidence_id = uuid.uuid4().hex
            records.append(EvidenceFile(evidence_id, appeal_id, item.name, item.media_type.value, item.size,
                                        item.sha256, object_key(appeal_id, evidence_id), now))
        appeal = Appeal(appeal_id, person_id, appeal_kind, text, tuple(items), tuple(dict.fromkeys(fact_ids)),
                        AppealStatus.PENDING, now, files=tuple(records))
        stored: list[str] = []
        try:
            # Objects first, rows after: a crash in between leaves an unreferenced object, never a row whose
            # file is missing. A failure removes the objects already put.
            for record, item in zip(records, checked, strict=True):
                if store is None:  # not reached: files without a store were refused above
                    break
                try:
                    await store.put(record.object_key, item.data, item.media_type.value)
                except Exception as exc:
                    log.error("evidence store failed while filing appeal %s: %s", appeal_id, exc)
                    raise EvidenceUnavailable("the court's document store did not answer; nothing was filed, "
                                              "try again shortly") from exc
                stored.append(record.object_key)
            details: dict[str, Any] = {"kind": appeal_kind.value, "fact_ids": list(appeal.fact_ids)}
            if records:
                details |= {"evidence_files": len(records),
                            "evidence_digest": evidence_digest([(r.id, r.sha256) for r in records])}
            async with self._tx("filing an appeal", write=True) as conn:
                await conn.execute(integrity_appeals.insert().values(
                    id=appeal.id, person_id=person_id, kind=appeal_kind.value, text=text, evidence=json.dumps(items),
                    fact_ids=json.dumps(list(appeal.fact_ids)), status=appeal.status.value, filed_at=now))
                for position, r in enumerate(records):
                    await conn.execute(integrity_evidence.insert().values(
                        id=r.id, appeal_id=appeal_id, position=position, object_key=r.object_key, name=r.name,
                        media_type=r.media_type, size=r.size, sha256=r.sha256, uploaded_at=now))
                await append_in(conn, AuditEvent(person_id, AUDIT_ROLE_PERSON, "integrity.appeal_filed",
                                                 f"appeal:{appeal.id}", details))
        except BaseException:
            await self._discard(stored)
            raise
        return appeal

    async def _discard(self, keys: Sequence[str]) -> None:
        """Best-effort removal of objects of a filing that did not commit (logged if the store refuses)."""
        store = self.evidence_store
        for key in keys:
            if store is None:
                break
            try:
                await store.delete(key)
            except Exception as exc:
                log.warning("could not remove evidence object %s of a failed filing: %s", key, exc)

    async def _files_of(self, conn: AsyncConnection, appeal_ids: Sequence[str]) -> dict[str, list[EvidenceFile]]:
        found: dict[str, list[EvidenceFile]] = {}
        if appeal_ids:
            rows = await conn.execute(select(integrity_evidence).where(
                integrity_evidence.c.appeal_id.in_(list(appeal_ids)))
                .order_by(integrity_evidence.c.appeal_id, integrity_evidence.c.position))
            for r in rows:
                found.setdefault(r.appeal_id, []).append(_evidence(r))
        return found

    async def open_evidence(self, appeal_id: str, evidence_id: str, *, judge_id: str) -> EvidenceLink:
        """An expiring link to one evidence file of an appeal, for the judge `judge_id` (the API checked the role).
        The view is audited (`integrity.evidence_viewed`) before the link is handed out, so no unaudited link
        exists. NotFound for an unknown appeal, or a file of another appeal."""
        if self.evidence_store is None:
            raise EvidenceUnavailable("this court keeps no evidence files")
        async with self._tx("reading an evidence file") as conn:
            row = (await conn.execute(select(integrity_evidence).where(
                integrity_evidence.c.id == evidence_id, integrity_evidence.c.appeal_id == appeal_id))).first()
        if row is None:
            raise NotFound("evidence file", f"{appeal_id}/{evidence_id}")
        file = _evidence(row)
        now = self._clock()
        try:
            url = await self.evidence_store.presigned_get(file.object_key, VIEW_TTL)
        except Exception as exc:
            log.error("evidence store failed while opening %s: %s", file.object_key, exc)
            raise EvidenceUnavailable("the court's document store did not answer; try again shortly") from exc
        async with self._tx("auditing an evidence view", write=True) as conn:
            await append_in(conn, AuditEvent(judge_id, "judge", "integrity.evidence_viewed", f"appeal:{appeal_id}",
                                             {"evidence_id": evidence_id, "sha256": file.sha256}))
        return EvidenceLink(url, now + VIEW_TTL, file)

    async def appeals(self, *, status: AppealStatus | None = AppealStatus.PENDING,
                      person_id: str | None = None) -> list[Appeal]:
        query = select(integrity_appeals).order_by(integrity_appeals.c.filed_at, integrity_appeals.c.id)
        if status is not None:
            query = query.where(integrity_appeals.c.status == status.value)
        if person_id is not None:
            query = query.where(integrity_appeals.c.person_id == person_id)
        async with self._tx("listing appeals") as conn:
            rows = list(await conn.execute(query))
            files = await self._files_of(conn, [r.id for r in rows])
        return [_appeal(r, files.get(r.id, ())) for r in rows]

    async def get_appeal(self, appeal_id: str) -> Appeal:
        async with self._tx("reading an appeal") as conn:
            row = (await conn.execute(select(integrity_appeals).where(integrity_appeals.c.id == appeal_id))).first()
            if row is None:
                raise NotFound("appeal", appeal_id)
            files = await self._files_of(conn, [appeal_id])
        return _appeal(row, files.get(appeal_id, ()))

    async def decide(self, appeal_id: str, *, judge_id: str, grant: bool, decision: str) -> tuple[Appeal, CodeView]:
        """A judge's decision; granting sets the appeal's facts aside. One transaction records the outcome, the
        recomputed code's snapshot and both audit entries (`integrity.appeal_decided`, `integrity.recomputed`):
        if any part fails, nothing is recorded and the appeal stays pending, so deciding again is safe."""
        decision = (decision or "").strip()
        if not decision or len(decision) > MAX_APPEAL_TEXT:
            raise InvalidRecord(f"give the reasons for the decision in 1 to {MAX_APPEAL_TEXT} characters")
        status = AppealStatus.GRANTED if grant else AppealStatus.REFUSED
        appeal = await self.get_appeal(appeal_id)  # NotFound
        person = await self.court.get_person(appeal.person_id)
        now = self._clock()
        async with self._tx("deciding an appeal and recomputing the code", write=True) as conn:
            await self._take_turn(conn, appeal.person_id)
            changed = await conn.execute(update(integrity_appeals).where(
                integrity_appeals.c.id == appeal_id, integrity_appeals.c.status == AppealStatus.PENDING.value,
            ).values(status=status.value, decided_by=judge_id, decision=decision, decided_at=now))
            if changed.rowcount != 1:
                current = (await conn.execute(select(integrity_appeals.c.status).where(
                    integrity_appeals.c.id == appeal_id))).scalar_one()
                raise AlreadyDecided(f"appeal {appeal_id} was already decided ({current})")
            await append_in(conn, AuditEvent(judge_id, "judge", "integrity.appeal_decided", f"appeal:{appeal_id}",
                                             {"person_id": appeal.person_id, "outcome": status.value,
                                              "fact_ids": list(appeal.fact_ids)}), at=now)
            # The granted appeal is visible to this transaction, so its facts are already set aside here.
            result, facts_seq = await self._compute_in(conn, appeal.person_id, person.birth_date, now)
            await self._snapshot_in(conn, appeal.person_id, result, facts_seq, f"appeal:{appeal_id}", now)
            view = self._view(appeal.person_id, result, facts_seq, now)
            await append_in(conn, AuditEvent(judge_id, "judge", "integrity.recomputed", f"person:{appeal.person_id}",
                                             {"appeal_id": appeal_id, "colour": view.colour or "none",
                                              "score": view.score, "ruleset_version": view.ruleset_version}), at=now)
        return replace(appeal, status=status, decided_by=judge_id, decision=decision, decided_at=now), view

    async def last_fact_seq(self) -> int:
        async with self._tx("reading the last fact seq") as conn:
            return int((await conn.execute(select(func.coalesce(func.max(litigation_facts.c.seq), 0)))).scalar_one())
