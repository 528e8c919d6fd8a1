"""The join policy handed to signalling: may this token's holder enter the room at all?

Signalling knows nothing of roles; it calls this with the verified claims. A token signed by the
court can still be refused here, e.g. a role unknown to this court or grants beyond the role's.
"""

from __future__ import annotations

from hearing.roles import ROLE_GRANTS, Role
from signaling.tokens import JoinClaims


def join_policy(claims: JoinClaims) -> str | None:
    """None to admit, else a reason the person can read."""
    try:
        role = Role(claims.role)
    except ValueError:
        return f"role {claims.role!r} is not a role of this court"
    excess = claims.grants - ROLE_GRANTS[role]
    if excess:
        return f"the role {role.value} may not be granted {', '.join(sorted(excess))}"
    return None
