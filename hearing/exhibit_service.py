"""Evidence exhibits (电子质证) as a service: the thin shell around `hearing.exhibits`.

Each call reads what the rules need (the hearing, the exhibit, the presentation), asks the pure core, and makes
one write: the file to the object store, then the register's row with its audit entry in one transaction
(`docket.exhibits.ExhibitRecords`). Answers are values or `Refused(code, reason)`; a request naming a hearing,
exhibit or participant that does not exist is refused with `not_found`, not raised, since those ids come from
clients. Failures of the database or the object store raise (RecordsError, ObjectStoreError): they are not the
requester's fault.

As in `hearing.procedure_service`, refusals for lack of authority are audited (`exhibit.refused`: who tried to do
what they may not); refusals of a bad file or a move that does not fit the moment are only returned. The caller
vouches for the actor's id and role (from a verified join token or a staff session) and that the actor is in the
hearing — admitted from the lobby, or court staff, who never wait there (hearing.api.in_hearing checks it where
the link is verified; staff sessions are not participants, so this service cannot look them up) — except for
opinions, whose author is looked up in the register by participant id, judged by the role recorded there, and
refused unless admitted. Readers are judged like viewers: given a `viewer_role`, listing exhibits or opinions
shows only what `hearing.exhibits.may_view` lets that role open now. Audit details carry ids, codes, sizes and
hashes: never a display name or an opinion's text, which may name people.

This module neither broadcasts nor serves HTTP: the caller sends the returned presentation to the room and hands
out the returned URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from docket.audit import AuditEvent, AuditLog
from docket.court import CourtRecords, NotFound, ParticipantStatus
from docket.exhibits import (
    Exhibit,
    ExhibitRecords,
    ExhibitView,
    ExhibitWithdrawn,
    NewExhibit,
    NewOpinion,
    NewView,
    Opinion,
    Presentation,
    StalePresentation,
)
from hearing.exhibits import (
    COURT_STAFF,
    DEFAULT_MAX_SIZE,
    MAX_OPINION_CHARS,
    ExhibitRefusal,
    Refused,
    Stance,
    check_opinion,
    check_upload,
    may_upload,
    may_view,
    may_withdraw,
    present,
)
from hearing.procedure_service import Actor
from hearing.roles import Role
from recordings.objectstore import ObjectStore, ObjectStoreError

DEFAULT_VIEW_TTL = timedelta(minutes=5)
"""How long an exhibit's download link works: long enough to load a large PDF on a poor link, short enough that a
link copied out of the hearing soon stops working (and every new link is a new audited view)."""

# Aliases, since the service has a method named `list`.
Exhibits = list[Exhibit]
Opinions = list[Opinion]
Views = list[ExhibitView]
Keys = list[str]


def object_key(hearing_id: str, exhibit_id: str) -> str:
    """Where an exhibit's file lives: ids only, never the uploader's filename."""
    return f"exhibits/{hearing_id}/{exhibit_id}"


@dataclass(frozen=True, slots=True)
class ViewGrant:
    """A presigned link to the exhibit's bytes, handed out only once the view is recorded and audited."""

    exhibit: Exhibit
    url: str
    expires_at: datetime
    view: ExhibitView


def _new_id() -> str:
    return uuid.uuid4().hex


def _missing(what: str) -> Refused:
    return Refused(ExhibitRefusal.NOT_FOUND, f"there is no such {what}; reload the hearing and try again")


class ExhibitService:
    """Upload, list, view, present, give opinions on and withdraw exhibits.

    `court` is the register (hearings, participants), `exhibits` the exhibit records on the same database,
    `store` the object store for the files, `audit` the audit log (for refusals; the writes append their own
    entries in their transactions). `max_size` bounds a file, `view_ttl` a download link.
    """

    def __init__(
        self, court: CourtRecords, exhibits: ExhibitRecords, store: ObjectStore, audit: AuditLog, *,
        max_size: int = DEFAULT_MAX_SIZE, view_ttl: timedelta = DEFAULT_VIEW_TTL,
        max_opinion_chars: int = MAX_OPINION_CHARS, attempts: int = 3,
    ) -> None:
        self._court = court
        self._exhibits = exhibits
        self._store = store
        self._audit = audit
        self.max_size = max_size
        self.view_ttl = view_ttl
        self._max_opinion_chars = max_opinion_chars
        self._attempts = attempts

    async def _refused(self, actor_id: str, actor_role: str, subject: str, refused: Refused, **details: Any) -> Refused:
        """Audit a refusal for lack of authority (someone tried what they may not); return it either way."""
        if refused.code is ExhibitRefusal.NOT_PERMITTED:
            await self._audit.append(AuditEvent(actor_id, str(actor_role), "exhibit.refused", subject,
                                                {**details, "code": refused.code.value}))
        return refused

    # ---- upload ----------------------------------------------------------------------------------------

    async def upload(
        self, hearing_id: str, actor_id: str, actor_role: Role | str, filename: str | None,
        declared_type: str | None, data: bytes,
    ) -> Exhibit | Refused:
        """Check the file, store it under `exhibits/<hearing_id>/<exhibit_id>`, then register it (audited
        `exhibit.uploaded` with its SHA-256).

        The object is written first and checked (the store's size must be the size checked); only then is the
        row written, so no row ever points at a missing file. If the size check or the row write fails, the
        object is deleted again; if that delete fails too (the store is down, or the task was cancelled), the
        object stays in the store unreferenced: no row names it, so nobody can list, view or present it, and
        `unreferenced_objects(hearing_id)` finds it for an operator to remove. The error is raised either way.
        """
        try:
            hearing = await self._court.get_hearing(hearing_id)
        except NotFound:
            return _missing("hearing")
        refused = may_upload(hearing.kind, hearing.state, actor_role)
        if refused is not None:
            return await self._refused(actor_id, str(actor_role), f"hearing:{hearing_id}", refused,
                                       attempted="upload", state=hearing.state, kind=hearing.kind.value)
        checked = await asyncio.to_thread(check_upload, filename, declared_type, data, max_size=self.max_size)
        if isinstance(checked, Refused):
            return checked
        exhibit_id = _new_id()
        key = object_key(hearing_id, exhibit_id)
        await self._store.put(key, data, checked.media_type.value)
        try:
            stored = await self._store.stat(key)
            if stored.size != checked.size:
                raise ObjectStoreError(f"object {key!r} holds {stored.size} bytes after writing {checked.size}; "
                                       "the object store lost data: check it, then upload again")
            exhibit, _ = await self._exhibits.add_exhibit(
                NewExhibit(exhibit_id, hearing_id, actor_id, str(actor_role), checked.display_name,
                           checked.media_type.value, checked.size, checked.page_count, checked.sha256, key),
                audit=AuditEvent(actor_id, str(actor_role), "exhibit.uploaded", f"exhibit:{exhibit_id}", {
                    "hearing_id": hearing_id, "media_type": checked.media_type.value, "size": checked.size,
                    "page_count": checked.page_count, "sha256": checked.sha256,
                }),
            )
        except Exception:
            with contextlib.suppress(ObjectStoreError):
                await self._store.delete(key)
            raise
        return exhibit

    async def unreferenced_objects(self, hearing_id: str) -> Keys:
        """Keys under the hearing's exhibit folder that no exhibit row names (left by a failed upload)."""
        stored = {info.key for info in await self._store.list(f"exhibits/{hearing_id}/")}
        known = {e.object_key for e in await self._exhibits.list_exhibits(hearing_id)}
        return sorted(stored - known)

    # ---- reading ---------------------------------------------------------------------------------------

    async def list(self, hearing_id: str, *, include_withdrawn: bool = True,
                   viewer_role: Role | str | None = None) -> Exhibits | Refused:
        """The hearing's exhibits in upload order. Metadata only: opening a file is `open_for_view`.

        With `viewer_role`, only those that role may open now (`may_view`): names and uploaders of exhibits
        are not for a witness or the public, who are shown only what is presented. None: all (the court's own use).
        """
        try:
            listed = await self._exhibits.list_exhibits(hearing_id, include_withdrawn=include_withdrawn)
            if viewer_role is None:
                return listed
            hearing = await self._court.get_hearing(hearing_id)
            presentation = await self._exhibits.get_presentation(hearing_id)
        except NotFound:
            return _missing("hearing")
        return [e for e in listed if may_view(hearing.kind, hearing.state, viewer_role, e, presentation) is None]

    async def open_for_view(self, exhibit_id: str, viewer_id: str, viewer_role: Role | str, *,
                            hearing_id: str | None = None) -> ViewGrant | Refused:
        """A presigned link to the file, valid for `view_ttl`; the view is recorded and audited (`exhibit.viewed`)
        before the link is returned, so every link handed out is on the record. `hearing_id`: the viewer's
        hearing — an exhibit of another one is refused before anything is recorded or signed."""
        try:
            exhibit = await self._exhibits.get_exhibit(exhibit_id)
            if hearing_id is not None and exhibit.hearing_id != hearing_id:
                return Refused(ExhibitRefusal.WRONG_HEARING, "that exhibit belongs to another hearing")
            hearing = await self._court.get_hearing(exhibit.hearing_id)
            presentation = await self._exhibits.get_presentation(hearing.id)
        except NotFound:
            return _missing("exhibit")
        refused = may_view(hearing.kind, hearing.state, viewer_role, exhibit, presentation)
        if refused is not None:
            return await self._refused(viewer_id, str(viewer_role), f"exhibit:{exhibit_id}", refused,
                                       attempted="view", hearing_id=hearing.id, state=hearing.state)
        expires_at = datetime.now(UTC) + self.view_ttl
        url = await self._store.presigned_get(exhibit.object_key, self.view_ttl)
        view_id = _new_id()
        view, _ = await self._exhibits.record_view(
            NewView(view_id, exhibit.id, viewer_id, str(viewer_role)),
            audit=AuditEvent(viewer_id, str(viewer_role), "exhibit.viewed", f"exhibit:{exhibit.id}",
                             {"hearing_id": hearing.id, "view_id": view_id}),
        )
        return ViewGrant(exhibit, url, expires_at, view)

    async def views(self, exhibit_id: str) -> Views | Refused:
        try:
            return await self._exhibits.list_views(exhibit_id)
        except NotFound:
            return _missing("exhibit")

    async def hearing_views(self, hearing_id: str, viewer_id: str,
                            viewer_role: Role | str) -> list[tuple[Exhibit, Views]] | Refused:
        """Who opened which of the hearing's exhibits, and when (withdrawn ones too): for court staff
        (`COURT_STAFF`) only. Each exhibit in upload order with its views, oldest first. A refusal is audited."""
        if str(viewer_role) not in COURT_STAFF:
            refused = Refused(ExhibitRefusal.NOT_PERMITTED,
                              "only court staff (judges, the clerk, the mediator) see who viewed the exhibits")
            return await self._refused(viewer_id, str(viewer_role), f"hearing:{hearing_id}", refused,
                                       attempted="views")
        try:
            listed = await self._exhibits.list_exhibits(hearing_id, include_withdrawn=True)
            return [(e, await self._exhibits.list_views(e.id)) for e in listed]
        except NotFound:
            return _missing("hearing")

    # ---- presentation ----------------------------------------------------------------------------------

    async def presentation(self, hearing_id: str) -> Presentation | Refused:
        """What the hearing shows now: for a client that (re)connects."""
        try:
            return await self._exhibits.get_presentation(hearing_id)
        except NotFound:
            return _missing("hearing")

    async def present(
        self, hearing_id: str, actor: Actor, exhibit_id: str | None, page: int = 1
    ) -> Presentation | Refused:
        """Show `exhibit_id` at `page` to everyone (None: show nothing); returns the presentation to broadcast.

        A repeated request for what is already shown returns the current presentation unchanged (same version:
        nothing written, audited or to broadcast). A concurrent change by someone else is not overwritten
        blindly: the decision is made again on what they left.
        """
        stale: StalePresentation | None = None
        for _ in range(self._attempts):
            try:
                hearing = await self._court.get_hearing(hearing_id)
                current = await self._exhibits.get_presentation(hearing_id)
            except NotFound:
                return _missing("hearing")
            exhibit = None
            if exhibit_id is not None:
                try:
                    exhibit = await self._exhibits.get_exhibit(exhibit_id)
                except NotFound:
                    return _missing("exhibit")
            decided = present(hearing.kind, hearing.state, actor.role, actor.id, current, exhibit, page)
            if isinstance(decided, Refused):
                return await self._refused(actor.id, str(actor.role), f"hearing:{hearing_id}", decided,
                                           attempted="present", state=hearing.state, kind=hearing.kind.value)
            if decided.version == current.version:
                return current
            if decided.exhibit_id is None:
                event = AuditEvent(actor.id, str(actor.role), "exhibit.presentation_cleared", f"hearing:{hearing_id}",
                                   {"version": decided.version})
            else:
                event = AuditEvent(actor.id, str(actor.role), "exhibit.presented", f"hearing:{hearing_id}",
                                   {"exhibit_id": decided.exhibit_id, "page": decided.page, "version": decided.version})
            try:
                stored, _ = await self._exhibits.set_presentation(decided, expected_version=current.version,
                                                                  audit=event)
            except StalePresentation as exc:
                stale = exc  # someone else changed it first: decide again on what they left
                continue
            return stored
        assert stale is not None
        raise stale

    # ---- opinions --------------------------------------------------------------------------------------

    async def opinion(
        self, exhibit_id: str, participant_id: str, stance: Stance | str, text: str = ""
    ) -> Opinion | Refused:
        """Record the participant's opinion (质证意见) on the exhibit, superseding their earlier one (which is
        kept); audited as `exhibit.opinion_given` with the stance, never the text. The role is the register's."""
        try:
            exhibit = await self._exhibits.get_exhibit(exhibit_id)
            hearing = await self._court.get_hearing(exhibit.hearing_id)
        except NotFound:
            return _missing("exhibit")
        try:
            participant = await self._court.get_participant(participant_id)
        except NotFound:
            return _missing("participant")
        subject = f"exhibit:{exhibit_id}"
        # Opinions come from the parties' side (never court staff), who give them once admitted from the lobby.
        if participant.hearing_id != hearing.id or participant.status is not ParticipantStatus.ADMITTED:
            waiting = participant.hearing_id == hearing.id and participant.status is ParticipantStatus.WAITING
            refused = Refused(ExhibitRefusal.NOT_PERMITTED,
                              "wait until the court admits you to the hearing, then give your opinion" if waiting
                              else "only participants admitted to this exhibit's hearing may give opinions on it")
            return await self._refused(participant.id, participant.role, subject, refused, attempted="opinion",
                                       hearing_id=hearing.id)
        checked = check_opinion(hearing.kind, hearing.state, participant.role, exhibit, stance, text,
                                max_chars=self._max_opinion_chars)
        if isinstance(checked, Refused):
            return await self._refused(participant.id, participant.role, subject, checked, attempted="opinion",
                                       hearing_id=hearing.id, state=hearing.state)
        opinion_id = _new_id()
        opinion, _ = await self._exhibits.add_opinion(
            NewOpinion(opinion_id, exhibit.id, participant.id, participant.role, checked.stance.value, checked.text),
            audit=AuditEvent(participant.id, participant.role, "exhibit.opinion_given", subject,
                             {"hearing_id": hearing.id, "opinion_id": opinion_id, "stance": checked.stance.value}),
        )
        return opinion

    async def opinions(self, exhibit_id: str, *, history: bool = False, viewer_id: str = "",
                       viewer_role: Role | str | None = None, hearing_id: str | None = None) -> Opinions | Refused:
        """The opinion in force per participant, or with `history` every one given, oldest first.

        With `viewer_role`: only if that role may open the exhibit now (`may_view`); opinions discuss its content.
        With `hearing_id`: only for an exhibit of that hearing (the viewer's).
        """
        try:
            if hearing_id is not None and (await self._exhibits.get_exhibit(exhibit_id)).hearing_id != hearing_id:
                return Refused(ExhibitRefusal.WRONG_HEARING, "that exhibit belongs to another hearing")
            if viewer_role is not None:
                exhibit = await self._exhibits.get_exhibit(exhibit_id)
                hearing = await self._court.get_hearing(exhibit.hearing_id)
                presentation = await self._exhibits.get_presentation(hearing.id)
                refused = may_view(hearing.kind, hearing.state, viewer_role, exhibit, presentation)
                if refused is not None:
                    return await self._refused(viewer_id, str(viewer_role), f"exhibit:{exhibit_id}", refused,
                                               attempted="opinions", hearing_id=hearing.id, state=hearing.state)
            return await self._exhibits.list_opinions(exhibit_id, history=history)
        except NotFound:
            return _missing("exhibit")

    # ---- withdrawal ------------------------------------------------------------------------------------

    async def withdraw(self, exhibit_id: str, actor: Actor) -> Exhibit | Refused:
        """Withdraw (never delete) an exhibit; audited `exhibit.withdrawn`. An exhibit on screen must be taken
        off first (present None), so nobody's screen shows a withdrawn exhibit without a broadcast saying so."""
        try:
            exhibit = await self._exhibits.get_exhibit(exhibit_id)
            hearing = await self._court.get_hearing(exhibit.hearing_id)
            current = await self._exhibits.get_presentation(hearing.id)
        except NotFound:
            return _missing("exhibit")
        refused = may_withdraw(hearing.kind, hearing.state, actor.role, actor.id, exhibit)
        if refused is None and current.exhibit_id == exhibit.id:
            refused = Refused(ExhibitRefusal.WRONG_STATE, "this exhibit is being presented; stop presenting it first")
        if refused is not None:
            return await self._refused(actor.id, str(actor.role), f"exhibit:{exhibit_id}", refused,
                                       attempted="withdraw", hearing_id=hearing.id, state=hearing.state)
        try:
            withdrawn, _ = await self._exhibits.withdraw_exhibit(
                exhibit.id, actor.id,
                audit=AuditEvent(actor.id, str(actor.role), "exhibit.withdrawn", f"exhibit:{exhibit.id}",
                                 {"hearing_id": hearing.id}),
            )
        except ExhibitWithdrawn:
            return Refused(ExhibitRefusal.WITHDRAWN, "this exhibit is already withdrawn")
        return withdrawn
