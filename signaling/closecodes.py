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


RETRYABLE = frozenset({CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR, CloseCode.IDLE_TIMEOUT, CloseCode.TOO_SLOW})
"""After these a client should resume; after the others, resuming cannot help."""
