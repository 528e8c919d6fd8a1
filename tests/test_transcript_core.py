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
from docket.transcripts import ReverificationMethod, Signature, TranscriptSnapshot, TranscriptVersion
from hearing import transcript as core
from hearing.kinds import HearingKind, ProcedureState
from hearing.policy import Action, may
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


def sign(p: Participant, snap: TranscriptSnapshot, *, sha: str | None = None, method: M | str = M.ID_DOCUMENT,
         state: S = S.CLOSED, kind: K = K.TRIAL, matches: bool | None = True, confirmed_by: str | None = None,
         confirmer: Participant | None = None, required: frozenset[str] = REQUIRED) -> Signature | Refused:
    sha = sha if sha is not None else (snap.latest.sha256 if snap.latest else "0" * 64)
    return core.decide_sign(kind, state, H, p, snap, sha, method, required, T0 + timedelta(hours=3),
                            id_document_matches=matches, confirmed_by=confirmed_by, confirmer=confirmer)


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
    snap = saved("笔录")
    p = participant("x", role)
    for state in ProcedureState:
        outcome = sign(p, snap, state=state, kind=kind, method=M.STAFF_CONFIRMED, confirmed_by=CLERK.id,
                       confirmer=CLERK)
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
    assert code(sign(PLAINTIFF, snap, method=M.STAFF_CONFIRMED)) is RefusalCode.EVIDENCE_MISSING
    assert code(sign(PLAINTIFF, snap, method=M.NONE)) is RefusalCode.REVERIFICATION_REQUIRED
    assert isinstance(sign(PLAINTIFF, snap, method=M.NONE, required=frozenset()), Signature)
    assert isinstance(sign(CLERK, snap, method=M.NONE), Signature)  # the clerk's role is not required to


def test_staff_confirmation_needs_an_admitted_clerk_of_this_hearing_other_than_the_signer() -> None:
    snap = saved("笔录")
    ok = sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmed_by=CLERK.id, confirmer=CLERK)
    assert isinstance(ok, Signature) and ok.method is M.STAFF_CONFIRMED and ok.confirmed_by == CLERK.id
    bad = [
        (JUDGE.id, JUDGE),  # not a clerk
        ("c2", participant("c2", Role.CLERK, ParticipantStatus.WAITING)),
        ("c3", participant("c3", Role.CLERK, hearing_id="other")),
        ("nobody", None),
        ("c4", CLERK),  # the participant read is not the one named
    ]
    for confirmed_by, confirmer in bad:
        outcome = sign(DEFENDANT, snap, method=M.STAFF_CONFIRMED, confirmed_by=confirmed_by, confirmer=confirmer)
        assert code(outcome) is RefusalCode.BAD_CONFIRMER, confirmed_by
    other_clerk = participant("clerk-2", Role.CLERK)
    assert isinstance(sign(CLERK, snap, method=M.STAFF_CONFIRMED, confirmed_by=other_clerk.id,
                           confirmer=other_clerk), Signature)


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
