"""Tables of migration 0005_transcripts: the hearing transcript (笔录), its versions and signatures.

Same metadata as docket.tables. `transcripts` is one row per hearing: the number of the latest version and of
signatures, which every save and signature updates with a compare-and-set (so two concurrent saves cannot both
win, and no save slips in after a signature); it also holds the hearing's re-verification setting.
`transcript_versions` is append-only: a version is never changed, only followed by a newer one.
`transcript_confirmations` (migration 0011) holds the clerks' identity confirmations for signing: never deleted,
only marked used by the one signature that relied on them.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, ForeignKeyConstraint, Integer, String, Table, Text

from docket.tables import CODE_LENGTH, HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

transcripts = Table(
    "transcripts",
    metadata,
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), primary_key=True),
    Column("latest_version", Integer, nullable=False),  # 0 until the first save
    Column("signature_count", Integer, nullable=False),  # > 0 freezes the text
    # JSON list of roles that must re-verify their identity before signing; NULL = the court's default.
    Column("reverify_roles", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

transcript_versions = Table(
    "transcript_versions",
    metadata,
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),  # 1, 2, 3, ... per hearing
    Column("text", Text, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),  # of the UTF-8 text
    Column("author_id", String(ID_LENGTH), nullable=False),
    Column("author_role", String(CODE_LENGTH), nullable=False),
    Column("saved_at", UtcDateTime, nullable=False),
)

transcript_signatures = Table(
    "transcript_signatures",
    metadata,
    Column("hearing_id", String(ID_LENGTH), primary_key=True),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), primary_key=True),
    Column("role", String(CODE_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(HASH_LENGTH), nullable=False),
    Column("signed_at", UtcDateTime, nullable=False),
    Column("method", String(CODE_LENGTH), nullable=False),  # how identity was re-checked
    Column("confirmed_by", String(ID_LENGTH), nullable=True),  # the clerk's participant id for staff_confirmed
    # A signature names a stored version of the same hearing.
    ForeignKeyConstraint(["hearing_id", "version"], ["transcript_versions.hearing_id", "transcript_versions.number"]),
)

transcript_confirmations = Table(
    "transcript_confirmations",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("hearing_id", String(ID_LENGTH), ForeignKey("hearings.id"), nullable=False, index=True),
    Column("participant_id", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),  # the signer
    Column("confirmed_by", String(ID_LENGTH), ForeignKey("participants.id"), nullable=False),  # the clerk
    Column("confirmed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),  # set by the signature that relied on it: single use
)
