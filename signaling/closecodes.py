"""WebSocket close codes (4000-4999 is the application range): each one a reason a client can show."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    PROTOCOL = 4000
    TOKEN_INVALID = 4001
    TOKEN_EXPIRED = 4002
    TOKEN_NOT_YET_VALID = 4003
    WRONG_ROOM = 4004
    TOKEN_REVOKED = 4005
    FORBIDDEN = 4006
    RESUME_FAILED = 4007
    RATE_LIMITED = 4008
    IDLE_TIMEOUT = 4009
    REPLACED = 4010
    UNSUPPORTED_VERSION = 4012
    REMOVED = 4013
    TOO_SLOW = 4014
    MOVED = 4015  # after `redirect`: reconnect at once to the URL it gave, same token


RETRYABLE = frozenset({CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR, CloseCode.IDLE_TIMEOUT, CloseCode.TOO_SLOW})
"""After these a client should resume; after the others, resuming cannot help."""


MEANINGS: dict[CloseCode, tuple[str, str]] = {
    CloseCode.NORMAL: ("left, or a private room closed", "stop"),
    CloseCode.GOING_AWAY: ("server restarting", "resume"),
    CloseCode.MESSAGE_TOO_BIG: ("frame too big (over 4× the message limit)", "fix the client"),
    CloseCode.INTERNAL_ERROR: ("server error (never caused by a client's own message)", "resume"),
    CloseCode.PROTOCOL: ("protocol error (bad or missing first message)", "fix the client"),
    CloseCode.TOKEN_INVALID: ("token invalid or altered", "show the reason, stop"),
    CloseCode.TOKEN_EXPIRED: ("token expired", "show the reason, ask for a new link"),
    CloseCode.TOKEN_NOT_YET_VALID: ("token not yet valid", "show the reason, retry at the set time"),
    CloseCode.WRONG_ROOM: ("token is for another room, or no such room", "show the reason, stop"),
    CloseCode.TOKEN_REVOKED: ("token revoked: the court withdrew the link (a newer one was issued), which ends "
                              "every session it opened, private rooms' included", "show the reason, stop"),
    CloseCode.FORBIDDEN: ("refused by the court's admission policy", "show the reason, stop"),
    CloseCode.RESUME_FAILED: ("resume failed (grace window over)", "join again with the join token"),
    CloseCode.RATE_LIMITED: ("rate limit: a sustained flood of messages", "slow down, then resume"),
    CloseCode.IDLE_TIMEOUT: ("idle timeout", "resume"),
    CloseCode.REPLACED: ("replaced by a newer connection of the same participant", "stop"),
    CloseCode.UNSUPPORTED_VERSION: ("unsupported protocol version", "update the client"),
    CloseCode.REMOVED: ("removed from the hearing or denied admission by the court; every session of the person "
                        "ends, private rooms' included, and the link stops working", "show the reason, stop"),
    CloseCode.TOO_SLOW: ("too slow to keep up (outbox full)", "resume"),
    CloseCode.MOVED: ("moved: the room is served by another node (after `redirect`)",
                      "connect at once to the `redirect` URL, send the same `join`/`resume`"),
}
"""What each code means and what a client should do: docs/protocol.md's table is generated from this."""
