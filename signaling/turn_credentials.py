"""Time-limited TURN credentials (the TURN REST scheme, coturn's `use-auth-secret`).

coturn and the app share one secret and nothing else: the app hands each participant the username
`expiry:participant` (expiry in Unix seconds) and the password base64(HMAC-SHA1(secret, username)); coturn
recomputes the HMAC and refuses the username once its expiry has passed. So a credential copied out of a
browser stops working when the participant's join link does, and no per-user state lives in coturn.

Hand-written on purpose: the scheme is one HMAC from the standard library; no maintained package does more
than these lines, and the tests check the result against `openssl dgst -hmac` as coturn's docs compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any


def turn_rest_credential(shared_secret: str, participant_id: str, expires_at: int) -> tuple[str, str]:
    """(username, password) valid until `expires_at` (Unix seconds) for one participant."""
    if ":" in participant_id:
        raise ValueError("a participant id in a TURN username must not contain ':'")
    username = f"{int(expires_at)}:{participant_id}"
    digest = hmac.new(shared_secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class TurnRest:
    """The TURN servers clients are given, with the secret they share with coturn."""

    urls: tuple[str, ...]
    shared_secret: str

    def ice_server(self, participant_id: str, expires_at: int) -> dict[str, Any]:
        username, password = turn_rest_credential(self.shared_secret, participant_id, expires_at)
        return {"urls": list(self.urls), "username": username, "credential": password}


def ice_servers_for(static: list[dict[str, Any]], turn: TurnRest | None, participant_id: str,
                    expires_at: int | None) -> list[dict[str, Any]]:
    """The RTCIceServer list one participant receives: the static (STUN) entries plus their own TURN entry."""
    out = [dict(s) for s in static]
    if turn is not None and expires_at is not None:
        out.append(turn.ice_server(participant_id, expires_at))
    return out
