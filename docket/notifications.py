"""The one notifier: an in-app inbox per recipient (a staff account or a person) and an SMS gateway adapter point.

A notification is a stable **code** and its **parameters** (ids, numbers, dates: `{"petition_no": "2026-000123",
"due_at": "2026-12-09T00:00:00+08:00"}`), never a sentence: the web client translates codes (web/js/i18n.js,
Chinese first), and an SMS adapter renders its own approved template per code (SMS templates in China are approved
per operator, so text cannot come from here anyway).

Recipients are strings, `staff:<account id>` or `person:<person id>` (`staff_recipient` / `person_recipient`).
`notify_in(conn, ...)` writes inside the caller's transaction — a job handler (docket/jobs.py) passes its `conn`, so
a reminder notification commits exactly once with its job. An `idempotency_key` makes a repeated notify one row.

SMS: `SmsGateway` is the adapter point; nothing in production implements it yet (no gateway contract). Sending is a
side effect outside the database, so `notify_in(..., sms=True)` schedules a job (kind `sms.send`, docket/jobs.py) in
the same transaction, and `sms_handler` sends it at least once, retried with the scheduler's backoff, with the
notification's id as the gateway's idempotency token. The job carries the recipient and the code, never a phone
number: the composition root hands `sms_handler` a lookup from recipient to phone. `LoggingSms` (tests only) records
what would be sent.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docket.jobs import Job, schedule_in
from docket.sql import parse_url
from docket.tables import CODE_LENGTH
from docket.tables_foundations import KEY_LENGTH, OWNER_LENGTH, notifications
from docket.transactions import transaction

__all__ = [
    "SMS_KIND",
    "LoggingSms",
    "Notification",
    "SmsGateway",
    "SmsMessage",
    "SqlInbox",
    "notify_in",
    "person_recipient",
    "sms_handler",
    "staff_recipient",
]

log = logging.getLogger("docket.notifications")

_CODE = re.compile(r"[a-z][a-z0-9_.]{0,31}")
_RECIPIENT = re.compile(r"(staff|person):[A-Za-z0-9_\-]{1,100}")
MAX_PARAMS_BYTES = 2048
SMS_KIND = "sms.send"


def staff_recipient(account_id: str) -> str:
    return f"staff:{account_id}"


def person_recipient(person_id: str) -> str:
    return f"person:{person_id}"


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    recipient: str
    code: str
    params: dict[str, Any]
    subject: str | None
    created_at: datetime
    read_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "params": self.params, "subject": self.subject,
                "created_at": self.created_at.isoformat(), "read": self.read_at is not None}


def _check(recipient: str, code: str, params: Mapping[str, Any]) -> str:
    if not _RECIPIENT.fullmatch(recipient) or len(recipient) > OWNER_LENGTH:
        raise ValueError(f"a notification recipient is staff:<id> or person:<id>, got {recipient!r}")
    if not _CODE.fullmatch(code) or len(code) > CODE_LENGTH:
        raise ValueError(f"a notification code is lower_snake_case (dots allowed), got {code!r}")
    for key, value in params.items():
        if not isinstance(value, str | int | bool) and value is not None:
            raise ValueError(f"notification parameter {key!r} is a {type(value).__name__}: use str, int, bool")
    text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PARAMS_BYTES:
        raise ValueError(f"notification parameters are over {MAX_PARAMS_BYTES} bytes: send ids, not documents")
    return text


async def notify_in(conn: AsyncConnection, recipient: str, code: str, params: Mapping[str, Any] | None = None, *,
                    subject: str | None = None, idempotency_key: str | None = None,
                    now: datetime | None = None, sms: bool = False) -> str:
    """Put a notification in `recipient`'s inbox inside the caller's transaction; returns its id (the existing
    one when `idempotency_key` was used before). `sms=True` also sends it by SMS, through a job (see above)."""
    text = _check(recipient, code, params or {})
    if idempotency_key is not None and not 0 < len(idempotency_key) <= KEY_LENGTH:
        raise ValueError(f"a notification's idempotency key must be 1 to {KEY_LENGTH} characters")
    at = now or datetime.now(UTC)
    values = dict(id=secrets.token_hex(16), recipient=recipient, code=code, params=text, subject=subject,
                  idempotency_key=idempotency_key, created_at=at)
    if idempotency_key is None:
        await conn.execute(notifications.insert().values(**values))
        notification_id = str(values["id"])
    else:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(notifications).values(**values)
                           .on_conflict_do_nothing(index_elements=["idempotency_key"]))
        notification_id = str((await conn.execute(select(notifications.c.id).where(
            notifications.c.idempotency_key == idempotency_key))).one().id)
    if sms:
        await schedule_in(conn, SMS_KIND, f"sms:{notification_id}",
                          {"notification_id": notification_id, "recipient": recipient, "code": code,
                           "params": dict(params or {})}, at, now=at)
    return notification_id


def _row(r: Any) -> Notification:
    return Notification(r.id, r.recipient, r.code, json.loads(r.params), r.subject, r.created_at, r.read_at)


class SqlInbox:
    """The in-app inbox over the records database (table `notifications` of migration 0016_foundations)."""

    def __init__(self, engine: AsyncEngine, url: str | URL) -> None:
        self.engine = engine
        self._url = parse_url(url) if isinstance(url, str) else url

    async def notify(self, recipient: str, code: str, params: Mapping[str, Any] | None = None, *,
                     subject: str | None = None, idempotency_key: str | None = None) -> str:
        async with transaction(self.engine, self._url, f"notifying {code!r}", write=True) as conn:
            return await notify_in(conn, recipient, code, params, subject=subject, idempotency_key=idempotency_key)

    async def list(self, recipient: str, *, unread_only: bool = False, limit: int = 50,
                   before: datetime | None = None) -> list[Notification]:
        """Newest first; page with `before` (the oldest `created_at` seen)."""
        query = (select(notifications).where(notifications.c.recipient == recipient)
                 .order_by(notifications.c.created_at.desc(), notifications.c.id.desc()).limit(min(limit, 200)))
        if unread_only:
            query = query.where(notifications.c.read_at.is_(None))
        if before is not None:
            query = query.where(notifications.c.created_at < before)
        async with transaction(self.engine, self._url, "reading the inbox") as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def unread_count(self, recipient: str) -> int:
        async with transaction(self.engine, self._url, "counting unread notifications") as conn:
            return int((await conn.execute(
                select(func.count()).select_from(notifications)
                .where(notifications.c.recipient == recipient, notifications.c.read_at.is_(None)))).scalar_one())

    async def mark_read(self, recipient: str, ids: list[str] | None = None) -> int:
        """Mark the recipient's notifications read (all of them when `ids` is None); another recipient's ids are
        ignored, so a caller can never touch someone else's inbox. Returns how many changed."""
        cond = and_(notifications.c.recipient == recipient, notifications.c.read_at.is_(None))
        if ids is not None:
            if not ids:
                return 0
            cond = and_(cond, notifications.c.id.in_(ids))
        async with transaction(self.engine, self._url, "marking notifications read", write=True) as conn:
            result = await conn.execute(update(notifications).where(cond).values(read_at=datetime.now(UTC)))
        return int(result.rowcount or 0)


# ---- SMS: the adapter point -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A phone number, the notification code (the gateway maps it to its approved template) and its parameters."""

    phone: str
    code: str
    params: dict[str, Any]
    idempotency_key: str


@runtime_checkable
class SmsGateway(Protocol):
    async def send(self, message: SmsMessage) -> None:
        """Deliver or raise; called at least once per message (dedupe on `idempotency_key`)."""
        ...


@dataclass
class LoggingSms:
    """A fake gateway for tests: records messages (deduplicated by key, as a real gateway would be asked to)."""

    sent: list[SmsMessage] = field(default_factory=list)

    async def send(self, message: SmsMessage) -> None:
        if any(m.idempotency_key == message.idempotency_key for m in self.sent):
            return
        log.info("sms %s to a number ending %s", message.code, message.phone[-4:])
        self.sent.append(message)


PhoneLookup = Callable[[str, AsyncConnection], Awaitable[str | None]]


def sms_handler(gateway: SmsGateway, phone_of: PhoneLookup) -> Callable[[Job, AsyncConnection], Awaitable[None]]:
    """The job handler for `SMS_KIND`: look up the recipient's phone (None: nobody to text, the job is done) and
    send; a gateway error raises, so the scheduler retries with backoff and parks it after its attempts."""

    async def send(job: Job, conn: AsyncConnection) -> None:
        phone = await phone_of(str(job.payload["recipient"]), conn)
        if not phone:
            return
        await gateway.send(SmsMessage(phone, str(job.payload["code"]), dict(job.payload.get("params") or {}),
                                      str(job.payload["notification_id"])))

    return send
