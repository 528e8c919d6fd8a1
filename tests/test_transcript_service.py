"""The transcript (笔录) service on SQLite and PostgreSQL: autosave, conflicts, signing, audit, PDF export."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pypdf
import pytest

from docket.audit import AuditEvent
from docket.court import (
    Hearing,
    HearingKind,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    NotFound,
    Participant,
    ParticipantStatus,
    Party,
    PartySide,
    StaleState,
)
from docket.court_sql import SqlCourtRecords
from docket.transcripts import (
    ConfirmationUnavailable,
    ReverificationMethod,
    Signature,
    TranscriptStore,
    TranscriptVersion,
)
from docket.transcripts_sql import SqlTranscriptStore
from hearing import transcript as core
from hearing.roles import Role
from hearing.transcript import Conflict, RefusalCode, Refused, Unchanged
from hearing.transcript_service import (
    Confirmed,
    ReverificationSet,
    Saved,
    Signed,
    TranscriptRead,
    TranscriptService,
)

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
M = ReverificationMethod


def resident_id(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


PLAINTIFF_ID = resident_id("11010519800103005")
DEFENDANT_ID = resident_id("11010519751224002")


@pytest.fixture
def store(court: SqlCourtRecords) -> SqlTranscriptStore:
    return SqlTranscriptStore(court.engine, court.url)


@pytest.fixture
def service(court: SqlCourtRecords, store: SqlTranscriptStore) -> TranscriptService:
    return TranscriptService(court, store, court.audit, tz=BEIJING)


@dataclass
class Trial:
    hearing: Hearing
    judge: Participant
    clerk: Participant
    plaintiff: Participant
    defendant: Participant
    observer: Participant
    witness: Participant  # denied at the door


async def _trial(court: SqlCourtRecords, state: str = "lobby_open", number: str = "(2026)京0101民初123号") -> Trial:
    judge = await court.create_person(NewPerson("王审判长"))
    clerk = await court.create_person(NewPerson("李书记员"))
    plaintiff = await court.create_person(NewPerson("张原告", id_document=PLAINTIFF_ID))
    defendant = await court.create_person(NewPerson("赵被告", id_document=DEFENDANT_ID))
    observer = await court.create_person(NewPerson("旁听者"))
    witness = await court.create_person(NewPerson("钱证人"))
    case = await court.create_case(NewCase(number, "买卖合同纠纷 sale contract", [
        Party(plaintiff.id, PartySide.PLAINTIFF), Party(defendant.id, PartySide.DEFENDANT)]))
    hearing = await court.create_hearing(NewHearing(case.id, HearingKind.TRIAL, START, START + timedelta(hours=2),
                                                    panel=[judge.id], state=state))
    people = []
    for person, role in ((judge, Role.PRESIDING_JUDGE), (clerk, Role.CLERK), (plaintiff, Role.PLAINTIFF),
                         (defendant, Role.DEFENDANT), (observer, Role.OBSERVER), (witness, Role.WITNESS)):
        p = await court.add_participant(NewParticipant(hearing.id, person.id, role.value))
        status = ParticipantStatus.DENIED if role is Role.WITNESS else ParticipantStatus.ADMITTED
        people.append(await court.set_participant_status(p.id, status))
    return Trial(hearing, *people)


async def _move(court: SqlCourtRecords, hearing_id: str, new: str) -> None:
    current = (await court.get_hearing(hearing_id)).state
    await court.set_hearing_state(hearing_id, current, new)


def _saved(outcome: object) -> TranscriptVersion:
    assert isinstance(outcome, Saved), outcome
    return outcome.version


def _refused(outcome: object, code: RefusalCode) -> Refused:
    assert isinstance(outcome, Refused) and outcome.code is code, outcome
    return outcome


async def test_the_store_satisfies_its_protocol(store: SqlTranscriptStore) -> None:
    assert isinstance(store, TranscriptStore)


async def test_autosave_makes_versions_and_identical_text_makes_none(court: SqlCourtRecords,
                                                                     service: TranscriptService) -> None:
    t = await _trial(court)
    h = t.hearing.id
    assert await service.current(h) is None and await service.versions(h) == []
    _refused(await service.save(h, "clerk-1", Role.CLERK, "   ", 0), RefusalCode.EMPTY)
    v1 = _saved(await service.save(h, "clerk-1", Role.CLERK, "书记员：核对当事人身份。", 0))
    v2 = _saved(await service.save(h, "clerk-1", "clerk", "书记员：核对当事人身份。\r\n审判长：现在开庭。", 1))
    assert (v1.number, v2.number) == (1, 2)
    assert v2.text == "书记员：核对当事人身份。\n审判长：现在开庭。" and v2.sha256 == core.digest(v2.text)
    same = await service.save(h, "clerk-1", Role.CLERK, v2.text, 2)
    assert isinstance(same, Unchanged) and same.version == v2
    assert await service.current(h) == v2
    assert await service.version(h, 1) == v1
    history = await service.versions(h)
    assert [(s.number, s.sha256, s.author_id, s.length) for s in history] == [
        (1, v1.sha256, "clerk-1", len(v1.text)), (2, v2.sha256, "clerk-1", len(v2.text))]
    assert all(s.saved_at.tzinfo is not None for s in history)
    with pytest.raises(NotFound):
        await service.version(h, 3)
    with pytest.raises(NotFound):
        await service.save("no-such-hearing", "clerk-1", Role.CLERK, "x", 0)

    entries = await court.audit.entries()
    assert [e.action for e in entries] == ["transcript.saved", "transcript.saved"]
    assert entries[1].subject == f"hearing:{h}" and entries[1].actor_id == "clerk-1"
    assert entries[1].details == {"version": 2, "sha256": v2.sha256, "base_version": 1, "chars": len(v2.text)}
    assert await court.audit.verify() is None


async def test_a_stale_base_is_a_conflict_the_editor_can_resolve(court: SqlCourtRecords,
                                                                 service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    _saved(await service.save(h, "clerk-1", Role.CLERK, "第一稿", 0))
    v2 = _saved(await service.save(h, "judge-1", Role.PRESIDING_JUDGE, "第一稿（审判长修改）", 1))
    conflict = await service.save(h, "clerk-1", Role.CLERK, "第一稿，书记员续写", 1)
    assert isinstance(conflict, Conflict) and conflict.latest == v2 and conflict.base_version == 1
    merged_text = "第一稿（审判长修改），书记员续写"
    merged = _saved(await service.save(h, "clerk-1", Role.CLERK, merged_text, conflict.latest.number))
    assert merged.number == 3
    refused = _refused(await service.save(h, "party-9", Role.PLAINTIFF, "我来改", 3), RefusalCode.NOT_PERMITTED)
    assert "clerk" in refused.reason
    last = (await court.audit.entries())[-1]
    assert last.action == "transcript.save_refused" and last.actor_id == "party-9"
    assert last.details == {"state": "in_session", "kind": "trial", "code": "not_permitted"}


async def test_concurrent_saves_from_one_base_exactly_one_wins(court: SqlCourtRecords,
                                                              service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    _saved(await service.save(h, "clerk-1", Role.CLERK, "开庭", 0))
    outcomes = await asyncio.gather(*(
        service.save(h, f"editor-{i}", Role.CLERK, f"开庭，第{i}位编辑的内容", 1) for i in range(6)))
    winners = [o for o in outcomes if isinstance(o, Saved)]
    assert len(winners) == 1 and winners[0].version.number == 2
    assert all(isinstance(o, Conflict) and o.latest == winners[0].version for o in outcomes if o is not winners[0])
    assert [s.number for s in await service.versions(h)] == [1, 2]
    assert await court.audit.count() == 2 and await court.audit.verify() is None


async def test_the_store_refuses_a_write_decided_in_an_old_state(court: SqlCourtRecords,
                                                                store: SqlTranscriptStore) -> None:
    t = await _trial(court, "closed")
    text = "笔录"
    version = TranscriptVersion(t.hearing.id, 1, text, core.digest(text), "clerk-1", "clerk", START)
    event = AuditEvent("clerk-1", "clerk", "transcript.saved", f"hearing:{t.hearing.id}", {"version": 1})
    with pytest.raises(StaleState):
        await store.append_version(version, hearing_state="in_session", audit=event)
    await store.append_version(version, hearing_state="closed", audit=event)
    with pytest.raises(Exception, match="not the hash"):
        await store.append_version(TranscriptVersion(t.hearing.id, 2, "改", "0" * 64, "c", "clerk", START),
                                   hearing_state="closed", audit=event)
    assert await court.audit.count() == 1  # the refused writes left no audit entry behind


async def test_signing_end_to_end(court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    v1 = _saved(await service.save(h, "clerk-1", Role.CLERK, "审判长：现在开庭。", 0))

    # Not before the hearing is closed.
    _refused(await service.sign(h, t.plaintiff.id, sha256=v1.sha256, method=M.ID_DOCUMENT, id_document=PLAINTIFF_ID),
             RefusalCode.WRONG_STATE)
    await _move(court, h, "closed")
    # The clerk may still edit while closed, before anyone signs; a signer who saw v1 must then reload.
    v2 = _saved(await service.save(h, "clerk-1", Role.CLERK, "审判长：现在开庭。\n审判长：现在闭庭。", 1))
    stale = _refused(await service.sign(h, t.plaintiff.id, sha256=v1.sha256, method=M.ID_DOCUMENT,
                                        id_document=PLAINTIFF_ID), RefusalCode.STALE_HASH)
    assert "version (2" in stale.reason
    # Denied participants and watch-only roles do not sign.
    _refused(await service.sign(h, t.witness.id, sha256=v2.sha256, method=M.STAFF_CONFIRMED,
                                confirmed_by=t.clerk.id), RefusalCode.NOT_ADMITTED)
    _refused(await service.sign(h, t.observer.id, sha256=v2.sha256, method=M.NONE), RefusalCode.NOT_PERMITTED)
    # Wrong ID number: refused and audited, without the number.
    before = await court.audit.count()
    wrong = _refused(await service.sign(h, t.plaintiff.id, sha256=v2.sha256, method=M.ID_DOCUMENT,
                                        id_document=DEFENDANT_ID), RefusalCode.IDENTITY_MISMATCH)
    assert "does not match" in wrong.reason
    [entry] = await court.audit.entries(after_seq=before)
    assert entry.action == "transcript.sign_refused" and entry.actor_id == t.plaintiff.person_id
    assert entry.details == {"participant_id": t.plaintiff.id, "method": "id_document", "code": "identity_mismatch"}
    _refused(await service.sign(h, t.plaintiff.id, sha256=v2.sha256, method=M.ID_DOCUMENT),
             RefusalCode.EVIDENCE_MISSING)
    _refused(await service.sign(h, t.plaintiff.id, sha256=v2.sha256, method=M.NONE),
             RefusalCode.REVERIFICATION_REQUIRED)

    signed = await service.sign(h, t.plaintiff.id, sha256=v2.sha256, method=M.ID_DOCUMENT,
                                id_document=PLAINTIFF_ID.lower())
    assert isinstance(signed, Signed)
    sig = signed.signature
    assert (sig.participant_id, sig.role, sig.version, sig.sha256, sig.method) == (
        t.plaintiff.id, "plaintiff", 2, v2.sha256, M.ID_DOCUMENT)
    assert signed.audit.action == "transcript.signed" and signed.audit.details == {
        "participant_id": t.plaintiff.id, "version": 2, "sha256": v2.sha256, "method": "id_document",
        "confirmed_by": None, "confirmation_id": None}
    _refused(await service.sign(h, t.plaintiff.id, sha256=v2.sha256, method=M.ID_DOCUMENT, id_document=PLAINTIFF_ID),
             RefusalCode.ALREADY_SIGNED)

    # Frozen after the first signature, for the presiding judge too.
    _refused(await service.save(h, "clerk-1", Role.CLERK, v2.text + "\n补充", 2), RefusalCode.FROZEN)
    _refused(await service.save(h, "judge-1", Role.PRESIDING_JUDGE, v2.text + "\n补充", 2), RefusalCode.FROZEN)
    _refused(await service.set_reverification(h, "judge-1", Role.PRESIDING_JUDGE, []), RefusalCode.FROZEN)

    # Staff confirmation is the clerk's act: without it, naming a clerk (or anyone) does not do.
    _refused(await service.sign(h, t.defendant.id, sha256=v2.sha256, method=M.STAFF_CONFIRMED),
             RefusalCode.NOT_CONFIRMED)
    _refused(await service.sign(h, t.defendant.id, sha256=v2.sha256, method=M.STAFF_CONFIRMED,
                                confirmed_by=t.clerk.id), RefusalCode.BAD_CONFIRMER)
    _refused(await service.sign(h, t.defendant.id, sha256=v2.sha256, method=M.STAFF_CONFIRMED,
                                confirmed_by="no-such-participant"), RefusalCode.BAD_CONFIRMER)
    _refused(await service.sign(h, t.clerk.id, sha256=v2.sha256, method=M.STAFF_CONFIRMED,
                                confirmed_by=t.clerk.id), RefusalCode.BAD_CONFIRMER)
    # The judge cannot confirm; once closed no video flows, so the clerk cannot confirm anyone either (the
    # confirmation is made before the close: test_a_confirmation_expires_and_serves_one_signature).
    _refused(await service.confirm_identity(h, t.judge.id, t.defendant.id), RefusalCode.NOT_PERMITTED)
    _refused(await service.confirm_identity(h, t.clerk.id, t.defendant.id), RefusalCode.NO_VIDEO_AFTER_CLOSE)
    assert (await service.status(h)).confirmations == ()
    by_id = await service.sign(h, t.defendant.id, sha256=v2.sha256, method=M.ID_DOCUMENT, id_document=DEFENDANT_ID)
    assert isinstance(by_id, Signed)

    status = await service.status(h)
    assert status.frozen and not status.complete and status.latest is not None and status.latest.number == 2
    assert set(status.completion.pending) == {t.judge.id, t.clerk.id}
    for p in (t.judge, t.clerk):  # court staff are not required to re-verify by default
        assert isinstance(await service.sign(h, p.id, sha256=v2.sha256, method=M.NONE), Signed)
    status = await service.status(h)
    assert status.complete and status.completion.pending == ()
    assert [s.participant_id for s in status.signatures] == [t.plaintiff.id, t.defendant.id, t.judge.id, t.clerk.id]

    # Sealed: nothing changes any more.
    await _move(court, h, "record_sealed")
    _refused(await service.save(h, "clerk-1", Role.CLERK, "x", 2), RefusalCode.WRONG_STATE)

    actions = [e.action for e in await court.audit.entries(limit=1000)]
    assert actions.count("transcript.saved") == 2 and actions.count("transcript.signed") == 4
    assert actions.count("transcript.sign_refused") == 5  # observer, wrong ID, 3 bad confirmers
    assert actions.count("transcript.confirmation_refused") == 1  # the judge
    assert actions.count("transcript.identity_confirmed") == 0
    assert await court.audit.verify() is None
    for e in await court.audit.entries(limit=1000):  # ids only: no names, no ID numbers
        flat = str(e.details)
        assert PLAINTIFF_ID not in flat and DEFENDANT_ID not in flat and "张原告" not in flat


async def test_reverification_can_be_set_per_hearing(court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "scheduled")
    h = t.hearing.id
    _refused(await service.set_reverification(h, "party", Role.DEFENDANT, []), RefusalCode.NOT_PERMITTED)
    _refused(await service.set_reverification(h, "clerk-1", Role.CLERK, ["observer"]), RefusalCode.NOT_A_SIGNER)
    chosen = await service.set_reverification(h, "clerk-1", Role.CLERK, [Role.PLAINTIFF, "presiding_judge"])
    assert isinstance(chosen, ReverificationSet) and chosen.roles == {"plaintiff", "presiding_judge"}
    assert chosen.audit.details == {"roles": ["plaintiff", "presiding_judge"], "default": False}
    await _move(court, h, "lobby_open")
    v = _saved(await service.save(h, "clerk-1", Role.CLERK, "谈话内容", 0))
    await _move(court, h, "in_session")
    await _move(court, h, "closed")
    # The defendant no longer has to re-verify; the presiding judge now does.
    assert isinstance(await service.sign(h, t.defendant.id, sha256=v.sha256, method=M.NONE), Signed)
    _refused(await service.sign(h, t.judge.id, sha256=v.sha256, method=M.NONE), RefusalCode.REVERIFICATION_REQUIRED)
    assert (await service.status(h)).reverify_roles == {"plaintiff", "presiding_judge"}


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_confirmation_expires_and_serves_one_signature(court: SqlCourtRecords,
                                                             store: SqlTranscriptStore) -> None:
    clock = Clock(START + timedelta(hours=3))
    service = TranscriptService(court, store, court.audit, clock=clock, confirmation_ttl=timedelta(minutes=10))
    t = await _trial(court, "in_session")
    h = t.hearing.id
    v = _saved(await service.save(h, "clerk-1", Role.CLERK, "审判长：现在闭庭。", 0))
    # Confirmed on video just before the close, signed after it: within ten minutes it holds.
    early = await service.confirm_identity(h, t.clerk.id, t.plaintiff.id)
    assert isinstance(early, Confirmed)
    await _move(court, h, "closed")
    clock.now += timedelta(minutes=10)  # expired exactly now
    _refused(await service.sign(h, t.plaintiff.id, sha256=v.sha256, method=M.STAFF_CONFIRMED),
             RefusalCode.NOT_CONFIRMED)
    assert (await service.status(h)).confirmations == ()
    _refused(await service.confirm_identity(h, t.clerk.id, t.plaintiff.id), RefusalCode.NO_VIDEO_AFTER_CLOSE)
    # (A hearing reopened for the test: confirmed on video again, in session, it serves the signature.)
    await _move(court, h, "in_session")
    again = await service.confirm_identity(h, t.clerk.id, t.plaintiff.id)
    assert isinstance(again, Confirmed) and again.confirmation.confirmed_at == clock.now
    c = again.confirmation
    assert (c.participant_id, c.confirmed_by, c.used_at) == (t.plaintiff.id, t.clerk.id, None)
    assert again.audit.action == "transcript.identity_confirmed" and again.audit.details == {
        "confirmation_id": c.id, "participant_id": t.plaintiff.id, "confirmed_by": t.clerk.id,
        "expires_at": c.expires_at.isoformat()}
    await _move(court, h, "closed")
    clock.now += timedelta(minutes=9, seconds=59)
    _refused(await service.sign(h, t.plaintiff.id, sha256=v.sha256, method=M.STAFF_CONFIRMED,
                                confirmed_by=t.judge.id), RefusalCode.BAD_CONFIRMER)  # not the clerk who did
    signed = await service.sign(h, t.plaintiff.id, sha256=v.sha256, method=M.STAFF_CONFIRMED)
    assert isinstance(signed, Signed) and signed.signature.signed_at == clock.now
    assert signed.audit.details["confirmation_id"] == again.confirmation.id
    # Used (and bound to the plaintiff): the store will not let another signature rely on it, and writes nothing.
    before = await court.audit.count()
    sig = Signature(h, t.defendant.id, "defendant", v.number, v.sha256, clock.now, M.STAFF_CONFIRMED, t.clerk.id)
    with pytest.raises(ConfirmationUnavailable):
        await store.add_signature(sig, hearing_state="closed", confirmation_id=again.confirmation.id,
                                  audit=AuditEvent("x", "x", "transcript.signed", f"hearing:{h}", {}))
    assert await court.audit.count() == before
    assert t.defendant.id in (await service.status(h)).completion.pending
    # The first, expired confirmation is never used, even by the store directly.
    with pytest.raises(ConfirmationUnavailable):
        await store.add_signature(sig, hearing_state="closed", confirmation_id=early.confirmation.id,
                                  audit=AuditEvent("x", "x", "transcript.signed", f"hearing:{h}", {}))
    with pytest.raises(Exception, match="names the identity confirmation"):
        await store.add_signature(sig, hearing_state="closed",
                                  audit=AuditEvent("x", "x", "transcript.signed", f"hearing:{h}", {}))
    assert await court.audit.verify() is None


async def test_concurrent_signatures_use_one_confirmation_once(court: SqlCourtRecords,
                                                              service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    v = _saved(await service.save(h, "clerk-1", Role.CLERK, "闭庭后核对", 0))
    assert isinstance(await service.confirm_identity(h, t.clerk.id, t.defendant.id), Confirmed)
    await _move(court, h, "closed")
    outcomes = await asyncio.gather(*(service.sign(h, t.defendant.id, sha256=v.sha256, method=M.STAFF_CONFIRMED)
                                      for _ in range(3)))
    assert sum(isinstance(o, Signed) for o in outcomes) == 1
    assert all(o.code in (RefusalCode.ALREADY_SIGNED, RefusalCode.NOT_CONFIRMED)
               for o in outcomes if isinstance(o, Refused))
    assert await court.audit.verify() is None


async def test_who_may_confirm_and_whom(court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "lobby_open")
    h = t.hearing.id
    _refused(await service.confirm_identity(h, t.clerk.id, t.plaintiff.id), RefusalCode.WRONG_STATE)
    await _move(court, h, "in_session")
    _refused(await service.confirm_identity(h, t.plaintiff.id, t.defendant.id), RefusalCode.NOT_PERMITTED)
    _refused(await service.confirm_identity(h, t.clerk.id, t.observer.id), RefusalCode.NOT_PERMITTED)
    _refused(await service.confirm_identity(h, t.clerk.id, t.witness.id), RefusalCode.NOT_ADMITTED)  # denied
    present = [t.clerk.id, t.plaintiff.id]
    _refused(await service.confirm_identity(h, t.clerk.id, t.defendant.id, present=present),
             RefusalCode.NOT_PRESENT)
    assert isinstance(await service.confirm_identity(h, t.clerk.id, t.plaintiff.id, present=present), Confirmed)
    waiting_clerk = await court.set_participant_status(t.clerk.id, ParticipantStatus.WAITING)
    _refused(await service.confirm_identity(h, waiting_clerk.id, t.plaintiff.id), RefusalCode.NOT_ADMITTED)
    other = await _trial(court, "in_session", number="(2026)京0101民初124号")
    _refused(await service.confirm_identity(h, other.clerk.id, t.plaintiff.id), RefusalCode.NOT_A_PARTICIPANT)
    with pytest.raises(NotFound):
        await service.confirm_identity(h, t.clerk.id, "nobody")
    refusals = [e for e in await court.audit.entries(limit=100) if e.action == "transcript.confirmation_refused"]
    assert [e.details["code"] for e in refusals] == ["not_permitted", "not_permitted", "not_a_participant"]


async def test_reading_follows_the_rules(court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    v = _saved(await service.save(h, "clerk-1", Role.CLERK, "审判长：现在开庭。", 0))
    read = await service.read(h, t.observer.id, Role.OBSERVER)  # the public follows the session
    assert isinstance(read, TranscriptRead) and read.current == v and read.status.latest is not None
    await _move(court, h, "closed")
    _refused(await service.read(h, t.observer.id, Role.OBSERVER), RefusalCode.NOT_PERMITTED)
    _refused(await service.export_pdf_for(h, t.observer.id, Role.OBSERVER), RefusalCode.NOT_PERMITTED)
    assert isinstance(await service.read(h, t.plaintiff.id, Role.PLAINTIFF), TranscriptRead)  # signs after close
    assert isinstance(await service.export_pdf_for(h, t.plaintiff.id, Role.PLAINTIFF), bytes)
    [entry, _] = [e for e in await court.audit.entries(limit=100) if e.action == "transcript.read_refused"]
    assert entry.actor_id == t.observer.id and entry.details["code"] == "not_permitted"
    await _move(court, h, "record_sealed")
    _refused(await service.read(h, t.plaintiff.id, Role.PLAINTIFF), RefusalCode.WRONG_STATE)
    assert isinstance(await service.read(h, t.clerk.id, Role.CLERK), TranscriptRead)


async def test_concurrent_signatures_by_one_participant_count_once(court: SqlCourtRecords,
                                                              service: TranscriptService) -> None:
    t = await _trial(court, "closed")
    h = t.hearing.id
    v1 = _saved(await service.save(h, "clerk-1", Role.CLERK, "闭庭后核对", 0))
    twice = await asyncio.gather(*(service.sign(h, t.defendant.id, sha256=v1.sha256, method=M.ID_DOCUMENT,
                                                id_document=DEFENDANT_ID) for _ in range(3)))
    assert sum(isinstance(o, Signed) for o in twice) == 1
    assert all(o.code is RefusalCode.ALREADY_SIGNED for o in twice if isinstance(o, Refused))
    assert await court.audit.verify() is None


async def test_a_save_racing_a_signature_never_leaves_a_signature_on_changed_text(
        court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "closed")
    h = t.hearing.id
    w1 = _saved(await service.save(h, "clerk-1", Role.CLERK, "第一稿", 0))
    signing, saving = await asyncio.gather(
        service.sign(h, t.plaintiff.id, sha256=w1.sha256, method=M.ID_DOCUMENT, id_document=PLAINTIFF_ID),
        service.save(h, "clerk-1", Role.CLERK, "第二稿", 1),
    )
    latest = await service.current(h)
    assert latest is not None
    if isinstance(signing, Signed):  # the signature came first: the text is frozen as signed
        assert isinstance(saving, Refused) and saving.code is RefusalCode.FROZEN and latest == w1
    else:  # the save came first: the signer read an old text
        assert isinstance(saving, Saved) and signing.code is RefusalCode.STALE_HASH and latest.number == 2
    assert await court.audit.verify() is None


def _pdf_text(data: bytes) -> tuple[str, int]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def _squash(text: str) -> str:
    return "".join(text.split())


async def test_pdf_export_has_the_text_signers_and_hash(court: SqlCourtRecords, service: TranscriptService) -> None:
    t = await _trial(court, "in_session")
    h = t.hearing.id
    _refused(await service.export_pdf(h), RefusalCode.NO_TRANSCRIPT)
    lines = ["书记员：请当事人核对身份。", "原告张原告：本人身份证已出示。",
             "Defendant: I agree with the record & <nothing> else.", "", "    审判长：现在开庭。"]
    body = [f"第{i}段：审判长询问，原告回答，被告陈述意见，书记员记录在案。" for i in range(160)]
    text = "\n".join(lines + body)
    v = _saved(await service.save(h, "clerk-1", Role.CLERK, text, 0))
    assert isinstance(await service.confirm_identity(h, t.clerk.id, t.defendant.id), Confirmed)  # on video
    await _move(court, h, "closed")
    assert isinstance(await service.sign(h, t.plaintiff.id, sha256=v.sha256, method=M.ID_DOCUMENT,
                                         id_document=PLAINTIFF_ID), Signed)
    assert isinstance(await service.sign(h, t.defendant.id, sha256=v.sha256, method=M.STAFF_CONFIRMED), Signed)

    pdf = await service.export_pdf(h)
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
    extracted, pages = _pdf_text(pdf)
    assert pages >= 3
    flat = _squash(extracted)
    for line in lines + body[:3] + body[-1:]:
        assert _squash(line) in flat, line
    assert v.sha256 in extracted  # the full hash, unbroken
    for expected in ("(2026)京0101民初123号", "买卖合同纠纷", "庭审", "张原告", "赵被告", "原告", "被告",
                     "身份证号核验", "书记员视频确认", "李书记员", "王审判长", "尚未签署", "签署未完成",
                     f"Page1of{pages}", f"Page{pages}of{pages}", "2026-06-01"):
        assert _squash(expected) in flat, expected
    assert "(UTC+08:00)" in extracted  # the court's local time
    assert "旁听者" not in extracted and "钱证人" not in extracted  # observers and denied people do not sign
    assert await service.export_pdf(h) == pdf  # deterministic


async def test_unknown_hearing_or_participant_raises_not_found(court: SqlCourtRecords,
                                                               service: TranscriptService) -> None:
    t = await _trial(court, "closed")
    with pytest.raises(NotFound):
        await service.status("nope")
    with pytest.raises(NotFound):
        await service.sign(t.hearing.id, "nope", sha256="0" * 64, method=M.NONE)
    with pytest.raises(NotFound):
        await service.versions("nope")
