"""Issuing join links: sign a token, record it (for revocation), and put it in the URL fragment."""

from __future__ import annotations

from datetime import UTC, datetime

from docket.records import IssuedToken, Records
from hearing.roles import ROLE_GRANTS, Role
from signaling.tokens import TokenService


async def issue_link(
    records: Records,
    tokens: TokenService,
    base_url: str,
    *,
    room_id: str,
    role: Role,
    name: str,
    ttl_seconds: int,
    grants: frozenset[str] | None = None,
    kind: str = "trial",
    title: str | None = None,
) -> tuple[str, IssuedToken]:
    """The token goes after '#': browsers never send the fragment, so servers and proxies never log it."""
    await records.create_room(room_id, title or room_id, kind)
    token, claims = tokens.issue_join(
        room_id=room_id, role=role.value, name=name,
        grants=ROLE_GRANTS[role] if grants is None else grants, ttl_seconds=ttl_seconds,
    )
    issued = IssuedToken(
        jti=claims.jti, room_id=room_id, participant_id=claims.participant_id, role=role.value,
        issued_at=datetime.fromtimestamp(claims.issued_at, UTC),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
    )
    await records.record_token(issued)
    return f"{base_url}/join#token={token}", issued
