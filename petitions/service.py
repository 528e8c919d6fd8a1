"""The petition service: the thin SQL shell around petitions.rules.

Every move is one write transaction: lock the petition row, apply the pure rules (`rules.step`) with the working-day
calendar as the table stands in that transaction (docket.workdays_sql.calendar_in), update the row, add the history
event, append the audit entry (docket.audit.append_in) and schedule, move or cancel its jobs (docket.jobs) — all
commit together or not at all. The jobs (a reminder one working day before the deadline, the escalation 催办 at the
deadline, the closing once the reopen window ends) run on the shared scheduler; their handlers write through the
scheduler's connection, so a reminder is notified exactly once however many instances run.

It uses docket/ (register, audit, jobs, notifier, calendar) and the object store for photos; never hearing/.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.audit import AuditEvent, append_in
from docket.jobs import Job, cancel_in, reschedule_in, schedule_in
from docket.notifications import notify_in, person_recipient, staff_recipient
from docket.sql import parse_url
from docket.staff import StaffRole
from docket.tables import stations
from docket.tables_foundations import clips
from docket.tables_petitions import petition_attachments, petition_counters, petition_events, petitions
from docket.tables_staff import staff_accounts
from docket.tables_stations import station_calls
from docket.transactions import transaction
from docket.workdays import COURT_TZ, CalendarNotCovered, WorkdayCalendar
from docket.workdays_sql import calendar_in
from petitions import codes, rules
from petitions.deadlines import bind, reminder_at
from petitions.limits import FilingLimits, court_day, refusal
from petitions.photos import Photo, PhotoRefused, check_photos
from petitions.rates import Rates, by_month, by_month_and_handler
from petitions.rules import (
    REOPEN_DAYS,
    WORKING_DAYS,
    Actor,
    Category,
    Close,
    Contact,
    ContactChannel,
    HandlerKind,
    Light,
    Move,
    Outcome,
    Petition,
    PetitionClass,
    Rate,
    Rating,
    Reclassify,
    Refused,
    Reopen,
    Reply,
    Status,
    Triage,
)
from recordings.objectstore import ObjectStore, ObjectStoreError

log = logging.getLogger("petitions")

REMIND = "petition.remind"
ESCALATE = "petition.escalate"
AUTOCLOSE = "petition.autoclose"
JOB_KINDS = (REMIND, ESCALATE, AUTOCLOSE)
CITIZEN_PREFIX = "petition-"
"""A petition's citizen as a notification recipient: `person:petition-<petition id>` (no account: the petition's
contact phone is where an SMS goes, `phone_of`)."""
ACCEPTED = "petition.accepted"  # to the citizen: filed, here is its number and deadline
ANSWERED = "petition.answered"  # to the citizen: the court answered
DEADLINE_CHANGED = "petition.deadline_changed"  # to the citizen: the class and so the deadline changed
DELAYED = "petition.delayed"  # to the citizen: overdue, escalated to the supervisor
CLIP_PURPOSE = "petition"
MAX_CLIPS = 3
SUPERVISOR_ROLES = frozenset({StaffRole.PRESIDING_JUDGE, StaffRole.ADMIN})
"""Who sees the board and receives escalations (催办): presiding judges (庭长) and administrators."""
MAX_CONTACT_NAME = 100
MAX_PHONE = 32


class PetitionRefused(Refused):
    """A refusal of the service (beyond the rules'): `status` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 422, **params: Any) -> None:
        super().__init__(code, message)
        self.status = status
        self.params = params


@dataclass(frozen=True, slots=True)
class Filing:
    court: str
    category: Category
    description: str
    contact_name: str
    contact_phone: str
    clip_ids: Sequence[str] = ()
    photos: Sequence[Photo] = ()
    station_id: str | None = None
    source_call_id: str | None = None
    clip_owner: str | None = None  # whom the clips must belong to (the filing session's owner string)
    filing_session: str | None = None  # the citizen's filing session (its random id), for the daily limit


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    role: str
    kind: str
    clip_id: str | None
    object_key: str
    media_type: str
    size: int
    sha256: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    position: int
    at: datetime
    kind: str
    actor_role: str
    actor_id: str
    status: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PetitionRecord:
    """A petition as staff see it (the citizen's view leaves out the staff-only fields: see api.py)."""

    id: str
    number: str
    court: str
    rules: Petition
    cycle: int
    description: str
    contact_name: str
    contact_phone: str
    filed_by: str
    station_id: str | None
    source_call_id: str | None
    handler_unit: str | None
    reply_text: str | None
    reply_clip_id: str | None
    rated_at: datetime | None
    due_on: date
    attachments: tuple[Attachment, ...] = ()
    events: tuple[Event, ...] = ()

    def light(self, now: datetime) -> Light:
        return rules.light(self.rules, now)


@dataclass(frozen=True, slots=True)
class BoardFilter:
    court: str | None = None
    category: Category | None = None
    handler_id: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    status: Status | None = None
    light: Light | None = None
    limit: int = 500


@dataclass
class ServiceConfig:
    courts: Mapping[str, str] = field(default_factory=lambda: {"main": "本院"})
    tz: ZoneInfo = COURT_TZ
    reopen_days: int = REOPEN_DAYS
    max_photo_bytes: int = 10 << 20
    limits: FilingLimits | None = None  # the daily filing limit (petitions/limits.py); None: none (the app sets one)


def _number(year: int, seq: int) -> str:
    return codes.format_number(year, seq)


def _petition(r: Any) -> Petition:
    return Petition(
        category=Category(r.category), klass=PetitionClass(r.klass), status=Status(r.status), filed_at=r.filed_at,
        cycle_started_at=r.cycle_started_at, due_at=r.due_at, handler_id=r.handler_id,
        handler_kind=HandlerKind(r.handler_kind) if r.handler_kind else None, first_contact_at=r.first_contact_at,
        replied_at=r.replied_at, outcome=Outcome(r.outcome) if r.outcome else None, resolution=r.resolution,
        rating=Rating(r.rating) if r.rating else None, reopen_count=int(r.cycle), closed_at=r.closed_at)


def _record(r: Any, attachments: Sequence[Attachment] = (), events: Sequence[Event] = ()) -> PetitionRecord:
    return PetitionRecord(r.id, _number(r.year, r.seq), r.court, _petition(r), int(r.cycle), r.description,
                          r.contact_name, r.contact_phone, r.filed_by, r.station_id, r.source_call_id,
                          r.handler_unit, r.reply_text, r.reply_clip_id, r.rated_at, r.due_on, tuple(attachments),
                          tuple(events))


def _rules_values(p: Petition, tz: ZoneInfo) -> dict[str, Any]:
    """The row's columns that mirror the rules' snapshot."""
    return dict(category=p.category.value, klass=p.klass.value, status=p.status.value,
                cycle_started_at=p.cycle_started_at, due_at=p.due_at,
                due_on=(p.due_at - timedelta(microseconds=1)).astimezone(tz).date(),
                handler_id=p.handler_id, handler_kind=p.handler_kind.value if p.handler_kind else None,
                first_contact_at=p.first_contact_at, replied_at=p.replied_at,
                outcome=p.outcome.value if p.outcome else None, resolution=p.resolution,
                rating=p.rating.value if p.rating else None, cycle=p.reopen_count, closed_at=p.closed_at)


def _key(kind: str, petition_id: str, cycle: int) -> str:
    return f"{kind}:{petition_id}:{cycle}"


def citizen_of(record: PetitionRecord) -> str:
    """The petition's citizen as a notification recipient (an SMS goes to the petition's contact phone)."""
    return person_recipient(CITIZEN_PREFIX + record.id)


def citizen_params(record: PetitionRecord, **extra: str | int) -> dict[str, str | int]:
    """What a citizen's notification (and its SMS template) says: the number and the deadline, codes only."""
    return {"petition_no": record.number, "due_at": record.rules.due_at.isoformat(), **extra}


def _roles(text: str) -> set[str]:
    return {r for r in text.split(",") if r}


class PetitionService:
    def __init__(self, engine: AsyncEngine, url: str | URL, *, code_key: bytes, objects: ObjectStore | None = None,
                 config: ServiceConfig | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 wake_jobs: Callable[[], None] | None = None) -> None:
        """`code_key` keys the status-code hashes (app/ derives it from the platform secret); `objects` keeps
        photos; `wake_jobs` tells the local scheduler a job may be due soon (after a commit)."""
        if len(code_key) < 32:
            raise ValueError("the status-code key needs at least 32 bytes")
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url
        self.code_key = code_key
        self.objects = objects
        self.config = config or ServiceConfig()
        self.clock = clock
        self.wake_jobs = wake_jobs or (lambda: None)

    def _tx(self, doing: str, *, write: bool = False) -> Any:
        return transaction(self.engine, self._url, doing, write=write)

    async def _calendar(self, conn: AsyncConnection) -> WorkdayCalendar:
        return await calendar_in(conn, tz=self.config.tz)

    def _deadlines(self, calendar: WorkdayCalendar) -> rules.Deadlines:
        deadlines = bind(calendar)

        def due(start: datetime, n: int) -> datetime:
            try:
                return deadlines(start, n)
            except CalendarNotCovered as exc:
                raise PetitionRefused("calendar_not_covered", str(exc), 503, **exc.params) from None

        return due

    # ---- filing ---------------------------------------------------------------------------------------

    async def file(self, filing: Filing, *, actor_id: str = "citizen", actor_role: str = "citizen",
                   ) -> tuple[PetitionRecord, str]:
        """A new petition: its number, class, deadline and jobs, its attachments, audited. Returns the record and
        the status code (shown to the citizen once; only its keyed hash is kept)."""
        if filing.court not in self.config.courts:
            raise PetitionRefused("court_unknown", f"court {filing.court!r} is not served here; choose one of "
                                  f"{', '.join(self.config.courts)}")
        text = filing.description.strip()
        if not text and not filing.clip_ids and not filing.photos:
            raise PetitionRefused("petition_empty", "say what the petition is about: record a clip, attach photos or "
                                  "write a few words")
        if len(filing.description) > rules.MAX_TEXT:
            raise PetitionRefused("text_too_long", f"the description is over {rules.MAX_TEXT} characters")
        name = " ".join(filing.contact_name.split())
        phone = "".join(filing.contact_phone.split())
        if not name or len(name) > MAX_CONTACT_NAME:
            raise PetitionRefused("contact_required", "give the name the court should ask for")
        if not phone or len(phone) > MAX_PHONE or not all(c.isdigit() or c in "+-" for c in phone):
            raise PetitionRefused("phone_invalid", "give a phone number the court can call back (digits only)")
        if len(filing.clip_ids) > MAX_CLIPS or len(set(filing.clip_ids)) != len(filing.clip_ids):
            raise PetitionRefused("clips_invalid", f"attach at most {MAX_CLIPS} different clips")
        try:
            photos = check_photos(filing.photos, self.config.max_photo_bytes)
        except PhotoRefused as exc:
            raise PetitionRefused(exc.code, str(exc), exc.status) from None
        if photos and self.objects is None:
            raise PetitionRefused("storage_unavailable", "photos cannot be stored now; send the petition without "
                                  "them or try later", 503)
        petition_id = secrets.token_hex(16)
        code = codes.new_status_code()
        now = self.clock()
        stored: list[tuple[Photo, str, str]] = []  # photo, media type, object key: put before the row commits
        for i, (photo, media_type) in enumerate(photos):
            key = f"petitions/{petition_id}/photo-{i}"
            try:
                assert self.objects is not None
                await self.objects.put(key, photo.data, media_type)
            except ObjectStoreError as exc:
                raise PetitionRefused("storage_unavailable", f"the photos could not be stored ({exc}); try again",
                                      503) from None
            stored.append((photo, media_type, key))
        try:
            record = await self._file_in(filing, petition_id, code, text, name, phone, stored, now, actor_id,
                                         actor_role)
        except BaseException:
            for _, _, key in stored:  # the petition was not filed: its photos must not stay behind
                try:
                    assert self.objects is not None
                    await self.objects.delete(key)
                except ObjectStoreError:
                    log.warning("photo %s of a refused filing could not be deleted", key)
            raise
        self.wake_jobs()
        return record, code

    @staticmethod
    async def _check_source_call(conn: AsyncConnection, filing: Filing) -> None:
        """A petition made from a connect-a-judge call (连线法官) names a call of the register and, when the filing
        names a station, a call of that station: the board links back to it. (Courts are not compared: stations
        carry the register's court codes, petitions the hotline's court names.)"""
        row = (await conn.execute(select(station_calls.c.station_id).where(
            station_calls.c.id == filing.source_call_id))).first()
        if row is None or (filing.station_id is not None and row.station_id is not None
                           and row.station_id != filing.station_id):
            raise PetitionRefused("source_call_unknown", "this call is not one of the court's connect-a-judge calls "
                                  "(of this station); file without it or pick the call from the duty page", 404)

    async def _file_in(self, filing: Filing, petition_id: str, code: str, text: str, name: str, phone: str,
                       stored: list[tuple[Photo, str, str]], now: datetime, actor_id: str,
                       actor_role: str) -> PetitionRecord:
        async with self._tx("filing a petition", write=True) as conn:
            calendar = await self._calendar(conn)
            deadlines = self._deadlines(calendar)
            p = rules.first_deadline(filing.category, now, deadlines)
            if filing.station_id is not None and (await conn.execute(
                    select(stations.c.id).where(stations.c.id == filing.station_id))).first() is None:
                raise PetitionRefused("station_unknown", "this station is not in the court's register", 404)
            if filing.source_call_id is not None:
                await self._check_source_call(conn, filing)
            year = now.astimezone(self.config.tz).year
            seq = await self._next_seq(conn, filing.court, year)  # also serialises the court's filings
            await self._check_limit(conn, filing, phone, now)
            await conn.execute(petitions.insert().values(
                id=petition_id, court=filing.court, year=year, seq=seq,
                code_hash=codes.code_hash(self.code_key, petition_id, code), description=text,
                contact_name=name, contact_phone=phone, filed_at=now, filed_by=actor_id,
                station_id=filing.station_id, source_call_id=filing.source_call_id, handler_unit=None,
                filing_session=filing.filing_session,
                reply_text=None, reply_clip_id=None, rated_at=None, updated_at=now, **_rules_values(p, self.config.tz)))
            for clip_id in filing.clip_ids:
                await self._attach_clip(conn, petition_id, clip_id, "filing", filing.clip_owner, now)
            for photo, media_type, key in stored:
                await conn.execute(petition_attachments.insert().values(
                    id=secrets.token_hex(16), petition_id=petition_id, role="filing", kind="photo", clip_id=None,
                    object_key=key, media_type=media_type, size=len(photo.data), sha256=photo.sha256, added_at=now))
            await self._event(conn, petition_id, "filed", actor_role, actor_id, p, now, {
                "category": p.category.value, "klass": p.klass.value, "clips": len(filing.clip_ids),
                "photos": len(stored), "due_at": p.due_at.isoformat()}, court=filing.court)
            await self._schedule_cycle(conn, petition_id, 0, p, calendar, now)
            record = await self._read(conn, petition_id, full=True)
            await notify_in(conn, citizen_of(record), ACCEPTED, citizen_params(record),
                            subject=f"petition:{petition_id}", now=now, sms=True)
            return record

    async def _check_limit(self, conn: AsyncConnection, filing: Filing, phone: str, now: datetime) -> None:
        """Refuse a filing past the daily limit (`filing_limit`, 429) of its session or its phone number."""
        limits = self.config.limits
        if limits is None:
            return
        start, end = court_day(now, self.config.tz)
        today = (petitions.c.filed_at >= start, petitions.c.filed_at < end)

        async def count(*where: Any) -> int:
            return int((await conn.execute(select(func.count()).select_from(petitions).where(
                *today, *where))).scalar_one())

        by_session = None if filing.filing_session is None else await count(
            petitions.c.filing_session == filing.filing_session)
        reached = refusal(limits, session_count=by_session, phone_count=await count(petitions.c.contact_phone == phone),
                          now=now, tz=self.config.tz)
        if reached is not None:
            raise PetitionRefused("filing_limit", f"no more than {reached.limit} petitions a day from one "
                                  f"{reached.scope.value}; file again tomorrow", 429, scope=reached.scope.value,
                                  limit=reached.limit, retry_at=reached.retry_at.isoformat())

    async def phone_of(self, recipient: str, conn: AsyncConnection) -> str | None:
        """The phone an SMS to `recipient` goes to, if it is a petition's citizen (docket.notifications.sms_handler)."""
        prefix = person_recipient(CITIZEN_PREFIX)
        if not recipient.startswith(prefix):
            return None
        row = (await conn.execute(select(petitions.c.contact_phone).where(
            petitions.c.id == recipient.removeprefix(prefix)))).first()
        return None if row is None else str(row.contact_phone)

    async def _next_seq(self, conn: AsyncConnection, court: str, year: int) -> int:
        """The next number of `court` in `year`, gap-free: the counter row is locked until the filing commits."""
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(petition_counters).values(court=court, year=year, last_seq=0)
                           .on_conflict_do_nothing(index_elements=["court", "year"]))
        where = (petition_counters.c.court == court, petition_counters.c.year == year)
        row = (await conn.execute(select(petition_counters.c.last_seq).where(*where).with_for_update())).one()
        seq = int(row.last_seq) + 1
        await conn.execute(update(petition_counters).where(*where).values(last_seq=seq))
        return seq

    async def _attach_clip(self, conn: AsyncConnection, petition_id: str, clip_id: str, role: str,
                           owner: str | None, now: datetime) -> None:
        clip = (await conn.execute(select(clips).where(clips.c.id == clip_id))).first()
        if clip is None or clip.purpose != CLIP_PURPOSE or (owner is not None and clip.owner != owner):
            raise PetitionRefused("clip_unknown", "this recorded clip was not uploaded for this petition; record "
                                  "and upload it again", 404)
        used = (await conn.execute(select(petition_attachments.c.id).where(
            petition_attachments.c.clip_id == clip_id))).first()
        if used is not None:
            raise PetitionRefused("clip_used", "this clip is already attached to a petition", 409)
        await conn.execute(petition_attachments.insert().values(
            id=secrets.token_hex(16), petition_id=petition_id, role=role, kind="clip", clip_id=clip_id,
            object_key=clip.object_key, media_type=clip.content_type, size=int(clip.size), sha256=clip.sha256,
            added_at=now))

    # ---- jobs of a cycle ------------------------------------------------------------------------------

    async def _schedule_cycle(self, conn: AsyncConnection, petition_id: str, cycle: int, p: Petition,
                              calendar: WorkdayCalendar, now: datetime) -> None:
        payload = {"petition_id": petition_id, "cycle": cycle}
        n = WORKING_DAYS[p.klass]
        await schedule_in(conn, REMIND, _key(REMIND, petition_id, cycle), payload,
                          reminder_at(calendar, p.cycle_started_at, n), now=now)
        await schedule_in(conn, ESCALATE, _key(ESCALATE, petition_id, cycle), payload, p.due_at, now=now)

    async def _reschedule_cycle(self, conn: AsyncConnection, petition_id: str, cycle: int, p: Petition,
                                calendar: WorkdayCalendar, now: datetime) -> None:
        """Move the cycle's reminder and escalation to the new deadline. A job that already ran (the old deadline
        passed before the class changed) gets a successor keyed by the new due time, so the new deadline is
        watched too — still one job per petition, kind and deadline."""
        payload = {"petition_id": petition_id, "cycle": cycle}
        n = WORKING_DAYS[p.klass]
        for kind, at in ((REMIND, reminder_at(calendar, p.cycle_started_at, n)), (ESCALATE, p.due_at)):
            key = _key(kind, petition_id, cycle)
            if not await reschedule_in(conn, key, at, now=now) and at > now:
                await schedule_in(conn, kind, f"{key}:{p.due_at.isoformat()}", payload, at, now=now)

    async def audit(self, event: AuditEvent) -> None:
        """An audit entry of its own (a view of an attachment, a link issued): the API's accesses."""
        async with self._tx(f"auditing {event.action}", write=True) as conn:
            await append_in(conn, event, at=self.clock())

    # ---- reading --------------------------------------------------------------------------------------

    async def _read(self, conn: AsyncConnection, petition_id: str, *, full: bool = False,
                    lock: bool = False) -> PetitionRecord:
        query = select(petitions).where(petitions.c.id == petition_id)
        if lock:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise PetitionRefused("petition_not_found", "no such petition", 404)
        if not full:
            return _record(row)
        atts = [Attachment(a.id, a.role, a.kind, a.clip_id, a.object_key, a.media_type, int(a.size), a.sha256,
                           a.added_at)
                for a in await conn.execute(select(petition_attachments).where(
                    petition_attachments.c.petition_id == petition_id).order_by(
                    petition_attachments.c.added_at, petition_attachments.c.id))]
        events = [Event(e.position, e.at, e.kind, e.actor_role, e.actor_id, e.status, json.loads(e.details))
                  for e in await conn.execute(select(petition_events).where(
                      petition_events.c.petition_id == petition_id).order_by(petition_events.c.position))]
        return _record(row, atts, events)

    async def get(self, petition_id: str) -> PetitionRecord:
        async with self._tx("reading a petition") as conn:
            return await self._read(conn, petition_id, full=True)

    async def find_for_citizen(self, number: str, code: str) -> str:
        """The petition id for a number and its status code. One answer for a wrong number and a wrong code, so the
        API cannot be used to find which numbers exist."""
        parsed = codes.parse_number(number)
        wrong = PetitionRefused("petition_not_found", "no petition matches this number and code; check both", 404)
        if parsed is None or codes.normalise_code(code) is None:
            raise wrong
        async with self._tx("finding a petition") as conn:
            rows = (await conn.execute(select(petitions.c.id, petitions.c.code_hash).where(
                petitions.c.year == parsed[0], petitions.c.seq == parsed[1]))).all()
        for r in rows:  # one per court at most
            if codes.code_matches(self.code_key, r.id, code, r.code_hash):
                return str(r.id)
        raise wrong

    async def list(self, flt: BoardFilter | None = None) -> list[PetitionRecord]:
        """Petitions matching the filter, the earliest deadline first (the board and the handler's queue)."""
        flt = flt or BoardFilter()
        query = select(petitions).order_by(petitions.c.due_at, petitions.c.id)
        if flt.court:
            query = query.where(petitions.c.court == flt.court)
        if flt.category:
            query = query.where(petitions.c.category == flt.category.value)
        if flt.handler_id:
            query = query.where(petitions.c.handler_id == flt.handler_id)
        if flt.due_from:
            query = query.where(petitions.c.due_on >= flt.due_from)
        if flt.due_to:
            query = query.where(petitions.c.due_on <= flt.due_to)
        if flt.status:
            query = query.where(petitions.c.status == flt.status.value)
        if flt.light is None:
            query = query.limit(flt.limit)
        async with self._tx("listing petitions") as conn:
            out = [_record(r) for r in await conn.execute(query)]
        if flt.light is not None:
            now = self.clock()
            out = [r for r in out if r.light(now) is flt.light][:flt.limit]
        return out

    async def rates(self, flt: BoardFilter | None = None) -> tuple[dict[str, Rates], dict[tuple[str, str | None],
                                                                                       Rates]]:
        """The three rates per month and per (month, handler) over the filtered petitions (rates.py)."""
        records = await self.list(replace(flt or BoardFilter(), limit=100_000))
        snapshots = [r.rules for r in records]
        now = self.clock()
        return by_month(snapshots, now, self.config.tz), by_month_and_handler(snapshots, now, self.config.tz)

    async def staff_names(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        async with self._tx("reading staff names") as conn:
            rows = await conn.execute(select(staff_accounts.c.id, staff_accounts.c.display_name).where(
                staff_accounts.c.id.in_(sorted(set(ids)))))
            return {r.id: r.display_name for r in rows}

    async def handlers(self) -> list[tuple[str, str, list[str]]]:
        """Staff who may be assigned petitions: (id, display name, roles), enabled accounts only."""
        async with self._tx("listing handlers") as conn:
            rows = await conn.execute(select(staff_accounts.c.id, staff_accounts.c.display_name,
                                             staff_accounts.c.roles).where(staff_accounts.c.disabled.is_(False))
                                      .order_by(staff_accounts.c.display_name))
            return [(r.id, r.display_name, sorted(_roles(r.roles))) for r in rows]

    # ---- moves ----------------------------------------------------------------------------------------

    async def _event(self, conn: AsyncConnection, petition_id: str, kind: str, actor_role: str, actor_id: str,
                     p: Petition, now: datetime, details: Mapping[str, Any], *, court: str | None = None,
                     audit: Mapping[str, Any] | None = None) -> None:
        """The history event and its audit entry (ids and codes only), in the caller's transaction."""
        audit_details: dict[str, Any] = {"status": p.status.value, "cycle": p.reopen_count, **(audit or {})}
        if court is not None:
            audit_details["court"] = court
        entry = await append_in(conn, AuditEvent(actor_id, actor_role, f"petition.{kind}", f"petition:{petition_id}",
                                                 audit_details), at=now)
        position = int((await conn.execute(select(func.coalesce(func.max(petition_events.c.position), 0)).where(
            petition_events.c.petition_id == petition_id))).scalar_one()) + 1
        await conn.execute(petition_events.insert().values(
            id=secrets.token_hex(16), petition_id=petition_id, position=position, at=now, kind=kind,
            actor_role=actor_role, actor_id=actor_id, status=p.status.value,
            details=json.dumps(dict(details), ensure_ascii=False, sort_keys=True), audit_seq=entry.seq))

    async def _move(self, petition_id: str, move: Move, actor: Actor, actor_id: str, *,
                    details: Mapping[str, Any] | None = None, audit: Mapping[str, Any] | None = None,
                    values: Mapping[str, Any] | None = None,
                    conn: AsyncConnection | None = None) -> PetitionRecord:
        if conn is not None:
            return await self._move_in(conn, petition_id, move, actor, actor_id, details, audit, values)
        async with self._tx(f"recording a petition's {rules.MOVE_NAMES[type(move)]}", write=True) as c:
            record = await self._move_in(c, petition_id, move, actor, actor_id, details, audit, values)
        self.wake_jobs()
        return record

    async def _move_in(self, conn: AsyncConnection, petition_id: str, move: Move, actor: Actor, actor_id: str,
                       details: Mapping[str, Any] | None, audit: Mapping[str, Any] | None,
                       values: Mapping[str, Any] | None) -> PetitionRecord:
        """Lock the row, apply the rules, write row + event + audit entry + jobs; in the caller's transaction."""
        now = self.clock()
        rules.check_actor(move, actor)
        record = await self._read(conn, petition_id, lock=True)
        old = record.rules
        if actor is Actor.HANDLER and old.handler_id != actor_id:
            raise PetitionRefused("not_your_petition", "only the handler this petition is assigned to may do this",
                                  403)
        calendar = await self._calendar(conn)
        new = rules.step(old, move, now, self._deadlines(calendar), reopen_days=self.config.reopen_days)
        await conn.execute(update(petitions).where(petitions.c.id == petition_id).values(
            **{**_rules_values(new, self.config.tz), "updated_at": now, **(values or {})}))
        kind = rules.MOVE_NAMES[type(move)]
        await self._event(conn, petition_id, kind, actor.value, actor_id, new, now, details or {},
                          audit={"from": old.status.value, **(audit or {})})
        await self._jobs_after(conn, petition_id, old, new, calendar, now)
        return await self._read(conn, petition_id, full=True)

    async def _jobs_after(self, conn: AsyncConnection, petition_id: str, old: Petition, new: Petition,
                          calendar: WorkdayCalendar, now: datetime) -> None:
        """Keep the cycle's jobs in step with the petition (one job per petition, kind and cycle)."""
        cycle = new.reopen_count
        if new.reopen_count != old.reopen_count:  # reopened: the old cycle's closing is moot, a new cycle runs
            await cancel_in(conn, _key(AUTOCLOSE, petition_id, old.reopen_count), now=now)
            await self._schedule_cycle(conn, petition_id, cycle, new, calendar, now)
            return
        if new.due_at != old.due_at:
            await self._reschedule_cycle(conn, petition_id, cycle, new, calendar, now)
        if old.replied_at is None and new.replied_at is not None:
            await cancel_in(conn, _key(REMIND, petition_id, cycle), now=now)
            await cancel_in(conn, _key(ESCALATE, petition_id, cycle), now=now)
            await schedule_in(conn, AUTOCLOSE, _key(AUTOCLOSE, petition_id, cycle),
                              {"petition_id": petition_id, "cycle": cycle},
                              new.replied_at + timedelta(days=self.config.reopen_days), now=now)
        if new.status is Status.CLOSED:
            await cancel_in(conn, _key(AUTOCLOSE, petition_id, cycle), now=now)

    async def triage(self, petition_id: str, *, actor_id: str, handler_id: str, handler_kind: HandlerKind,
                     handler_unit: str | None = None) -> PetitionRecord:
        """Assign (or reassign) to a handler: a judge, a mediator, or a department through its contact account."""
        unit = " ".join((handler_unit or "").split()) or None
        if handler_kind is HandlerKind.DEPARTMENT and not unit:
            raise PetitionRefused("department_required", "name the department")
        async with self._tx("assigning a petition", write=True) as conn:
            row = (await conn.execute(select(staff_accounts.c.disabled).where(
                staff_accounts.c.id == handler_id))).first()
            if row is None or row.disabled:
                raise PetitionRefused("handler_unknown", "no enabled staff account with this id", 404)
            record = await self._move(petition_id, Triage(handler_id, handler_kind), Actor.CLERK, actor_id,
                                      details={"handler_id": handler_id, "handler_kind": handler_kind.value,
                                               "handler_unit": unit},
                                      audit={"handler_id": handler_id, "handler_kind": handler_kind.value},
                                      values={"handler_unit": unit}, conn=conn)
            await notify_in(conn, staff_recipient(handler_id), "petition.assigned",
                            {"petition_no": record.number, "due_at": record.rules.due_at.isoformat()},
                            subject=f"petition:{petition_id}")
        self.wake_jobs()
        return record

    async def reclassify(self, petition_id: str, *, actor_id: str, klass: PetitionClass,
                         reason: str) -> PetitionRecord:
        before = await self.get(petition_id)
        async with self._tx("changing a petition's class", write=True) as conn:
            record = await self._move(petition_id, Reclassify(klass, reason), Actor.CLERK, actor_id,
                                      details={"from": before.rules.klass.value, "to": klass.value,
                                               "reason": reason.strip()},
                                      audit={"klass_from": before.rules.klass.value, "klass": klass.value}, conn=conn)
            await notify_in(conn, citizen_of(record), DEADLINE_CHANGED, citizen_params(record, klass=klass.value),
                            subject=f"petition:{petition_id}", now=self.clock(), sms=True)
        self.wake_jobs()
        return record

    async def contact(self, petition_id: str, *, actor_id: str, channel: ContactChannel,
                      note: str) -> PetitionRecord:
        return await self._move(petition_id, Contact(channel, note), Actor.HANDLER, actor_id,
                                details={"channel": channel.value, "note": note.strip()},
                                audit={"channel": channel.value})

    async def reply(self, petition_id: str, *, actor_id: str, outcome: Outcome, resolution: str,
                    reply_text: str | None = None, reply_clip_id: str | None = None,
                    clip_owner: str | None = None) -> PetitionRecord:
        text = (reply_text or "").strip() or None
        if text is not None and len(text) > rules.MAX_TEXT:
            raise PetitionRefused("text_too_long", f"the reply is over {rules.MAX_TEXT} characters")
        move = Reply(outcome, resolution, has_reply=bool(text or reply_clip_id))
        async with self._tx("recording a petition's reply", write=True) as conn:
            if reply_clip_id is not None:
                await self._attach_clip(conn, petition_id, reply_clip_id, "reply", clip_owner, self.clock())
            record = await self._move(petition_id, move, Actor.HANDLER, actor_id,
                                      details={"outcome": outcome.value, "resolution": resolution.strip(),
                                               "reply_text": text, "reply_clip_id": reply_clip_id},
                                      audit={"outcome": outcome.value, "reply_clip_id": reply_clip_id},
                                      values={"reply_text": text, "reply_clip_id": reply_clip_id}, conn=conn)
            await notify_in(conn, citizen_of(record), ANSWERED, citizen_params(record, outcome=outcome.value),
                            subject=f"petition:{petition_id}", now=self.clock(), sms=True)
        self.wake_jobs()
        return record

    async def rate(self, petition_id: str, rating: Rating) -> PetitionRecord:
        return await self._move(petition_id, Rate(rating), Actor.CITIZEN, f"citizen:{petition_id}",
                                details={"rating": rating.value}, audit={"rating": rating.value},
                                values={"rated_at": self.clock()})

    async def reopen(self, petition_id: str, reason: str) -> PetitionRecord:
        async with self._tx("reopening a petition", write=True) as conn:
            record = await self._move(petition_id, Reopen(reason), Actor.CITIZEN, f"citizen:{petition_id}",
                                      details={"reason": reason.strip()},
                                      values={"reply_text": None, "reply_clip_id": None, "rated_at": None},
                                      conn=conn)
            if record.rules.handler_id:
                await notify_in(conn, staff_recipient(record.rules.handler_id), "petition.reopened",
                                {"petition_no": record.number, "due_at": record.rules.due_at.isoformat()},
                                subject=f"petition:{petition_id}")
        self.wake_jobs()
        return record

    async def close(self, petition_id: str, *, actor_id: str, actor: Actor = Actor.CLERK) -> PetitionRecord:
        return await self._move(petition_id, Close(), actor, actor_id)

    # ---- job handlers (run by the shared scheduler inside its transaction) ------------------------------

    async def _supervisors(self, conn: AsyncConnection) -> list[str]:
        rows = await conn.execute(select(staff_accounts.c.id, staff_accounts.c.roles).where(
            staff_accounts.c.disabled.is_(False)).order_by(staff_accounts.c.id))
        return [r.id for r in rows if _roles(r.roles) & {s.value for s in SUPERVISOR_ROLES}]

    async def _job_petition(self, job: Job, conn: AsyncConnection) -> PetitionRecord | None:
        try:
            record = await self._read(conn, str(job.payload["petition_id"]), lock=True)
        except PetitionRefused:
            log.warning("job %s: its petition is gone", job.key)
            return None
        if record.cycle != int(job.payload["cycle"]):
            return None  # reopened since: the new cycle has jobs of its own
        return record

    async def on_remind(self, job: Job, conn: AsyncConnection) -> None:
        """One working day before the deadline: remind the handler (the supervisors if nobody is assigned)."""
        record = await self._job_petition(job, conn)
        if record is None or record.rules.replied_at is not None or record.rules.status not in rules.OPEN:
            return
        now = self.clock()
        recipients = [record.rules.handler_id] if record.rules.handler_id else await self._supervisors(conn)
        for staff_id in recipients:
            await notify_in(conn, staff_recipient(staff_id), "petition.reminder",
                            {"petition_no": record.number, "due_at": record.rules.due_at.isoformat()},
                            subject=f"petition:{record.id}", idempotency_key=f"{job.key}:{staff_id}", now=now)
        await self._event(conn, record.id, "reminded", Actor.SYSTEM.value, "scheduler", record.rules, now,
                          {"recipients": len(recipients)}, audit={"recipients": recipients})

    async def on_escalate(self, job: Job, conn: AsyncConnection) -> None:
        """At the deadline, still unanswered: 催办 — tell the supervisors and urge the handler."""
        record = await self._job_petition(job, conn)
        if record is None or not rules.overdue(record.rules, self.clock()):
            if record is not None and record.rules.replied_at is None:
                # The deadline moved later while this job was running: escalate at the new one instead.
                await schedule_in(conn, ESCALATE, f"{job.key}:{record.rules.due_at.isoformat()}", job.payload,
                                  record.rules.due_at, now=self.clock())
            return
        now = self.clock()
        params = {"petition_no": record.number, "due_at": record.rules.due_at.isoformat()}
        supervisors = await self._supervisors(conn)
        for staff_id in supervisors:
            await notify_in(conn, staff_recipient(staff_id), "petition.overdue", params,
                            subject=f"petition:{record.id}", idempotency_key=f"{job.key}:{staff_id}", now=now)
        if record.rules.handler_id:
            await notify_in(conn, staff_recipient(record.rules.handler_id), "petition.urged", params,
                            subject=f"petition:{record.id}", idempotency_key=f"{job.key}:handler", now=now)
        await notify_in(conn, citizen_of(record), DELAYED, params, subject=f"petition:{record.id}",
                        idempotency_key=f"{job.key}:citizen", now=now, sms=True)
        await self._event(conn, record.id, "escalated", Actor.SYSTEM.value, "scheduler", record.rules, now,
                          {"supervisors": len(supervisors)}, audit={"supervisors": supervisors})

    async def on_autoclose(self, job: Job, conn: AsyncConnection) -> None:
        """The reopen window ended: close what was answered (rated or not)."""
        record = await self._job_petition(job, conn)
        if record is None or record.rules.status not in (Status.REPLIED, Status.RATED):
            return
        await self._move_in(conn, record.id, Close(), Actor.SYSTEM, "scheduler", {"automatic": True},
                            {"automatic": True}, None)

    def job_handlers(self) -> dict[str, Callable[[Job, AsyncConnection], Any]]:
        return {REMIND: self.on_remind, ESCALATE: self.on_escalate, AUTOCLOSE: self.on_autoclose}
