"""The verifiable integrity code: an Ed25519-signed compact token a third party checks offline.

Format (docs/integrity.md): `IC1.<payload>.<signature>`, both parts base64url without padding. The payload is the
canonical JSON (sorted keys, no spaces) of `{"v": 1, "kid", "sub", "col", "iat", "exp", "rs"}`; the signature is
Ed25519 over the ASCII bytes `IC1.<payload>`. `sub` is a pseudonym (keyed hash of the person id): a verifier
learns the colour and validity of the code in front of them, not who the court's records say the person is.
Ed25519 (not an HMAC like the join tokens) because verifiers must not be able to mint codes: they hold only the
public key.

`verify` needs nothing but this module's standard-library code and `cryptography`; running
`python -m integrity.signing TOKEN PUBLIC_KEY.pem` does it from a shell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "IC1"
COLOURS = ("green", "yellow", "red", "none")  # "none": a person who is not scored (a minor)
MAX_TOKEN_LENGTH = 1024


class TokenInvalid(ValueError):
    """The token is not a valid integrity code; `reason` is a stable code, the message a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CodeClaims:
    key_id: str
    subject: str  # pseudonymous person id
    colour: str
    issued_at: datetime
    expires_at: datetime
    ruleset_version: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class CodeSigner:
    """The court's signing key. Dev: generated once into var/ (mode 0600); production: PEM from settings."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        raw = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
        # Derived, so the pseudonym needs no second secret, yet reveals nothing of the signing key.
        self._pseudonym_key = hashlib.sha256(b"integrity-pseudonym\x00" + raw).digest()

    @classmethod
    def generate(cls) -> CodeSigner:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes) -> CodeSigner:
        try:
            key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"the integrity signing key is not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the integrity signing key must be an Ed25519 key (openssl genpkey -algorithm ed25519)")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> CodeSigner:
        """Read the key at `path`, or create it there readable by the owner only (dev and test)."""
        if path.exists():
            return cls.from_pem(path.read_bytes())
        signer = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(signer.private_pem())
        os.replace(tmp, path)
        return signer

    def private_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def public_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def pseudonym(self, person_id: str) -> str:
        return hmac.new(self._pseudonym_key, person_id.encode(), hashlib.sha256).hexdigest()[:24]

    def issue(self, *, person_id: str, colour: str | None, ruleset_version: str, issued_at: datetime,
              expires_at: datetime) -> str:
        col = colour or "none"
        if col not in COLOURS:
            raise ValueError(f"colour {col!r} is not one of {', '.join(COLOURS)}")
        if expires_at <= issued_at:
            raise ValueError("an integrity code must expire after it is issued")
        payload = {"v": 1, "kid": self.key_id, "sub": self.pseudonym(person_id), "col": col,
                   "iat": int(issued_at.timestamp()), "exp": int(expires_at.timestamp()), "rs": ruleset_version}
        head = f"{PREFIX}.{_b64(json.dumps(payload, sort_keys=True, separators=(',', ':')).encode())}"
        return f"{head}.{_b64(self._key.sign(head.encode('ascii')))}"


def verify(token: str, public_key_pem: str | bytes, now: datetime) -> CodeClaims:
    """Check a code offline: signature under the court's public key, then expiry at `now`. TokenInvalid if not."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise TokenInvalid("malformed", "this is not an integrity code (expected IC1.<payload>.<signature>)")
    prefix, payload_b64, sig_b64 = token.split(".")
    if prefix != PREFIX:
        raise TokenInvalid("malformed", f"unknown integrity code format {prefix[:8]!r}; expected {PREFIX}")
    try:
        public = serialization.load_pem_public_key(
            public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
    except ValueError:
        raise ValueError("the court's public key is not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("the court's public key must be an Ed25519 key")
    try:
        signature = _unb64(sig_b64)
        public.verify(signature, f"{prefix}.{payload_b64}".encode("ascii"))
    except (ValueError, InvalidSignature):
        raise TokenInvalid("bad_signature", "the code's signature does not match the court's key: it was "
                                            "altered or not issued by this court") from None
    try:
        claims = json.loads(_unb64(payload_b64))
        result = CodeClaims(str(claims["kid"]), str(claims["sub"]), str(claims["col"]),
                            datetime.fromtimestamp(int(claims["iat"]), UTC),
                            datetime.fromtimestamp(int(claims["exp"]), UTC), str(claims["rs"]))
        if claims["v"] != 1 or result.colour not in COLOURS:
            raise ValueError("unsupported")
    except (ValueError, KeyError, TypeError):
        raise TokenInvalid("malformed", "the code's payload is not understood by this verifier") from None
    if result.key_id != key_id(public):
        raise TokenInvalid("wrong_key", "the code names a different signing key; fetch the court's current key")
    if now >= result.expires_at:
        raise TokenInvalid("expired", f"the code expired at {result.expires_at.isoformat()}; ask for a fresh one")
    return result


def main(argv: list[str]) -> int:
    """`python -m integrity.signing TOKEN PUBLIC_KEY.pem`: print the claims, exit 1 if the code is refused."""
    if len(argv) != 2:
        print("usage: python -m integrity.signing TOKEN PUBLIC_KEY.pem", file=sys.stderr)
        return 2
    try:
        claims = verify(argv[0], Path(argv[1]).read_bytes(), datetime.now(UTC))
    except (TokenInvalid, ValueError, OSError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"valid: colour={claims.colour} until={claims.expires_at.isoformat()} ruleset={claims.ruleset_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
