"""The transcript's (笔录) pure rules: autosave versions, conflicts, who edits when, signing, completeness."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docket.court import Participant, ParticipantStatus
from docket.transcripts import (
    IdentityConfirmation,
    ReverificationMethod,
    Signature,
    TranscriptSnapshot,
    TranscriptVersion,
)
from hearing import transcript as core
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, allowed, may
from hearing.roles import Role
from hearing.transcript import Conflict, RefusalCode, Refused, Save, Unchanged

H = "hearing-1"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
K = HearingKind
S = ProcedureState
M = ReverificationMethod
EMPTY = TranscriptSnapshot(H, None, (), None)


def participant(pid: str, role: Role | str, status: ParticipantStatus = ParticipantStatus.ADMITTED,
                hearing_id: str = H) -> Participant:
    return Participant(pid, hearing_id, f"person-{pid}", str(role), status, None, None, None, T0)


def apply(snapshot: TranscriptSnapshot, save: Save, author: str = "clerk-1", role: str = "clerk",
          at: datetime = T0) -> TranscriptSnapshot:
    """What the store does with a Save: append the version."""
    version = TranscriptVersion(H, save.number, save.text, save.sha256, author, role, at)
    return replace(snapshot, latest=version)


def saved(text: str, *snapshots_before: TranscriptSnapshot) -> TranscriptSnapshot:
    snap = snapshots_before[0] if snapshots_before else EMPTY
    outcome = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, snap, snap.latest_number, text)
    assert isinstance(outcome, Save), outcome
    return apply(snap, outcome)


def signed(snapshot: TranscriptSnapshot, *signers: Participant) -> TranscriptSnapshot:
    assert snapshot.latest is not None
    sigs = tuple(Signature(H, p.id, p.role, snapshot.latest.number, snapshot.latest.sha256, T0, M.NONE)
                 for p in signers)
    return replace(snapshot, signatures=snapshot.signatures + sigs)


# ---- text and hashing ----------------------------------------------------------------------------------


def test_the_hash_is_sha256_of_the_utf8_text_with_line_ends_normalised() -> None:
    text = "审判长：现在开庭。\nClerk: noted."
    assert core.digest(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert core.normalise("a\r\nb\rc\n") == "a\nb\nc\n"
    first = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, EMPTY, 0, "一\r\n二")
    assert isinstance(first, Save) and first.text == "一\n二" and first.sha256 == core.digest("一\n二")
    again = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, apply(EMPTY, first), 1, "一\n二")
    assert isinstance(again, Unchanged)


@pytest.mark.parametrize(("text", "code"), [
    ("a\x00b", RefusalCode.INVALID_TEXT),
    ("broken \ud800 char", RefusalCode.INVALID_TEXT),
    ("x" * (core.MAX_TEXT_CHARS + 1), RefusalCode.INVALID_TEXT),
    ("   \n ", RefusalCode.EMPTY),
])
def test_unstorable_or_empty_text_is_refused(text: str, code: RefusalCode) -> None:
    outcome = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, EMPTY, 0, text)
    assert isinstance(outcome, Refused) and outcome.code is code and outcome.reason


# ---- who edits when -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(HearingKind))
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(ProcedureState))
def test_only_the_clerk_and_presiding_judge_edit_from_lobby_to_close(kind: K, role: Role, state: S) -> None:
    outcome = core.decide_save(kind, state, role, EMPTY, 0, "笔录")
    if role in (Role.CLERK, Role.PRESIDING_JUDGE) and state in core.EDIT_STATES:
        assert isinstance(outcome, Save) and outcome.number == 1
    else:
        assert isinstance(outcome, Refused)
        assert outcome.code is (RefusalCode.NOT_PERMITTED if role not in core.EDITORS else RefusalCode.WRONG_STATE)


def test_edit_states_are_lobby_to_closed() -> None:
    assert core.EDIT_STATES == {S.LOBBY_OPEN, S.IN_SESSION, S.RECESS, S.CLOSED}


def test_unknown_role_kind_or_state_is_refused_not_raised() -> None:
    for args in (("trial", "in_session", "janitor"), ("trial", "dancing", "clerk"), ("party", "in_session", "clerk")):
        outcome = core.decide_save(*args, EMPTY, 0, "x")
        assert isinstance(outcome, Refused) and outcome.code is RefusalCode.UNKNOWN


def test_the_first_signature_freezes_the_text_even_while_closed() -> None:
    snap = saved("全文")
    closed = core.decide_save(K.TRIAL, S.CLOSED, Role.CLERK, snap, 1, "全文，补充")
    assert isinstance(closed, Save) and closed.number == 2
    frozen = signed(snap, participant("p1", Role.PLAINTIFF))
    for text in ("全文，补充", "全文"):  # even saving the same text says why nothing can change
        outcome = core.decide_save(K.TRIAL, S.CLOSED, Role.PRESIDING_JUDGE, frozen, 1, text)
        assert isinstance(outcome, Refused) and outcome.code is RefusalCode.FROZEN
    assert core.may_edit(K.TRIAL, S.CLOSED, Role.CLERK, frozen) is not None


# ---- autosave: versions and conflicts --------------------------------------------------------------------


def test_a_stale_base_is_a_conflict_carrying_the_latest_version() -> None:
    snap = saved("第二稿", saved("第一稿"))
    outcome = core.decide_save(K.TRIAL, S.IN_SESSION, Role.PRESIDING_JUDGE, snap, 1, "审判长的修改")
    assert isinstance(outcome, Conflict) and outcome.code is RefusalCode.CONFLICT
    assert outcome.base_version == 1 and outcome.latest == snap.latest
    assert "version 2" in outcome.reason
    ahead = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, snap, 7, "?")
    assert isinstance(ahead, Conflict)
    # A stale base with the latest text already is no conflict: a retried autosave whose reply was lost.
    retried = core.decide_save(K.TRIAL, S.IN_SESSION, Role.CLERK, snap, 1, "第二稿")
    assert isinstance(retried, Unchanged) and retried.version.number == 2


edits = st.lists(
    st.tuples(st.text(alphabet=st.sampled_from("庭审笔录ab \n\r"), max_size=12), st.integers(-1, 1)),
    min_size=1, max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(edits)
def test_any_sequence_of_saves_yields_consecutive_versions_whose_hashes_match(steps: list[tuple[str, int]]) -> None:
    snap = EMPTY
    history: list[TranscriptVersion] = []
    for text, skew in steps:
        base = snap.latest_number + skew  # -1 stale, 0 current, +1 bogus
        outcome = core.decide_save(K.MEDIATION, S.RECESS, Role.CLERK, snap, base, text)
        same = snap.latest is not None and snap.latest.text == core.normalise(text)
        if same:
            assert isinstance(outcome, Unchanged)
        elif skew != 0:
            assert isinstance(outcome, Conflict) and outcome.latest == snap.latest
        elif isinstance(outcome, Save):
            snap = apply(snap, outcome)
            assert snap.latest is not None
            history.append(snap.latest)
        else:
            assert isinstance(outcome, Refused) and outcome.code is RefusalCode.EMPTY and snap.latest is None
    assert [v.number for v in history] == list(range(1, len(history) + 1))
    for v in history:
        assert v.sha256 == hashlib.sha256(v.text.encode("utf-8")).hexdigest()
        assert "\r" not in v.text
    assert all(a.text != b.text for a, b in itertools.pairwise(history))


# ---- signing --------------------------------------------------------------------------------------------

CLERK = participant("clerk-p", Role.CLERK)
JUDGE = participant("judge-p", Role.PRESIDING_JUDGE)
PLAINTIFF = participant("plaintiff-p", Role.PLAINTIFF)
DEFENDANT = participant("defendant-p", Role.DEFENDANT)
REQUIRED = frozenset({"plaintiff", "defendant"})


SIGN_AT = T0 + timedelta(hours=3)


def confirmation(signer: Participant, clerk: Participant = CLERK, *, at: datetime = SIGN_AT - timedelta(minutes=2),
                 ttl: timedelta = core.CONFIRMATION_TTL, cid: str = "conf-1") -> IdentityConfirmation:
    """What the store holds once `clerk` has confirmed `signer` at `at`."""
    return IdentityConfirmation(cid, H, signer.id, clerk.id, at, at + ttl)


def confirmed(snap: TranscriptSnapshot, *confirmations: IdentityConfirmation) -> TranscriptSnapshot:
    return replace(snap, confirmations=snap.confirmations + confirmations)


def sign(p: Participant, snap: TranscriptSnapshot, *, sha: str | None = None, method: M | str = M.ID_DOCUMENT,
         state: S = S.CLOSED, kind: K = K.TRIAL, matches: bool | None = True, confirmed_by: str | None = None,
         confirmer: Participant | None = None, required: frozenset[str] = REQUIRED,
         at: datetime = SIGN_AT) -> Signature | Refused:
    """decide_sign with the evidence found as the service finds it: the usable confirmation in the snapshot."""
    sha = sha if sha is not None else (snap.latest.sha256 if snap.latest else "0" * 64)
    found = core.usable_confirmation(snap, p.id, at, confirmed_by)
    return core.decide_sign(kind, state, H, p, snap, sha, method, required, at,
                            id_document_matches=matches, confirmed_by=confirmed_by, confirmation=found,
                            confirmer=confirmer)


def code(outcome: object) -> RefusalCode:
    assert isinstance(outcome, Refused), outcome
    return outcome.code


def test_a_signature_binds_participant_role_version_hash_time_and_method() -> None:
    snap = saved("第二稿", saved("第一稿"))
    sig = sign(PLAINTIFF, snap)
    assert isinstance(sig, Signature)
    assert (sig.hearing_id, sig.participant_id, sig.role, sig.version, sig.sha256, sig.method, sig.confirmed_by) == (
        H, PLAINTIFF.id, "plaintiff", 2, core.digest("第二稿"), M.ID_DOCUMENT, None)
    assert sig.signed_at == T0 + timedelta(hours=3)


@pytest.mark.parametrize("kind", list(HearingKind))
@pytest.mark.parametrize("role", list(Role))
def test_signing_follows_the_policy_and_only_when_closed(kind: K, role: Role) -> None:
    p = participant("x", role)
    snap = confirmed(saved("笔录"), confirmation(p))
    for state in ProcedureState:
        outcome = sign(p, snap, state=state, kind=kind, method=M.STAFF_CONFIRMED, confirmer=CLERK)
        if may(role, kind, state, Action.SIGN_TRANSCRIPT):
            assert state is S.CLOSED and isinstance(outcome, Signature), (kind, role, state, outcome)
        elif not may(role, kind, S.CLOSED, Action.SIGN_TRANSCRIPT):
            assert code(outcome) is RefusalCode.NOT_PERMITTED
        else:
            assert code(outcome) is RefusalCode.WRONG_STATE


def test_signing_refusals_say_why() -> None:
    snap = saved("笔录")
    assert code(sign(PLAINTIFF, EMPTY)) is RefusalCode.NO_TRANSCRIPT
    for status in (ParticipantStatus.WAITING, ParticipantStatus.DENIED, ParticipantStatus.REMOVED):
        assert code(sign(participant("p", Role.PLAINTIFF, status), snap)) is RefusalCode.NOT_ADMITTED
    assert code(sign(participant("p", Role.PLAINTIFF, hearing_id="other"), snap)) is RefusalCode.NOT_A_PARTICIPANT
    assert code(sign(PLAINTIFF, signed(snap, PLAINTIFF))) is RefusalCode.ALREADY_SIGNED
    assert code(sign(PLAINTIFF, snap, method="fingerprint")) is RefusalCode.UNKNOWN
    assert code(sign(participant("p", "janitor"), snap)) is RefusalCode.UNKNOWN
    # Identity evidence.
    assert code(sign(PLAINTIFF, snap, matches=False)) is RefusalCode.IDENTITY_MISMATCH
    assert code(sign(PLAINTIFF, snap, matches=None)) is RefusalCode.EVIDENCE_MISSING
    assert code(sign(PLAINTIFF, snap, method=M.STAFF_CONFIRMED)) is RefusalCode.NOT_CONFIRMED
    assert code(sign(PLAINTIFF, snap, method=M.NONE)) is RefusalCode.REVERIFICATION_REQUIRED
    assert isinstance(sign(PLAINTIFF, snap, method=M.NONE, required=frozenset()), Signature)
    assert isinstance(sign(CLERK, snap, method=M.NONE), Signature)  # the clerk's role is not required to


def test_staff_confirmation_rests_on_the_clerks_own_usable_confirmation() -> None:
    snap = confirmed(saved("笔录"), confirmation(DEFENDANT))
    ok = sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmer=CLERK)
    assert isinstance(ok, Signature) and ok.method is M.STAFF_CONFIRMED and ok.confirmed_by == CLERK.id
    named = sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmed_by=CLERK.id, confirmer=CLERK)
    assert isinstance(named, Signature) and named.confirmed_by == CLERK.id  # naming the right clerk is harmless
    # No confirmation at all: not confirmed. Naming a clerk who did not confirm: a bad confirmer.
    unconfirmed = saved("笔录")
    assert code(sign(DEFENDANT, unconfirmed, method=M.STAFF_CONFIRMED, confirmer=CLERK)) is RefusalCode.NOT_CONFIRMED
    for named_clerk in (CLERK.id, JUDGE.id, "nobody"):
        outcome = sign(DEFENDANT, unconfirmed, method=M.STAFF_CONFIRMED, confirmed_by=named_clerk, confirmer=CLERK)
        assert code(outcome) is RefusalCode.BAD_CONFIRMER, named_clerk
    other_clerk = participant("clerk-2", Role.CLERK)
    assert code(sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmed_by=other_clerk.id,
                     confirmer=other_clerk)) is RefusalCode.BAD_CONFIRMER
    # Someone else's confirmation, an expired or used one does not serve.
    assert code(sign(PLAINTIFF, snap, method=M.STAFF_CONFIRMED, confirmer=CLERK)) is RefusalCode.NOT_CONFIRMED
    late = SIGN_AT + core.CONFIRMATION_TTL
    assert code(sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmer=CLERK, at=late)) is RefusalCode.NOT_CONFIRMED
    used = confirmed(saved("笔录"), replace(confirmation(DEFENDANT), used_at=SIGN_AT - timedelta(minutes=1)))
    assert code(sign(DEFENDANT, used, method=M.STAFF_CONFIRMED, confirmer=CLERK)) is RefusalCode.NOT_CONFIRMED
    # The confirming clerk, as read now, must still be an admitted clerk of this hearing other than the signer.
    bad = [JUDGE, participant(CLERK.id, Role.CLERK, ParticipantStatus.REMOVED),
           participant(CLERK.id, Role.CLERK, hearing_id="other"), None, other_clerk]
    for confirmer in bad:
        outcome = sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmer=confirmer)
        assert code(outcome) is RefusalCode.BAD_CONFIRMER, confirmer
    own = confirmed(saved("笔录"), confirmation(CLERK, CLERK))
    assert code(sign(CLERK, own, method=M.STAFF_CONFIRMED, confirmer=CLERK)) is RefusalCode.BAD_CONFIRMER
    assert isinstance(sign(CLERK, confirmed(saved("笔录"), confirmation(CLERK, other_clerk)),
                           method=M.STAFF_CONFIRMED, confirmer=other_clerk), Signature)


def test_the_newest_usable_confirmation_is_chosen() -> None:
    older = confirmation(DEFENDANT, cid="a", at=SIGN_AT - timedelta(minutes=5))
    newer = confirmation(DEFENDANT, participant("clerk-2", Role.CLERK), cid="b", at=SIGN_AT - timedelta(minutes=1))
    expired = confirmation(DEFENDANT, cid="c", at=SIGN_AT - core.CONFIRMATION_TTL - timedelta(seconds=1))
    future = confirmation(DEFENDANT, cid="d", at=SIGN_AT + timedelta(seconds=1))
    snap = confirmed(saved("笔录"), older, newer, expired, future)
    assert core.usable_confirmation(snap, DEFENDANT.id, SIGN_AT) == newer
    assert core.usable_confirmation(snap, DEFENDANT.id, SIGN_AT, CLERK.id) == older
    assert core.usable_confirmation(snap, PLAINTIFF.id, SIGN_AT) is None
    assert core.usable_confirmation(snap, DEFENDANT.id, SIGN_AT + core.CONFIRMATION_TTL) == future  # still valid
    assert core.usable_confirmation(snap, DEFENDANT.id, SIGN_AT + core.CONFIRMATION_TTL + timedelta(seconds=1)) is None


def confirm(confirmer: Participant, signer: Participant, *, state: S = S.IN_SESSION, kind: K = K.TRIAL,
            snap: TranscriptSnapshot = EMPTY, present: bool = True) -> IdentityConfirmation | Refused:
    return core.decide_confirm(kind, state, H, confirmer, signer, snap, T0, confirmation_id="k1", present=present)


def test_only_an_admitted_clerk_confirms_an_admitted_signer_for_a_while() -> None:
    made = confirm(CLERK, PLAINTIFF)
    assert made == IdentityConfirmation("k1", H, PLAINTIFF.id, CLERK.id, T0, T0 + core.CONFIRMATION_TTL)
    short = core.decide_confirm(K.TRIAL, S.RECESS, H, CLERK, PLAINTIFF, EMPTY, T0, confirmation_id="k",
                                ttl=timedelta(minutes=1))
    assert isinstance(short, IdentityConfirmation) and short.expires_at == T0 + timedelta(minutes=1)
    for state in ProcedureState:
        outcome = confirm(CLERK, PLAINTIFF, state=state)
        assert isinstance(outcome, IdentityConfirmation) == (state in core.CONFIRM_STATES), state
        if state is S.CLOSED:  # no video any more: a distinct code, so the client can say so
            assert code(outcome) is RefusalCode.NO_VIDEO_AFTER_CLOSE
        elif state not in core.CONFIRM_STATES:
            assert code(outcome) is RefusalCode.WRONG_STATE
    for role in Role:  # nobody but the clerk confirms, the presiding judge included
        if role not in core.CONFIRMERS:
            assert code(confirm(participant("x", role), PLAINTIFF)) is RefusalCode.NOT_PERMITTED, role
    for status in (ParticipantStatus.WAITING, ParticipantStatus.DENIED, ParticipantStatus.REMOVED):
        assert code(confirm(participant("c", Role.CLERK, status), PLAINTIFF)) is RefusalCode.NOT_ADMITTED
        assert code(confirm(CLERK, participant("p", Role.PLAINTIFF, status))) is RefusalCode.NOT_ADMITTED
    assert code(confirm(participant("c", Role.CLERK, hearing_id="x"), PLAINTIFF)) is RefusalCode.NOT_A_PARTICIPANT
    assert code(confirm(CLERK, participant("p", Role.PLAINTIFF, hearing_id="x"))) is RefusalCode.NOT_A_PARTICIPANT
    assert code(confirm(CLERK, CLERK)) is RefusalCode.BAD_CONFIRMER
    assert code(confirm(CLERK, participant("o", Role.OBSERVER))) is RefusalCode.NOT_PERMITTED  # never signs
    assert code(confirm(CLERK, PLAINTIFF, snap=signed(saved("笔录"), PLAINTIFF))) is RefusalCode.ALREADY_SIGNED
    assert code(confirm(CLERK, PLAINTIFF, present=False)) is RefusalCode.NOT_PRESENT


@pytest.mark.parametrize("kind", list(HearingKind))
@pytest.mark.parametrize("role", list(Role))
def test_who_reads_the_transcript_follows_the_policy(kind: K, role: Role) -> None:
    for state in ProcedureState:
        outcome = core.may_read(kind, state, role)
        now = allowed(role, kind, state)
        takes_part = any(allowed(role, kind, s) for s in ProcedureState)
        expected = takes_part and (role in core.EDITORS or Action.SUBSCRIBE in now
                                   or Action.SIGN_TRANSCRIPT in now)
        assert (outcome is None) == expected, (kind, role, state, outcome)
        if outcome is not None:
            assert outcome.reason and outcome.code in (RefusalCode.NOT_PERMITTED, RefusalCode.WRONG_STATE)


def test_reading_examples() -> None:
    assert core.may_read(K.TRIAL, S.IN_SESSION, Role.OBSERVER) is None  # the public follows the session
    assert code(core.may_read(K.TRIAL, S.CLOSED, Role.OBSERVER)) is RefusalCode.NOT_PERMITTED
    assert code(core.may_read(K.TRIAL, S.RECESS, Role.WITNESS)) is RefusalCode.NOT_PERMITTED
    assert core.may_read(K.TRIAL, S.CLOSED, Role.WITNESS) is None  # signs
    assert code(core.may_read(K.TRIAL, S.RECORD_SEALED, Role.PLAINTIFF)) is RefusalCode.WRONG_STATE
    assert core.may_read(K.TRIAL, S.RECORD_SEALED, Role.CLERK) is None
    assert code(core.may_read(K.DELIBERATION, S.IN_SESSION, Role.PLAINTIFF)) is RefusalCode.NOT_PERMITTED
    assert code(core.may_read(K.TRIAL, S.CLOSED, "janitor")) is RefusalCode.UNKNOWN


def test_a_hash_that_is_not_the_latest_is_refused_with_the_latest_named() -> None:
    first = saved("第一稿")
    second = saved("第二稿", first)
    assert first.latest is not None
    outcome = sign(PLAINTIFF, second, sha=first.latest.sha256)
    assert code(outcome) is RefusalCode.STALE_HASH
    assert isinstance(outcome, Refused) and "version (2" in outcome.reason and "reload" in outcome.reason


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="甲乙丙x", min_size=1, max_size=6), min_size=1, max_size=8, unique=True),
       st.data())
def test_signatures_only_ever_bind_the_latest_hash(texts: list[str], data: st.DataObject) -> None:
    snap = EMPTY
    hashes = []
    for text in texts:
        snap = saved(text, snap) if snap.latest is not None else saved(text)
        hashes.append(core.digest(text))
    offered = data.draw(st.sampled_from([*hashes, "f" * 64]))
    outcome = sign(PLAINTIFF, snap, sha=offered)
    assert snap.latest is not None
    if offered == snap.latest.sha256:
        assert isinstance(outcome, Signature) and outcome.version == len(texts)
    else:
        assert code(outcome) is RefusalCode.STALE_HASH


# ---- re-verification setting and completeness -----------------------------------------------------------


def test_reverification_roles_default_and_per_hearing() -> None:
    assert core.reverify_roles(EMPTY) == {r.value for r in core.DEFAULT_REVERIFY_ROLES}
    assert core.reverify_roles(replace(EMPTY, reverify_roles=frozenset({"witness"}))) == {"witness"}
    assert core.reverify_roles(replace(EMPTY, reverify_roles=frozenset())) == frozenset()
    chosen = core.decide_reverify_roles(K.TRIAL, S.SCHEDULED, Role.CLERK, EMPTY, ["plaintiff", Role.WITNESS])
    assert chosen == {Role.PLAINTIFF, Role.WITNESS}
    assert core.decide_reverify_roles(K.TRIAL, S.CLOSED, Role.PRESIDING_JUDGE, EMPTY, None) is None
    assert code(core.decide_reverify_roles(K.TRIAL, S.CLOSED, Role.PLAINTIFF, EMPTY, [])) is RefusalCode.NOT_PERMITTED
    assert code(core.decide_reverify_roles(K.TRIAL, S.RECORD_SEALED, Role.CLERK, EMPTY, [])) is RefusalCode.WRONG_STATE
    assert code(core.decide_reverify_roles(K.TRIAL, S.CLOSED, Role.CLERK, EMPTY, ["x"])) is RefusalCode.UNKNOWN
    observers = core.decide_reverify_roles(K.TRIAL, S.CLOSED, Role.CLERK, EMPTY, ["plaintiff", "observer"])
    assert code(observers) is RefusalCode.NOT_A_SIGNER and "observer" in observers.reason  # type: ignore[union-attr]
    frozen = signed(saved("笔录"), PLAINTIFF)
    assert code(core.decide_reverify_roles(K.TRIAL, S.CLOSED, Role.CLERK, frozen, [])) is RefusalCode.FROZEN


def test_complete_when_every_admitted_participant_who_may_sign_has_signed() -> None:
    observer = participant("obs", Role.OBSERVER)
    officer = participant("off", Role.OFFICER)
    waiting = participant("w", Role.WITNESS, ParticipantStatus.WAITING)
    denied = participant("d", Role.DEFENDANT, ParticipantStatus.DENIED)
    people = [CLERK, JUDGE, PLAINTIFF, DEFENDANT, observer, officer, waiting, denied]
    assert core.completion(K.TRIAL, people, EMPTY).complete is False
    snap = saved("笔录")
    progress = core.completion(K.TRIAL, people, snap)
    assert progress.required == (CLERK.id, JUDGE.id, PLAINTIFF.id, DEFENDANT.id)
    assert progress.pending == progress.required and not progress.complete
    snap = signed(snap, PLAINTIFF, CLERK, JUDGE)
    progress = core.completion(K.TRIAL, people, snap)
    assert progress.pending == (DEFENDANT.id,) and not progress.complete
    progress = core.completion(K.TRIAL, people, signed(snap, DEFENDANT))
    assert progress.pending == () and progress.complete
    assert progress.signed == (PLAINTIFF.id, CLERK.id, JUDGE.id, DEFENDANT.id)


@pytest.mark.parametrize("role", sorted(core.SEATED_STAFF))
@pytest.mark.parametrize("status", list(ParticipantStatus))
def test_an_asynchronous_trials_judge_and_clerk_sign_by_their_seat(role: Role, status: ParticipantStatus) -> None:
    """No live lobby admits the staff of an asynchronous trial: seated (waiting) they sign; denied or removed not;
    in a live trial a waiting judge still does not; a waiting party of an asynchronous trial does not either."""
    snap = saved("笔录")
    staff = participant("s", role, status)
    outcome = sign(staff, snap, kind=K.ASYNC_TRIAL, method=M.NONE)
    if status in (ParticipantStatus.ADMITTED, ParticipantStatus.WAITING):
        assert isinstance(outcome, Signature) and outcome.participant_id == "s"
    else:
        assert code(outcome) is RefusalCode.NOT_ADMITTED
    if status is ParticipantStatus.WAITING:
        assert code(sign(staff, snap, kind=K.TRIAL, method=M.NONE)) is RefusalCode.NOT_ADMITTED
        party = participant("p", Role.PLAINTIFF, status)
        assert code(sign(party, snap, kind=K.ASYNC_TRIAL)) is RefusalCode.NOT_ADMITTED
        done = core.completion(K.ASYNC_TRIAL, [staff, party, PLAINTIFF], snap)
        assert staff.id in done.required and party.id not in done.required
        assert "s" not in core.completion(K.TRIAL, [staff], snap).required
