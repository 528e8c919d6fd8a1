"""The transcript (笔录) service: read the register, ask hearing.transcript, write through the store. The thin shell.

Every save, signature and re-verification setting is written by the store together with its audit entry, as a
compare-and-set on what was read: if someone else saved, signed or moved the hearing in between, the decision
is made again on the fresh state (a lost save race becomes a `Conflict` the editor resolves). Refusals that
say something about who tried what — a role that may not edit, a wrong ID number, a bad confirming clerk — are
audited too; conflicts and double clicks are only returned. Audit details carry ids and codes, never names or
ID numbers, and nothing here logs either.

The caller vouches for who is acting: the editor's or reader's id and role (from a staff session or a verified
join token, admitted from the lobby or court staff), and that the signer or confirming clerk is the participant
named (their own join token) — exactly as for hearing.procedure_service. Where this service reads a participant
itself (signer, confirming clerk, the person confirmed) it checks that the register says they were admitted.

A `staff_confirmed` signature rests on a confirmation the clerk recorded (`confirm_identity`): the service finds
the signer's usable one, and the store uses it up in the signature's transaction, so it serves exactly once and
never after it expires (`confirmation_ttl`, judged by the service's clock).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from docket.audit import AuditEntry, AuditEvent, AuditLog
from docket.court import CourtRecords, NotFound, Participant, StaleState
from docket.transcripts import (
    ConfirmationUnavailable,
    DuplicateSignature,
    IdentityConfirmation,
    ReverificationMethod,
    Signature,
    TranscriptFrozen,
    TranscriptSnapshot,
    TranscriptStore,
    TranscriptVersion,
    VersionConflict,
    VersionSummary,
)
from hearing import transcript as core
from hearing.roles import Role
from hearing.transcript import Completion, Conflict, RefusalCode, Refused, Unchanged
from hearing.transcript_pdf import SignerLine, TranscriptDocument, render_pdf

_AUDITED_REFUSALS = frozenset({
    RefusalCode.NOT_PERMITTED, RefusalCode.NOT_A_PARTICIPANT, RefusalCode.IDENTITY_MISMATCH,
    RefusalCode.BAD_CONFIRMER,
})


@dataclass(frozen=True, slots=True)
class Saved:
    version: TranscriptVersion
    audit: AuditEntry


@dataclass(frozen=True, slots=True)
class Signed:
    signature: Signature
    audit: AuditEntry


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A clerk's identity confirmation, stored with its audit entry."""

    confirmation: IdentityConfirmation
    audit: AuditEntry


@dataclass(frozen=True, slots=True)
class ReverificationSet:
    roles: frozenset[str]  # now in force for this hearing
    audit: AuditEntry


@dataclass(frozen=True, slots=True)
class TranscriptStatus:
    hearing_id: str
    state: str
    latest: VersionSummary | None
    frozen: bool  # signed at least once: no more edits
    reverify_roles: frozenset[str]  # roles that must re-verify before signing
    signatures: tuple[Signature, ...]
    completion: Completion
    confirmations: tuple[IdentityConfirmation, ...] = ()  # usable now (unused, unexpired)

    @property
    def complete(self) -> bool:
        return self.completion.complete


@dataclass(frozen=True, slots=True)
class TranscriptRead:
    """What a reader is shown: the status and the latest text."""

    status: TranscriptStatus
    current: TranscriptVersion | None


def _subject(hearing_id: str) -> str:
    return f"hearing:{hearing_id}"


def _summary(v: TranscriptVersion) -> VersionSummary:
    return VersionSummary(v.hearing_id, v.number, v.sha256, v.author_id, v.author_role, v.saved_at, len(v.text))


class TranscriptService:
    """`tz` is the court's local time zone (times on the PDF); `reverify_roles` the court's default rule."""

    def __init__(self, records: CourtRecords, store: TranscriptStore, audit: AuditLog, *, tz: tzinfo = UTC,
                 reverify_roles: Iterable[Role | str] = core.DEFAULT_REVERIFY_ROLES, attempts: int = 3,
                 clock: Callable[[], datetime] | None = None,
                 confirmation_ttl: timedelta = core.CONFIRMATION_TTL) -> None:
        self._records = records
        self._store = store
        self._audit = audit
        self._tz = tz
        self._default_reverify = frozenset(str(r) for r in reverify_roles)
        self._attempts = attempts
        self._clock = clock or (lambda: datetime.now(UTC))
        self.confirmation_ttl = confirmation_ttl

    async def _refusal(self, refused: Refused, actor_id: str, actor_role: str, action: str, hearing_id: str,
                       details: dict[str, object]) -> Refused:
        if refused.code in _AUDITED_REFUSALS:
            await self._audit.append(AuditEvent(actor_id, actor_role, action, _subject(hearing_id),
                                                {**details, "code": refused.code.value}))
        return refused

    # ---- writing -----------------------------------------------------------------------------------------

    @property
    def store(self) -> TranscriptStore:
        """The versions' store (the room's chat is copied into it at the close: hearing.room_chat)."""
        return self._store

    async def save(self, hearing_id: str, actor_id: str, actor_role: Role | str, text: str,
                   base_version: int) -> Saved | Unchanged | Conflict | Refused:
        """Autosave `text`, edited from version `base_version` (0 before the first save). NotFound: no hearing."""
        role = str(actor_role)
        for _ in range(self._attempts):
            hearing = await self._records.get_hearing(hearing_id)
            snapshot = await self._store.snapshot(hearing_id)
            outcome = core.decide_save(hearing.kind, hearing.state, role, snapshot, base_version, text)
            if isinstance(outcome, Refused):
                return await self._refusal(outcome, actor_id, role, "transcript.save_refused", hearing_id,
                                           {"state": hearing.state, "kind": hearing.kind.value})
            if not isinstance(outcome, core.Save):
                return outcome
            version = TranscriptVersion(hearing_id, outcome.number, outcome.text, outcome.sha256, actor_id, role,
                                        self._clock())
            event = AuditEvent(actor_id, role, "transcript.saved", _subject(hearing_id), {
                "version": version.number, "sha256": version.sha256, "base_version": base_version,
                "chars": len(version.text),
            })
            try:
                entry = await self._store.append_version(version, hearing_state=hearing.state, audit=event)
            except (VersionConflict, TranscriptFrozen, StaleState):
                continue  # someone saved, signed or moved the hearing first: decide again on what they left
            return Saved(version, entry)
        raise StaleState(hearing_id, "a stable transcript", "changing too often to save; try again")

    async def set_reverification(self, hearing_id: str, actor_id: str, actor_role: Role | str,
                                 roles: Iterable[Role | str] | None) -> ReverificationSet | Refused:
        """Which roles must re-verify before signing in this hearing; None restores the court's default."""
        role = str(actor_role)
        for _ in range(self._attempts):
            hearing = await self._records.get_hearing(hearing_id)
            snapshot = await self._store.snapshot(hearing_id)
            chosen = core.decide_reverify_roles(hearing.kind, hearing.state, role, snapshot, roles)
            if isinstance(chosen, Refused):
                return await self._refusal(chosen, actor_id, role, "transcript.reverification_refused", hearing_id,
                                           {"state": hearing.state, "kind": hearing.kind.value})
            stored = None if chosen is None else sorted(r.value for r in chosen)
            event = AuditEvent(actor_id, role, "transcript.reverification_set", _subject(hearing_id),
                               {"roles": stored, "default": stored is None})
            try:
                entry = await self._store.set_reverify_roles(hearing_id, stored, hearing_state=hearing.state,
                                                             audit=event)
            except (TranscriptFrozen, StaleState):
                continue
            in_force = self._default_reverify if stored is None else frozenset(stored)
            return ReverificationSet(in_force, entry)
        raise StaleState(hearing_id, "a stable transcript", "changing too often; try again")

    async def sign(self, hearing_id: str, participant_id: str, *, sha256: str,
                   method: ReverificationMethod | str, id_document: str | None = None,
                   confirmed_by: str | None = None) -> Signed | Refused:
        """Sign the latest version, whose hash the signer was shown (`sha256`), after the identity re-check.

        `id_document`: the number the signer re-entered (method id_document). Method staff_confirmed relies on a
        clerk's usable confirmation of this signer (`confirm_identity`), used up by this signature; `confirmed_by`,
        if given, must name the clerk who confirmed. NotFound: no such hearing/participant.
        """
        for _ in range(self._attempts):
            hearing = await self._records.get_hearing(hearing_id)
            participant = await self._records.get_participant(participant_id)
            snapshot = await self._store.snapshot(hearing_id)
            required = core.reverify_roles(snapshot, self._default_reverify)
            args = (hearing.kind, hearing.state, hearing_id, participant, snapshot, sha256, method, required)
            refused = core.check_sign(*args)
            matches: bool | None = None
            if refused is None:
                m = ReverificationMethod(method)
                if m is ReverificationMethod.ID_DOCUMENT and id_document and id_document.strip():
                    matches = await self._records.check_id_document(participant.person_id, id_document)
            at = self._clock()
            confirmation: IdentityConfirmation | None = None
            confirmer: Participant | None = None
            if refused is None and ReverificationMethod(method) is ReverificationMethod.STAFF_CONFIRMED:
                confirmation = core.usable_confirmation(snapshot, participant.id, at, confirmed_by or None)
                if confirmation is not None:
                    try:
                        confirmer = await self._records.get_participant(confirmation.confirmed_by)
                    except NotFound:
                        confirmer = None
            decision = core.decide_sign(*args, at, id_document_matches=matches, confirmed_by=confirmed_by,
                                        confirmation=confirmation, confirmer=confirmer)
            if isinstance(decision, Refused):
                return await self._refusal(decision, participant.person_id, participant.role,
                                           "transcript.sign_refused", hearing_id,
                                           {"participant_id": participant.id, "method": str(method)})
            staff = decision.method is ReverificationMethod.STAFF_CONFIRMED
            relied_on = confirmation.id if staff and confirmation is not None else None
            event = AuditEvent(participant.person_id, participant.role, "transcript.signed", _subject(hearing_id), {
                "participant_id": participant.id, "version": decision.version, "sha256": decision.sha256,
                "method": decision.method.value, "confirmed_by": decision.confirmed_by,
                "confirmation_id": relied_on,
            })
            try:
                entry = await self._store.add_signature(decision, hearing_state=hearing.state, audit=event,
                                                        confirmation_id=relied_on)
            except (VersionConflict, DuplicateSignature, StaleState, ConfirmationUnavailable):
                continue  # the checks above now answer with the reason (stale hash, already signed, state, used)
            return Signed(decision, entry)
        raise StaleState(hearing_id, "a stable transcript", "changing too often to sign; try again")

    async def confirm_identity(self, hearing_id: str, confirmer_id: str, signer_id: str, *,
                               present: Collection[str] | None = None) -> Confirmed | Refused:
        """The clerk `confirmer_id` records having checked `signer_id`'s identity on video, for signing.

        `present`: the participant ids connected to the hearing room now (both must be; None: not checked, for a
        caller without a live room). Valid for `confirmation_ttl` and for one signature; audited
        (`transcript.identity_confirmed`, ids only). NotFound: no such hearing, clerk or signer.
        """
        for _ in range(self._attempts):
            hearing = await self._records.get_hearing(hearing_id)
            confirmer = await self._records.get_participant(confirmer_id)
            signer = await self._records.get_participant(signer_id)
            snapshot = await self._store.snapshot(hearing_id)
            decided = core.decide_confirm(hearing.kind, hearing.state, hearing_id, confirmer, signer, snapshot,
                                          self._clock(), confirmation_id=uuid.uuid4().hex, ttl=self.confirmation_ttl,
                                          present=present is None or {confirmer_id, signer_id} <= set(present))
            if isinstance(decided, Refused):
                return await self._refusal(decided, confirmer.person_id, confirmer.role,
                                           "transcript.confirmation_refused", hearing_id,
                                           {"confirmed_by": confirmer.id, "participant_id": signer.id,
                                            "state": hearing.state})
            event = AuditEvent(confirmer.person_id, confirmer.role, "transcript.identity_confirmed",
                               _subject(hearing_id), {
                                   "confirmation_id": decided.id, "participant_id": signer.id,
                                   "confirmed_by": confirmer.id, "expires_at": decided.expires_at.isoformat(),
                               })
            try:
                entry = await self._store.add_confirmation(decided, hearing_state=hearing.state, audit=event)
            except StaleState:
                continue  # the hearing moved meanwhile: decide again in its new state
            return Confirmed(decided, entry)
        raise StaleState(hearing_id, "a stable hearing", "changing too often to confirm; try again")

    # ---- reading -----------------------------------------------------------------------------------------

    async def current(self, hearing_id: str) -> TranscriptVersion | None:
        """The latest version (what the editor loads and signers read), None before the first save."""
        return (await self._store.snapshot(hearing_id)).latest

    async def version(self, hearing_id: str, number: int) -> TranscriptVersion:
        return await self._store.version(hearing_id, number)

    async def versions(self, hearing_id: str) -> list[VersionSummary]:
        """The history, oldest first, without the texts."""
        return await self._store.versions(hearing_id)

    async def _read(self, hearing_id: str) -> tuple[str, TranscriptSnapshot, list[Participant], Completion]:
        hearing = await self._records.get_hearing(hearing_id)
        snapshot = await self._store.snapshot(hearing_id)
        participants = await self._records.list_participants(hearing_id)
        return hearing.state, snapshot, participants, core.completion(hearing.kind, participants, snapshot)

    async def status(self, hearing_id: str) -> TranscriptStatus:
        state, snapshot, _, done = await self._read(hearing_id)
        latest = _summary(snapshot.latest) if snapshot.latest is not None else None
        now = self._clock()
        usable = tuple(c for c in snapshot.confirmations if c.usable_at(now))
        return TranscriptStatus(hearing_id, state, latest, snapshot.frozen,
                                core.reverify_roles(snapshot, self._default_reverify), snapshot.signatures, done,
                                usable)

    async def _may_read(self, hearing_id: str, reader_id: str, reader_role: Role | str) -> Refused | None:
        hearing = await self._records.get_hearing(hearing_id)
        refused = core.may_read(hearing.kind, hearing.state, str(reader_role))
        if refused is None:
            return None
        return await self._refusal(refused, reader_id, str(reader_role), "transcript.read_refused", hearing_id,
                                   {"state": hearing.state, "kind": hearing.kind.value})

    async def read(self, hearing_id: str, reader_id: str, reader_role: Role | str) -> TranscriptRead | Refused:
        """The status and latest text for a reader, if the rules let their role read it now (`core.may_read`)."""
        refused = await self._may_read(hearing_id, reader_id, reader_role)
        if refused is not None:
            return refused
        return TranscriptRead(await self.status(hearing_id), await self.current(hearing_id))

    async def export_pdf_for(self, hearing_id: str, reader_id: str, reader_role: Role | str) -> bytes | Refused:
        """`export_pdf` for a reader, under the same rule as `read`."""
        refused = await self._may_read(hearing_id, reader_id, reader_role)
        return refused if refused is not None else await self.export_pdf(hearing_id)

    async def export_pdf(self, hearing_id: str) -> bytes | Refused:
        """The latest version with its signature page (a draft until complete: the page says which)."""
        hearing = await self._records.get_hearing(hearing_id)
        case = await self._records.get_case(hearing.case_id)
        snapshot = await self._store.snapshot(hearing_id)
        if snapshot.latest is None:
            return Refused(RefusalCode.NO_TRANSCRIPT, "there is no transcript to export yet")
        participants = {p.id: p for p in await self._records.list_participants(hearing_id)}
        done = core.completion(hearing.kind, list(participants.values()), snapshot)
        names: dict[str, str] = {}

        async def name(participant_id: str) -> str:
            if participant_id not in names:
                p = participants.get(participant_id) or await self._records.get_participant(participant_id)
                names[participant_id] = (await self._records.get_person(p.person_id)).name
            return names[participant_id]

        signed = [
            SignerLine(await name(s.participant_id), s.role, s.signed_at, s.method,
                       await name(s.confirmed_by) if s.confirmed_by else None)
            for s in snapshot.signatures
        ]
        pending = [SignerLine(await name(pid), participants[pid].role) for pid in done.pending]
        document = TranscriptDocument(
            case.case_number, case.cause, hearing.kind, hearing.state, hearing.scheduled_start,
            hearing.scheduled_end, snapshot.latest, signed, pending, done.complete, self._tz,
        )
        return await asyncio.to_thread(render_pdf, document)  # long transcripts take a while to lay out
