"""Tables of migration 0021_short_codes: a short code per join link (hearing/seat_codes.py); same metadata.

Only a keyed hash of the code is stored (`lookup`), and the link's token only sealed under a key derived from the
code itself: neither a copy of this table nor the platform secret alone opens a seat. Withdrawal and expiry are
the link's own (`issued_tokens.revoked_at`, `expires_at`), so a withdrawn link's code stops working with it.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Text

from docket.tables import HASH_LENGTH, ID_LENGTH, UtcDateTime, metadata

seat_codes = Table(
    "seat_codes",
    metadata,
    Column("lookup", String(HASH_LENGTH), primary_key=True),  # HMAC-SHA256 of the code, hex
    Column("jti", String(ID_LENGTH), ForeignKey("issued_tokens.jti"), nullable=False, unique=True),
    Column("sealed_token", Text, nullable=False),  # AES-GCM(nonce ‖ ciphertext), base64url, key from the code
    Column("created_at", UtcDateTime, nullable=False),
)
