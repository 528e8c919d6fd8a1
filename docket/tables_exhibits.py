"""Tables of migration 0006_exhibits (evidence exhibits, 电子质证); same metadata as docket.tables.

Kept apart so the work on them does not collide. Nothing here is ever deleted: exhibits are withdrawn by a
flag, opinions and views are append-only, and the presentation is one row per hearing, updated in place
(its history is the audit log).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

OBJECT_KEY_LENGTH = 256
"""exhibits/<hearing id>/<exhibit id>: two ids and a prefix fit with room to spare."""
MEDIA_TYPE_LENGTH = 64

exhibits = Table(
    "exhibits",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("uploaded_by", String(ID_LENGTH), nullable=False),  # participant or staff id (staff are not participants)
    Column("uploader_role", String(CODE_LENGTH), nullable=False),
    Column("display_name", Text, nullable=False),  # sanitised, for display only; may be personal, never logged
    Column("media_type", String(MEDIA_TYPE_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("page_count", Integer, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("object_key", String(OBJECT_KEY_LENGTH), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("withdrawn_at", UtcDateTime, nullable=True),
    Column("withdrawn_by", String(ID_LENGTH), nullable=True),
)

exhibit_opinions = Table(
    "exhibit_opinions",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("exhibit_id", String(ID_LENGTH), ForeignKey("exhibits.id"), nullable=False),
    # Opinions come only from the parties' side, who are always participants of the hearing.
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),
    Column("role", String(CODE_LENGTH), nullable=False),
    Column("stance", String(CODE_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # One row per revision: two concurrent opinions by one participant cannot both become "revision 2".
    # Its leading column also serves lookups by exhibit.
    UniqueConstraint("exhibit_id", "participant_id", "revision"),
)

exhibit_views = Table(
    "exhibit_views",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("exhibit_id", String(ID_LENGTH), ForeignKey("exhibits.id"), nullable=False, index=True),
    Column("viewer_id", String(ID_LENGTH), nullable=False),  # participant or staff id
    Column("viewer_role", String(CODE_LENGTH), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

exhibit_presentations = Table(
    "exhibit_presentations",
    metadata,
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), primary_key=True),
    Column("exhibit_id", String(ID_LENGTH), ForeignKey("exhibits.id"), nullable=True),  # null: nothing shown
    Column("page", Integer, nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("changed_by", String(ID_LENGTH), nullable=False),
    Column("changed_by_role", String(CODE_LENGTH), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)
