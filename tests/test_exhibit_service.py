"""The exhibit service on real parts: SQLite and PostgreSQL records, a local directory and an S3 server (moto)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from docket.court import (
    Hearing,
    HearingKind,
    NewCase,
    NewHearing,
    NewParticipant,
    NewPerson,
    Participant,
    ParticipantStatus,
)
from docket.court_sql import SqlCourtRecords
from docket.exhibits import Exhibit, ExhibitRecords, Presentation
from docket.exhibits_sql import SqlExhibitRecords
from docket.records import RecordsError
from hearing.exhibit_service import ExhibitService, ViewGrant, object_key
from hearing.exhibits import ExhibitRefusal, Refused
from hearing.procedure_service import Actor
from hearing.roles import Role
from recordings.local_http import local_objects_router
from recordings.local_store import LocalObjectStore
from recordings.objectstore import ObjectStore, ObjectStoreError
from recordings.s3_store import S3ObjectStore
from tests.test_exhibits_core import EXE, make_pdf, make_png

URL_BASE = "http://testserver"
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CLERK = Actor("staff-clerk", Role.CLERK)
JUDGE = Actor("staff-judge", Role.PRESIDING_JUDGE)
PDF = make_pdf(2)
PNG = make_png(40, 30)


def _local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", url_base=URL_BASE, signing_key=b"exhibit-test-key")


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    s: ObjectStore
    if request.param == "local":
        s = _local(tmp_path)
    else:
        server = request.getfixturevalue("s3_server")
        s = S3ObjectStore(server.endpoint, server.access_key, server.secret_key, request.getfixturevalue("s3_bucket"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def local_store(tmp_path: Path) -> AsyncIterator[LocalObjectStore]:
    s = _local(tmp_path)
    yield s
    await s.close()


async def fetch(store: ObjectStore, url: str) -> httpx.Response:
    """GET a presigned URL as a browser would: from S3 directly, or through the app's local objects router."""
    if isinstance(store, LocalObjectStore):
        app = FastAPI()
        app.include_router(local_objects_router(store))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL_BASE)
    else:
        client = httpx.AsyncClient(timeout=10)
    async with client:
        return await client.get(url)


@dataclass
class Trial:
    hearing: Hearing
    plaintiff: Participant
    defendant: Participant
    counsel: Participant
    observer: Participant
    witness: Participant

    def actor(self, p: Participant) -> Actor:
        return Actor(p.id, Role(p.role))


async def make_trial(court: SqlCourtRecords, kind: HearingKind = HearingKind.TRIAL, n: int = 1) -> Trial:
    judge = await court.create_person(NewPerson("王审判长"))
    case = await court.create_case(NewCase(f"(2026)示例民初{n}号", "loan dispute"))
    hearing = await court.create_hearing(NewHearing(case.id, kind, START, START + timedelta(hours=2),
                                                    panel=[judge.id]))
    people = {}
    for role in ("plaintiff", "defendant", "counsel", "observer", "witness"):
        person = await court.create_person(NewPerson(f"{role} 某"))
        participant = await court.add_participant(NewParticipant(hearing.id, person.id, role))
        people[role] = await court.set_participant_status(participant.id, ParticipantStatus.ADMITTED)
    return Trial(hearing, **people)


async def set_state(court: SqlCourtRecords, hearing: Hearing, state: str) -> None:
    current = (await court.get_hearing(hearing.id)).state
    await court.set_hearing_state(hearing.id, current, state)


def service_for(court: SqlCourtRecords, store: ObjectStore, **kwargs: object) -> ExhibitService:
    return ExhibitService(court, SqlExhibitRecords(court.engine), store, court.audit, **kwargs)  # type: ignore[arg-type]


def is_refused(result: object, code: ExhibitRefusal) -> Refused:
    assert isinstance(result, Refused), result
    assert result.code is code, result
    return result


# ---- the whole path, on every combination of records and object store --------------------------------------


async def test_upload_list_view_and_fetch(court: SqlCourtRecords, store: ObjectStore) -> None:
    service = service_for(court, store)
    trial = await make_trial(court)
    h = trial.hearing.id

    pdf = await service.upload(h, trial.plaintiff.id, "plaintiff", "D:\\证据\\借条.pdf", "application/pdf", PDF)
    assert isinstance(pdf, Exhibit), pdf
    assert (pdf.hearing_id, pdf.uploaded_by, pdf.uploader_role) == (h, trial.plaintiff.id, "plaintiff")
    assert (pdf.display_name, pdf.media_type, pdf.size, pdf.page_count) == ("借条.pdf", "application/pdf", len(PDF), 2)
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest() and not pdf.withdrawn
    assert pdf.object_key == object_key(h, pdf.id) == f"exhibits/{h}/{pdf.id}"
    assert "借条" not in pdf.object_key
    assert hashlib.sha256(await store.get(pdf.object_key)).hexdigest() == pdf.sha256
    assert (await store.stat(pdf.object_key)).content_type == "application/pdf"

    png = await service.upload(h, CLERK.id, "clerk", "scene.png", "image/png", PNG)
    assert isinstance(png, Exhibit) and (png.media_type, png.page_count) == ("image/png", 1)
    assert [e.id for e in await service.list(h)] == [pdf.id, png.id]  # type: ignore[union-attr]

    for exhibit, body, media_type in ((pdf, PDF, "application/pdf"), (png, PNG, "image/png")):
        grant = await service.open_for_view(exhibit.id, trial.defendant.id, "defendant")
        assert isinstance(grant, ViewGrant), grant
        assert timedelta(minutes=4) < grant.expires_at - datetime.now(UTC) <= timedelta(minutes=5)
        response = await fetch(store, grant.url)
        assert response.status_code == 200
        assert response.content == body
        assert response.headers["content-type"] == media_type

    views = await service.views(pdf.id)
    assert isinstance(views, list) and [(v.viewer_id, v.viewer_role) for v in views] == [
        (trial.defendant.id, "defendant")]

    entries = await court.audit.entries()
    assert [(e.action, e.subject) for e in entries] == [
        ("exhibit.uploaded", f"exhibit:{pdf.id}"), ("exhibit.uploaded", f"exhibit:{png.id}"),
        ("exhibit.viewed", f"exhibit:{pdf.id}"), ("exhibit.viewed", f"exhibit:{png.id}"),
    ]
    assert entries[0].details == {"hearing_id": h, "media_type": "application/pdf", "size": len(PDF),
                                  "page_count": 2, "sha256": pdf.sha256}
    assert entries[2].actor_id == trial.defendant.id and entries[2].details["view_id"] == views[0].id
    assert "借条" not in str([e.details for e in entries])  # display names never reach the log
    assert await court.audit.verify() is None
    assert await service.unreferenced_objects(h) == []


async def test_a_failed_row_write_leaves_no_referenced_object(court: SqlCourtRecords, store: ObjectStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    records = SqlExhibitRecords(court.engine)
    service = ExhibitService(court, records, store, court.audit)
    trial = await make_trial(court)

    async def fail(*args: object, **kwargs: object) -> None:
        raise RecordsError("records database failed while adding an exhibit: simulated")

    monkeypatch.setattr(records, "add_exhibit", fail)
    with pytest.raises(RecordsError, match="simulated"):
        await service.upload(trial.hearing.id, CLERK.id, "clerk", "a.pdf", "application/pdf", PDF)
    assert await store.list("exhibits/") == []  # the object was removed again

    async def delete_fails(key: str) -> None:
        raise ObjectStoreError("the store is down")

    monkeypatch.setattr(store, "delete", delete_fails)
    with pytest.raises(RecordsError):
        await service.upload(trial.hearing.id, CLERK.id, "clerk", "a.pdf", "application/pdf", PDF)
    monkeypatch.undo()
    [orphan] = await service.unreferenced_objects(trial.hearing.id)  # found for an operator to sweep
    assert orphan.startswith(f"exhibits/{trial.hearing.id}/")
    assert await service.list(trial.hearing.id) == []
    assert await court.audit.count() == 0


# ---- refusals ---------------------------------------------------------------------------------------------


async def test_bad_files_are_refused_and_nothing_is_stored(court: SqlCourtRecords, local_store: LocalObjectStore
                                                           ) -> None:
    service = service_for(court, local_store, max_size=4096)
    trial = await make_trial(court)
    h, p = trial.hearing.id, trial.plaintiff.id
    is_refused(await service.upload(h, p, "plaintiff", "evidence.pdf", "application/pdf", EXE),
               ExhibitRefusal.UNSUPPORTED_TYPE)
    is_refused(await service.upload(h, p, "plaintiff", "locked.pdf", "application/pdf",
                                    make_pdf(1, password="secret")), ExhibitRefusal.ENCRYPTED)
    is_refused(await service.upload(h, p, "plaintiff", "big.pdf", "application/pdf", make_pdf(12) + bytes(4096)),
               ExhibitRefusal.TOO_LARGE)
    is_refused(await service.upload(h, p, "plaintiff", "x.png", "image/png", PDF), ExhibitRefusal.TYPE_MISMATCH)
    is_refused(await service.upload(h, p, "plaintiff", "x.pdf", "application/pdf", b""), ExhibitRefusal.EMPTY)
    assert await local_store.list() == []
    assert await service.list(h) == []
    assert await court.audit.count() == 0  # a bad file is the sender's mistake, not an attempt beyond authority


async def test_the_default_size_limit_is_50_mib(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    oversized = b"%PDF-" + bytes(50 * 1024 * 1024 - 4)
    is_refused(await service.upload(trial.hearing.id, CLERK.id, "clerk", "big.pdf", "application/pdf", oversized),
               ExhibitRefusal.TOO_LARGE)
    assert await local_store.list() == []


async def test_who_may_upload_and_when(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    h = trial.hearing.id
    refusal = is_refused(await service.upload(h, trial.witness.id, "witness", "a.pdf", "application/pdf", PDF),
                         ExhibitRefusal.NOT_PERMITTED)
    assert "witness" in refusal.reason
    [entry] = await court.audit.entries()
    assert (entry.action, entry.actor_id, entry.subject) == ("exhibit.refused", trial.witness.id, f"hearing:{h}")
    assert entry.details == {"attempted": "upload", "state": "scheduled", "kind": "trial", "code": "not_permitted"}
    await set_state(court, trial.hearing, "closed")
    is_refused(await service.upload(h, trial.plaintiff.id, "plaintiff", "a.pdf", "application/pdf", PDF),
               ExhibitRefusal.WRONG_STATE)
    is_refused(await service.upload("no-such-hearing", CLERK.id, "clerk", "a.pdf", "application/pdf", PDF),
               ExhibitRefusal.NOT_FOUND)
    assert await local_store.list() == []


# ---- presentation -----------------------------------------------------------------------------------------


async def test_presentation(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    h = trial.hearing.id
    pdf = await service.upload(h, trial.plaintiff.id, "plaintiff", "a.pdf", "application/pdf", PDF)
    assert isinstance(pdf, Exhibit)
    assert await service.presentation(h) == Presentation(h)

    await set_state(court, trial.hearing, "lobby_open")
    is_refused(await service.present(h, trial.actor(trial.plaintiff), pdf.id, 1), ExhibitRefusal.WRONG_STATE)
    await set_state(court, trial.hearing, "in_session")
    is_refused(await service.present(h, trial.actor(trial.observer), pdf.id, 1), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.present(h, trial.actor(trial.witness), pdf.id, 1), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.present(h, CLERK, pdf.id, 3), ExhibitRefusal.PAGE_OUT_OF_RANGE)
    is_refused(await service.present(h, CLERK, "no-such-exhibit", 1), ExhibitRefusal.NOT_FOUND)

    shown = await service.present(h, CLERK, pdf.id, 2)
    assert isinstance(shown, Presentation)
    assert (shown.exhibit_id, shown.page, shown.version, shown.changed_by, shown.changed_by_role) == (
        pdf.id, 2, 1, CLERK.id, "clerk")
    assert shown.changed_at is not None
    assert await service.present(h, CLERK, pdf.id, 2) == shown  # a repeated click changes nothing

    # A reconnecting client, on another service instance, reads what everyone sees.
    assert await service_for(court, local_store).presentation(h) == shown

    await set_state(court, trial.hearing, "recess")
    is_refused(await service.present(h, trial.actor(trial.plaintiff), pdf.id, 1), ExhibitRefusal.WRONG_STATE)
    await set_state(court, trial.hearing, "in_session")
    paged = await service.present(h, trial.actor(trial.plaintiff), pdf.id, 1)  # the policy lets a party present
    assert isinstance(paged, Presentation) and (paged.page, paged.version) == (1, 2)
    cleared = await service.present(h, JUDGE, None)
    assert isinstance(cleared, Presentation) and not cleared.showing and cleared.version == 3

    entries = [e for e in await court.audit.entries() if e.action.startswith("exhibit.presen")]
    assert [(e.action, e.details) for e in entries] == [
        ("exhibit.presented", {"exhibit_id": pdf.id, "page": 2, "version": 1}),
        ("exhibit.presented", {"exhibit_id": pdf.id, "page": 1, "version": 2}),
        ("exhibit.presentation_cleared", {"version": 3}),
    ]
    refusals = [e for e in await court.audit.entries() if e.action == "exhibit.refused"]
    assert {e.actor_id for e in refusals} == {trial.observer.id, trial.witness.id}
    assert await court.audit.verify() is None


async def test_concurrent_presenters_never_lose_a_change(court: SqlCourtRecords, local_store: LocalObjectStore
                                                         ) -> None:
    service = service_for(court, local_store, attempts=20)
    trial = await make_trial(court)
    h = trial.hearing.id
    pdf = await service.upload(h, CLERK.id, "clerk", "a.pdf", "application/pdf", make_pdf(6))
    assert isinstance(pdf, Exhibit)
    await set_state(court, trial.hearing, "in_session")
    results = await asyncio.gather(*(service.present(h, actor, pdf.id, page) for actor, page in
                                     [(CLERK, 1), (JUDGE, 2), (CLERK, 3), (JUDGE, 4), (CLERK, 5), (JUDGE, 6)]))
    assert all(isinstance(r, Presentation) for r in results)
    versions = sorted(r.version for r in results)  # type: ignore[union-attr]
    assert versions == list(range(1, 7))  # each change applied once, on top of the one before
    final = await service.presentation(h)
    assert isinstance(final, Presentation) and final.version == 6
    assert final.page == next(r.page for r in results if r.version == 6)  # type: ignore[union-attr]
    assert await court.audit.verify() is None


# ---- opinions ---------------------------------------------------------------------------------------------


async def test_opinions(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    h = trial.hearing.id
    pdf = await service.upload(h, trial.plaintiff.id, "plaintiff", "a.pdf", "application/pdf", PDF)
    assert isinstance(pdf, Exhibit)

    first = await service.opinion(pdf.id, trial.defendant.id, "object", "借条上的签名不是被告所签")
    assert not isinstance(first, Refused) and (first.stance, first.revision, first.role) == ("object", 1, "defendant")
    await set_state(court, trial.hearing, "in_session")
    agree = await service.opinion(pdf.id, trial.plaintiff.id, "agree")
    assert not isinstance(agree, Refused)
    later = await service.opinion(pdf.id, trial.defendant.id, "partially_agree", "真实性认可，关联性不认可")
    assert not isinstance(later, Refused) and later.revision == 2
    by_counsel = await service.opinion(pdf.id, trial.counsel.id, "object")
    assert not isinstance(by_counsel, Refused)

    current = await service.opinions(pdf.id)
    assert isinstance(current, list)
    assert {(o.participant_id, o.stance, o.revision) for o in current} == {
        (trial.defendant.id, "partially_agree", 2), (trial.plaintiff.id, "agree", 1),
        (trial.counsel.id, "object", 1)}
    history = await service.opinions(pdf.id, history=True)
    assert isinstance(history, list) and len(history) == 4
    assert [o.stance for o in history if o.participant_id == trial.defendant.id] == ["object", "partially_agree"]
    assert history[0].text == "借条上的签名不是被告所签"  # superseded, but kept

    is_refused(await service.opinion(pdf.id, trial.observer.id, "agree"), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.opinion(pdf.id, trial.witness.id, "object"), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.opinion(pdf.id, trial.defendant.id, "maybe"), ExhibitRefusal.INVALID_STANCE)
    is_refused(await service.opinion(pdf.id, trial.defendant.id, "object", "异" * 2001),
               ExhibitRefusal.TEXT_TOO_LONG)
    is_refused(await service.opinion(pdf.id, "no-such-participant", "object"), ExhibitRefusal.NOT_FOUND)
    is_refused(await service.opinion("no-such-exhibit", trial.defendant.id, "object"), ExhibitRefusal.NOT_FOUND)
    other = await make_trial(court, n=2)
    is_refused(await service.opinion(pdf.id, other.defendant.id, "object"), ExhibitRefusal.NOT_PERMITTED)
    await court.set_participant_status(trial.counsel.id, ParticipantStatus.REMOVED)
    is_refused(await service.opinion(pdf.id, trial.counsel.id, "agree"), ExhibitRefusal.NOT_PERMITTED)

    await set_state(court, trial.hearing, "closed")
    is_refused(await service.opinion(pdf.id, trial.defendant.id, "agree"), ExhibitRefusal.WRONG_STATE)
    assert len(await service.opinions(pdf.id, history=True)) == 4  # type: ignore[arg-type]

    given = [e for e in await court.audit.entries() if e.action == "exhibit.opinion_given"]
    assert [(e.actor_id, e.actor_role, e.details["stance"]) for e in given] == [
        (trial.defendant.id, "defendant", "object"), (trial.plaintiff.id, "plaintiff", "agree"),
        (trial.defendant.id, "defendant", "partially_agree"), (trial.counsel.id, "counsel", "object")]
    assert given[0].details == {"hearing_id": h, "opinion_id": first.id, "stance": "object"}
    assert "签名" not in str([e.details for e in await court.audit.entries()])  # the text stays out of the log
    refused = [e.actor_id for e in await court.audit.entries() if e.action == "exhibit.refused"]
    assert set(refused) == {trial.observer.id, trial.witness.id, other.defendant.id, trial.counsel.id}
    assert await court.audit.verify() is None


async def test_concurrent_opinions_by_one_participant_get_distinct_revisions(
    court: SqlCourtRecords, local_store: LocalObjectStore
) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    pdf = await service.upload(trial.hearing.id, CLERK.id, "clerk", "a.pdf", "application/pdf", PDF)
    assert isinstance(pdf, Exhibit)
    stances = ["agree", "object", "partially_agree", "object", "agree"]
    results = await asyncio.gather(*(service.opinion(pdf.id, trial.defendant.id, s) for s in stances))
    assert sorted(r.revision for r in results) == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    [current] = await service.opinions(pdf.id)  # type: ignore[misc]
    assert current.revision == 5
    assert await court.audit.verify() is None


# ---- viewing and withdrawing ------------------------------------------------------------------------------


async def test_observers_open_only_what_is_presented(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    h = trial.hearing.id
    shown = await service.upload(h, CLERK.id, "clerk", "a.pdf", "application/pdf", PDF)
    hidden = await service.upload(h, CLERK.id, "clerk", "b.png", "image/png", PNG)
    assert isinstance(shown, Exhibit) and isinstance(hidden, Exhibit)
    await set_state(court, trial.hearing, "in_session")
    is_refused(await service.open_for_view(shown.id, trial.observer.id, "observer"), ExhibitRefusal.NOT_PERMITTED)
    await service.present(h, CLERK, shown.id, 1)
    grant = await service.open_for_view(shown.id, trial.observer.id, "observer")
    assert isinstance(grant, ViewGrant)
    assert (await fetch(local_store, grant.url)).content == PDF
    is_refused(await service.open_for_view(hidden.id, trial.observer.id, "observer"), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.open_for_view("nope", trial.observer.id, "observer"), ExhibitRefusal.NOT_FOUND)
    assert [v.viewer_id for v in await service.views(shown.id)] == [trial.observer.id]  # type: ignore[union-attr]
    await set_state(court, trial.hearing, "closed")
    await set_state(court, trial.hearing, "record_sealed")
    is_refused(await service.open_for_view(shown.id, JUDGE.id, "presiding_judge"), ExhibitRefusal.WRONG_STATE)
    assert await court.audit.verify() is None


async def test_withdrawal_flags_but_never_deletes(court: SqlCourtRecords, local_store: LocalObjectStore) -> None:
    service = service_for(court, local_store)
    trial = await make_trial(court)
    h = trial.hearing.id
    pdf = await service.upload(h, trial.plaintiff.id, "plaintiff", "a.pdf", "application/pdf", PDF)
    assert isinstance(pdf, Exhibit)
    await set_state(court, trial.hearing, "in_session")
    await service.present(h, CLERK, pdf.id, 1)
    is_refused(await service.withdraw(pdf.id, trial.actor(trial.defendant)), ExhibitRefusal.NOT_PERMITTED)
    is_refused(await service.withdraw(pdf.id, trial.actor(trial.plaintiff)), ExhibitRefusal.WRONG_STATE)  # on screen
    await service.present(h, CLERK, None)

    withdrawn = await service.withdraw(pdf.id, trial.actor(trial.plaintiff))
    assert isinstance(withdrawn, Exhibit) and withdrawn.withdrawn and withdrawn.withdrawn_by == trial.plaintiff.id
    is_refused(await service.withdraw(pdf.id, CLERK), ExhibitRefusal.WITHDRAWN)
    is_refused(await service.present(h, CLERK, pdf.id, 1), ExhibitRefusal.WITHDRAWN)
    is_refused(await service.opinion(pdf.id, trial.defendant.id, "agree"), ExhibitRefusal.WITHDRAWN)
    assert [e.id for e in await service.list(h)] == [pdf.id]  # type: ignore[union-attr]
    assert await service.list(h, include_withdrawn=False) == []
    assert await local_store.get(pdf.object_key) == PDF  # the file stays
    assert isinstance(await service.open_for_view(pdf.id, JUDGE.id, "presiding_judge"), ViewGrant)
    [entry] = [e for e in await court.audit.entries() if e.action == "exhibit.withdrawn"]
    assert (entry.actor_id, entry.details) == (trial.plaintiff.id, {"hearing_id": h})
    assert await court.audit.verify() is None


async def test_the_records_satisfy_the_interface(court: SqlCourtRecords) -> None:
    assert isinstance(SqlExhibitRecords(court.engine), ExhibitRecords)
