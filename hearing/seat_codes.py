"""Short codes for join links (短码): what a person types or scans instead of a ~700-character link.

A code names one join link (one participant's seat): 10 letters of a 30-letter alphabet (Crockford's base32
without 0/1, which read like O/I/L; 49 bits from `secrets`), shown in two groups, `ABCDE-FGHJK`. The register
keeps only an HMAC of the code (the lookup key, keyed by the platform secret) and the link's token sealed with
AES-GCM under a key derived from the code: the code alone is what opens the seat. A code lives and dies with its
link: withdrawn (a newer link issued, `hearing revoke`) or expired, it answers so, in words the page translates,
before any camera check. Wrong guesses are limited per address (`GuessLimiter`, pure; the API is the shell).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32 without 0 1 (and its I L O U)
CODE_LENGTH = 10
CODE_BITS = CODE_LENGTH * math.log2(len(ALPHABET))
"""49.1 bits (the issue asks for at least 40)."""
GROUP = 5
_SEAL_INFO = b"hearing seat code seal v1"


class SeatCodeRefusal(StrEnum):
    MALFORMED = "seat_code_malformed"  # not 10 letters of the alphabet (a typo): says so, costs no guess
    UNKNOWN = "seat_code_unknown"  # no such code: check it, or ask the court
    WITHDRAWN = "seat_code_withdrawn"  # the link was withdrawn (a newer one sent): use the newest, or ask the court
    EXPIRED = "seat_code_expired"  # the link's time is over: ask the court for a new one
    RATE_LIMITED = "seat_code_rate_limited"  # too many wrong codes from this address: wait


class LinkState(StrEnum):
    """A join link's state as the join page asks before its camera check (`GET /api/links/status`)."""

    INVALID = "link_invalid"  # not a link of this court, or altered
    WITHDRAWN = "link_withdrawn"  # the court withdrew it (a newer one was issued)
    EXPIRED = "link_expired"
    NOT_YET_VALID = "link_not_yet_valid"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def display(code: str) -> str:
    """`ABCDEFGHJK` → `ABCDE-FGHJK`: easier to read out on the phone and to type."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def normalise(typed: str) -> str | None:
    """What a person typed → the code (case, spaces and dashes ignored; O→0 is not a letter here, so an O or I
    is a typo); None if it cannot be a code."""
    cleaned = re.sub(r"[\s\-_.]", "", typed).upper()
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def derive_key(platform_secret: str) -> bytes:
    """The lookups' HMAC key, derived from the platform secret (its own purpose: not the token signing key)."""
    return hashlib.sha256(b"seat-code-lookup:" + platform_secret.encode()).digest()


def lookup_key(secret: bytes, code: str) -> str:
    return hmac.new(secret, b"seat-code:" + code.encode(), hashlib.sha256).hexdigest()


def _seal_key(code: str) -> bytes:
    return hashlib.sha256(_SEAL_INFO + code.encode()).digest()


def seal(code: str, token: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_seal_key(code)).encrypt(nonce, token.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(code: str, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    return AESGCM(_seal_key(code)).decrypt(raw[:12], raw[12:], None).decode()


@dataclass
class GuessLimiter:
    """At most `limit` wrong codes per address in `window` seconds (a sliding window). Pure: the caller passes
    the time. Right codes are never limited; a malformed one (a typo the page can flag) is not a guess."""

    limit: int = 10
    window: float = 600.0
    max_addresses: int = 100_000  # bounded memory under a flood of addresses: the oldest are forgotten
    _misses: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str, now: float) -> deque[float]:
        misses = self._misses.get(address)
        if misses is None:
            return deque()
        while misses and misses[0] <= now - self.window:
            misses.popleft()
        if not misses:
            del self._misses[address]
        return misses

    def blocked(self, address: str, now: float) -> float | None:
        """Seconds until this address may guess again, or None if it may now."""
        misses = self._recent(address, now)
        if len(misses) < self.limit:
            return None
        # Still blocked (the oldest miss is inside the window), though the float subtraction may round to 0.
        return max(misses[0] + self.window - now, 1e-6)

    def missed(self, address: str, now: float) -> None:
        if address not in self._misses and len(self._misses) >= self.max_addresses:
            del self._misses[next(iter(self._misses))]
        self._misses.setdefault(address, deque()).append(now)
