"""The hearing transcript (笔录) as pure rules: versions, autosave, who edits when, who signs what, completeness.

The clerk (书记员) writes the transcript live; the editor autosaves. Each save names the version it was based
on: if that is no longer the latest (the presiding judge saved meanwhile, or a second browser tab did), the save
is a `Conflict` carrying the latest version, which the editor merges and saves again; saving text identical to
the latest makes no new version (so a retried autosave whose reply was lost is harmless). Versions are
append-only and each carries the SHA-256 of its UTF-8 text.

Who edits: the clerk and the presiding judge (`EDITORS`), from the lobby opening until the record is sealed,
but only until the first signature: after that the text is frozen, because every signature must stay bound to
the one text its signer read.

Who reads: the editors; everyone else while the policy lets them watch the hearing now (`subscribe`: they see and
hear it anyway) or sign it (`sign_transcript`, once closed). So the public reads along only in session, a witness
only while called, and nobody but the editors once the record is sealed. (Whether the reader has been admitted
from the lobby at all is the caller's check, where the reader is authenticated: hearing.api.in_hearing.)

Who signs: when the hearing is closed (闭庭), each admitted participant whose role the permission policy grants
`sign_transcript` (hearing.policy). A signature binds the participant id, role, version number, that version's
SHA-256, the time, and how identity was re-checked: `id_document` (the signer re-enters their ID number,
checked against the register) or `staff_confirmed`; the hearing may require such a re-check for some roles
(`DEFAULT_REVERIFY_ROLES` unless set per hearing). A signature on a hash that is not the latest version's is
refused: the signer has not read the current text. The transcript is complete when every admitted participant
who may sign has signed.

Staff confirmation is an act of the clerk, not a name the signer gives: an admitted clerk (`CONFIRMERS`) records
that they checked participant X on video (`decide_confirm`); that `IdentityConfirmation` is bound to the hearing
and to X, expires after `CONFIRMATION_TTL` and is used up by X's one signature. A `staff_confirmed` signature
needs such a confirmation, still usable when signing, by a clerk still admitted; naming a clerk who has not
confirmed the signer is `bad_confirmer`, having no confirmation at all `not_confirmed`.

Everything here is pure: decisions take what the shell (hearing.transcript_service) read and return typed
results or `Refused(code, reason)` — never exceptions for a bad request — with reasons a person can act on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from docket.court import Participant, ParticipantStatus
from docket.transcripts import (
    IdentityConfirmation,
    ReverificationMethod,
    Signature,
    TranscriptSnapshot,
    TranscriptVersion,
)
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, allowed, may
from hearing.roles import Role

S = ProcedureState
R = Role

EDITORS = frozenset({R.CLERK, R.PRESIDING_JUDGE})
"""Roles that write the transcript (and set its re-verification rule)."""
EDIT_STATES = frozenset({S.LOBBY_OPEN, S.IN_SESSION, S.RECESS, S.CLOSED})
"""States in which the editors may save (still only until the first signature)."""
CONFIGURE_STATES = frozenset({S.SCHEDULED, *EDIT_STATES})
"""States in which the re-verification rule may be set (also before the hearing opens)."""
CONFIRMERS = frozenset({R.CLERK})
"""Roles that may confirm a signer's identity on video (`staff_confirmed`)."""
CONFIRM_STATES = frozenset({S.IN_SESSION, S.RECESS})
"""When the clerk may confirm a signer: while the hearing runs, seeing them on video. Once closed no media flows
(hearing.kinds.LIVE_STATES), so there is nothing to confirm on: `no_video_after_close`. The confirmation serves a
signature after the close for `CONFIRMATION_TTL`; later signers re-enter their ID number."""
CONFIRMATION_TTL = timedelta(minutes=10)
"""How long a clerk's confirmation can be relied on: long enough to read the final text and sign on a poor link,
short enough that it vouches for the person at the screen now, not for whoever sits there later."""
DEFAULT_REVERIFY_ROLES = frozenset({R.PLAINTIFF, R.DEFENDANT, R.WITNESS, R.DETAINEE, R.INTERPRETER})
"""Roles that must re-verify before signing unless the hearing says otherwise: the people from outside the court.
Judges, the clerk, counsel and prosecutors are known to the court."""
SEATED_STAFF = frozenset({R.PRESIDING_JUDGE, R.JUDGE, R.CLERK})
"""Court staff who take part in an asynchronous trial (异步审理) by their seat in it: the trial has no live lobby or
room, so nothing admits them as they come in; unless denied or removed they read, sign and confirm as admitted."""
MAX_TEXT_CHARS = 1_000_000


class RefusalCode(StrEnum):
    UNKNOWN = "unknown"  # not a kind, state, role or method of this court
    NOT_PERMITTED = "not_permitted"  # the role may not do this in this kind of hearing
    WRONG_STATE = "wrong_state"  # not in this procedure state
    FROZEN = "frozen"  # signed: the text can no longer change
    CONFLICT = "conflict"  # the save was based on a version that is no longer the latest (see `Conflict`)
    INVALID_TEXT = "invalid_text"  # not storable text (NUL, unpaired surrogate, too long)
    EMPTY = "empty"  # nothing to save yet
    NO_TRANSCRIPT = "no_transcript"  # nothing to sign or export
    STALE_HASH = "stale_hash"  # the signer was shown a hash that is not the latest version's
    NOT_A_PARTICIPANT = "not_a_participant"  # the participant belongs to another hearing
    NOT_ADMITTED = "not_admitted"  # waiting, denied or removed participants do not sign
    ALREADY_SIGNED = "already_signed"
    REVERIFICATION_REQUIRED = "reverification_required"  # method `none` where a re-check is required
    EVIDENCE_MISSING = "evidence_missing"  # the method's evidence (ID number, confirming clerk) was not given
    IDENTITY_MISMATCH = "identity_mismatch"  # the ID number entered is not the one registered
    BAD_CONFIRMER = "bad_confirmer"  # confirmed_by is not an admitted clerk of this hearing who confirmed the signer
    NOT_CONFIRMED = "not_confirmed"  # staff_confirmed, but no clerk's confirmation is usable (none, expired, used)
    NOT_A_SIGNER = "not_a_signer"  # the re-verification rule names a role that does not sign this kind's transcript
    NOT_PRESENT = "not_present"  # the clerk confirms only someone connected to the hearing room, being there too
    NO_VIDEO_AFTER_CLOSE = "no_video_after_close"  # closed: no video any more to confirm anyone on


@dataclass(frozen=True, slots=True)
class Refused:
    code: RefusalCode
    reason: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """The save was based on `base_version`, but `latest` has been saved since: merge and save on top of it."""

    base_version: int
    latest: TranscriptVersion | None
    reason: str

    @property
    def code(self) -> RefusalCode:
        return RefusalCode.CONFLICT


@dataclass(frozen=True, slots=True)
class Save:
    """Store `text` (normalised) as version `number` with hash `sha256`."""

    number: int
    text: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The text is the latest version's already: no new version."""

    version: TranscriptVersion


@dataclass(frozen=True, slots=True)
class Completion:
    """Who must sign (admitted participants whose role may sign), who has, and who has not yet (participant ids)."""

    required: tuple[str, ...]
    signed: tuple[str, ...]
    pending: tuple[str, ...]
    complete: bool


# ---- text -----------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Line ends as "\\n": a browser may send "\\r\\n", and the same words must give the same hash."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def digest(text: str) -> str:
    """The hex SHA-256 of the text's UTF-8 bytes: what a signature binds."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_text(text: object) -> Refused | None:
    if not isinstance(text, str):
        return Refused(RefusalCode.INVALID_TEXT, "the transcript must be text")
    if len(text) > MAX_TEXT_CHARS:
        return Refused(RefusalCode.INVALID_TEXT, f"the transcript is over {MAX_TEXT_CHARS} characters; "
                                                 "split it, or move long material into exhibits")
    if "\x00" in text:
        return Refused(RefusalCode.INVALID_TEXT, "the transcript contains a NUL character; remove it and save again")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Refused(RefusalCode.INVALID_TEXT, "the transcript contains an unpaired surrogate (broken character); "
                                                 "retype the last characters and save again")
    return None


# ---- editing --------------------------------------------------------------------------------------------


def _words(code: str) -> str:
    return code.replace("_", " ")


def _parse_editing(kind: HearingKind | str, state: ProcedureState | str,
                   role: Role | str) -> tuple[HearingKind, ProcedureState, Role] | Refused:
    try:
        return HearingKind(kind), ProcedureState(state), Role(role)
    except ValueError as exc:
        return Refused(RefusalCode.UNKNOWN, str(exc))


def may_edit(kind: HearingKind | str, state: ProcedureState | str, role: Role | str,
             snapshot: TranscriptSnapshot) -> Refused | None:
    """None if `role` may change the transcript now, else why not."""
    parsed = _parse_editing(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    _, state, role = parsed
    if role not in EDITORS:
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"only the clerk or the presiding judge writes the transcript, not the {_words(role.value)}")
    if state not in EDIT_STATES:
        when = "the record is sealed" if state is S.RECORD_SEALED else "the hearing has not opened yet"
        return Refused(RefusalCode.WRONG_STATE,
                       f"the transcript can be written from the lobby opening until the record is sealed; {when}")
    if snapshot.frozen:
        return Refused(RefusalCode.FROZEN,
                       f"version {snapshot.latest_number} has been signed, so the transcript can no longer change; "
                       "note any correction separately")
    return None


def decide_save(kind: HearingKind | str, state: ProcedureState | str, role: Role | str,
                snapshot: TranscriptSnapshot, base_version: int, text: str) -> Save | Unchanged | Conflict | Refused:
    """What an (auto)save of `text`, edited from version `base_version` (0: none), does to the transcript."""
    refused = may_edit(kind, state, role, snapshot) or _check_text(text)
    if refused is not None:
        return refused
    text = normalise(text)
    sha = digest(text)
    latest = snapshot.latest
    if latest is not None and latest.sha256 == sha:
        return Unchanged(latest)  # also when the base is stale: the editor already has what is stored
    if isinstance(base_version, bool) or not isinstance(base_version, int) or base_version != snapshot.latest_number:
        return Conflict(base_version, latest,
                        f"this edit was based on version {base_version}, but version {snapshot.latest_number} has "
                        "been saved since: merge your changes into it and save again")
    if latest is None and not text.strip():
        return Refused(RefusalCode.EMPTY, "nothing to save: the transcript is still empty")
    return Save(snapshot.latest_number + 1, text, sha)


def decide_reverify_roles(kind: HearingKind | str, state: ProcedureState | str, role: Role | str,
                          snapshot: TranscriptSnapshot,
                          roles: Iterable[Role | str] | None) -> frozenset[Role] | Refused | None:
    """Set which roles must re-verify before signing in this hearing (None: back to the court's default)."""
    parsed = _parse_editing(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    _, state, actor = parsed
    if actor not in EDITORS:
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"only the clerk or the presiding judge sets how signers re-verify, not the "
                       f"{_words(actor.value)}")
    if state not in CONFIGURE_STATES:
        return Refused(RefusalCode.WRONG_STATE, "the record is sealed; nothing about the transcript can change")
    if snapshot.frozen:
        return Refused(RefusalCode.FROZEN, "signing has begun: the re-verification rule must stay as it was")
    if roles is None:
        return None
    try:
        chosen = frozenset(Role(r) for r in roles)
    except ValueError as exc:
        return Refused(RefusalCode.UNKNOWN, str(exc))
    kind = HearingKind(kind)
    strangers = sorted(r.value for r in chosen if not may_ever_sign(kind, r))
    if strangers:
        return Refused(RefusalCode.NOT_A_SIGNER,
                       f"{', '.join(_words(r) for r in strangers)} do not sign the transcript of "
                       f"{_words(kind.value)} hearings; choose among the roles that sign it")
    return chosen


def reverify_roles(snapshot: TranscriptSnapshot,
                   default: Iterable[Role | str] = DEFAULT_REVERIFY_ROLES) -> frozenset[str]:
    """The roles that must re-verify in this hearing: its own setting, else the court's default."""
    chosen = snapshot.reverify_roles if snapshot.reverify_roles is not None else default
    return frozenset(str(r) for r in chosen)


# ---- reading --------------------------------------------------------------------------------------------


def may_read(kind: HearingKind | str, state: ProcedureState | str, role: Role | str) -> Refused | None:
    """None if `role` may read the transcript (and its PDF) now, else why not. See the module's docstring."""
    parsed = _parse_editing(kind, state, role)
    if isinstance(parsed, Refused):
        return parsed
    kind, state, role = parsed
    if role in EDITORS and any(allowed(role, kind, s) for s in ProcedureState):
        return None
    now = allowed(role, kind, state)
    if Action.SUBSCRIBE in now or Action.SIGN_TRANSCRIPT in now:
        return None
    if not any(allowed(role, kind, s) for s in ProcedureState):
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"the {_words(role.value)} takes no part in {_words(kind.value)} hearings")
    if state is S.RECORD_SEALED:
        return Refused(RefusalCode.WRONG_STATE,
                       "the record is sealed; the transcript of a sealed hearing is requested from the court")
    return Refused(RefusalCode.NOT_PERMITTED,
                   f"the {_words(role.value)} reads the transcript only while following the hearing or signing it, "
                   f"not while it is {_words(state.value)}")


# ---- signing --------------------------------------------------------------------------------------------


def takes_part(kind: HearingKind | str, participant: Participant) -> bool:
    """Whether the participant counts as admitted for the record: admitted from the lobby, or, in an asynchronous
    trial, court staff seated in it (`SEATED_STAFF`) who were never denied or removed."""
    if participant.status is ParticipantStatus.ADMITTED:
        return True
    return (str(kind) == HearingKind.ASYNC_TRIAL.value and participant.status is ParticipantStatus.WAITING
            and participant.role in {r.value for r in SEATED_STAFF})


def may_ever_sign(kind: HearingKind | str, role: Role | str) -> bool:
    """Whether the role signs this kind of hearing's transcript at all (once closed)."""
    return may(role, kind, S.CLOSED, Action.SIGN_TRANSCRIPT)


def check_sign(kind: HearingKind | str, state: ProcedureState | str, hearing_id: str, participant: Participant,
               snapshot: TranscriptSnapshot, sha256: str, method: ReverificationMethod | str,
               required_roles: Iterable[str]) -> Refused | None:
    """Everything about a signature that needs no identity evidence; None if it may go ahead.

    The shell asks this first, so it neither runs the (slow, on purpose) ID check nor gives anyone a way to test
    ID numbers unless the signature could otherwise be made.
    """
    try:
        kind, state, role = HearingKind(kind), ProcedureState(state), Role(participant.role)
        method = ReverificationMethod(method)
    except ValueError as exc:
        return Refused(RefusalCode.UNKNOWN, str(exc))
    if participant.hearing_id != hearing_id:
        return Refused(RefusalCode.NOT_A_PARTICIPANT, "this participant takes part in another hearing")
    if not may_ever_sign(kind, role):
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"the {_words(role.value)} does not sign the transcript of {_words(kind.value)} hearings")
    if not may(role, kind, state, Action.SIGN_TRANSCRIPT):
        return Refused(RefusalCode.WRONG_STATE,
                       f"the transcript is signed once the hearing is closed; it is {_words(state.value)} now")
    if not takes_part(kind, participant):
        return Refused(RefusalCode.NOT_ADMITTED,
                       f"only admitted participants sign; this participant is {participant.status.value}")
    latest = snapshot.latest
    if latest is None:
        return Refused(RefusalCode.NO_TRANSCRIPT, "there is no transcript to sign yet")
    if any(s.participant_id == participant.id for s in snapshot.signatures):
        return Refused(RefusalCode.ALREADY_SIGNED, "this participant has already signed the transcript")
    if sha256 != latest.sha256:
        return Refused(RefusalCode.STALE_HASH,
                       f"the text you were shown is not the latest version ({latest.number}, SHA-256 "
                       f"{latest.sha256[:12]}…): reload the transcript, read it and sign again")
    if method is ReverificationMethod.NONE and role.value in set(required_roles):
        return Refused(RefusalCode.REVERIFICATION_REQUIRED,
                       f"this hearing requires the {_words(role.value)} to re-verify before signing: re-enter "
                       "your ID number, or ask the clerk to confirm you on video")
    return None


def usable_confirmation(snapshot: TranscriptSnapshot, participant_id: str, at: datetime,
                        confirmed_by: str | None = None) -> IdentityConfirmation | None:
    """The newest confirmation of `participant_id` still usable `at` (by clerk `confirmed_by` if one is named)."""
    found = [c for c in snapshot.confirmations
             if c.hearing_id == snapshot.hearing_id and c.participant_id == participant_id and c.usable_at(at)
             and (confirmed_by is None or c.confirmed_by == confirmed_by)]
    return max(found, key=lambda c: (c.confirmed_at, c.id), default=None)


def decide_confirm(kind: HearingKind | str, state: ProcedureState | str, hearing_id: str, confirmer: Participant,
                   signer: Participant, snapshot: TranscriptSnapshot, at: datetime, *, confirmation_id: str,
                   ttl: timedelta = CONFIRMATION_TTL, present: bool = True) -> IdentityConfirmation | Refused:
    """The clerk `confirmer` records having checked `signer`'s identity on video, for signing: the record, or why not.

    Only an admitted clerk of this hearing confirms, never themself, and only someone admitted who signs this
    kind's transcript and has not signed yet; `present`: whether both are connected to the hearing room now, as
    the shell found it. `ttl` bounds how long the signer may rely on the confirmation.
    """
    try:
        kind, state = HearingKind(kind), ProcedureState(state)
        confirmer_role, signer_role = Role(confirmer.role), Role(signer.role)
    except ValueError as exc:
        return Refused(RefusalCode.UNKNOWN, str(exc))
    if confirmer.hearing_id != hearing_id:
        return Refused(RefusalCode.NOT_A_PARTICIPANT, "the confirming clerk takes part in another hearing")
    if confirmer_role not in CONFIRMERS or not any(allowed(confirmer_role, kind, s) for s in ProcedureState):
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"only the clerk confirms a signer's identity on video, not the {_words(confirmer_role.value)}")
    if not takes_part(kind, confirmer):
        return Refused(RefusalCode.NOT_ADMITTED,
                       "join the hearing room first: identity is confirmed by a clerk who sees the signer on video")
    if state is S.CLOSED:
        return Refused(RefusalCode.NO_VIDEO_AFTER_CLOSE,
                       "the hearing is closed and no video flows any more: confirm signers before the close, or "
                       "they sign with their ID number")
    if state not in CONFIRM_STATES:
        return Refused(RefusalCode.WRONG_STATE,
                       f"signers are confirmed while the hearing is in session or in recess; it is "
                       f"{_words(state.value)}")
    if signer.hearing_id != hearing_id:
        return Refused(RefusalCode.NOT_A_PARTICIPANT, "that person takes part in another hearing")
    if signer.id == confirmer.id:
        return Refused(RefusalCode.BAD_CONFIRMER, "nobody confirms their own identity: ask another clerk")
    if not may_ever_sign(kind, signer_role):
        return Refused(RefusalCode.NOT_PERMITTED,
                       f"the {_words(signer_role.value)} does not sign the transcript of {_words(kind.value)} hearings")
    if not takes_part(kind, signer):
        return Refused(RefusalCode.NOT_ADMITTED,
                       f"only admitted participants sign; this participant is {signer.status.value}")
    if any(s.participant_id == signer.id for s in snapshot.signatures):
        return Refused(RefusalCode.ALREADY_SIGNED, "this participant has already signed the transcript")
    if not present:
        return Refused(RefusalCode.NOT_PRESENT,
                       "both of you must be connected to the hearing room: confirm someone while you see them on video")
    if ttl <= timedelta(0):
        return Refused(RefusalCode.UNKNOWN, "a confirmation must be valid for some time")
    return IdentityConfirmation(confirmation_id, hearing_id, signer.id, confirmer.id, at, at + ttl)


def decide_sign(kind: HearingKind | str, state: ProcedureState | str, hearing_id: str, participant: Participant,
                snapshot: TranscriptSnapshot, sha256: str, method: ReverificationMethod | str,
                required_roles: Iterable[str], signed_at: datetime, *,
                id_document_matches: bool | None = None, confirmed_by: str | None = None,
                confirmation: IdentityConfirmation | None = None,
                confirmer: Participant | None = None) -> Signature | Refused:
    """The signature to store, or why not.

    Evidence, as the shell found it: for `id_document`, whether the number entered matched the register (None:
    no number given); for `staff_confirmed`, the clerk's confirmation the signer relies on
    (`usable_confirmation`, None: none), the confirming clerk as read now, and — optionally, from older clients —
    the clerk the signer names (`confirmed_by`), which must be the one who confirmed. The store must use up
    `confirmation` with the signature.
    """
    refused = check_sign(kind, state, hearing_id, participant, snapshot, sha256, method, required_roles)
    if refused is not None:
        return refused
    method = ReverificationMethod(method)
    latest = snapshot.latest
    assert latest is not None  # check_sign refuses otherwise
    confirming: str | None = None
    if method is ReverificationMethod.ID_DOCUMENT:
        if id_document_matches is None:
            return Refused(RefusalCode.EVIDENCE_MISSING, "enter your ID number to sign")
        if not id_document_matches:
            return Refused(RefusalCode.IDENTITY_MISMATCH,
                           "the ID number entered does not match the register: check it and try again, or ask "
                           "the clerk to confirm you on video")
    elif method is ReverificationMethod.STAFF_CONFIRMED:
        usable = (confirmation is not None and confirmation.hearing_id == hearing_id
                  and confirmation.participant_id == participant.id and confirmation.usable_at(signed_at))
        if not usable or (confirmed_by and confirmation is not None and confirmation.confirmed_by != confirmed_by):
            if confirmed_by:
                return Refused(RefusalCode.BAD_CONFIRMER,
                               "that clerk has not confirmed your identity for signing (or the confirmation expired "
                               "or was used): ask the clerk to confirm you on video, then sign")
            return Refused(RefusalCode.NOT_CONFIRMED,
                           "no clerk's confirmation of your identity is valid now (one lasts a few minutes and serves "
                           "one signature): ask the clerk to confirm you on video, then sign")
        assert confirmation is not None
        if (confirmer is None or confirmer.id != confirmation.confirmed_by or confirmer.hearing_id != hearing_id
                or confirmer.role not in {r.value for r in CONFIRMERS}
                or not takes_part(kind, confirmer)):
            return Refused(RefusalCode.BAD_CONFIRMER,
                           "identity on video is confirmed by an admitted clerk of this hearing; ask the clerk "
                           "present to confirm you again")
        if confirmer.id == participant.id:
            return Refused(RefusalCode.BAD_CONFIRMER, "nobody confirms their own identity: ask another clerk")
        confirming = confirmer.id
    return Signature(hearing_id, participant.id, participant.role, latest.number, latest.sha256, signed_at,
                     method, confirming)


def completion(kind: HearingKind | str, participants: Sequence[Participant],
               snapshot: TranscriptSnapshot) -> Completion:
    """Complete = a transcript exists and every admitted participant whose role may sign has signed it."""
    required = tuple(p.id for p in participants
                     if takes_part(kind, p) and may_ever_sign(kind, p.role))
    signed = tuple(s.participant_id for s in snapshot.signatures)
    done = set(signed)
    pending = tuple(p for p in required if p not in done)
    complete = snapshot.latest is not None and bool(signed) and not pending
    return Completion(required, signed, pending, complete)
