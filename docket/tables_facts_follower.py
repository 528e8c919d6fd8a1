"""Tables of migration 0018_cluster: facts the follower parked; same metadata as docket.tables.

A fact whose handler keeps failing (a bug, a person's record the handler cannot read) would hold back every fact
after it. After a few attempts the follower parks it here — which handler, the error, how often it was tried — and
moves on; an operator fixes the cause and the person's next fact (or `FactsFollower.retry_parked`) runs the
handlers again. Parking is audited in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text

from docket.tables import ID_LENGTH, UtcDateTime, metadata

FOLLOWER_LENGTH = 64

facts_parked = Table(
    "facts_parked",
    metadata,
    Column("follower", String(FOLLOWER_LENGTH), primary_key=True),
    Column("fact_id", String(ID_LENGTH), ForeignKey("litigation_facts.id"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("person_id", String(ID_LENGTH), nullable=False, index=True),
    Column("handler", String(128), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", UtcDateTime, nullable=False),
    Column("retried_at", UtcDateTime, nullable=True),
)
