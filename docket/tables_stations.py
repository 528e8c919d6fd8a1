"""Tables of migration 0015_stations: connect-a-judge (连线法官); same metadata as docket.tables.

The register's `stations` table (0003_court) gains the station's court, area and opening hours rather than a
second table. Around it: which staff accounts operate a station, the station's device links (only the SHA-256 of
the token a shared PC keeps), the duty roster and each judge's own availability, and the calls themselves. A call
row is the queue entry and the call's record at once; its `state` moves only by conditional UPDATEs
(`... WHERE state = 'waiting'`), so the database decides who accepted first.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata, stations

# The existing stations table, extended (nullable: stations created before 0015 keep working).
stations.append_column(Column("court_code", String(CODE_LENGTH), nullable=True, index=True))
stations.append_column(Column("area", Text, nullable=True))
stations.append_column(Column("opening_hours", Text, nullable=True))  # JSON, stations.hours.OpeningHours

station_operators = Table(
    "station_operators",
    metadata,
    # One station per operator account; an operator is a staff account with the station_operator role.
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), primary_key=True),
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
)

station_links = Table(
    "station_links",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=False, index=True),
    Column("token_hash", String(HASH_LENGTH), nullable=False, unique=True),
    Column("label", Text, nullable=False),
    Column("created_by", String(ID_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(ID_LENGTH), nullable=True),
)

duty_shifts = Table(
    "duty_shifts",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("court_code", String(CODE_LENGTH), nullable=False),
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), nullable=False, index=True),
    Column("duty_role", String(CODE_LENGTH), nullable=False),  # judge | mediator
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("created_by", String(ID_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_duty_shifts_court_code_starts_at", "court_code", "starts_at"),
)

duty_status = Table(
    "duty_status",
    metadata,
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), primary_key=True),
    Column("status", String(CODE_LENGTH), nullable=False),  # available | busy | away
    Column("changed_at", UtcDateTime, nullable=False),
)

call_links = Table(
    "call_links",
    metadata,
    # A person's own link to call a judge of one court without a station (only the token's SHA-256 is kept).
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=False, index=True),
    Column("court_code", String(CODE_LENGTH), nullable=False),
    Column("token_hash", String(HASH_LENGTH), nullable=False, unique=True),
    Column("created_by", String(ID_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

station_calls = Table(
    "station_calls",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("court_code", String(CODE_LENGTH), nullable=False),
    # From a station, or (station_id NULL) from a person holding a call link the court gave them.
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=True, index=True),
    Column("person_id", String(ID_LENGTH), ForeignKey("persons.id"), nullable=True, index=True),
    Column("requested_by", String(ID_LENGTH), nullable=False),  # operator staff id, station link or call link id
    Column("caller_name", Text, nullable=False),  # personal data: the register's side only, never in the audit log
    Column("verification_method", String(CODE_LENGTH), nullable=False),  # docket.court.VerificationMethod
    Column("category", String(CODE_LENGTH), nullable=False),
    Column("summary", Text, nullable=False),
    Column("state", String(CODE_LENGTH), nullable=False),
    Column("reason", String(CODE_LENGTH), nullable=True),  # why it ended / was not answered (a code)
    Column("requested_at", UtcDateTime, nullable=False),
    Column("queued_at", UtcDateTime, nullable=False),  # = requested_at, or the time it was re-queued
    Column("last_seen_at", UtcDateTime, nullable=False),  # the station's last poll while waiting
    Column("accepted_at", UtcDateTime, nullable=True),
    Column("accepted_by", String(ID_LENGTH), nullable=True),
    Column("judge_joined_at", UtcDateTime, nullable=True),  # the accepting judge first connected to the room
    Column("ended_at", UtcDateTime, nullable=True),
    Column("room_id", String(ID_LENGTH), nullable=True, unique=True),
    Column("requeues", Integer, nullable=False),
    Column("recorded", Boolean, nullable=False),
    Column("note", Text, nullable=True),
    Column("callback_at", UtcDateTime, nullable=True),
    Column("outcome_kind", String(CODE_LENGTH), nullable=True),  # mediation | petition | case_filing
    Column("outcome_ref", String(ID_LENGTH), nullable=True),
    # A recorded video message left when nobody answered (recordings/clips.py, purpose "station"), and who heard it.
    Column("message_clip_id", String(ID_LENGTH), nullable=True),
    Column("message_heard_by", String(ID_LENGTH), nullable=True),
    Column("message_heard_at", UtcDateTime, nullable=True),
    Index("ix_station_calls_court_code_state", "court_code", "state"),
)


# ---- shared courts (共享法庭): who belongs to which court, what a court lends, and bookings with approval ----

staff_courts = Table(
    "staff_courts",
    metadata,
    # The court a staff account belongs to (an admin acts for that court when lending and borrowing).
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), primary_key=True),
    Column("court_code", String(CODE_LENGTH), nullable=False, index=True),
)

court_resources = Table(
    "court_resources",
    metadata,
    # What a court may lend: a courtroom (a fixed courtroom station with its camera) or a judge.
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("owner_court", String(CODE_LENGTH), nullable=False, index=True),
    Column("kind", String(CODE_LENGTH), nullable=False),  # courtroom | judge
    Column("station_id", String(ID_LENGTH), ForeignKey("stations.id"), nullable=True, unique=True),
    Column("staff_id", String(ID_LENGTH), ForeignKey("staff_accounts.id"), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

court_bookings = Table(
    "court_bookings",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("resource_id", String(ID_LENGTH), ForeignKey("court_resources.id"), nullable=False, index=True),
    Column("borrower_court", String(CODE_LENGTH), nullable=False),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("state", String(CODE_LENGTH), nullable=False),  # requested | approved | declined | cancelled
    Column("requested_by", String(ID_LENGTH), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("decided_by", String(ID_LENGTH), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("reason", Text, nullable=True),
)
